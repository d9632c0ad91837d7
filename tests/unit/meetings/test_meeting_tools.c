/*
 * meeting_tools_offer and meeting_tools_run: their callback runs from the
 * loop, never from inside the call, and exactly once (the rule of
 * include/db/db.h, issue #15 item 2), also when the answer needs no I/O: tools
 * off, closing, invalid arguments, an unknown tool. meeting_tools_free drops
 * what the loop did not deliver, without calling it. The pool points at a
 * port nobody listens on; no request reaches Google.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "http_client.h"
#include "meeting_args.h"
#include "meeting_tools.h"
#include "openai.h"

#include "../meeting_fixture.h"
#include "../unit_main.h"

static void on_offer(void *ctx, bool offer)
{
	struct outcome *o = ctx;
	o->calls++;
	o->called_inside |= !o->returned;
	o->offer = offer;
}

static void offer(struct fixture *f, struct outcome *o)
{
	meeting_tools_offer(f->mt, "acme", on_offer, o);
	o->returned = true;
}

static void test_offer_with_tools_off_arrives_after_the_call(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(false);
	struct outcome o = {.offer = true};
	offer(f, &o);
	assert_int_equal(o.calls, 0);
	answered_once(f, &o);
	assert_false(o.offer);
	fixture_free(f);
	assert_int_equal(o.calls, 1);
}

static void test_offer_after_close_arrives_after_the_call(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	meeting_tools_close(f->mt);
	struct outcome a = {.offer = true}, b = {.offer = true};
	offer(f, &a);
	offer(f, &b);
	assert_int_equal(a.calls + b.calls, 0);
	run_until(f->app.base, &b.calls, 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_false(a.called_inside);
	assert_false(b.called_inside);
	assert_false(a.offer);
	assert_false(b.offer);
	fixture_free(f);
	assert_int_equal(a.calls + b.calls, 2);
}

/* Both calls are answered without I/O: the arguments are not JSON, the
 * tool does not exist. */
static void test_calls_answered_at_once_arrive_after_the_call(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	const struct openai_call calls[] = {
	    {.call_id = "call_1", .name = MEETING_TOOL_AVAILABILITY, .arguments = "not json"},
	    {.call_id = "call_2", .name = "order_pizza", .arguments = "{}"},
	};
	struct outcome o = {0};
	run(f, calls, 2, &o);
	assert_int_equal(o.calls, 0);
	answered_once(f, &o);
	assert_non_null(o.items);
	assert_non_null(strstr(o.items, "call_1"));
	assert_non_null(strstr(o.items, "invalid_arguments"));
	assert_non_null(strstr(o.items, "call_2"));
	assert_non_null(strstr(o.items, "unknown_tool"));
	free(o.items);
	fixture_free(f);
	assert_int_equal(o.calls, 1);
}

static void test_run_after_close_arrives_after_the_call(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	meeting_tools_close(f->mt);
	const struct openai_call calls[] = {
	    {.call_id = "call_1", .name = MEETING_TOOL_BOOK, .arguments = "{}"},
	};
	struct outcome o = {.items = NULL};
	run(f, calls, 1, &o);
	assert_int_equal(o.calls, 0);
	answered_once(f, &o);
	assert_null(o.items); /* shutdown cut the run short */
	fixture_free(f);
	assert_int_equal(o.calls, 1);
}

/* Freed before the loop turned: nobody is called (the callers' contexts are
 * gone in serve by then), and nothing leaks (the sanitized pass checks). */
static void test_free_drops_what_the_loop_did_not_deliver(void **state)
{
	(void)state;
	struct fixture *f = fixture_new(true);
	const struct openai_call calls[] = {
	    {.call_id = "call_1", .name = "order_pizza", .arguments = "{}"},
	};
	struct outcome r = {0}, before = {0}, after = {0};
	run(f, calls, 1, &r);
	offer(f, &before); /* goes to the pool, which fails it when freed */
	meeting_tools_close(f->mt);
	offer(f, &after);
	assert_int_equal(r.calls + before.calls + after.calls, 0);
	fixture_free(f);
	assert_int_equal(r.calls, 0);
	assert_int_equal(after.calls, 0);
	/* The pool's callbacks run from db_pool_free, as db.h says. */
	assert_int_equal(before.calls, 1);
	assert_false(before.called_inside);
	assert_false(before.offer);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_offer_with_tools_off_arrives_after_the_call),
    cmocka_unit_test(test_offer_after_close_arrives_after_the_call),
    cmocka_unit_test(test_calls_answered_at_once_arrive_after_the_call),
    cmocka_unit_test(test_run_after_close_arrives_after_the_call),
    cmocka_unit_test(test_free_drops_what_the_loop_did_not_deliver),
};
UNIT_MAIN(tests)
