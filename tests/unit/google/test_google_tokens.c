/*
 * google_tokens_get: its callback runs from the loop, never from inside the
 * call, and exactly once (src/google/google_tokens.c, issue #15 item 2): refused
 * after google_tokens_close, and when the database has no connection (the
 * pool points at a port nobody listens on).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdbool.h>
#include <string.h>

#include "app.h"
#include "google_tokens.h"
#include "../loop_run.h"
#include "../unit_main.h"

struct outcome {
	bool returned; /* set after google_tokens_get returned */
	int calls;
	bool called_inside;
	const char *err;
	const char *token;
};

static void on_token(void *ctx, const char *token, const char *err)
{
	struct outcome *o = ctx;
	o->calls++;
	o->called_inside |= !o->returned;
	o->err = err;
	o->token = token;
}

static void get(struct google_tokens *gt, struct outcome *o)
{
	google_tokens_get(gt, "acme", false, on_token, o);
	o->returned = true;
}

static int setup(void **state)
{
	static struct app app;
	memset(&app, 0, sizeof app);
	app.base = event_base_new();
	app.db = db_pool_new(app.base, NOWHERE, 1);
	*state = &app;
	return 0;
}

static int teardown(void **state)
{
	struct app *app = *state;
	db_pool_free(app->db);
	event_base_free(app->base);
	return 0;
}

static void test_database_unavailable_arrives_after_the_call(void **state)
{
	struct app *app = *state;
	struct google_tokens *gt = google_tokens_new(app, NULL);
	struct outcome o = {0};
	get(gt, &o);
	assert_int_equal(o.calls, 0);
	run_until(app->base, &o.calls, 1);
	assert_int_equal(o.calls, 1);
	assert_false(o.called_inside);
	assert_ptr_equal(o.err, GOOGLE_ERR_UNAVAILABLE);
	assert_null(o.token);
	google_tokens_free(gt);
	assert_int_equal(o.calls, 1);
}

static void test_closed_refusal_arrives_after_the_call(void **state)
{
	struct app *app = *state;
	struct google_tokens *gt = google_tokens_new(app, NULL);
	google_tokens_close(gt);
	struct outcome a = {0}, b = {0};
	get(gt, &a);
	get(gt, &b);
	assert_int_equal(a.calls + b.calls, 0);
	run_until(app->base, &b.calls, 1);
	assert_answered_once(a, GOOGLE_ERR_UNAVAILABLE);
	assert_answered_once(b, GOOGLE_ERR_UNAVAILABLE);
	google_tokens_free(gt);
	assert_int_equal(a.calls + b.calls, 2);
}

/* A caller that asks again from its callback (a retry after the refusal). */
struct retry {
	struct google_tokens *gt;
	struct outcome first, second;
};

static void on_first(void *ctx, const char *token, const char *err)
{
	struct retry *r = ctx;
	on_token(&r->first, token, err);
	get(r->gt, &r->second);
	assert_int_equal(r->second.calls, 0);
}

/* Freed before the loop turned: the free owes the refusals their callback,
 * once, including one asked for from inside such a callback. */
static void test_free_delivers_refusals_once(void **state)
{
	struct app *app = *state;
	struct retry r = {.gt = google_tokens_new(app, NULL)};
	google_tokens_close(r.gt);
	google_tokens_get(r.gt, "acme", false, on_first, &r);
	r.first.returned = true;
	assert_int_equal(r.first.calls, 0);
	google_tokens_free(r.gt);
	assert_int_equal(r.first.calls, 1);
	assert_int_equal(r.second.calls, 1);
	assert_false(r.first.called_inside);
	assert_false(r.second.called_inside);
	assert_ptr_equal(r.second.err, GOOGLE_ERR_UNAVAILABLE);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_database_unavailable_arrives_after_the_call, setup,
				    teardown),
    cmocka_unit_test_setup_teardown(test_closed_refusal_arrives_after_the_call, setup, teardown),
    cmocka_unit_test_setup_teardown(test_free_delivers_refusals_once, setup, teardown),
};
UNIT_MAIN(tests)
