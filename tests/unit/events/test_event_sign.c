#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "event_sign.h"
#include "xalloc.h"
#include "../unit_main.h"

/*
 * Expected values computed independently with Python's hmac, e.g.
 *   python3 -c "import hmac,hashlib,base64; k=bytes(range(32));
 *     print('v1,'+base64.b64encode(hmac.new(k, b'evt_0123456789abcdef.1700000000.'
 *     b'{\"id\":\"evt_0123456789abcdef\",\"type\":\"ping\"}', hashlib.sha256).digest()).decode())"
 */
#define SECRET "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 0..31 */
#define PREVIOUS                                                                                   \
	"whsec_cGFybGV5LXJvdGF0aW9uLXByZXZpb3VzLWtleS0zMmI=" /* "parley-rotation-previous-key-32b" \
							      */
#define ID       "evt_0123456789abcdef"
#define TS       1700000000LL
#define BODY     "{\"id\":\"evt_0123456789abcdef\",\"type\":\"ping\"}"
#define SIG      "v1,NjAgH39/TzmVFNtB6uudjz0kVN4QiEn6VSJaLaYsdWQ="
#define SIG_PREV "v1,mX34XU79N2BXdmB1gSoskcbtQSOK7s7E5/yWphi3Iko="

static void test_python_vector(void **state)
{
	(void)state;
	char *h = event_signature_header(SECRET, NULL, ID, TS, BODY, strlen(BODY));
	assert_non_null(h);
	assert_string_equal(h, SIG);
	free(h);
}

/* The Standard Webhooks specification's own example (its reference
 * libraries' tests use it too). */
static void test_standard_vector(void **state)
{
	(void)state;
	const char *body = "{\"test\": 2432232314}";
	char *h = event_signature_header("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL,
					 "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330LL, body,
					 strlen(body));
	assert_non_null(h);
	assert_string_equal(h, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	free(h);
}

static void test_rotation_two_signatures(void **state)
{
	(void)state;
	char *h = event_signature_header(SECRET, PREVIOUS, ID, TS, BODY, strlen(BODY));
	assert_non_null(h);
	assert_string_equal(h, SIG " " SIG_PREV);
	free(h);
}

static void test_bad_secrets(void **state)
{
	(void)state;
	unsigned char key[EVENT_SECRET_MAX_BYTES];
	const char *why = NULL;
	assert_int_equal(
	    event_secret_key("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", key, &why), -1);
	assert_non_null(why);
	assert_int_equal(event_secret_key("whsec_", key, &why), -1);
	assert_int_equal(event_secret_key("whsec_c2hvcnQ=", key, &why), -1); /* 5 bytes */
	assert_int_equal(
	    event_secret_key("whsec_AAEC!wQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", key, &why), -1);
	assert_int_equal(event_secret_key(SECRET, key, &why), 32);
	assert_int_equal(key[31], 31);
	assert_null(event_signature_header("nope", NULL, ID, TS, BODY, strlen(BODY)));
}

static void test_new_secret(void **state)
{
	(void)state;
	char *a = event_secret_new(), *b = event_secret_new();
	unsigned char key[EVENT_SECRET_MAX_BYTES];
	const char *why;
	assert_int_equal(strncmp(a, "whsec_", 6), 0);
	assert_int_equal(strlen(a), 6 + 44);
	assert_int_equal(event_secret_key(a, key, &why), 32);
	assert_string_not_equal(a, b);
	xfree_secret(a);
	xfree_secret(b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_python_vector),
    cmocka_unit_test(test_standard_vector),
    cmocka_unit_test(test_rotation_two_signatures),
    cmocka_unit_test(test_bad_secrets),
    cmocka_unit_test(test_new_secret),
};
UNIT_MAIN(tests)
