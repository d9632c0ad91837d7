#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdlib.h>

#include "defer.h"
#include "xalloc.h"
#include "../unit_main.h"

/* A request of a module using the queue: the item is embedded, not first. */
struct req {
	int id;
	struct defer_item item;
	int resubmit; /* ids to push from inside its own delivery */
};

struct owner {
	struct event_base *base;
	struct defer d;
	int order[16];
	int n;
	bool in_submit; /* set while a test's "submit" call is on the stack */
};

static void push_req(struct owner *o, int id, int resubmit)
{
	struct req *r = xcalloc(1, sizeof *r);
	r->id = id;
	r->resubmit = resubmit;
	o->in_submit = true;
	defer_push(&o->d, &r->item);
	o->in_submit = false;
}

static void deliver(struct defer_item *item, void *ctx)
{
	struct owner *o = ctx;
	struct req *r = DEFER_CONTAINER(item, struct req, item);
	assert_false(o->in_submit);
	assert_true(o->n < 16);
	o->order[o->n++] = r->id;
	int again = r->resubmit;
	free(r);
	if (again)
		push_req(o, again, 0);
}

static int setup(void **state)
{
	struct owner *o = xcalloc(1, sizeof *o);
	o->base = event_base_new();
	defer_init(&o->d, o->base, deliver, o);
	*state = o;
	return 0;
}

static int teardown(void **state)
{
	struct owner *o = *state;
	defer_flush(&o->d);
	defer_fini(&o->d);
	event_base_free(o->base);
	free(o);
	return 0;
}

static void test_nothing_inside_push(void **state)
{
	struct owner *o = *state;
	push_req(o, 1, 0);
	push_req(o, 2, 0);
	assert_int_equal(o->n, 0);
	assert_true(defer_pending(&o->d));
	event_base_loop(o->base, EVLOOP_ONCE);
	assert_int_equal(o->n, 2);
	assert_int_equal(o->order[0], 1);
	assert_int_equal(o->order[1], 2);
	assert_false(defer_pending(&o->d));
	/* Exactly once: another turn delivers nothing. */
	event_base_loop(o->base, EVLOOP_NONBLOCK);
	assert_int_equal(o->n, 2);
}

static void test_pushed_during_delivery_waits(void **state)
{
	struct owner *o = *state;
	push_req(o, 1, 3);
	push_req(o, 2, 0);
	assert_int_equal(defer_deliver_due(&o->d), 2);
	/* 3 was pushed by 1's callback: not due in the same pass. */
	assert_int_equal(o->n, 2);
	assert_true(defer_pending(&o->d));
	/* ... but its event is armed. */
	event_base_loop(o->base, EVLOOP_ONCE);
	assert_int_equal(o->n, 3);
	assert_int_equal(o->order[2], 3);
}

static void test_flush_delivers_everything_once(void **state)
{
	struct owner *o = *state;
	push_req(o, 1, 4);
	push_req(o, 2, 0);
	defer_flush(&o->d);
	assert_int_equal(o->n, 3);
	assert_int_equal(o->order[0], 1);
	assert_int_equal(o->order[1], 2);
	assert_int_equal(o->order[2], 4);
	assert_false(defer_pending(&o->d));
	/* The event still armed from the pushes finds nothing to deliver. */
	event_base_loop(o->base, EVLOOP_NONBLOCK);
	assert_int_equal(o->n, 3);
}

static void test_pop_is_fifo(void **state)
{
	struct owner *o = *state;
	push_req(o, 5, 0);
	push_req(o, 6, 0);
	struct defer_item *a = defer_pop(&o->d);
	struct defer_item *b = defer_pop(&o->d);
	assert_null(defer_pop(&o->d));
	assert_int_equal(DEFER_CONTAINER(a, struct req, item)->id, 5);
	assert_int_equal(DEFER_CONTAINER(b, struct req, item)->id, 6);
	assert_null(a->next);
	free(DEFER_CONTAINER(a, struct req, item));
	free(DEFER_CONTAINER(b, struct req, item));
	/* Empty again: a later push starts a fresh list. */
	push_req(o, 7, 0);
	defer_flush(&o->d);
	assert_int_equal(o->n, 1);
	assert_int_equal(o->order[0], 7);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_nothing_inside_push, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pushed_during_delivery_waits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_flush_delivers_everything_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pop_is_fifo, setup, teardown),
};
UNIT_MAIN(tests)
