/*
 * meeting_booking: the ends of the state machine that need no Google and
 * no database row. A booking whose token cannot be had reserves nothing and
 * tells the model the calendar is unavailable; a reservation the recovery
 * pass hands over starts at the event lookup (its event may exist: a run
 * that cannot look it up keeps the reservation), and one without what a
 * booking needs, or garbage, ends at once; either way the pass is free to
 * claim again once the run is over (mt->recovering back to zero).
 * The pool points at a port nobody listens on; no request reaches Google.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../../src/meetings/meeting_internal.h"
#include "app.h"
#include "db.h"
#include "google_calendar.h"
#include "http_client.h"
#include "meeting_args.h"
#include "meeting_booking.h"
#include "meeting_tools.h"
#include "metrics.h"
#include "openai.h"

#include "../meeting_fixture.h"
#include "../metrics_value.h"
#include "../unit_main.h"

static void test_booking_without_a_token_reserves_nothing(void **state)
{
	struct fixture *f = *state;
	char start[GCAL_TIME_BUF], args[512];
	gcal_time_format(time(NULL) + 2 * 86400, 0, start);
	snprintf(args, sizeof args,
		 "{\"start\":\"%s\",\"timezone\":\"UTC\",\"customer_name\":\"Ana\","
		 "\"customer_email\":\"ana@example.com\",\"title\":\"Demo\"}",
		 start);
	const struct openai_call calls[] = {
	    {.call_id = "call_1", .name = MEETING_TOOL_BOOK, .arguments = args},
	};
	struct outcome o = {0};
	run(f, calls, 1, &o);
	answered_once(f, &o);
	assert_null(f->mt->runs);
	/* One output for call_1. The token comes first: no reservation, so
	 * nothing to drop, and not "unconfirmed" (left for the recovery pass). */
	cJSON *items = cJSON_Parse(o.items);
	assert_int_equal(cJSON_GetArraySize(items), 1);
	const cJSON *item = cJSON_GetArrayItem(items, 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(item, "call_id")), "call_1");
	cJSON *output = cJSON_Parse(cJSON_GetStringValue(cJSON_GetObjectItem(item, "output")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(output, "ok")));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(output, "error")),
			    "calendar_unavailable");
	cJSON_Delete(output);
	cJSON_Delete(items);
	free(o.items);
}

/* No event id, no timezone, no email: nothing to look up; and garbage. */
static void test_recovery_without_what_it_needs_ends_at_once(void **state)
{
	struct fixture *f = *state;
	const char *rows[] = {
	    "{\"meeting_id\":\"mtg_0123456789abcdef01234567\",\"user_id\":\"acme\","
	    "\"conversation_id\":\"conv\"}",
	    "not json",
	    "",
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		meeting_booking_recover(f->mt, rows[i]);
		assert_null(f->mt->runs);
		assert_int_equal(f->mt->recovering, 0);
	}
}

/* A complete reservation goes on to look its event up; shutdown ends the
 * run, and the counter the pass waits on comes back to zero. */
static void test_recovery_in_flight_is_counted_until_it_ends(void **state)
{
	struct fixture *f = *state;
	meeting_booking_recover(
	    f->mt, "{\"meeting_id\":\"mtg_0123456789abcdef01234567\","
		   "\"google_event_id\":\"ev0123\",\"user_id\":\"acme\","
		   "\"conversation_id\":\"conv\",\"start_epoch\":2000000000,"
		   "\"duration_minutes\":30,\"timezone\":\"UTC\",\"title\":\"Demo\","
		   "\"customer_name\":\"Ana\",\"customer_email\":\"ana@example.com\"}");
	assert_non_null(f->mt->runs);
	assert_int_equal(f->mt->recovering, 1);
	assert_int_equal(f->mt->runs->step, STEP_LOOKUP);
	/* Its process died after reserving, maybe after inserting: the event
	 * may exist until Google says otherwise. */
	assert_int_equal(f->mt->runs->hold, HOLD_MAYBE_EVENT);
	double deferred =
	    metrics_value("parley_meeting_recoveries_deferred_total", "reason=\"unavailable\"");
	for (int i = 0; i < 500 && f->mt->runs; i++)
		spin(f->app.base);
	/* The token cannot be had (no database): the run ends without a
	 * caller to tell, keeping the reservation (deferred, not dropped), and
	 * the pass may claim again. */
	assert_null(f->mt->runs);
	assert_int_equal(f->mt->recovering, 0);
	assert_true(metrics_value("parley_meeting_recoveries_deferred_total",
				  "reason=\"unavailable\"") == deferred + 1);
}

static int setup(void **state)
{
	*state = fixture_new(true);
	return 0;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_booking_without_a_token_reserves_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_recovery_without_what_it_needs_ends_at_once, setup,
				    teardown),
    cmocka_unit_test_setup_teardown(test_recovery_in_flight_is_counted_until_it_ends, setup,
				    teardown),
};
UNIT_MAIN(tests)
