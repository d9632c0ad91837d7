#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "text_split.h"

/* The module itself (as h2o's unit tests do), for its char_len. */
#include "../../../src/replies/text_split.c"
#include "../unit_main.h"

/* Code points in s (invalid bytes count one each), as text_split counts. */
static size_t text_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p += char_len(p))
		n++;
	return n;
}

static void test_short_text_is_one_part(void **state)
{
	(void)state;
	char **parts;
	assert_int_equal(text_split("Hello there.", 4096, &parts), 1);
	assert_string_equal(parts[0], "Hello there.");
	assert_null(parts[1]);
	text_split_free(parts);
}

static void test_empty_and_blank(void **state)
{
	(void)state;
	char **parts;
	assert_int_equal(text_split("", 10, &parts), 0);
	assert_null(parts[0]);
	text_split_free(parts);
	assert_int_equal(text_split("  \n\t ", 10, &parts), 0);
	text_split_free(parts);
}

static void test_cuts_at_sentence_end(void **state)
{
	(void)state;
	char **parts;
	assert_int_equal(text_split("One two three. Four five.", 20, &parts), 2);
	assert_string_equal(parts[0], "One two three.");
	assert_string_equal(parts[1], "Four five.");
	text_split_free(parts);
	/* A sentence end early in the window would waste a message: words instead. */
	assert_int_equal(text_split("One two. Three four five six.", 20, &parts), 2);
	assert_string_equal(parts[0], "One two. Three four");
	assert_string_equal(parts[1], "five six.");
	text_split_free(parts);
}

static void test_cuts_at_word_without_sentence(void **state)
{
	(void)state;
	char **parts;
	assert_int_equal(text_split("alpha beta gamma delta", 12, &parts), 2);
	assert_string_equal(parts[0], "alpha beta");
	assert_string_equal(parts[1], "gamma delta");
	text_split_free(parts);
}

static void test_hard_cut_of_one_long_word(void **state)
{
	(void)state;
	char **parts;
	assert_int_equal(text_split("abcdefghij", 4, &parts), 3);
	assert_string_equal(parts[0], "abcd");
	assert_string_equal(parts[1], "efgh");
	assert_string_equal(parts[2], "ij");
	text_split_free(parts);
}

static void test_never_splits_a_character(void **state)
{
	(void)state;
	char **parts;
	/* Five two-byte and four-byte characters with no space: cut by characters. */
	const char *s = "ééééé😀😀😀";
	size_t n = text_split(s, 3, &parts);
	assert_int_equal(n, 3);
	assert_string_equal(parts[0], "ééé");
	assert_string_equal(parts[1], "éé😀");
	assert_string_equal(parts[2], "😀😀");
	text_split_free(parts);
}

static void test_limits_count_characters_not_bytes(void **state)
{
	(void)state;
	char **parts;
	assert_int_equal(text_split("ééé ééé", 7, &parts), 1);
	text_split_free(parts);
	assert_int_equal(text_chars("ééé ééé"), 7);
	assert_int_equal(text_chars("😀a"), 2);
}

static void test_5000_chars_into_whatsapp_parts(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	while (sb.len < 5000)
		strbuf_puts(&sb, "This is a sentence of the reply. ");
	char **parts;
	size_t n = text_split(sb.buf, 4096, &parts);
	assert_int_equal(n, 2);
	assert_true(text_chars(parts[0]) <= 4096);
	assert_true(text_chars(parts[1]) <= 4096);
	assert_int_equal(parts[0][strlen(parts[0]) - 1], '.');
	/* Nothing lost but the white space at the cut. */
	assert_int_equal(strlen(parts[0]) + strlen(parts[1]) + 1, strlen(sb.buf) - 1);
	text_split_free(parts);
	strbuf_free(&sb);
}

static void test_every_part_within_limit(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 3000; i++)
		strbuf_puts(&sb, i % 7 ? "wörd " : "end! ");
	char **parts;
	size_t n = text_split(sb.buf, 1000, &parts);
	assert_true(n >= 15);
	for (size_t i = 0; i < n; i++) {
		assert_true(text_chars(parts[i]) <= 1000);
		assert_true(strlen(parts[i]) > 0);
	}
	text_split_free(parts);
	strbuf_free(&sb);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_short_text_is_one_part),
    cmocka_unit_test(test_empty_and_blank),
    cmocka_unit_test(test_cuts_at_sentence_end),
    cmocka_unit_test(test_cuts_at_word_without_sentence),
    cmocka_unit_test(test_hard_cut_of_one_long_word),
    cmocka_unit_test(test_never_splits_a_character),
    cmocka_unit_test(test_limits_count_characters_not_bytes),
    cmocka_unit_test(test_5000_chars_into_whatsapp_parts),
    cmocka_unit_test(test_every_part_within_limit),
};
UNIT_MAIN(tests)
