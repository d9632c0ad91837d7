#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webchat_token.h"
#include "../unit_main.h"

#define SECRET "wc-secret"
#define NOW    1900000000LL
/* Computed independently (Python hmac and base64) for session "ws_abc",
 * expiry 2000000000 and widget "shop:widget-1". */
#define KNOWN                                                                                      \
	"v1.d3NfYWJjOjIwMDAwMDAwMDA6c2hvcDp3aWRnZXQtMQ.07RW4wLK7lLLJRh-28YjDrMBPiwrdNIlOd0jzINh-"  \
	"ZI"

static const char *verify(const char *secret, const char *token, struct webchat_claims *c)
{
	return webchat_token_verify(secret, token, strlen(token), NOW, c);
}

static void test_known_vector(void **state)
{
	(void)state;
	char *t = webchat_token_issue(SECRET, "ws_abc", "shop:widget-1", 2000000000LL);
	assert_string_equal(t, KNOWN);
	free(t);
	struct webchat_claims c;
	assert_null(verify(SECRET, KNOWN, &c));
	assert_string_equal(c.session_id, "ws_abc");
	assert_string_equal(c.widget_id, "shop:widget-1");
	assert_int_equal(c.expires, 2000000000LL);
}

static void test_round_trip(void **state)
{
	(void)state;
	char sid[36];
	webchat_session_id_new(sid);
	assert_int_equal(strlen(sid), 35);
	assert_memory_equal(sid, "ws_", 3);
	char *t = webchat_token_issue(SECRET, sid, "w", NOW + 60);
	struct webchat_claims c;
	assert_null(verify(SECRET, t, &c));
	assert_string_equal(c.session_id, sid);
	free(t);
}

static void test_session_ids_differ(void **state)
{
	(void)state;
	char a[36], b[36];
	webchat_session_id_new(a);
	webchat_session_id_new(b);
	assert_string_not_equal(a, b);
}

static void test_wrong_secret(void **state)
{
	(void)state;
	struct webchat_claims c;
	assert_ptr_equal(verify("other", KNOWN, &c), WEBCHAT_TOKEN_ERR_FORGED);
	assert_ptr_equal(verify("", KNOWN, &c), WEBCHAT_TOKEN_ERR_FORGED);
}

static void test_expired(void **state)
{
	(void)state;
	struct webchat_claims c;
	assert_ptr_equal(webchat_token_verify(SECRET, KNOWN, strlen(KNOWN), 2000000000LL, &c),
			 WEBCHAT_TOKEN_ERR_EXPIRED);
	assert_null(webchat_token_verify(SECRET, KNOWN, strlen(KNOWN), 1999999999LL, &c));
}

/* Every single-character change of a valid token is refused. */
static void test_every_tamper_refused(void **state)
{
	(void)state;
	char t[sizeof KNOWN];
	const char *alphabet = "AZaz09-_.:=+/ x";
	for (size_t i = 0; i < sizeof KNOWN - 1; i++) {
		for (const char *a = alphabet; *a; a++) {
			memcpy(t, KNOWN, sizeof KNOWN);
			if (t[i] == *a)
				continue;
			t[i] = *a;
			struct webchat_claims c;
			assert_non_null(verify(SECRET, t, &c));
		}
	}
}

/* Another session's payload under our MAC: the signature covers the payload. */
static void test_payload_swapped(void **state)
{
	(void)state;
	char *a = webchat_token_issue(SECRET, "ws_a", "w", NOW + 60);
	char *b = webchat_token_issue(SECRET, "ws_b", "w", NOW + 60);
	char *dot_a = strrchr(a, '.'), *dot_b = strrchr(b, '.');
	char mixed[600];
	snprintf(mixed, sizeof mixed, "%.*s%s", (int)(dot_b - b), b, dot_a);
	struct webchat_claims c;
	assert_ptr_equal(verify(SECRET, mixed, &c), WEBCHAT_TOKEN_ERR_FORGED);
	free(a);
	free(b);
}

static void test_malformed(void **state)
{
	(void)state;
	const char *bad[] = {"",       "v1",         "v1.",         "v1..",          "v2.abc.def",
			     "v1.abc", "v1.abc.!!!", "v1.abc.AAAA", "Bearer v1.a.b", "v1.d3NfYWJj.",
			     NULL};
	struct webchat_claims c;
	for (const char **b = bad; *b; b++)
		assert_non_null(verify(SECRET, *b, &c));
	assert_ptr_equal(webchat_token_verify(SECRET, NULL, 0, NOW, &c),
			 WEBCHAT_TOKEN_ERR_MALFORMED);
	/* Oversized input is refused before any work. */
	char *huge = malloc(100000);
	memset(huge, 'A', 99999);
	huge[99999] = '\0';
	memcpy(huge, "v1.", 3);
	assert_ptr_equal(verify(SECRET, huge, &c), WEBCHAT_TOKEN_ERR_MALFORMED);
	free(huge);
}

/* Not NUL-terminated input: only len bytes are read. */
static void test_length_respected(void **state)
{
	(void)state;
	char buf[sizeof KNOWN + 8];
	memcpy(buf, KNOWN, sizeof KNOWN - 1);
	memcpy(buf + sizeof KNOWN - 1, "GARBAGE!", 8);
	struct webchat_claims c;
	assert_null(webchat_token_verify(SECRET, buf, sizeof KNOWN - 1, NOW, &c));
	assert_non_null(webchat_token_verify(SECRET, buf, sizeof buf, NOW, &c));
}

static void test_issue_refuses_bad_ids(void **state)
{
	(void)state;
	assert_null(webchat_token_issue(SECRET, "", "w", NOW));
	assert_null(webchat_token_issue(SECRET, "a:b", "w", NOW));
	assert_null(webchat_token_issue(SECRET, "s", "", NOW));
	assert_null(webchat_token_issue("", "s", "w", NOW));
	char long_id[WEBCHAT_WIDGET_ID_MAX + 2];
	memset(long_id, 'w', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	assert_null(webchat_token_issue(SECRET, "s", long_id, NOW));
	long_id[WEBCHAT_WIDGET_ID_MAX] = '\0';
	char *t = webchat_token_issue(SECRET, "s", long_id, NOW + 1);
	assert_non_null(t);
	struct webchat_claims c;
	assert_null(verify(SECRET, t, &c));
	assert_string_equal(c.widget_id, long_id);
	free(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_known_vector),
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_session_ids_differ),
    cmocka_unit_test(test_wrong_secret),
    cmocka_unit_test(test_expired),
    cmocka_unit_test(test_every_tamper_refused),
    cmocka_unit_test(test_payload_swapped),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_length_respected),
    cmocka_unit_test(test_issue_refuses_bad_ids),
};
UNIT_MAIN(tests)
