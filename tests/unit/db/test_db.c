/*
 * db: a query's callback runs from the loop, never from inside db_query
 * (src/db/db.c, issue #15 item 2), and exactly once, also when the pool is
 * freed with failures not yet delivered. The pool points at a port nobody
 * listens on, so it has no connection: every query is refused at submit
 * time, the case that used to call back from inside the call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdbool.h>
#include <string.h>

#include "db.h"
#include "../loop_run.h"
#include "../unit_main.h"

/* What one query's callback saw. */
struct outcome {
	bool returned; /* set by the test after db_query returned */
	int calls;
	bool called_inside; /* the callback ran before db_query returned */
	const char *err;
	bool had_result;
};

static void on_done(void *ctx, PGresult *res, const char *err)
{
	struct outcome *o = ctx;
	o->calls++;
	o->called_inside |= !o->returned;
	o->err = err;
	o->had_result = res != NULL;
}

static void submit(struct db_pool *pool, struct outcome *o)
{
	const char *p[] = {"x"};
	db_query(pool, "SELECT $1", 1, p, on_done, o);
	o->returned = true;
}

static void run_a_little(struct event_base *base)
{
	for (int i = 0; i < 5; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void test_unavailable_arrives_after_the_call(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, NOWHERE, 1);
	assert_int_equal(db_pool_ready(pool), 0);
	struct outcome a = {0}, b = {0};
	submit(pool, &a);
	submit(pool, &b);
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 0);
	run_until(base, &b.calls, 1);
	run_a_little(base);
	assert_answered_once(a, DB_ERR_UNAVAILABLE);
	assert_answered_once(b, DB_ERR_UNAVAILABLE);
	assert_false(a.had_result);
	assert_int_equal(db_pool_queued(pool), 0);
	db_pool_free(pool);
	/* Nothing more at the free: each callback ran once. */
	assert_int_equal(a.calls, 1);
	event_base_free(base);
}

/* A callback that queries again (a retry): that one is not called back
 * from inside the db_query made within the callback either. */
struct chain {
	struct db_pool *pool;
	struct outcome first, second;
};

static void on_first(void *ctx, PGresult *res, const char *err)
{
	struct chain *ch = ctx;
	on_done(&ch->first, res, err);
	submit(ch->pool, &ch->second);
	assert_int_equal(ch->second.calls, 0);
}

static void test_query_from_a_failure_callback(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct chain ch = {.pool = db_pool_new(base, NOWHERE, 1)};
	db_query(ch.pool, "SELECT 1", 0, NULL, on_first, &ch);
	ch.first.returned = true;
	assert_int_equal(ch.first.calls, 0);
	run_until(base, &ch.second.calls, 1);
	assert_int_equal(ch.first.calls, 1);
	assert_int_equal(ch.second.calls, 1);
	assert_false(ch.first.called_inside);
	assert_false(ch.second.called_inside);
	assert_ptr_equal(ch.second.err, DB_ERR_UNAVAILABLE);
	db_pool_free(ch.pool);
	event_base_free(base);
}

static void test_free_delivers_pending_failures_once(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, NOWHERE, 2);
	struct outcome a = {0};
	submit(pool, &a);
	/* The loop never turned: the free owes the callback, with its reason. */
	db_pool_free(pool);
	assert_int_equal(a.calls, 1);
	assert_false(a.called_inside);
	assert_ptr_equal(a.err, DB_ERR_UNAVAILABLE);
	/* And the event it was waiting for is gone with the pool. */
	run_a_little(base);
	assert_int_equal(a.calls, 1);
	event_base_free(base);
}

/* During the free, a callback that queries again gets "shutting down",
 * once, not from inside its db_query. */
static void test_query_during_free_is_refused(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct chain ch = {.pool = db_pool_new(base, NOWHERE, 1)};
	db_query(ch.pool, "SELECT 1", 0, NULL, on_first, &ch);
	ch.first.returned = true;
	db_pool_free(ch.pool);
	assert_int_equal(ch.first.calls, 1);
	assert_int_equal(ch.second.calls, 1);
	assert_false(ch.second.called_inside);
	assert_ptr_equal(ch.second.err, DB_ERR_SHUTDOWN);
	event_base_free(base);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_unavailable_arrives_after_the_call),
    cmocka_unit_test(test_query_from_a_failure_callback),
    cmocka_unit_test(test_free_delivers_pending_failures_once),
    cmocka_unit_test(test_query_during_free_is_refused),
};
UNIT_MAIN(tests)
