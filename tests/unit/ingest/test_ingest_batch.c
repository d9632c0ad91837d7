/*
 * How many ingest statements run at once, and when a webhook's callback runs
 * (include/ingest/ingest_batch.h): from the loop, never from inside
 * ingest_batch_submit; from inside ingest_batch_close for those still
 * waiting; never after close, when submit returns the refusal instead (the
 * loop has stopped by then). The pool points at a port nobody listens on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdbool.h>

#include "app.h"
#include "db.h"
#include "ingest_batch.h"
#include "xalloc.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/ingest/ingest_batch.c"
#include "../loop_run.h"
#include "../unit_main.h"

static void test_a_quarter_of_the_pool(void **state)
{
	(void)state;
	assert_int_equal(ingest_batch_statements(8), 2);
	assert_int_equal(ingest_batch_statements(16), 4);
	assert_int_equal(ingest_batch_statements(100), 25);
}

static void test_at_least_one(void **state)
{
	(void)state;
	/* parley's default pool of 4, and the smallest ones. */
	assert_int_equal(ingest_batch_statements(4), 1);
	assert_int_equal(ingest_batch_statements(3), 1);
	assert_int_equal(ingest_batch_statements(1), 1);
	assert_int_equal(ingest_batch_statements(0), 1);
}

struct outcome {
	bool returned; /* set after ingest_batch_submit returned */
	int calls;
	bool called_inside;
	const char *err;
};

static void on_done(void *ctx, const char *outcome, const char *err)
{
	struct outcome *o = ctx;
	(void)outcome;
	o->calls++;
	o->called_inside |= !o->returned;
	o->err = err;
}

static const char *submit(struct app *app, struct outcome *o)
{
	/* events pass to the batcher, which frees them (the sanitized pass
	 * checks that a refusal does too). */
	const char *err = ingest_batch_submit(app, "whatsapp_business_account", xstrdup("[]"), NULL,
					      0, on_done, o);
	o->returned = true;
	return err;
}

/* The batcher is process-wide and starts afresh for a new app: every test
 * gets an app of its own, at an address no other test uses. */
static struct app apps[8];
static int next_app;

static int setup(void **state)
{
	struct app *app = &apps[next_app++];
	app->base = event_base_new();
	app->db = db_pool_new(app->base, NOWHERE, 1);
	*state = app;
	return 0;
}

/* In serve's order: the pool, then the batcher, then the loop. */
static void shut_down(struct app *app)
{
	db_pool_free(app->db);
	app->db = NULL;
	ingest_batch_close(app);
}

static int teardown(void **state)
{
	struct app *app = *state;
	if (app->db)
		shut_down(app);
	event_base_free(app->base);
	return 0;
}

static void test_unavailable_arrives_after_the_call(void **state)
{
	struct app *app = *state;
	struct outcome a = {0}, b = {0};
	assert_null(submit(app, &a));
	assert_null(submit(app, &b));
	assert_int_equal(a.calls + b.calls, 0);
	run_until(app->base, &b.calls, 1);
	run_until(app->base, &a.calls, 1);
	assert_answered_once(a, DB_ERR_UNAVAILABLE);
	assert_answered_once(b, DB_ERR_UNAVAILABLE);
	shut_down(app);
	assert_int_equal(a.calls + b.calls, 2);
}

/* Closed before the loop turned: close answers what waits, once. */
static void test_close_answers_what_waits_once(void **state)
{
	struct app *app = *state;
	struct outcome o = {0};
	assert_null(submit(app, &o));
	assert_int_equal(o.calls, 0);
	shut_down(app);
	assert_int_equal(o.calls, 1);
	assert_false(o.called_inside);
	assert_non_null(o.err);
	run_until(app->base, &o.calls, 2);
	assert_int_equal(o.calls, 1);
}

/* After close the loop does not turn again (serve closes the batcher after
 * event_base_dispatch returned): a deferred callback would never come. The
 * refusal is the return value, and no callback follows, ever. */
static void test_after_close_submit_returns_the_refusal(void **state)
{
	struct app *app = *state;
	shut_down(app);
	struct outcome o = {0};
	const char *err = submit(app, &o);
	assert_int_equal(o.calls, 0);
	assert_ptr_equal(err, DB_ERR_SHUTDOWN);
	/* Even if the loop did turn. */
	for (int i = 0; i < 5; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(app->base, &tv);
		event_base_dispatch(app->base);
	}
	assert_int_equal(o.calls, 0);
}

/* The same after a serve that stored webhooks (the batcher existed). */
static void test_after_close_of_a_used_batcher_too(void **state)
{
	struct app *app = *state;
	struct outcome first = {0}, late = {0};
	assert_null(submit(app, &first));
	run_until(app->base, &first.calls, 1);
	assert_int_equal(first.calls, 1);
	shut_down(app);
	const char *err = submit(app, &late);
	assert_int_equal(late.calls, 0);
	assert_false(late.called_inside);
	assert_ptr_equal(err, DB_ERR_SHUTDOWN);
	assert_int_equal(first.calls, 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_a_quarter_of_the_pool),
    cmocka_unit_test(test_at_least_one),
    cmocka_unit_test_setup_teardown(test_unavailable_arrives_after_the_call, setup, teardown),
    cmocka_unit_test_setup_teardown(test_close_answers_what_waits_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_after_close_submit_returns_the_refusal, setup, teardown),
    cmocka_unit_test_setup_teardown(test_after_close_of_a_used_batcher_too, setup, teardown),
};
UNIT_MAIN(tests)
