#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "meeting_args.h"

/* "now" in these tests: 2026-01-05T09:00:00Z, a Monday */
#define NOW ((time_t)1767603600)

static int booking(const char *json, struct meeting_booking *b, char *why)
{
	return meeting_args_booking(json, strlen(json), NOW, 30, NULL, b, why, 256);
}

static int availability(const char *json, struct meeting_availability *a, char *why)
{
	return meeting_args_availability(json, strlen(json), NOW, 30, a, why, 256);
}

static void test_declarations(void **state)
{
	(void)state;
	char *s = meeting_args_tools(45);
	cJSON *tools = cJSON_Parse(s);
	assert_int_equal(cJSON_GetArraySize(tools), 2);
	cJSON *t;
	cJSON_ArrayForEach(t, tools)
	{
		assert_string_equal(cJSON_GetObjectItem(t, "type")->valuestring, "function");
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(t, "strict")));
		cJSON *params = cJSON_GetObjectItem(t, "parameters");
		/* strict: every property required, nothing else allowed */
		assert_true(cJSON_IsFalse(cJSON_GetObjectItem(params, "additionalProperties")));
		cJSON *props = cJSON_GetObjectItem(params, "properties");
		assert_int_equal(cJSON_GetArraySize(props),
				 cJSON_GetArraySize(cJSON_GetObjectItem(params, "required")));
	}
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(tools, 0), "name")->valuestring,
			    MEETING_TOOL_AVAILABILITY);
	cJSON *book = cJSON_GetArrayItem(tools, 1);
	assert_string_equal(cJSON_GetObjectItem(book, "name")->valuestring, MEETING_TOOL_BOOK);
	cJSON *props = cJSON_GetObjectItem(cJSON_GetObjectItem(book, "parameters"), "properties");
	const char *want[] = {"start",         "duration_minutes", "timezone",
			      "customer_name", "customer_email",   "title"};
	for (size_t i = 0; i < 6; i++)
		assert_non_null(cJSON_GetObjectItem(props, want[i]));
	assert_non_null(strstr(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(props, "duration_minutes"), "description")
		->valuestring,
	    "45"));
	cJSON_Delete(tools);
	free(s);
}

static void test_booking_ok(void **state)
{
	(void)state;
	struct meeting_booking b;
	char why[256];
	assert_int_equal(
	    booking("{\"start\":\"2026-01-06T10:30:00+01:00\",\"duration_minutes\":45,"
		    "\"timezone\":\"Europe/Amsterdam\",\"customer_name\":\"  Ana Souza "
		    "\",\"customer_email\":\"ana@padariaboa.com.br\",\"title\":\"Demo\"}",
		    &b, why),
	    0);
	assert_int_equal(b.start, NOW + 86400 + 30 * 60);
	assert_int_equal(b.offset, 3600);
	assert_int_equal(b.duration, 45);
	assert_string_equal(b.customer_name, "Ana Souza");
	assert_string_equal(b.title, "Demo");
	char *out = meeting_args_booked(&b, "mtg_1", "https://meet.google.com/abc-defg-hij", false);
	cJSON *j = cJSON_Parse(out);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "booked")));
	assert_string_equal(cJSON_GetObjectItem(j, "start")->valuestring,
			    "2026-01-06T10:30:00+01:00");
	assert_string_equal(cJSON_GetObjectItem(j, "end")->valuestring,
			    "2026-01-06T11:15:00+01:00");
	assert_string_equal(cJSON_GetObjectItem(j, "start_utc")->valuestring,
			    "2026-01-06T09:30:00Z");
	assert_string_equal(cJSON_GetObjectItem(j, "meet_link")->valuestring,
			    "https://meet.google.com/abc-defg-hij");
	assert_null(cJSON_GetObjectItem(j, "note"));
	cJSON_Delete(j);
	free(out);
	out = meeting_args_booked(&b, "mtg_1", NULL, true);
	j = cJSON_Parse(out);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "meet_link")));
	assert_non_null(strstr(cJSON_GetObjectItem(j, "note")->valuestring, "already"));
	cJSON_Delete(j);
	free(out);
	meeting_booking_clear(&b);

	/* nulls for the optional ones: defaults */
	assert_int_equal(booking("{\"start\":\"2026-01-06T10:30:00Z\",\"duration_minutes\":null,"
				 "\"timezone\":\"UTC\",\"customer_name\":\"Jo\","
				 "\"customer_email\":\"jo@x.io\",\"title\":null}",
				 &b, why),
			 0);
	assert_int_equal(b.duration, 30);
	assert_string_equal(b.title, "Meeting with Jo");
	meeting_booking_clear(&b);
	/* absent optional keys too */
	assert_int_equal(booking("{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\","
				 "\"customer_name\":\"Jo\",\"customer_email\":\"jo@x.io\"}",
				 &b, why),
			 0);
	meeting_booking_clear(&b);
}

struct bad_case {
	const char *json;
	const char *why; /* a substring of the message */
};

static void test_booking_refused(void **state)
{
	(void)state;
#define OK_REST "\"timezone\":\"UTC\",\"customer_name\":\"Jo\",\"customer_email\":\"jo@x.io\""
	static const struct bad_case cases[] = {
	    {"", "not a JSON object"},
	    {"[]", "not a JSON object"},
	    {"{\"start\":", "not a JSON object"},
	    {"{" OK_REST "}", "start is required"},
	    {"{\"start\":12," OK_REST "}", "start is required"},
	    {"{\"start\":\"tomorrow 10am\"," OK_REST "}", "not a valid RFC 3339"},
	    {"{\"start\":\"2026-01-06T10:30:00\"," OK_REST "}", "UTC offset"},
	    {"{\"start\":\"2026-02-30T10:30:00Z\"," OK_REST "}", "not a valid"},
	    {"{\"start\":\"2026-01-04T10:30:00Z\"," OK_REST "}", "in the past"},
	    {"{\"start\":\"2026-01-05T09:02:00Z\"," OK_REST "}", "too soon"},
	    {"{\"start\":\"2027-06-01T10:00:00Z\"," OK_REST "}", "more than a year"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"duration_minutes\":0," OK_REST "}",
	     "duration_minutes"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"duration_minutes\":30.5," OK_REST "}",
	     "duration_minutes"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"duration_minutes\":\"30\"," OK_REST "}",
	     "duration_minutes"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"duration_minutes\":100000," OK_REST "}",
	     "duration_minutes"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"customer_name\":\"Jo\","
	     "\"customer_email\":\"jo@x.io\"}",
	     "timezone is required"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"../../etc/passwd\","
	     "\"customer_name\":\"Jo\",\"customer_email\":\"jo@x.io\"}",
	     "timezone"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\","
	     "\"customer_email\":\"jo@x.io\"}",
	     "customer_name is required"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\",\"customer_name\":\"   \","
	     "\"customer_email\":\"jo@x.io\"}",
	     "customer_name is empty"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\",\"customer_name\":\"J\\no\","
	     "\"customer_email\":\"jo@x.io\"}",
	     "plain text"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\",\"customer_name\":\"Jo\"}",
	     "customer_email is required"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\",\"customer_name\":\"Jo\","
	     "\"customer_email\":null}",
	     "customer_email is required"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\",\"customer_name\":\"Jo\","
	     "\"customer_email\":\"not-an-email\"}",
	     "customer_email"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\",\"customer_name\":\"Jo\","
	     "\"customer_email\":\"jo@x.io\\r\\nBcc: all@x.io\"}",
	     "customer_email"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\"," OK_REST ",\"title\":42}", "title must be"},
	    {"{\"start\":\"2026-01-06T10:30:00Z\"," OK_REST ",\"title\":\"\"}", "title is empty"},
	    {NULL, NULL},
	};
	for (const struct bad_case *c = cases; c->json; c++) {
		struct meeting_booking b;
		char why[256] = "";
		if (booking(c->json, &b, why) == 0)
			fail_msg("accepted %s", c->json);
		if (!strstr(why, c->why))
			fail_msg("for %s: want '%s' in '%s'", c->json, c->why, why);
		assert_null(b.timezone);
		assert_null(b.customer_name);
	}
	/* overlong names and titles, invalid UTF-8 */
	char json[1200];
	char name[300];
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	snprintf(
	    json, sizeof json,
	    "{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\",\"customer_name\":\"%s\","
	    "\"customer_email\":\"jo@x.io\"}",
	    name);
	struct meeting_booking b;
	char why[256];
	assert_int_equal(booking(json, &b, why), -1);
	assert_non_null(strstr(why, "too long"));
	assert_int_equal(booking("{\"start\":\"2026-01-06T10:30:00Z\"," OK_REST
				 ",\"title\":\"\xff\xfe\"}",
				 &b, why),
			 -1);
	assert_int_equal(booking("{\"start\":\"2026-01-06T10:30:00Z\"," OK_REST
				 ",\"title\":\"\xc0\xaf\"}",
				 &b, why),
			 -1); /* overlong '/' */
	/* Non-ASCII names are fine and counted in characters. */
	assert_int_equal(booking("{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"UTC\","
				 "\"customer_name\":\"Jo\xc3\xa3o \xf0\x9f\x99\x82\","
				 "\"customer_email\":\"joao@x.io\"}",
				 &b, why),
			 0);
	meeting_booking_clear(&b);
	/* arguments too large */
	size_t n = MEETING_ARGS_MAX_BYTES + 10;
	char *huge = malloc(n + 1);
	memset(huge, ' ', n);
	huge[0] = '{';
	huge[n - 1] = '}';
	huge[n] = '\0';
	assert_int_equal(booking(huge, &b, why), -1);
	free(huge);
	assert_int_equal(meeting_args_booking(NULL, 0, NOW, 30, NULL, &b, why, sizeof why), -1);
#undef OK_REST
}

static void test_booking_zoneinfo(void **state)
{
	(void)state;
	struct meeting_booking b;
	char why[256];
	const char *json = "{\"start\":\"2026-01-06T10:30:00Z\",\"timezone\":\"Mars/Olympus\","
			   "\"customer_name\":\"Jo\",\"customer_email\":\"jo@x.io\"}";
	if (meeting_args_booking(json, strlen(json), NOW, 30, "/usr/share/zoneinfo", &b, why,
				 sizeof why) == 0) {
		meeting_booking_clear(&b);
		skip(); /* no zoneinfo here: the pattern alone accepts it */
	}
	assert_non_null(strstr(why, "not a known"));
}

static void test_availability(void **state)
{
	(void)state;
	struct meeting_availability a;
	char why[256];
	assert_int_equal(availability("{\"start\":\"2026-01-06T09:00:00+01:00\",\"end\":"
				      "\"2026-01-06T17:00:00+01:00\",\"duration_minutes\":null}",
				      &a, why),
			 0);
	assert_int_equal(a.from, NOW + 86400 - 3600);
	assert_int_equal(a.to, NOW + 86400 + 7 * 3600);
	assert_int_equal(a.offset, 3600);
	assert_int_equal(a.duration, 30);
	/* a range that began already starts now */
	assert_int_equal(availability("{\"start\":\"2026-01-05T08:00:00Z\",\"end\":"
				      "\"2026-01-05T12:00:00Z\",\"duration_minutes\":60}",
				      &a, why),
			 0);
	assert_int_equal(a.from, NOW);
	assert_int_equal(a.duration, 60);

	struct gcal_interval slots[] = {{NOW + 3600, NOW + 5400}, {NOW + 7200, NOW + 9000}};
	a.offset = 3600;
	char *out = meeting_args_slots(&a, slots, 2, 5);
	cJSON *j = cJSON_Parse(out);
	cJSON *list = cJSON_GetObjectItem(j, "free_slots");
	assert_int_equal(cJSON_GetArraySize(list), 2);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "start")->valuestring,
			    "2026-01-05T11:00:00+01:00");
	assert_non_null(strstr(cJSON_GetObjectItem(j, "note")->valuestring, "2 of 5"));
	cJSON_Delete(j);
	free(out);
	out = meeting_args_slots(&a, NULL, 0, 0);
	assert_non_null(strstr(out, "No free time"));
	free(out);

	const struct bad_case cases[] = {
	    {"{\"end\":\"2026-01-06T17:00:00Z\"}", "start is required"},
	    {"{\"start\":\"2026-01-06T09:00:00Z\"}", "end is required"},
	    {"{\"start\":\"2026-01-06T09:00:00Z\",\"end\":\"2026-01-06T09:00:00Z\"}",
	     "after start"},
	    {"{\"start\":\"2026-01-06T09:00:00Z\",\"end\":\"2026-02-06T09:00:00Z\"}",
	     "longer than"},
	    {"{\"start\":\"2026-01-01T09:00:00Z\",\"end\":\"2026-01-02T09:00:00Z\"}",
	     "in the past"},
	    {"{\"start\":\"2026-01-06T09:00:00\",\"end\":\"2026-01-06T10:00:00Z\"}", "UTC offset"},
	    {"{\"start\":\"2026-01-06T09:00:00Z\",\"end\":\"2026-01-06T17:00:00Z\","
	     "\"duration_minutes\":-5}",
	     "duration_minutes"},
	    {"null", "not a JSON object"},
	    {NULL, NULL},
	};
	for (const struct bad_case *c = cases; c->json; c++) {
		char w[256] = "";
		if (availability(c->json, &a, w) == 0)
			fail_msg("accepted %s", c->json);
		if (!strstr(w, c->why))
			fail_msg("for %s: want '%s' in '%s'", c->json, c->why, w);
	}
}

static void test_error_output(void **state)
{
	(void)state;
	char *out = meeting_args_error("slot_busy", "That \"time\" is taken.");
	cJSON *j = cJSON_Parse(out);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "ok")));
	assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring, "slot_busy");
	assert_string_equal(cJSON_GetObjectItem(j, "message")->valuestring,
			    "That \"time\" is taken.");
	cJSON_Delete(j);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_declarations),    cmocka_unit_test(test_booking_ok),
	    cmocka_unit_test(test_booking_refused), cmocka_unit_test(test_booking_zoneinfo),
	    cmocka_unit_test(test_availability),    cmocka_unit_test(test_error_output),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
