/* db_batch_encode_array: the binary arrays that batch statements carry
 * (src/db_batch.c), in PostgreSQL's array_send format. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "db_batch.h"
#include "strbuf.h"

static uint32_t u32_at(const struct strbuf *sb, size_t off)
{
	uint32_t be;
	assert_true(off + 4 <= sb->len);
	memcpy(&be, sb->buf + off, 4);
	return ntohl(be);
}

/* ndim, has-nulls, element type, length, lower bound. */
static void assert_header(const struct strbuf *sb, uint32_t nulls, uint32_t oid, uint32_t n)
{
	assert_int_equal(u32_at(sb, 0), 1);
	assert_int_equal(u32_at(sb, 4), nulls);
	assert_int_equal(u32_at(sb, 8), oid);
	assert_int_equal(u32_at(sb, 12), n);
	assert_int_equal(u32_at(sb, 16), 1);
}

static void test_text_elements(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	/* Nothing is quoted or escaped in the binary form. */
	const char *e[] = {"a\"b\\c", "", "{x,y}"};
	db_batch_encode_array(&sb, DB_BATCH_TEXT, e, NULL, 3);
	assert_header(&sb, 0, 25, 3);
	assert_int_equal(u32_at(&sb, 20), 5);
	assert_memory_equal(sb.buf + 24, "a\"b\\c", 5);
	assert_int_equal(u32_at(&sb, 29), 0);
	assert_int_equal(u32_at(&sb, 33), 5);
	assert_memory_equal(sb.buf + 37, "{x,y}", 5);
	assert_int_equal(sb.len, 42);
	strbuf_free(&sb);
}

static void test_null_element(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char *e[] = {NULL, "x"};
	db_batch_encode_array(&sb, DB_BATCH_TEXT, e, NULL, 2);
	assert_header(&sb, 1, 25, 2);
	assert_int_equal(u32_at(&sb, 20), UINT32_MAX); /* -1 */
	assert_int_equal(u32_at(&sb, 24), 1);
	assert_int_equal(sb.buf[28], 'x');
	strbuf_free(&sb);
}

static void test_jsonb_gets_its_version_byte(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char *e[] = {"[\"Olá\"]"};
	db_batch_encode_array(&sb, DB_BATCH_JSONB, e, NULL, 1);
	assert_header(&sb, 0, 3802, 1);
	size_t len = strlen(e[0]);
	assert_int_equal(u32_at(&sb, 20), len + 1);
	assert_int_equal(sb.buf[24], 1);
	assert_memory_equal(sb.buf + 25, e[0], len);
	strbuf_free(&sb);
}

static void test_bytes_with_nul_by_length(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char *e[] = {"a\0b"};
	size_t lens[] = {3};
	db_batch_encode_array(&sb, DB_BATCH_BYTEA, e, lens, 1);
	assert_header(&sb, 0, 17, 1);
	assert_int_equal(u32_at(&sb, 20), 3);
	assert_memory_equal(sb.buf + 24, "a\0b", 3);
	assert_int_equal(sb.len, 27);
	strbuf_free(&sb);
}

static void test_empty_array(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	db_batch_encode_array(&sb, DB_BATCH_TEXT, NULL, NULL, 0);
	assert_header(&sb, 0, 25, 0);
	assert_int_equal(sb.len, 20);
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_elements),
	    cmocka_unit_test(test_null_element),
	    cmocka_unit_test(test_jsonb_gets_its_version_byte),
	    cmocka_unit_test(test_bytes_with_nul_by_length),
	    cmocka_unit_test(test_empty_array),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
