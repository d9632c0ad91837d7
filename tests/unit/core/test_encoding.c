#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "encoding.h"
#include "../unit_main.h"

static void test_hex_digits(void **state)
{
	(void)state;
	const char *digits = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		assert_int_equal(encoding_hex_value((unsigned char)digits[i]), i);
		assert_int_equal(encoding_hex_value((unsigned char)"0123456789ABCDEF"[i]), i);
	}
}

static void test_hex_rejects_the_rest(void **state)
{
	(void)state;
	int valid = 0;
	for (int c = 0; c < 256; c++) {
		int v = encoding_hex_value((unsigned char)c);
		if (v >= 0)
			valid++;
		else
			assert_int_equal(v, -1);
	}
	assert_int_equal(valid, 22);
	assert_int_equal(encoding_hex_value('g'), -1);
	assert_int_equal(encoding_hex_value('G'), -1);
	assert_int_equal(encoding_hex_value('/'), -1);
	assert_int_equal(encoding_hex_value(':'), -1);
	assert_int_equal(encoding_hex_value('@'), -1);
	assert_int_equal(encoding_hex_value('`'), -1);
	assert_int_equal(encoding_hex_value(0xe0), -1);
}

static void test_b64url_alphabet(void **state)
{
	(void)state;
	const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	for (int i = 0; i < 64; i++)
		assert_int_equal(encoding_b64url_value((unsigned char)alphabet[i]), i);
	int valid = 0;
	for (int c = 0; c < 256; c++) {
		int v = encoding_b64url_value((unsigned char)c);
		if (v >= 0)
			valid++;
		else
			assert_int_equal(v, -1);
	}
	assert_int_equal(valid, 64);
	/* The standard alphabet's two and the padding are not base64url. */
	assert_int_equal(encoding_b64url_value('+'), -1);
	assert_int_equal(encoding_b64url_value('/'), -1);
	assert_int_equal(encoding_b64url_value('='), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hex_digits),
    cmocka_unit_test(test_hex_rejects_the_rest),
    cmocka_unit_test(test_b64url_alphabet),
};
UNIT_MAIN(tests)
