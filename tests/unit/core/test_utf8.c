#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "utf8.h"
#include "../unit_main.h"

/* Whether s[0..len) is well-formed UTF-8 (NUL bytes count as characters),
 * by utf8_seq alone. */
static bool utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(s + i, len - i, NULL);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* utf8_seq on a string literal (length without the terminating NUL). */
static size_t seq(const char *s, size_t *bad)
{
	*bad = 0;
	return utf8_seq(s, strlen(s), bad);
}

static void test_well_formed_lengths(void **state)
{
	(void)state;
	size_t bad;
	assert_int_equal(seq("A", &bad), 1);
	assert_int_equal(seq("\x7f", &bad), 1);
	assert_int_equal(seq("\xc2\x80", &bad), 2);         /* U+0080 */
	assert_int_equal(seq("\xdf\xbf", &bad), 2);         /* U+07FF */
	assert_int_equal(seq("\xe0\xa0\x80", &bad), 3);     /* U+0800 */
	assert_int_equal(seq("\xe2\x80\xa6", &bad), 3);     /* … */
	assert_int_equal(seq("\xed\x9f\xbf", &bad), 3);     /* U+D7FF */
	assert_int_equal(seq("\xee\x80\x80", &bad), 3);     /* U+E000 */
	assert_int_equal(seq("\xef\xbf\xbf", &bad), 3);     /* U+FFFF */
	assert_int_equal(seq("\xf0\x90\x80\x80", &bad), 4); /* U+10000 */
	assert_int_equal(seq("\xf0\x9f\x98\x80", &bad), 4); /* 😀 */
	assert_int_equal(seq("\xf4\x8f\xbf\xbf", &bad), 4); /* U+10FFFF */
	assert_int_equal(bad, 0);
	/* A NUL is a character of its own. */
	assert_int_equal(utf8_seq("", 1, &bad), 1);
}

static void test_overlongs(void **state)
{
	(void)state;
	size_t bad;
	assert_int_equal(seq("\xc0\xaf", &bad), 0); /* '/' in two bytes */
	assert_int_equal(bad, 1);
	assert_int_equal(seq("\xc1\xbf", &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(seq("\xe0\x80\xaf", &bad), 0); /* '/' in three */
	assert_int_equal(bad, 1);
	assert_int_equal(seq("\xe0\x9f\xbf", &bad), 0); /* U+07FF in three */
	assert_int_equal(bad, 1);
	assert_int_equal(seq("\xf0\x80\x80\xaf", &bad), 0); /* '/' in four */
	assert_int_equal(bad, 1);
	assert_int_equal(seq("\xf0\x8f\xbf\xbf", &bad), 0); /* U+FFFF in four */
	assert_int_equal(bad, 1);
}

static void test_surrogates(void **state)
{
	(void)state;
	size_t bad;
	assert_int_equal(seq("\xed\xa0\x80", &bad), 0); /* U+D800 */
	assert_int_equal(bad, 1);
	assert_int_equal(seq("\xed\xbf\xbf", &bad), 0); /* U+DFFF */
	assert_int_equal(bad, 1);
	/* A CESU-8 pair is two ill-formed surrogates, not one character. */
	assert_false(utf8_valid("\xed\xa0\xbd\xed\xb8\x80", 6));
}

static void test_beyond_unicode(void **state)
{
	(void)state;
	size_t bad;
	assert_int_equal(seq("\xf4\x90\x80\x80", &bad), 0); /* U+110000 */
	assert_int_equal(bad, 1);
	assert_int_equal(seq("\xf5\x80\x80\x80", &bad), 0);
	assert_int_equal(bad, 1);
	assert_int_equal(seq("\xf8\x88\x80\x80\x80", &bad), 0); /* five-byte form */
	assert_int_equal(seq("\xff", &bad), 0);
	assert_int_equal(seq("\xfe", &bad), 0);
}

static void test_truncated_and_stray(void **state)
{
	(void)state;
	size_t bad;
	/* Stray continuation byte. */
	assert_int_equal(seq("\x80", &bad), 0);
	assert_int_equal(bad, 1);
	/* Truncated by the end of the buffer: the maximal subpart is what is there. */
	assert_int_equal(utf8_seq("\xe2\x80\xa6", 2, &bad), 0);
	assert_int_equal(bad, 2);
	assert_int_equal(utf8_seq("\xf0\x9f\x98\x80", 3, &bad), 0);
	assert_int_equal(bad, 3);
	assert_int_equal(utf8_seq("\xc3\xa9", 1, &bad), 0);
	assert_int_equal(bad, 1);
	/* Truncated by a following character. */
	assert_int_equal(seq("\xe2\x80"
			     "A",
			     &bad),
			 0);
	assert_int_equal(bad, 2);
	/* Truncated by the terminating NUL with avail = SIZE_MAX: never read past. */
	assert_int_equal(utf8_seq("\xf0\x9f", SIZE_MAX, &bad), 0);
	assert_int_equal(bad, 2);
	/* bad is optional. */
	assert_int_equal(utf8_seq("\x80", 1, NULL), 0);
}

static void test_decode(void **state)
{
	(void)state;
	static const struct {
		const char *s; /* one character of strlen(s) bytes */
		uint32_t cp;
	} cases[] = {
	    {"A", 0x41},
	    {"\xc2\x85", 0x85},
	    {"\xc3\xa9", 0xe9},
	    {"\xe2\x80\xa6", 0x2026},
	    {"\xf0\x9f\x98\x80", 0x1f600},
	    {"\xf4\x8f\xbf\xbf", 0x10ffff},
	};
	uint32_t cp = 0;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].s);
		assert_int_equal(utf8_decode(cases[i].s, n, &cp), n);
		assert_int_equal(cp, cases[i].cp);
	}
	cp = 7;
	assert_int_equal(utf8_decode("\xed\xa0\x80", 3, &cp), 0);
	assert_int_equal(cp, 7); /* untouched when ill-formed */
}

static void test_valid_and_valid_chars(void **state)
{
	(void)state;
	assert_true(utf8_valid("", 0));
	assert_true(utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
	assert_false(utf8_valid("caf\xc3", 4));
	assert_true(utf8_valid("a\0b", 3));
	assert_int_equal(utf8_valid_chars(""), 0);
	assert_int_equal(utf8_valid_chars("caf\xc3\xa9"), 4);
	assert_int_equal(utf8_valid_chars("\xf0\x9f\x98\x80!"), 2);
	assert_int_equal(utf8_valid_chars("ok\xc0\xaf"), -1);
	assert_int_equal(utf8_valid_chars("ok\xed\xa0\x80"), -1);
	assert_int_equal(utf8_valid_chars("ok\xe2\x80"), -1);
	assert_int_equal(utf8_valid_chars("\xf4\x90\x80\x80"), -1);
}

static void test_count(void **state)
{
	(void)state;
	assert_int_equal(utf8_count("", 0), 0);
	assert_int_equal(utf8_count("abc", 3), 3);
	assert_int_equal(utf8_count("caf\xc3\xa9", 5), 4);
	assert_int_equal(utf8_count("\xe2\x80\xa6\xf0\x9f\x98\x80", 7), 2);
	/* Only the bytes asked for. */
	assert_int_equal(utf8_count("abcdef", 2), 2);
}

static void test_cut_bytes(void **state)
{
	(void)state;
	const char *s = "ab\xe2\x80\xa6"
			"cd"; /* a b … c d: 7 bytes */
	assert_int_equal(utf8_cut(s, 7, 100), 7);
	assert_int_equal(utf8_cut(s, 7, 7), 7);
	assert_int_equal(utf8_cut(s, 7, 6), 6);
	assert_int_equal(utf8_cut(s, 7, 5), 5); /* just after … */
	assert_int_equal(utf8_cut(s, 7, 4), 2); /* never inside … */
	assert_int_equal(utf8_cut(s, 7, 3), 2);
	assert_int_equal(utf8_cut(s, 7, 2), 2);
	assert_int_equal(utf8_cut(s, 7, 0), 0);
	/* A 4-byte character at the start: nothing fits short of all of it. */
	assert_int_equal(utf8_cut("\xf0\x9f\x98\x80!", 5, 3), 0);
	assert_int_equal(utf8_cut("\xf0\x9f\x98\x80!", 5, 4), 4);
}

static void test_cut_chars(void **state)
{
	(void)state;
	const char *s = "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80"; /* é t é ␠ 😀: 10 bytes */
	assert_int_equal(utf8_cut_chars(s, 10, 0), 0);
	assert_int_equal(utf8_cut_chars(s, 10, 1), 2);
	assert_int_equal(utf8_cut_chars(s, 10, 2), 3);
	assert_int_equal(utf8_cut_chars(s, 10, 3), 5);
	assert_int_equal(utf8_cut_chars(s, 10, 4), 6);
	assert_int_equal(utf8_cut_chars(s, 10, 5), 10);
	assert_int_equal(utf8_cut_chars(s, 10, 99), 10);
	/* Only the bytes asked for. */
	assert_int_equal(utf8_cut_chars("abcdef", 3, 5), 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_well_formed_lengths),
    cmocka_unit_test(test_overlongs),
    cmocka_unit_test(test_surrogates),
    cmocka_unit_test(test_beyond_unicode),
    cmocka_unit_test(test_truncated_and_stray),
    cmocka_unit_test(test_decode),
    cmocka_unit_test(test_valid_and_valid_chars),
    cmocka_unit_test(test_count),
    cmocka_unit_test(test_cut_bytes),
    cmocka_unit_test(test_cut_chars),
};
UNIT_MAIN(tests)
