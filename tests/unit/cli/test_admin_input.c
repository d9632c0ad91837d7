#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_input.h"
#include "xalloc.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/cli/admin_input.c"
#include "../unit_main.h"

static void test_ids(void **state)
{
	(void)state;
	assert_null(admin_check_id("acme"));
	assert_null(admin_check_id("demo-shop.wa_2"));
	assert_null(admin_check_id("0b7f6c1e-9a3d-4c51-8f00-2a1b3c4d5e6f"));
	assert_non_null(admin_check_id(""));
	assert_non_null(admin_check_id("-acme"));
	assert_non_null(admin_check_id("a b"));
	assert_non_null(admin_check_id("a'b"));
	assert_non_null(admin_check_id("caf\xc3\xa9"));
	char longest[51], too_long[52];
	memset(longest, 'a', 50), longest[50] = '\0';
	memset(too_long, 'a', 51), too_long[51] = '\0';
	assert_null(admin_check_id(longest));
	assert_non_null(admin_check_id(too_long));
}

static void test_text(void **state)
{
	(void)state;
	assert_null(admin_check_text("Caf\xc3\xa9 \xf0\x9f\x9a\xb2 Shop", 255));
	assert_non_null(admin_check_text("", 255));
	assert_non_null(admin_check_text("two\nlines", 255));
	assert_non_null(admin_check_text("tab\there", 255));
	assert_non_null(admin_check_text("bad \xc3", 255));         /* truncated */
	assert_non_null(admin_check_text("bad \xc0\xaf", 255));     /* overlong */
	assert_non_null(admin_check_text("bad \xed\xa0\x80", 255)); /* surrogate */
	assert_non_null(admin_check_text("abcdef", 5));
	assert_null(admin_check_text("abcde", 5));
}

static void test_email(void **state)
{
	(void)state;
	assert_null(admin_check_email("ops@acme.test"));
	assert_non_null(admin_check_email("ops"));
	assert_non_null(admin_check_email("@acme.test"));
	assert_non_null(admin_check_email("ops@"));
	assert_non_null(admin_check_email("a@b@c"));
	assert_non_null(admin_check_email("o ps@acme.test"));
}

static void test_platforms_and_meta_ids(void **state)
{
	(void)state;
	assert_true(admin_platform_known("whatsapp"));
	assert_true(admin_platform_known("instagram"));
	assert_true(admin_platform_known("webchat"));
	assert_false(admin_platform_known("WhatsApp"));
	assert_false(admin_platform_known("telegram"));
	assert_null(admin_check_meta_id("whatsapp", "106540352242922"));
	assert_null(admin_check_meta_id("instagram", "17841400000000001"));
	assert_non_null(admin_check_meta_id("whatsapp", "+15550001111"));
	assert_non_null(admin_check_meta_id("instagram", ""));
	assert_null(admin_check_meta_id("webchat", "demo-widget"));
	assert_non_null(admin_check_meta_id("webchat", "demo widget"));
}

static void test_counts(void **state)
{
	(void)state;
	long v = -1;
	assert_int_equal(admin_parse_count("5", 1, INT_MAX, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(admin_parse_count("2147483647", 1, INT_MAX, &v), 0);
	assert_int_equal(v, INT_MAX);
	assert_int_equal(admin_parse_count("2147483648", 1, INT_MAX, &v), -1);
	assert_int_equal(admin_parse_count("99999999999999999999999", 1, INT_MAX, &v), -1);
	assert_int_equal(admin_parse_count("0", 1, INT_MAX, &v), -1);
	assert_int_equal(admin_parse_count("0", 0, INT_MAX, &v), 0);
	assert_int_equal(admin_parse_count("", 0, 10, &v), -1);
	assert_int_equal(admin_parse_count("-1", 0, 10, &v), -1);
	assert_int_equal(admin_parse_count("+1", 0, 10, &v), -1);
	assert_int_equal(admin_parse_count("1 ", 0, 10, &v), -1);
	assert_int_equal(admin_parse_count("1e3", 0, 10000, &v), -1);
	assert_int_equal(admin_parse_count("five", 0, 10, &v), -1);
}

static void test_token_clean(void **state)
{
	(void)state;
	char a[] = "EAAG123\r\n\n";
	size_t n = strlen(a);
	assert_null(admin_token_clean(a, &n));
	assert_string_equal(a, "EAAG123");
	assert_int_equal(n, 7);
	char b[] = "\n \n";
	n = strlen(b);
	assert_non_null(admin_token_clean(b, &n));
	char c[] = "EAAG 123\n";
	n = strlen(c);
	assert_non_null(admin_token_clean(c, &n));
	char d[] = "EAAG\n123\n";
	n = strlen(d);
	assert_non_null(admin_token_clean(d, &n));
}

static void test_read_token(void **state)
{
	(void)state;
	char path[] = "/tmp/parley-test-token-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "tok-1\n", 6), 6);
	close(fd);
	const char *err;
	char *t = admin_read_token(path, &err);
	assert_non_null(t);
	assert_string_equal(t, "tok-1");
	free(t);
	FILE *f = fopen(path, "wb");
	fwrite("a\0b", 1, 3, f);
	fclose(f);
	assert_null(admin_read_token(path, &err));
	assert_non_null(err);
	unlink(path);
	assert_null(admin_read_token(path, &err));
	assert_null(err); /* errno says why */
}

/* Writes len bytes of data to path. */
static void put_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_read_message(void **state)
{
	(void)state;
	char path[] = "/tmp/parley-test-message-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	const char *err;
	put_file(path, "Hello,\n  we open at 9.\n\n", 24);
	char *t = admin_read_message(path, 100, &err);
	assert_non_null(t);
	assert_string_equal(t, "Hello,\n  we open at 9."); /* inner new lines kept */
	free(t);
	put_file(path, "caf\xc3\xa9", 5);
	t = admin_read_message(path, 5, &err);
	assert_string_equal(t, "caf\xc3\xa9");
	free(t);
	/* Too long, NUL bytes, bad UTF-8, blank: refused with a reason. */
	assert_null(admin_read_message(path, 4, &err));
	assert_non_null(err);
	put_file(path, "a\0b", 3);
	assert_null(admin_read_message(path, 100, &err));
	assert_non_null(err);
	put_file(path, "a\xff", 2);
	assert_null(admin_read_message(path, 100, &err));
	assert_non_null(err);
	put_file(path, " \t\r\n\n", 5);
	assert_null(admin_read_message(path, 100, &err));
	assert_non_null(err);
	put_file(path, "", 0);
	assert_null(admin_read_message(path, 100, &err));
	assert_non_null(err);
	unlink(path);
	assert_null(admin_read_message(path, 100, &err));
	assert_null(err); /* errno says why */
}

static void test_new_ids(void **state)
{
	(void)state;
	char *a = admin_new_id("ch_"), *b = admin_new_id("ch_");
	assert_int_equal(strlen(a), 3 + 16);
	assert_memory_equal(a, "ch_", 3);
	assert_int_equal(strspn(a + 3, "0123456789abcdef"), 16);
	assert_string_not_equal(a, b);
	assert_null(admin_check_id(a));
	free(a);
	free(b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ids),          cmocka_unit_test(test_text),
    cmocka_unit_test(test_email),        cmocka_unit_test(test_platforms_and_meta_ids),
    cmocka_unit_test(test_counts),       cmocka_unit_test(test_token_clean),
    cmocka_unit_test(test_read_token),   cmocka_unit_test(test_new_ids),
    cmocka_unit_test(test_read_message),
};
UNIT_MAIN(tests)
