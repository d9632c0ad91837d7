#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "../unit_main.h"

static void test_empty_is_empty_string(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	assert_string_equal(strbuf_str(&sb), "");
	char *s = strbuf_detach(&sb);
	assert_string_equal(s, "");
	free(s);
}

static void test_append_grows(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 10000; i++)
		strbuf_putc(&sb, (char)('a' + i % 26));
	assert_int_equal(sb.len, 10000);
	assert_int_equal(strlen(sb.buf), 10000);
	assert_int_equal(sb.buf[26], 'a');
	strbuf_free(&sb);
	assert_null(sb.buf);
}

static void test_append_keeps_nul_bytes(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	strbuf_append(&sb, "a\0b", 3);
	assert_int_equal(sb.len, 3);
	assert_memory_equal(sb.buf, "a\0b", 4);
	strbuf_free(&sb);
}

static void test_printf(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "x=");
	strbuf_printf(&sb, "%d/%s", 42, "y");
	assert_string_equal(strbuf_str(&sb), "x=42/y");
	strbuf_free(&sb);
}

static void test_json_escape(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char in[] = "a\"b\\c\n\t\x01 é";
	strbuf_json_escape(&sb, in, sizeof in - 1);
	assert_string_equal(strbuf_str(&sb), "a\\\"b\\\\c\\n\\t\\u0001 é");
	strbuf_free(&sb);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_empty_is_empty_string),
    cmocka_unit_test(test_append_grows),
    cmocka_unit_test(test_append_keeps_nul_bytes),
    cmocka_unit_test(test_printf),
    cmocka_unit_test(test_json_escape),
};
UNIT_MAIN(tests)
