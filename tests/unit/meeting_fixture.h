#ifndef PARLEY_TEST_MEETING_FIXTURE_H
#define PARLEY_TEST_MEETING_FIXTURE_H
/*
 * What test_meeting_tools.c and test_meeting_booking.c share: meeting tools
 * on a loop whose pool and Google point at a port nobody listens on, and a
 * callback that records how and when a run was answered. Include after
 * cmocka.h.
 */
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>

#include "app.h"
#include "db.h"
#include "http_client.h"
#include "meeting_tools.h"
#include "loop_run.h"

struct outcome {
	bool returned; /* set after the call returned */
	int calls;
	bool called_inside;
	bool offer;
	char *items;
};

static void on_run(void *ctx, char *items)
{
	struct outcome *o = ctx;
	o->calls++;
	o->called_inside |= !o->returned;
	free(o->items);
	o->items = items;
}

struct fixture {
	struct app app;
	struct http_client *http;
	struct meeting_tools *mt;
};

/* with_google: client id and secret set and an HTTP client, so the tools
 * are enabled. */
static struct fixture *fixture_new(bool with_google)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->app.base = event_base_new();
	f->app.db = db_pool_new(f->app.base, NOWHERE, 1);
	f->app.cfg.google_client_id = with_google ? "client" : "";
	f->app.cfg.google_client_secret = with_google ? "secret" : "";
	f->app.cfg.google_calendar_id = "primary";
	f->app.cfg.google_calendar_url = "http://127.0.0.1:1/calendar/v3";
	f->app.cfg.google_token_url = "http://127.0.0.1:1/token";
	f->app.cfg.google_default_duration_minutes = 30;
	f->app.cfg.google_max_bookings_per_conversation = 1;
	f->app.cfg.replies_max_attempts = 1;
	f->http = with_google ? http_client_new(f->app.base, 1) : NULL;
	f->mt = meeting_tools_start(&f->app, f->http);
	assert_int_equal(meeting_tools_enabled(f->mt), with_google);
	return f;
}

/* In serve's order: close, the client, the pool, then the tools. */
static void fixture_free(struct fixture *f)
{
	meeting_tools_close(f->mt);
	if (f->http)
		http_client_free(f->http);
	db_pool_free(f->app.db);
	meeting_tools_free(f->mt);
	event_base_free(f->app.base);
	free(f);
}

/* Runs calls for acme's conversation; o learns how they were answered. */
static void run(struct fixture *f, const struct openai_call *calls, size_t n, struct outcome *o)
{
	meeting_tools_run(f->mt, "acme", "conv", "test", calls, n, on_run, o);
	o->returned = true;
}

/* Waits for o's callback: it came once, from the loop. */
static void answered_once(struct fixture *f, struct outcome *o)
{
	run_until(f->app.base, &o->calls, 1);
	assert_int_equal(o->calls, 1);
	assert_false(o->called_inside);
}

#endif
