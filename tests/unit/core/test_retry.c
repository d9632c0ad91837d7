#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "retry.h"
#include "../unit_main.h"

static enum retry_verdict cls(long status, const char *body)
{
	return retry_classify(status, 0, body, body ? strlen(body) : 0);
}

static char *meta_body(long code)
{
	char *b = malloc(256);
	snprintf(b, 256,
		 "{\"error\":{\"message\":\"(#%ld) Something\",\"type\":\"OAuthException\","
		 "\"code\":%ld,\"fbtrace_id\":\"Az8\"}}",
		 code, code);
	return b;
}

static void test_status_classes(void **state)
{
	(void)state;
	for (long s = 200; s < 300; s++)
		assert_int_equal(cls(s, NULL), RETRY_OK);
	assert_int_equal(cls(100, NULL), RETRY_FINAL);
	assert_int_equal(cls(301, NULL), RETRY_FINAL);
	assert_int_equal(cls(304, NULL), RETRY_FINAL);
	assert_int_equal(cls(400, NULL), RETRY_FINAL);
	assert_int_equal(cls(401, NULL), RETRY_FINAL);
	assert_int_equal(cls(403, NULL), RETRY_FINAL);
	assert_int_equal(cls(404, NULL), RETRY_FINAL);
	assert_int_equal(cls(405, NULL), RETRY_FINAL);
	assert_int_equal(cls(408, NULL), RETRY_RETRYABLE);
	assert_int_equal(cls(409, NULL), RETRY_RETRYABLE);
	assert_int_equal(cls(410, NULL), RETRY_FINAL);
	assert_int_equal(cls(413, NULL), RETRY_FINAL);
	assert_int_equal(cls(422, NULL), RETRY_FINAL);
	assert_int_equal(cls(429, NULL), RETRY_RETRYABLE);
	for (long s = 500; s < 600; s++)
		assert_int_equal(cls(s, NULL), RETRY_RETRYABLE);
	/* No status and no transport error: nothing came back. */
	assert_int_equal(cls(0, NULL), RETRY_RETRYABLE);
}

static void test_transport_kinds(void **state)
{
	(void)state;
	assert_int_equal(retry_classify(0, HTTP_ERR_DNS, NULL, 0), RETRY_RETRYABLE);
	assert_int_equal(retry_classify(0, HTTP_ERR_CONNECT, NULL, 0), RETRY_RETRYABLE);
	assert_int_equal(retry_classify(0, HTTP_ERR_CONNECT_TIMEOUT, NULL, 0), RETRY_RETRYABLE);
	assert_int_equal(retry_classify(0, HTTP_ERR_TIMEOUT, NULL, 0), RETRY_RETRYABLE);
	assert_int_equal(retry_classify(0, HTTP_ERR_NETWORK, NULL, 0), RETRY_RETRYABLE);
	assert_int_equal(retry_classify(0, HTTP_ERR_OTHER, NULL, 0), RETRY_RETRYABLE);
	assert_int_equal(retry_classify(0, HTTP_ERR_SHUTDOWN, NULL, 0), RETRY_RETRYABLE);
	assert_int_equal(retry_classify(0, HTTP_ERR_TLS, NULL, 0), RETRY_FINAL);
	assert_int_equal(retry_classify(0, HTTP_ERR_TOO_LARGE, NULL, 0), RETRY_FINAL);
	assert_int_equal(retry_classify(0, HTTP_ERR_USAGE, NULL, 0), RETRY_FINAL);
	/* A transport error wins over whatever status came with it. */
	assert_int_equal(retry_classify(200, HTTP_ERR_TOO_LARGE, NULL, 0), RETRY_FINAL);
	assert_int_equal(retry_classify(200, HTTP_ERR_NETWORK, NULL, 0), RETRY_RETRYABLE);
}

static void test_meta_transient_codes(void **state)
{
	(void)state;
	const long codes[] = {1,     2,      4,      17,     32,     341,    613,
			      80000, 80001,  80002,  80004,  80006,  80007,  80008,
			      80014, 130429, 131000, 131016, 131056, 131057, 133004};
	const long statuses[] = {400, 403, 404, 500, 503};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		char *b = meta_body(codes[i]);
		for (size_t j = 0; j < sizeof statuses / sizeof statuses[0]; j++) {
			if (cls(statuses[j], b) != RETRY_RETRYABLE)
				fail_msg("code %ld status %ld not retryable", codes[i],
					 statuses[j]);
		}
		/* A 2xx stays a success whatever the body says. */
		assert_int_equal(cls(200, b), RETRY_OK);
		free(b);
	}
}

static void test_meta_final_codes(void **state)
{
	(void)state;
	const long codes[] = {0,      3,      10,     100,    190,    200,    368,    131005,
			      131008, 131009, 131021, 131026, 131030, 131031, 131047, 131048,
			      131049, 131050, 131051, 132015, 79999,  80015,  130497};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		char *b = meta_body(codes[i]);
		if (cls(400, b) != RETRY_FINAL)
			fail_msg("code %ld on 400 not final", codes[i]);
		if (cls(403, b) != RETRY_FINAL)
			fail_msg("code %ld on 403 not final", codes[i]);
		/* 5xx are retried whatever the code (docs/protocol.md,
		 * Retries). */
		assert_int_equal(cls(500, b), RETRY_RETRYABLE);
		free(b);
	}
}

static void test_meta_real_bodies(void **state)
{
	(void)state;
	/* Meta's documented error body for 130429, verbatim
	 * (docs/protocol.md). */
	const char *throughput =
	    "{\"error\":{\"message\":\"(#130429) Rate limit hit\",\"type\":\"OAuthException\","
	    "\"code\":130429,\"error_data\":{\"messaging_product\":\"whatsapp\",\"details\":"
	    "\"Cloud API message throughput has been reached.\"},\"error_subcode\":2494055,"
	    "\"fbtrace_id\":\"Az8or2yhqkZfEZ-_4Qn_Bam\"}}";
	assert_int_equal(cls(400, throughput), RETRY_RETRYABLE);
	const char *window =
	    "{\"error\":{\"message\":\"(#131047) Re-engagement message\",\"type\":"
	    "\"OAuthException\",\"code\":131047,\"error_data\":{\"messaging_product\":"
	    "\"whatsapp\",\"details\":\"Message failed to send because more than 24 hours "
	    "have passed since the customer last replied to this number.\"},"
	    "\"fbtrace_id\":\"AbC\"}}";
	assert_int_equal(cls(400, window), RETRY_FINAL);
	/* Instagram outside the window (docs/protocol.md, Graph sends). */
	const char *ig = "{\"error\":{\"message\":\"This message is sent outside of allowed "
			 "window.\",\"type\":\"IGApiException\",\"code\":10,"
			 "\"error_subcode\":2534022,\"fbtrace_id\":\"x\"}}";
	assert_int_equal(cls(403, ig), RETRY_FINAL);
	const char *expired = "{\"error\":{\"message\":\"Error validating access token: Session "
			      "has expired\",\"type\":\"OAuthException\",\"code\":190,"
			      "\"error_subcode\":463}}";
	assert_int_equal(cls(401, expired), RETRY_FINAL);
}

static void test_meta_is_transient(void **state)
{
	(void)state;
	assert_int_equal(cls(400, "{\"error\":{\"code\":99999,\"is_transient\":true}}"),
			 RETRY_RETRYABLE);
	assert_int_equal(cls(400, "{\"error\":{\"code\":100,\"is_transient\":\"true\"}}"),
			 RETRY_RETRYABLE);
	assert_int_equal(cls(400, "{\"error\":{\"code\":100,\"is_transient\":false}}"),
			 RETRY_FINAL);
	assert_int_equal(cls(400, "{\"error\":{\"code\":100,\"is_transient\":1}}"), RETRY_FINAL);
	/* is_transient false does not make a 5xx final, nor a throttling code. */
	assert_int_equal(cls(500, "{\"error\":{\"code\":100,\"is_transient\":false}}"),
			 RETRY_RETRYABLE);
	assert_int_equal(cls(400, "{\"error\":{\"code\":4,\"is_transient\":false}}"),
			 RETRY_RETRYABLE);
	/* A code given as a numeric string still counts. */
	assert_int_equal(cls(400, "{\"error\":{\"code\":\"130429\"}}"), RETRY_RETRYABLE);
	assert_int_equal(cls(400, "{\"error\":{\"code\":\"131047\"}}"), RETRY_FINAL);
}

static void test_openai_errors(void **state)
{
	(void)state;
	const char *quota =
	    "{\"error\":{\"message\":\"You exceeded your current quota, please check your plan "
	    "and billing details.\",\"type\":\"insufficient_quota\",\"param\":null,"
	    "\"code\":\"insufficient_quota\"}}";
	assert_int_equal(cls(429, quota), RETRY_FINAL);
	const char *billing[] = {"credit_balance_exhausted", "organization_spend_limit_exceeded",
				 "project_spend_limit_exceeded",
				 "organization_usage_limit_exceeded", "billing_hard_limit_reached"};
	for (size_t i = 0; i < sizeof billing / sizeof billing[0]; i++) {
		char b[256];
		snprintf(
		    b, sizeof b,
		    "{\"error\":{\"message\":\"m\",\"type\":\"insufficient_quota\",\"param\":null,"
		    "\"code\":\"%s\"}}",
		    billing[i]);
		assert_int_equal(cls(429, b), RETRY_FINAL);
		snprintf(
		    b, sizeof b,
		    "{\"error\":{\"message\":\"m\",\"type\":\"x\",\"param\":null,\"code\":\"%s\"}}",
		    billing[i]);
		assert_int_equal(cls(429, b), RETRY_FINAL);
	}
	/* The type alone says quota even when the code is null. */
	assert_int_equal(cls(429, "{\"error\":{\"message\":\"m\",\"type\":\"insufficient_quota\","
				  "\"param\":null,\"code\":null}}"),
			 RETRY_FINAL);

	const char *rate = "{\"error\":{\"message\":\"Rate limit reached for gpt-4o in "
			   "organization org-x on tokens per min (TPM): Limit 30000, Used 14567, "
			   "Requested 24754. Please try again in 18.642s.\",\"type\":\"tokens\","
			   "\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
	assert_int_equal(cls(429, rate), RETRY_RETRYABLE);
	const char *too_large =
	    "{\"error\":{\"message\":\"Request too large for gpt-4o in organization org-x on "
	    "tokens per min (TPM): Limit 30000, Requested 31538.\",\"type\":\"tokens\","
	    "\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
	assert_int_equal(cls(429, too_large), RETRY_FINAL);
	assert_int_equal(cls(429, "{\"error\":{\"message\":\"slow\",\"type\":\"rate_limit_error\","
				  "\"param\":null,\"code\":\"slow_down\"}}"),
			 RETRY_RETRYABLE);

	const char *auth = "{\"error\":{\"message\":\"Incorrect API key provided: sk-***.\","
			   "\"type\":\"authentication_error\",\"param\":null,"
			   "\"code\":\"invalid_api_key\"}}";
	assert_int_equal(cls(401, auth), RETRY_FINAL);
	assert_int_equal(cls(403, "{\"error\":{\"message\":\"Country, region, or territory not "
				  "supported\",\"type\":\"request_forbidden\",\"param\":null,"
				  "\"code\":\"unsupported_country_region_territory\"}}"),
			 RETRY_FINAL);
	assert_int_equal(cls(400,
			     "{\"error\":{\"message\":\"Missing required parameter: "
			     "'model'.\",\"type\":\"invalid_request_error\",\"param\":\"model\","
			     "\"code\":\"missing_required_parameter\"}}"),
			 RETRY_FINAL);
	assert_int_equal(cls(400, "{\"error\":{\"message\":\"Another process is using this "
				  "conversation.\",\"type\":\"invalid_request_error\","
				  "\"param\":\"conversation\",\"code\":\"conversation_locked\"}}"),
			 RETRY_RETRYABLE);
	assert_int_equal(cls(404, "{\"error\":{\"message\":\"Conversation not found\",\"type\":"
				  "\"invalid_request_error\",\"param\":null,\"code\":null}}"),
			 RETRY_FINAL);
	assert_int_equal(cls(503, "{\"error\":{\"message\":\"overloaded\",\"type\":"
				  "\"service_unavailable_error\",\"param\":null,"
				  "\"code\":\"server_is_overloaded\"}}"),
			 RETRY_RETRYABLE);
	assert_int_equal(cls(500, "{\"error\":{\"message\":\"The server had an error\",\"type\":"
				  "\"server_error\",\"param\":null,\"code\":null}}"),
			 RETRY_RETRYABLE);
	assert_int_equal(cls(409,
			     "{\"error\":{\"message\":\"updated by another request\","
			     "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}"),
			 RETRY_RETRYABLE);
}

static void test_malformed_bodies(void **state)
{
	(void)state;
	const char *bodies[] = {
	    "",
	    "   ",
	    "null",
	    "[]",
	    "{}",
	    "{\"error\":null}",
	    "{\"error\":42}",
	    "{\"error\":[]}",
	    "{\"error\":{}}",
	    "{\"error\":{\"code\":{}}}",
	    "{\"error\":{\"code\":1e300}}",
	    "{\"error\":{\"code\":\"13x\"}}",
	    "{\"error\":{\"code\":4", /* truncated */
	    "<html><body>502 Bad Gateway</body></html>",
	    "\xff\xfe\x00garbage",
	    "{\"error\":{\"code\":\"\"}}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		assert_int_equal(cls(400, bodies[i]), RETRY_FINAL);
		assert_int_equal(cls(502, bodies[i]), RETRY_RETRYABLE);
		assert_int_equal(cls(429, bodies[i]), RETRY_RETRYABLE);
		assert_int_equal(cls(200, bodies[i]), RETRY_OK);
	}
	/* Not NUL-terminated: only len bytes are read. */
	const char buf[] = {'{', '"', 'e', 'r', 'r', 'o', 'r', '"', ':', '{', '"',
			    'c', 'o', 'd', 'e', '"', ':', '4', '}', '}', 'X', 'X'};
	assert_int_equal(retry_classify(400, 0, buf, 20), RETRY_RETRYABLE);
	assert_int_equal(retry_classify(400, 0, buf, 19), RETRY_FINAL);
	assert_int_equal(retry_classify(400, 0, NULL, 100), RETRY_FINAL);
}

static void test_huge_body_not_parsed(void **state)
{
	(void)state;
	const char *head = "{\"error\":{\"code\":4,\"message\":\"";
	size_t n = RETRY_BODY_PARSE_MAX + 100;
	char *b = malloc(n + 1);
	memset(b, 'a', n);
	memcpy(b, head, strlen(head));
	memcpy(b + n - 3, "\"}}", 3);
	b[n] = '\0';
	/* Beyond the parse limit only the status counts. */
	assert_int_equal(retry_classify(400, 0, b, n), RETRY_FINAL);
	assert_int_equal(retry_classify(503, 0, b, n), RETRY_RETRYABLE);
	char *msg = retry_error_message(400, NULL, b, n);
	assert_string_equal(msg, "HTTP 400");
	free(msg);
	free(b);
}

static void expect_msg(long status, const char *err, const char *body, const char *want)
{
	char *got = retry_error_message(status, err, body, body ? strlen(body) : 0);
	assert_string_equal(got, want);
	free(got);
}

static void test_error_message(void **state)
{
	(void)state;
	expect_msg(400, NULL,
		   "{\"error\":{\"message\":\"(#131047) Re-engagement message\",\"type\":"
		   "\"OAuthException\",\"code\":131047,\"fbtrace_id\":\"x\"}}",
		   "131047: Re-engagement message");
	expect_msg(
	    400, NULL,
	    "{\"error\":{\"message\":\"(#130429) Rate limit hit\",\"type\":\"OAuthException\","
	    "\"code\":130429,\"error_subcode\":2494055}}",
	    "130429/2494055: Rate limit hit");
	expect_msg(403, NULL,
		   "{\"error\":{\"message\":\"This message is sent outside of allowed window.\","
		   "\"type\":\"IGApiException\",\"code\":10,\"error_subcode\":2534022}}",
		   "10/2534022: This message is sent outside of allowed window.");
	expect_msg(429, NULL,
		   "{\"error\":{\"message\":\"You exceeded your current quota.\",\"type\":"
		   "\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}",
		   "insufficient_quota: You exceeded your current quota.");
	/* code null: the type names it. */
	expect_msg(500, NULL,
		   "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\","
		   "\"param\":null,\"code\":null}}",
		   "server_error: The server had an error");
	expect_msg(400, NULL, "{\"error\":{\"code\":100}}", "100");
	expect_msg(400, NULL, "{\"error\":{\"message\":\"just text\"}}", "just text");
	expect_msg(400, NULL, "{\"error\":\"bad request body\"}", "bad request body");
	/* "(#" without a closing parenthesis is left alone. */
	expect_msg(400, NULL, "{\"error\":{\"code\":1,\"message\":\"(#1 broken\"}}",
		   "1: (#1 broken");
	expect_msg(502, NULL, "<html>Bad Gateway</html>", "HTTP 502");
	expect_msg(502, NULL, "", "HTTP 502");
	expect_msg(502, NULL, NULL, "HTTP 502");
	expect_msg(0, NULL, NULL, "no response");
	expect_msg(0, "Connection refused", NULL, "Connection refused");
	/* Transport error wins over a body. */
	expect_msg(0, "Operation timed out", "{\"error\":{\"code\":4}}", "Operation timed out");
	/* Control characters become spaces: one line in logs and the database. */
	expect_msg(400, NULL, "{\"error\":{\"code\":1,\"message\":\"a\\nb\\tc\\u0001d\"}}",
		   "1: a b c d");
	expect_msg(0, "bad \xff byte\n", NULL, "bad \xef\xbf\xbd byte ");
}

static int valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80         ? 1
			: (*p >> 5) == 6  ? 2
			: (*p >> 4) == 14 ? 3
			: (*p >> 3) == 30 ? 4
					  : 0;
		if (!n)
			return 0;
		for (int i = 1; i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}

static void test_error_message_bounds(void **state)
{
	(void)state;
	/* Long ASCII. */
	char body[4096];
	char msg[3000];
	memset(msg, 'x', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	snprintf(body, sizeof body, "{\"error\":{\"code\":131000,\"message\":\"%s\"}}", msg);
	char *got = retry_error_message(500, NULL, body, strlen(body));
	assert_true(strlen(got) <= RETRY_ERROR_MAX);
	assert_true(strlen(got) >= RETRY_ERROR_MAX - 3);
	assert_memory_equal(got, "131000: xxx", 11);
	assert_string_equal(got + strlen(got) - 3, "\xe2\x80\xa6");
	assert_true(valid_utf8(got));
	free(got);

	/* Multi-byte text cut at every possible offset stays valid UTF-8. */
	for (int pad = 0; pad < 4; pad++) {
		char big[8192];
		size_t off = (size_t)snprintf(
		    big, sizeof big, "{\"error\":{\"code\":\"c\",\"message\":\"%.*s", pad, "aaaa");
		for (int i = 0; i < 200; i++)
			off += (size_t)snprintf(big + off, sizeof big - off, "é😀");
		snprintf(big + off, sizeof big - off, "\"}}");
		got = retry_error_message(400, NULL, big, strlen(big));
		assert_true(strlen(got) <= RETRY_ERROR_MAX);
		assert_true(valid_utf8(got));
		free(got);
	}

	/* Exactly at the limit: no ellipsis. */
	char exact[RETRY_ERROR_MAX + 1];
	memset(exact, 'y', RETRY_ERROR_MAX);
	exact[RETRY_ERROR_MAX] = '\0';
	got = retry_error_message(0, exact, NULL, 0);
	assert_string_equal(got, exact);
	free(got);
	exact[RETRY_ERROR_MAX - 1] = '\0';
	got = retry_error_message(0, exact, NULL, 0);
	assert_string_equal(got, exact);
	free(got);

	/* Invalid sequences: overlong, surrogate, above U+10FFFF, truncated. */
	got = retry_error_message(0, "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82", NULL, 0);
	assert_true(valid_utf8(got));
	assert_null(strstr(got, "\xc0"));
	free(got);
}

static void test_delay_backoff_growth(void **state)
{
	(void)state;
	/* With the largest random value the delay is the ceiling. */
	assert_int_equal(retry_delay_ms(1, NULL, NULL, 400), 500);
	long ceilings[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
	for (int a = 1; a <= 9; a++) {
		long span = ceilings[a - 1] - RETRY_FLOOR_MS + 1;
		assert_int_equal(retry_delay_ms(a, NULL, NULL, (unsigned)(span - 1)),
				 ceilings[a - 1]);
		assert_int_equal(retry_delay_ms(a, NULL, NULL, 0), RETRY_FLOOR_MS);
		assert_int_equal(retry_delay_ms(a, NULL, NULL, (unsigned)span), RETRY_FLOOR_MS);
	}
	/* Silly attempt numbers. */
	assert_int_equal(retry_delay_ms(0, NULL, NULL, 399), 499);
	assert_int_equal(retry_delay_ms(-5, NULL, NULL, 399), 499);
	assert_true(retry_delay_ms(1000000, NULL, NULL, 4000000000u) <= RETRY_CAP_MS);
	assert_true(retry_delay_ms(31, NULL, NULL, 12345) <= RETRY_CAP_MS);
	assert_true(retry_delay_ms(64, NULL, NULL, 12345) <= RETRY_CAP_MS);
}

static void test_delay_jitter_bounds(void **state)
{
	(void)state;
	srand(42);
	for (int a = 1; a <= 12; a++) {
		long ceiling = a <= 7 ? 500L << (a - 1) : RETRY_CAP_MS;
		if (ceiling > RETRY_CAP_MS)
			ceiling = RETRY_CAP_MS;
		long lo = ceiling, hi = 0;
		double sum = 0;
		for (int i = 0; i < 5000; i++) {
			unsigned r = (unsigned)rand() ^ ((unsigned)rand() << 16);
			long d = retry_delay_ms(a, NULL, NULL, r);
			assert_true(d >= RETRY_FLOOR_MS);
			assert_true(d <= ceiling);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum += (double)d;
		}
		/* Spread over the whole range, centred. */
		assert_true(lo < RETRY_FLOOR_MS + (ceiling - RETRY_FLOOR_MS) / 10 + 1);
		assert_true(hi > ceiling - (ceiling - RETRY_FLOOR_MS) / 10 - 1);
		double mean = sum / 5000, mid = (RETRY_FLOOR_MS + ceiling) / 2.0;
		assert_true(mean > mid * 0.9 && mean < mid * 1.1);
	}
	/* Same inputs, same answer: pure. */
	assert_int_equal(retry_delay_ms(3, NULL, NULL, 777), retry_delay_ms(3, NULL, NULL, 777));
}

static void test_retry_after_parsing(void **state)
{
	(void)state;
	assert_int_equal(retry_delay_ms(1, "7", NULL, 0), 7000);
	assert_int_equal(retry_delay_ms(5, "1", NULL, 99999), 1000);
	assert_int_equal(retry_delay_ms(1, "1.5", NULL, 0), 1500);
	assert_int_equal(retry_delay_ms(1, "0.25", NULL, 0), 250);
	assert_int_equal(retry_delay_ms(1, "  12 ", NULL, 0), 12000);
	assert_int_equal(retry_delay_ms(1, "\t3\t", NULL, 0), 3000);
	assert_int_equal(retry_delay_ms(1, "56", NULL, 0), 56000);
	assert_int_equal(retry_delay_ms(1, "60", NULL, 0), 60000);
	assert_int_equal(retry_delay_ms(1, "61", NULL, 0), RETRY_MAX_DELAY_MS);
	assert_int_equal(retry_delay_ms(1, "3600", NULL, 0), RETRY_MAX_DELAY_MS);
	assert_int_equal(retry_delay_ms(1, "99999999999999999999999999", NULL, 0),
			 RETRY_MAX_DELAY_MS);
	assert_int_equal(retry_delay_ms(1, "1.99999999999999999", NULL, 0), 1999);
	/* Ignored: backoff applies (rnd 0 → floor). */
	const char *bad[] = {"",
			     " ",
			     "-5",
			     "+5",
			     "abc",
			     "5s",
			     "1e3",
			     "0x10",
			     "1,5",
			     "5 5",
			     ".",
			     "0",
			     "0.0",
			     "-0",
			     "NaN",
			     "inf",
			     "Wed, 21 Oct 2015 07:28:00 GMT"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (retry_delay_ms(1, bad[i], NULL, 0) != RETRY_FLOOR_MS)
			fail_msg("Retry-After \"%s\" was not ignored", bad[i]);
		if (retry_delay_ms(1, NULL, bad[i], 0) != RETRY_FLOOR_MS)
			fail_msg("retry-after-ms \"%s\" was not ignored", bad[i]);
	}
	/* A fraction of a second that rounds to 0 ms is ignored too. */
	assert_int_equal(retry_delay_ms(1, "0.0001", NULL, 0), RETRY_FLOOR_MS);
}

static void test_retry_after_ms_precedence(void **state)
{
	(void)state;
	assert_int_equal(retry_delay_ms(1, NULL, "1500", 0), 1500);
	assert_int_equal(retry_delay_ms(1, "7", "1500", 0), 1500);
	assert_int_equal(retry_delay_ms(1, "7", "20", 0), 20);
	assert_int_equal(retry_delay_ms(1, "7", "1.5", 0), 1);
	assert_int_equal(retry_delay_ms(1, "7", "250.9", 0), 250);
	assert_int_equal(retry_delay_ms(1, NULL, "60000", 0), 60000);
	assert_int_equal(retry_delay_ms(1, NULL, "60001", 0), RETRY_MAX_DELAY_MS);
	assert_int_equal(retry_delay_ms(1, NULL, "99999999999999999999", 0), RETRY_MAX_DELAY_MS);
	/* An unusable ms value falls back to Retry-After, then to backoff. */
	assert_int_equal(retry_delay_ms(1, "7", "garbage", 0), 7000);
	assert_int_equal(retry_delay_ms(1, "7", "0", 0), 7000);
	assert_int_equal(retry_delay_ms(1, "7", "-3", 0), 7000);
	assert_int_equal(retry_delay_ms(1, "7", "", 0), 7000);
	assert_int_equal(retry_delay_ms(2, "x", "y", 0), RETRY_FLOOR_MS);
	/* Hints carry no jitter. */
	assert_int_equal(retry_delay_ms(1, "7", NULL, 12345), 7000);
	assert_int_equal(retry_delay_ms(9, NULL, "800", 999999), 800);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_status_classes),
    cmocka_unit_test(test_transport_kinds),
    cmocka_unit_test(test_meta_transient_codes),
    cmocka_unit_test(test_meta_final_codes),
    cmocka_unit_test(test_meta_real_bodies),
    cmocka_unit_test(test_meta_is_transient),
    cmocka_unit_test(test_openai_errors),
    cmocka_unit_test(test_malformed_bodies),
    cmocka_unit_test(test_huge_body_not_parsed),
    cmocka_unit_test(test_error_message),
    cmocka_unit_test(test_error_message_bounds),
    cmocka_unit_test(test_delay_backoff_growth),
    cmocka_unit_test(test_delay_jitter_bounds),
    cmocka_unit_test(test_retry_after_parsing),
    cmocka_unit_test(test_retry_after_ms_precedence),
};
UNIT_MAIN(tests)
