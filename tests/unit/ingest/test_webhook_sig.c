#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook_sig.h"
#include "../unit_main.h"

#define BODY   "{\"object\":\"whatsapp_business_account\",\"entry\":[]}"
#define SECRET "parley-test-secret"
/* Computed independently (Python hmac) so the test does not trust our own hex encoder. */
#define BODY_SIG "sha256=2a12c26f033d7077017215bb421d35fa60ed4f2698771f43f0af5fb071dd7284"

static char *const one_secret[] = {SECRET, NULL};

static bool verify(const char *header, const char *body, char *const *secrets)
{
	return webhook_sig_verify(header, body, strlen(body), secrets);
}

static void test_known_vector(void **state)
{
	(void)state;
	assert_true(verify(BODY_SIG, BODY, one_secret));
}

static void test_rfc4231_case2(void **state)
{
	(void)state;
	char *const secrets[] = {"Jefe", NULL};
	const char *h = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
	assert_true(verify(h, "what do ya want for nothing?", secrets));
}

static void test_header_format(void **state)
{
	(void)state;
	char *h = webhook_sig_header(SECRET, BODY, strlen(BODY));
	assert_string_equal(h, BODY_SIG);
	assert_int_equal(strlen(h), 7 + 64);
	free(h);
}

static void test_roundtrip(void **state)
{
	(void)state;
	const char *body = "{\"text\":\"J'ai mang\\u00e9 des p\\u00e2tes \\/ a@b.c\"}";
	char *h = webhook_sig_header(SECRET, body, strlen(body));
	assert_true(verify(h, body, one_secret));
	free(h);
}

static void test_wrong_secret(void **state)
{
	(void)state;
	char *const secrets[] = {"not-the-secret", NULL};
	assert_false(verify(BODY_SIG, BODY, secrets));
}

static void test_rotation_second_secret(void **state)
{
	(void)state;
	char *const secrets[] = {"old-secret", SECRET, NULL};
	assert_true(verify(BODY_SIG, BODY, secrets));
}

static void test_rotation_first_secret(void **state)
{
	(void)state;
	char *const secrets[] = {SECRET, "new-secret", NULL};
	assert_true(verify(BODY_SIG, BODY, secrets));
}

static void test_rotation_none_match(void **state)
{
	(void)state;
	char *const secrets[] = {"a", "b", "c", NULL};
	assert_false(verify(BODY_SIG, BODY, secrets));
}

static void test_missing_header(void **state)
{
	(void)state;
	assert_false(verify(NULL, BODY, one_secret));
	assert_false(verify("", BODY, one_secret));
}

static void test_wrong_prefix(void **state)
{
	(void)state;
	const char *hex = BODY_SIG + 7;
	const char *prefixes[] = {
	    "sha1=", "SHA256=", "sha256:", "sha256 =", "sha512=", " sha256=", ""};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		char buf[128];
		snprintf(buf, sizeof(buf), "%s%s", prefixes[i], hex);
		assert_false(verify(buf, BODY, one_secret));
	}
}

static void test_short_hex(void **state)
{
	(void)state;
	char buf[128];
	snprintf(buf, sizeof(buf), "%.*s", (int)strlen(BODY_SIG) - 1, BODY_SIG);
	assert_false(verify(buf, BODY, one_secret));
	assert_false(verify("sha256=", BODY, one_secret));
}

static void test_long_hex(void **state)
{
	(void)state;
	assert_false(verify(BODY_SIG "0", BODY, one_secret));
	assert_false(verify(BODY_SIG "00", BODY, one_secret));
}

static void test_trailing_whitespace(void **state)
{
	(void)state;
	assert_false(verify(BODY_SIG " ", BODY, one_secret));
	assert_false(verify(BODY_SIG "\n", BODY, one_secret));
}

static void test_non_hex(void **state)
{
	(void)state;
	char buf[128];
	strcpy(buf, BODY_SIG);
	buf[10] = 'g';
	assert_false(verify(buf, BODY, one_secret));
	strcpy(buf, BODY_SIG);
	buf[strlen(buf) - 1] = '\xc3'; /* non-ASCII byte in the header */
	assert_false(verify(buf, BODY, one_secret));
}

static void test_uppercase_hex(void **state)
{
	(void)state;
	char buf[128];
	strcpy(buf, BODY_SIG);
	for (char *p = buf + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_true(verify(buf, BODY, one_secret));
	buf[8] = (char)(buf[8] >= 'A' && buf[8] <= 'F' ? buf[8] - 'A' + 'a' : buf[8]);
	assert_true(verify(buf, BODY, one_secret)); /* mixed case too */
}

static void test_one_bit_off(void **state)
{
	(void)state;
	char buf[128];
	strcpy(buf, BODY_SIG);
	buf[strlen(buf) - 1] = buf[strlen(buf) - 1] == '4' ? '5' : '4';
	assert_false(verify(buf, BODY, one_secret));
}

static void test_body_modified(void **state)
{
	(void)state;
	char body[] = BODY;
	body[3] = 'O';
	assert_false(verify(BODY_SIG, body, one_secret));
}

static void test_empty_body(void **state)
{
	(void)state;
	char *const secrets[] = {"k", NULL};
	const char *h = "sha256=8bb990c40a7d61cb97597a942125025be50ac8beb74436e3735b98893a7f6620";
	assert_true(webhook_sig_verify(h, NULL, 0, secrets));
	assert_true(webhook_sig_verify(h, "", 0, secrets));
	char *mine = webhook_sig_header("k", NULL, 0);
	assert_string_equal(mine, h);
	free(mine);
}

static void test_body_with_nul_bytes(void **state)
{
	(void)state;
	const char body[] = "{\"a\":\"x\0y\"}\0tail";
	size_t len = sizeof(body) - 1;
	char *h = webhook_sig_header(SECRET, body, len);
	assert_true(webhook_sig_verify(h, body, len, one_secret));
	/* Stopping at the first NUL (strlen) must not verify: the HMAC covers every byte. */
	assert_false(webhook_sig_verify(h, body, strlen(body), one_secret));
	free(h);
}

static void test_raw_bytes_not_reserialised(void **state)
{
	(void)state;
	/* Meta signs the escaped form; the decoded form is a different message. */
	const char *wire = "{\"t\":\"\\u00e4\"}";
	const char *decoded = "{\"t\":\"\xc3\xa4\"}";
	char *h = webhook_sig_header(SECRET, wire, strlen(wire));
	assert_true(verify(h, wire, one_secret));
	assert_false(verify(h, decoded, one_secret));
	free(h);
}

static void test_no_secrets(void **state)
{
	(void)state;
	char *const none[] = {NULL};
	assert_false(verify(BODY_SIG, BODY, NULL));
	assert_false(verify(BODY_SIG, BODY, none));
}

static void test_empty_secret_ignored(void **state)
{
	(void)state;
	/* "a,,b" in the config must not let a signature made with an empty key pass. */
	char *h = webhook_sig_header("", BODY, strlen(BODY));
	char *const secrets[] = {"", NULL};
	char *const mixed[] = {"x", "", SECRET, NULL};
	assert_false(verify(h, BODY, secrets));
	assert_true(verify(BODY_SIG, BODY, mixed));
	free(h);
}

static void test_large_body(void **state)
{
	(void)state;
	size_t len = 3 * 1024 * 1024;
	char *body = malloc(len);
	for (size_t i = 0; i < len; i++)
		body[i] = (char)(i * 131 + 7);
	char *h = webhook_sig_header(SECRET, body, len);
	assert_true(webhook_sig_verify(h, body, len, one_secret));
	body[len - 1] ^= 1;
	assert_false(webhook_sig_verify(h, body, len, one_secret));
	free(h);
	free(body);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_known_vector),
    cmocka_unit_test(test_rfc4231_case2),
    cmocka_unit_test(test_header_format),
    cmocka_unit_test(test_roundtrip),
    cmocka_unit_test(test_wrong_secret),
    cmocka_unit_test(test_rotation_second_secret),
    cmocka_unit_test(test_rotation_first_secret),
    cmocka_unit_test(test_rotation_none_match),
    cmocka_unit_test(test_missing_header),
    cmocka_unit_test(test_wrong_prefix),
    cmocka_unit_test(test_short_hex),
    cmocka_unit_test(test_long_hex),
    cmocka_unit_test(test_trailing_whitespace),
    cmocka_unit_test(test_non_hex),
    cmocka_unit_test(test_uppercase_hex),
    cmocka_unit_test(test_one_bit_off),
    cmocka_unit_test(test_body_modified),
    cmocka_unit_test(test_empty_body),
    cmocka_unit_test(test_body_with_nul_bytes),
    cmocka_unit_test(test_raw_bytes_not_reserialised),
    cmocka_unit_test(test_no_secrets),
    cmocka_unit_test(test_empty_secret_ignored),
    cmocka_unit_test(test_large_body),
};
UNIT_MAIN(tests)
