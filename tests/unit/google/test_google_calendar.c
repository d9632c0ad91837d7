#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google_calendar.h"
#include "json.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/google/google_calendar.c"

/* 2026-01-05T09:00:00Z */
#define T0 ((time_t)1767603600)

static void test_time_parse(void **state)
{
	(void)state;
	time_t t;
	int off;
	assert_int_equal(gcal_time_parse("2026-01-05T09:00:00Z", &t, &off), 0);
	assert_int_equal(t, T0);
	assert_int_equal(off, 0);
	assert_int_equal(gcal_time_parse("2026-01-05T10:00:00+01:00", &t, &off), 0);
	assert_int_equal(t, T0);
	assert_int_equal(off, 3600);
	assert_int_equal(gcal_time_parse("2026-01-05t05:30-03:30", &t, &off), 0);
	assert_int_equal(t, T0);
	assert_int_equal(off, -12600);
	assert_int_equal(gcal_time_parse("2026-01-05 09:00:00.123456z", &t, &off), 0);
	assert_int_equal(t, T0);
	/* leap year, leap second */
	assert_int_equal(gcal_time_parse("2028-02-29T00:00:00Z", &t, &off), 0);
	assert_int_equal(gcal_time_parse("2026-01-05T08:59:60Z", &t, &off), 0);
	assert_int_equal(t, T0 - 1);
	/* no offset: -2, read as UTC */
	assert_int_equal(gcal_time_parse("2026-01-05T09:00:00", &t, &off), -2);
	assert_int_equal(t, T0);
}

static void test_time_parse_hostile(void **state)
{
	(void)state;
	time_t t;
	int off;
	const char *bad[] = {
	    "",
	    "2026-01-05",
	    "2026-02-29T10:00:00Z", /* not a leap year */
	    "2026-13-01T10:00:00Z",
	    "2026-00-10T10:00:00Z",
	    "2026-04-31T10:00:00Z",
	    "2026-01-05T24:00:00Z",
	    "2026-01-05T10:60:00Z",
	    "2026-01-05T10:00:61Z",
	    "2026-01-05T10:00:00+24:00",
	    "2026-01-05T10:00:00+01",
	    "2026-01-05T10:00:00+0100",
	    "2026-01-05T10:00:00Z trailing",
	    "2026-01-05T10:00:00.Z",
	    "1969-12-31T23:59:59Z",
	    "1970-01-01T00:30:00+01:00", /* before the epoch in UTC */
	    "10000-01-01T00:00:00Z",
	    "2026-1-5T10:00:00Z",
	    "-026-01-05T10:00:00Z",
	    "2026-01-05T1O:00:00Z",
	    "tomorrow at ten",
	    "2026-01-05T10:00:00.99999999999999999999999999999999999999999999999999999999Z",
	    NULL,
	};
	for (size_t i = 0; bad[i]; i++) {
		if (gcal_time_parse(bad[i], &t, &off) == 0 ||
		    gcal_time_parse(bad[i], &t, &off) == -2)
			fail_msg("accepted %s", bad[i]);
	}
	assert_int_equal(gcal_time_parse(NULL, &t, &off), -1);
}

static void test_time_format(void **state)
{
	(void)state;
	char buf[GCAL_TIME_BUF];
	gcal_time_format(T0, 0, buf);
	assert_string_equal(buf, "2026-01-05T09:00:00Z");
	gcal_time_format(T0, 3600, buf);
	assert_string_equal(buf, "2026-01-05T10:00:00+01:00");
	gcal_time_format(T0, -12600, buf);
	assert_string_equal(buf, "2026-01-05T05:30:00-03:30");
	/* round trip */
	time_t t;
	int off;
	assert_int_equal(gcal_time_parse(buf, &t, &off), 0);
	assert_int_equal(t, T0);
	assert_int_equal(off, -12600);
}

static void test_event_id(void **state)
{
	(void)state;
	char *id = gcal_event_id("mtg_0123456789abcdef01234567");
	assert_non_null(id);
	/* only base32hex, long enough, and the same every time */
	assert_true(strlen(id) >= 5);
	for (const char *p = id; *p; p++)
		assert_true((*p >= 'a' && *p <= 'v') || (*p >= '0' && *p <= '9'));
	char *again = gcal_event_id("mtg_0123456789abcdef01234567");
	assert_string_equal(id, again);
	char *other = gcal_event_id("mtg_0123456789abcdef01234568");
	assert_string_not_equal(id, other);
	free(id);
	free(again);
	free(other);
	/* RFC 4648 §10 test vectors, lower case, no padding */
	id = gcal_event_id("foobar");
	assert_string_equal(id, "cpnmuoj1e8");
	free(id);
	id = gcal_event_id("f");
	assert_string_equal(id, "co");
	free(id);
	assert_null(gcal_event_id(""));
	char big[202];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_null(gcal_event_id(big));
}

static void test_urls(void **state)
{
	(void)state;
	char *u = gcal_events_url("https://www.googleapis.com/calendar/v3", "sales@acme.test",
				  "abc123", "sendUpdates=all");
	assert_string_equal(u, "https://www.googleapis.com/calendar/v3/calendars/sales%40acme.test"
			       "/events/abc123?sendUpdates=all");
	free(u);
	u = gcal_events_url("http://h/c", "primary", NULL, NULL);
	assert_string_equal(u, "http://h/c/calendars/primary/events");
	free(u);
	u = gcal_url_escape("a b/c?d&e=f~_.-");
	assert_string_equal(u, "a%20b%2Fc%3Fd%26e%3Df~_.-");
	free(u);
}

static void test_timezone(void **state)
{
	(void)state;
	assert_null(gcal_check_timezone("Europe/Amsterdam", NULL));
	assert_null(gcal_check_timezone("America/Argentina/Buenos_Aires", NULL));
	assert_null(gcal_check_timezone("UTC", NULL));
	assert_null(gcal_check_timezone("Etc/GMT+3", NULL));
	const char *bad[] = {"",
			     "../../etc/passwd",
			     "Europe//Amsterdam",
			     "/Europe",
			     "Europe/",
			     "Europe/Amster dam",
			     "Europe/Amsterdam\n",
			     "1Europe/X",
			     "A/B/C/D",
			     "Europe/./Amsterdam",
			     NULL};
	for (size_t i = 0; bad[i]; i++)
		if (!gcal_check_timezone(bad[i], NULL))
			fail_msg("accepted '%s'", bad[i]);
	assert_non_null(gcal_check_timezone(NULL, NULL));
	char big[80];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_non_null(gcal_check_timezone(big, NULL));
	/* With the database: names it lacks are refused. */
	if (gcal_check_timezone("Europe/Amsterdam", "/usr/share/zoneinfo") == NULL) {
		assert_non_null(gcal_check_timezone("Mars/Olympus_Mons", "/usr/share/zoneinfo"));
		assert_non_null(
		    gcal_check_timezone("Europe", "/usr/share/zoneinfo")); /* a directory */
	}
	/* A missing database falls back to the pattern. */
	assert_null(gcal_check_timezone("Mars/Olympus_Mons", "/nonexistent/zoneinfo"));
}

static void test_email(void **state)
{
	(void)state;
	const char *good[] = {"ana@padariaboa.com.br", "a.b+tag@x.io", "o'hara@example.org",
			      "x@a-b.example", NULL};
	for (size_t i = 0; good[i]; i++)
		if (gcal_check_email(good[i]))
			fail_msg("refused %s", good[i]);
	const char *bad[] = {"",
			     "ana",
			     "@x.io",
			     "ana@",
			     "ana@x",
			     "a@@x.io",
			     "a@b@x.io",
			     ".a@x.io",
			     "a.@x.io",
			     "a..b@x.io",
			     "a b@x.io",
			     "a@x..io",
			     "a@-x.io",
			     "a@x-.io",
			     "a@x.io.",
			     "<a@x.io>",
			     "a@x.io\r\nBcc: y@z.io",
			     "ação@x.io",
			     "a@xn--.io\x01",
			     "\"a\"@x.io",
			     NULL};
	for (size_t i = 0; bad[i]; i++)
		if (!gcal_check_email(bad[i]))
			fail_msg("accepted %s", bad[i]);
	assert_non_null(gcal_check_email(NULL));
	char big[300];
	memset(big, 'a', sizeof big);
	memcpy(big + 250, "@x.io", 6);
	assert_non_null(gcal_check_email(big));
}

static void test_token_request(void **state)
{
	(void)state;
	char *b = gcal_token_request("id.apps.googleusercontent.com", "s3cr&t=", "1//0g-ab/cd+ef");
	assert_string_equal(b, "grant_type=refresh_token&client_id=id.apps.googleusercontent.com"
			       "&client_secret=s3cr%26t%3D&refresh_token=1%2F%2F0g-ab%2Fcd%2Bef");
	free(b);
}

static enum gcal_token_outcome parse_token(long status, const char *body, char **at, long *exp,
					   char **rt, char **why)
{
	return gcal_token_parse(status, body, strlen(body), at, exp, rt, why);
}

static void test_token_parse(void **state)
{
	(void)state;
	char *at, *rt, *why;
	long exp;
	assert_int_equal(
	    parse_token(200,
			"{\"access_token\":\"1/fFAGRNJru1FTz70BzhT3Zg\",\"expires_in\":3920,"
			"\"scope\":\"x\",\"token_type\":\"Bearer\"}",
			&at, &exp, &rt, &why),
	    GCAL_TOKEN_OK);
	assert_string_equal(at, "1/fFAGRNJru1FTz70BzhT3Zg");
	assert_int_equal(exp, 3920);
	assert_null(rt);
	assert_null(why);
	free(at);
	/* a new refresh token, expires_in as a string, clamped */
	assert_int_equal(parse_token(200,
				     "{\"access_token\":\"a\",\"expires_in\":\"5\","
				     "\"refresh_token\":\"r2\"}",
				     &at, &exp, &rt, &why),
			 GCAL_TOKEN_OK);
	assert_int_equal(exp, 60);
	assert_string_equal(rt, "r2");
	free(at);
	free(rt);
	assert_int_equal(
	    parse_token(200, "{\"access_token\":\"a\",\"expires_in\":1e300}", &at, &exp, &rt, &why),
	    GCAL_TOKEN_OK);
	assert_int_equal(exp, 86400);
	free(at);
	assert_int_equal(parse_token(200, "{\"access_token\":\"a\"}", &at, &exp, &rt, &why),
			 GCAL_TOKEN_OK);
	assert_int_equal(exp, 3600);
	free(at);

	assert_int_equal(
	    parse_token(400,
			"{\"error\":\"invalid_grant\",\"error_description\":\"Token has "
			"been expired or revoked.\"}",
			&at, &exp, &rt, &why),
	    GCAL_TOKEN_REVOKED);
	assert_null(at);
	assert_string_equal(why, "invalid_grant: Token has been expired or revoked.");
	free(why);
	assert_int_equal(parse_token(401, "{\"error\":\"invalid_client\"}", &at, &exp, &rt, &why),
			 GCAL_TOKEN_FINAL);
	free(why);
	assert_int_equal(parse_token(503, "<html>down</html>", &at, &exp, &rt, &why),
			 GCAL_TOKEN_RETRYABLE);
	assert_string_equal(why, "HTTP 503 from the token endpoint");
	free(why);
	assert_int_equal(parse_token(429, "{}", &at, &exp, &rt, &why), GCAL_TOKEN_RETRYABLE);
	free(why);
}

static void test_token_parse_hostile(void **state)
{
	(void)state;
	char *at, *rt, *why;
	long exp;
	const char *bad[] = {"",
			     "null",
			     "[]",
			     "{\"access_token\":null}",
			     "{\"access_token\":\"\"}",
			     "{\"access_token\":\"has space\"}",
			     "{\"access_token\":\"line\\nbreak\"}",
			     "{\"access_token\":\"caf\\u00e9\"}",
			     "{\"access_token\":42}",
			     "{\"access_token\":",
			     NULL};
	for (size_t i = 0; bad[i]; i++) {
		if (parse_token(200, bad[i], &at, &exp, &rt, &why) != GCAL_TOKEN_FINAL)
			fail_msg("accepted %s", bad[i]);
		assert_null(at);
		assert_non_null(why);
		free(why);
	}
	/* An error description with control characters is cleaned for logs. */
	assert_int_equal(parse_token(400,
				     "{\"error\":\"invalid_grant\",\"error_description\":"
				     "\"a\\nb\\u001b[31m\"}",
				     &at, &exp, &rt, &why),
			 GCAL_TOKEN_REVOKED);
	assert_null(strchr(why, '\n'));
	assert_null(strchr(why, '\x1b'));
	free(why);
	/* A huge token is refused. */
	size_t n = 5000;
	char *big = malloc(n + 40);
	strcpy(big, "{\"access_token\":\"");
	memset(big + strlen(big), 'a', n);
	strcpy(big + 17 + n, "\"}");
	assert_int_equal(parse_token(200, big, &at, &exp, &rt, &why), GCAL_TOKEN_FINAL);
	free(why);
	free(big);
}

static void test_error_reason(void **state)
{
	(void)state;
	const char *body = "{\"error\":{\"errors\":[{\"domain\":\"usageLimits\",\"reason\":"
			   "\"rateLimitExceeded\",\"message\":\"Rate Limit Exceeded\"}],\"code\":"
			   "403,\"message\":\"Rate Limit Exceeded\"}}";
	char r[64];
	gcal_error_reason(body, strlen(body), r, sizeof r);
	assert_string_equal(r, "rateLimitExceeded");
	assert_true(gcal_retryable_403(403, body, strlen(body)));
	assert_false(gcal_retryable_403(404, body, strlen(body)));
	const char *forbidden =
	    "{\"error\":{\"errors\":[{\"reason\":\"forbiddenForNonOrganizer\"}]}}";
	assert_false(gcal_retryable_403(403, forbidden, strlen(forbidden)));
	gcal_error_reason("garbage", 7, r, sizeof r);
	assert_string_equal(r, "");
	gcal_error_reason(NULL, 0, r, sizeof r);
	assert_string_equal(r, "");
	char small[4];
	gcal_error_reason(body, strlen(body), small, sizeof small);
	assert_string_equal(small, "rat");
}

static void test_freebusy(void **state)
{
	(void)state;
	char *req = gcal_freebusy_request("primary", T0, T0 + 3600);
	cJSON *j = cJSON_Parse(req);
	assert_string_equal(cJSON_GetObjectItem(j, "timeMin")->valuestring, "2026-01-05T09:00:00Z");
	assert_string_equal(cJSON_GetObjectItem(j, "timeMax")->valuestring, "2026-01-05T10:00:00Z");
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "items"), 0), "id")
		->valuestring,
	    "primary");
	cJSON_Delete(j);
	free(req);

	const char *body =
	    "{\"kind\":\"calendar#freeBusy\",\"calendars\":{\"primary\":{\"busy\":["
	    "{\"start\":\"2026-01-05T14:00:00-03:00\",\"end\":\"2026-01-05T15:00:00-03:00\"},"
	    "{\"start\":\"2026-01-05T09:00:00Z\",\"end\":\"2026-01-05T09:45:00Z\"}]}}}";
	struct gcal_interval *busy;
	size_t n;
	assert_null(gcal_freebusy_parse(body, strlen(body), "primary", &busy, &n));
	assert_int_equal(n, 2);
	assert_int_equal(busy[0].start, T0); /* sorted */
	assert_int_equal(busy[0].end, T0 + 2700);
	assert_int_equal(busy[1].start, T0 + 8 * 3600);
	assert_true(gcal_overlaps(busy, n, T0 + 1800, T0 + 3600));
	assert_false(gcal_overlaps(busy, n, T0 + 2700, T0 + 4500)); /* end is exclusive */
	assert_false(gcal_overlaps(busy, n, T0 - 1800, T0));        /* so is ours */
	free(busy);

	const char *empty = "{\"calendars\":{\"primary\":{}}}";
	assert_null(gcal_freebusy_parse(empty, strlen(empty), "primary", &busy, &n));
	assert_int_equal(n, 0);
	assert_null(busy);
}

static void test_freebusy_hostile(void **state)
{
	(void)state;
	struct gcal_interval *busy;
	size_t n;
	const char *bad[] = {
	    "",
	    "{}",
	    "{\"calendars\":{}}",
	    "{\"calendars\":{\"other\":{\"busy\":[]}}}",
	    "{\"calendars\":{\"primary\":{\"errors\":[{\"domain\":\"global\",\"reason\":"
	    "\"notFound\"}],\"busy\":[]}}}",
	    "{\"calendars\":{\"primary\":{\"busy\":{}}}}",
	    "{\"calendars\":{\"primary\":{\"busy\":[{\"start\":\"x\",\"end\":\"y\"}]}}}",
	    "{\"calendars\":{\"primary\":{\"busy\":[{\"start\":\"2026-01-05T10:00:00Z\"}]}}}",
	    "{\"calendars\":{\"primary\":{\"busy\":[{\"start\":\"2026-01-05T10:00:00Z\","
	    "\"end\":\"2026-01-05T09:00:00Z\"}]}}}",
	    "{\"calendars\":{\"primary\":{\"busy\":[{\"start\":\"2026-01-05T10:00:00\","
	    "\"end\":\"2026-01-05T11:00:00\"}]}}}",
	    "{\"calendars\":{\"primary\":{\"busy\":[1,2]}}}",
	    NULL,
	};
	for (size_t i = 0; bad[i]; i++) {
		if (!gcal_freebusy_parse(bad[i], strlen(bad[i]), "primary", &busy, &n))
			fail_msg("accepted %s", bad[i]);
		assert_null(busy);
		assert_int_equal(n, 0);
	}
	/* too many intervals */
	char *big = malloc(200 * (GCAL_MAX_BUSY + 2));
	strcpy(big, "{\"calendars\":{\"primary\":{\"busy\":[");
	for (int i = 0; i <= GCAL_MAX_BUSY; i++)
		strcat(big,
		       i ? ",{\"start\":\"2026-01-05T10:00:00Z\",\"end\":\"2026-01-05T11:00:00Z\"}"
			 : "{\"start\":\"2026-01-05T10:00:00Z\",\"end\":\"2026-01-05T11:00:00Z\"}");
	strcat(big, "]}}}");
	assert_non_null(gcal_freebusy_parse(big, strlen(big), "primary", &busy, &n));
	free(big);
}

static void test_free_slots(void **state)
{
	(void)state;
	/* 09:00-12:00 UTC, busy 09:00-09:45 and 10:30-11:00; 30-minute slots
	 * every 30 minutes */
	struct gcal_interval busy[] = {{T0, T0 + 2700}, {T0 + 5400, T0 + 7200}};
	struct gcal_interval out[10];
	size_t n = gcal_free_slots(busy, 2, T0, T0 + 3 * 3600, 1800, 1800, 0, 0, out, 10);
	/* 10:00, 11:00, 11:30 (09:30 overlaps the first, 10:30 the second) */
	assert_int_equal(n, 3);
	assert_int_equal(out[0].start, T0 + 3600);
	assert_int_equal(out[1].start, T0 + 7200);
	assert_int_equal(out[2].start, T0 + 9000);
	assert_int_equal(out[2].end, T0 + 3 * 3600);
	/* max caps what is written, not the count */
	n = gcal_free_slots(NULL, 0, T0, T0 + 3 * 3600, 1800, 1800, 0, 0, out, 2);
	assert_int_equal(n, 6);
	/* aligned to the local half hour at a +05:45 offset (Kathmandu) */
	n = gcal_free_slots(NULL, 0, T0, T0 + 3600, 1800, 1800, 5 * 3600 + 2700, 0, out, 10);
	assert_int_equal(n, 1);
	assert_int_equal((out[0].start + 5 * 3600 + 2700) % 1800, 0);
	/* not before not_before, rounded up to the step */
	n = gcal_free_slots(NULL, 0, T0, T0 + 3 * 3600, 1800, 1800, 0, T0 + 60, out, 10);
	assert_int_equal(out[0].start, T0 + 1800);
	/* nonsense ranges */
	assert_int_equal(gcal_free_slots(NULL, 0, T0, T0, 1800, 1800, 0, 0, out, 10), 0);
	assert_int_equal(gcal_free_slots(NULL, 0, T0, T0 + 3600, 0, 1800, 0, 0, out, 10), 0);
	assert_int_equal(gcal_free_slots(NULL, 0, T0, T0 + 3600, 1800, 0, 0, 0, out, 10), 0);
}

static void test_event_request(void **state)
{
	(void)state;
	struct gcal_event_spec spec = {
	    .event_id = "abc123",
	    .request_id = "parley-mtg_1",
	    .title = "Demo \"x\"",
	    .description = "d",
	    .start = T0,
	    .end = T0 + 1800,
	    .timezone = "Europe/Amsterdam",
	    .attendee_email = "ana@x.io",
	    .attendee_name = "Ana",
	    .meeting_id = "mtg_1",
	    .conversation_id = "c1",
	};
	char *body = gcal_event_request(&spec);
	cJSON *j = cJSON_Parse(body);
	assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, "abc123");
	assert_string_equal(cJSON_GetObjectItem(j, "summary")->valuestring, "Demo \"x\"");
	cJSON *start = cJSON_GetObjectItem(j, "start");
	assert_string_equal(cJSON_GetObjectItem(start, "dateTime")->valuestring,
			    "2026-01-05T09:00:00Z");
	assert_string_equal(cJSON_GetObjectItem(start, "timeZone")->valuestring,
			    "Europe/Amsterdam");
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "end"), "dateTime")->valuestring,
	    "2026-01-05T09:30:00Z");
	cJSON *att = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "attendees"), 0);
	assert_string_equal(cJSON_GetObjectItem(att, "email")->valuestring, "ana@x.io");
	assert_string_equal(cJSON_GetObjectItem(att, "displayName")->valuestring, "Ana");
	cJSON *cr = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "conferenceData"), "createRequest");
	assert_string_equal(cJSON_GetObjectItem(cr, "requestId")->valuestring, "parley-mtg_1");
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(cr, "conferenceSolutionKey"), "type")
		->valuestring,
	    "hangoutsMeet");
	assert_string_equal(
	    cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(j, "extendedProperties"), "private"),
		"parley_meeting_id")
		->valuestring,
	    "mtg_1");
	cJSON_Delete(j);
	free(body);
	char *rid = gcal_request_id("mtg_1");
	assert_string_equal(rid, "parley-mtg_1");
	free(rid);
}

static int parse_event(const char *body, struct gcal_event *ev)
{
	return gcal_event_parse(body, strlen(body), ev);
}

/* body parses; each of id, status and conference that is not NULL is
 * checked, and the Meet link is link (NULL: none). */
static void expect_event(const char *body, const char *id, const char *status, const char *link,
			 const char *conference)
{
	struct gcal_event ev;
	assert_int_equal(parse_event(body, &ev), 0);
	if (id)
		assert_string_equal(ev.id, id);
	if (status)
		assert_string_equal(ev.status, status);
	if (link)
		assert_string_equal(ev.meet_link, link);
	else
		assert_null(ev.meet_link);
	if (conference)
		assert_string_equal(ev.conference, conference);
	gcal_event_clear(&ev);
}

static void test_event_parse(void **state)
{
	(void)state;
	expect_event("{\"id\":\"e1\",\"status\":\"confirmed\",\"hangoutLink\":"
		     "\"https://meet.google.com/nix-thaw-twy\",\"conferenceData\":{"
		     "\"createRequest\":{\"status\":{\"statusCode\":\"success\"}}}}",
		     "e1", "confirmed", "https://meet.google.com/nix-thaw-twy", "success");
	/* the video entry point when hangoutLink is missing; phone ignored */
	expect_event("{\"id\":\"e2\",\"conferenceData\":{\"entryPoints\":["
		     "{\"entryPointType\":\"phone\",\"uri\":\"tel:+1\"},"
		     "{\"entryPointType\":\"video\",\"uri\":"
		     "\"https://meet.google.com/abc-defg-hij\"}]}}",
		     NULL, "", "https://meet.google.com/abc-defg-hij", "");
	/* pending: no link yet */
	expect_event("{\"id\":\"e3\",\"status\":\"confirmed\",\"conferenceData\":{"
		     "\"createRequest\":{\"status\":{\"statusCode\":\"pending\"}}}}",
		     NULL, NULL, NULL, "pending");
}

static void test_event_parse_hostile(void **state)
{
	(void)state;
	struct gcal_event ev;
	const char *bad[] = {"", "[]", "{}", "{\"id\":\"\"}", "{\"id\":7}", "{\"id\":", NULL};
	for (size_t i = 0; bad[i]; i++)
		if (parse_event(bad[i], &ev) == 0)
			fail_msg("accepted %s", bad[i]);
	/* links we would not hand to a customer are dropped */
	const char *links[] = {"javascript:alert(1)", "http://meet.google.com/x",
			       "https://meet.google.com/a b", "https://x\\n", NULL};
	for (size_t i = 0; links[i]; i++) {
		char body[256];
		snprintf(body, sizeof body, "{\"id\":\"e\",\"hangoutLink\":\"%s\"}", links[i]);
		assert_int_equal(parse_event(body, &ev), 0);
		if (ev.meet_link)
			fail_msg("kept link %s", links[i]);
		gcal_event_clear(&ev);
	}
	/* a control character in the status is not copied as is */
	assert_int_equal(parse_event("{\"id\":\"e\",\"status\":\"conf\\u0007irmed\"}", &ev), 0);
	assert_null(strchr(ev.status, '\a'));
	gcal_event_clear(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time_parse),
	    cmocka_unit_test(test_time_parse_hostile),
	    cmocka_unit_test(test_time_format),
	    cmocka_unit_test(test_event_id),
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_timezone),
	    cmocka_unit_test(test_email),
	    cmocka_unit_test(test_token_request),
	    cmocka_unit_test(test_token_parse),
	    cmocka_unit_test(test_token_parse_hostile),
	    cmocka_unit_test(test_error_reason),
	    cmocka_unit_test(test_freebusy),
	    cmocka_unit_test(test_freebusy_hostile),
	    cmocka_unit_test(test_free_slots),
	    cmocka_unit_test(test_event_request),
	    cmocka_unit_test(test_event_parse),
	    cmocka_unit_test(test_event_parse_hostile),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
