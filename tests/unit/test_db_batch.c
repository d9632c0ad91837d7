/* db_text_array: the text form of the text[] parameters that batch
 * statements carry (src/db_batch.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "db_batch.h"
#include "strbuf.h"

static char *encode(const char *const *elems, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	db_text_array(&sb, elems, n);
	return strbuf_detach(&sb);
}

static void test_empty_array(void **state)
{
	(void)state;
	char *s = encode(NULL, 0);
	assert_string_equal(s, "{}");
	free(s);
}

static void test_every_element_quoted(void **state)
{
	(void)state;
	/* Unquoted, these would read as NULL, be trimmed, or split. */
	const char *e[] = {"NULL", "", " padded ", "a,b", "{x}", "plain"};
	char *s = encode(e, 6);
	assert_string_equal(s, "{\"NULL\",\"\",\" padded \",\"a,b\",\"{x}\",\"plain\"}");
	free(s);
}

static void test_null_pointer_is_sql_null(void **state)
{
	(void)state;
	const char *e[] = {"a", NULL, "b"};
	char *s = encode(e, 3);
	assert_string_equal(s, "{\"a\",NULL,\"b\"}");
	free(s);
}

static void test_quote_and_backslash_escaped(void **state)
{
	(void)state;
	const char *e[] = {"say \"hi\"", "C:\\dir\\", "\\\""};
	char *s = encode(e, 3);
	assert_string_equal(s, "{\"say \\\"hi\\\"\",\"C:\\\\dir\\\\\",\"\\\\\\\"\"}");
	free(s);
}

static void test_json_and_utf8_pass_through(void **state)
{
	(void)state;
	/* A jsonb[] element is JSON text: its own quotes are escaped once. */
	const char *e[] = {"[\"Olá, 👋\"]", "caf\xc3\xa9\n\ttab"};
	char *s = encode(e, 2);
	assert_string_equal(s, "{\"[\\\"Olá, 👋\\\"]\",\"caf\xc3\xa9\n\ttab\"}");
	free(s);
}

static void test_appends_to_what_is_there(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "x=");
	const char *e[] = {"1"};
	db_text_array(&sb, e, 1);
	assert_string_equal(strbuf_str(&sb), "x={\"1\"}");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_array),
	    cmocka_unit_test(test_every_element_quoted),
	    cmocka_unit_test(test_null_pointer_is_sql_null),
	    cmocka_unit_test(test_quote_and_backslash_escaped),
	    cmocka_unit_test(test_json_and_utf8_pass_through),
	    cmocka_unit_test(test_appends_to_what_is_there),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
