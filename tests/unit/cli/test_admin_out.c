#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_out.h"
#include "json.h"

/* A result as libpq would return it: columns name/type, rows of text
 * values (NULL = SQL NULL). */
static PGresult *make_result(int ncols, const char *const *names, const Oid *types, int nrows,
			     const char *const *cells)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc attrs[8];
	memset(attrs, 0, sizeof attrs);
	for (int c = 0; c < ncols; c++) {
		attrs[c].name = (char *)names[c];
		attrs[c].typid = types[c];
		attrs[c].typlen = -1;
		attrs[c].atttypmod = -1;
	}
	assert_int_equal(PQsetResultAttrs(res, ncols, attrs), 1);
	for (int r = 0; r < nrows; r++)
		for (int c = 0; c < ncols; c++) {
			const char *v = cells[r * ncols + c];
			assert_int_equal(PQsetvalue(res, r, c, (char *)v, v ? (int)strlen(v) : -1),
					 1);
		}
	return res;
}

static const char *const NAMES[] = {"tenant_id", "credits", "active", "extra", "name"};
static const Oid TYPES[] = {25, 23, 16, 3802, 25};
static const char *const CELLS[] = {
    "acme", "10", "t", "{\"a\":[1,2]}", "Caf\xc3\xa9 one", "bee", "0", "f", NULL, "two\nlines",
};

static char *capture(void (*fn)(FILE *, const PGresult *, int), const PGresult *res, int n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fn(f, res, n);
	fclose(f);
	return buf;
}

static void table(FILE *f, const PGresult *res, int n)
{
	admin_out_table(f, res, n);
}
static void fields0(FILE *f, const PGresult *res, int n)
{
	admin_out_fields(f, res, 0, n);
}

/* What fn prints (capture) for res and n is want. */
static void expect_printed(void (*fn)(FILE *, const PGresult *, int), const PGresult *res, int n,
			   const char *want)
{
	char *out = capture(fn, res, n);
	assert_string_equal(out, want);
	free(out);
}

/* admin_out_array(res), printed unformatted, is want. */
static void expect_json(const PGresult *res, const char *want)
{
	cJSON *a = admin_out_array(res);
	char *s = cJSON_PrintUnformatted(a);
	assert_string_equal(s, want);
	free(s);
	cJSON_Delete(a);
}

static void test_json_types(void **state)
{
	(void)state;
	PGresult *res = make_result(5, NAMES, TYPES, 2, CELLS);
	expect_json(res, "[{\"tenant_id\":\"acme\",\"credits\":10,\"active\":true,"
			 "\"extra\":{\"a\":[1,2]},\"name\":\"Caf\xc3\xa9 one\"},"
			 "{\"tenant_id\":\"bee\",\"credits\":0,\"active\":false,"
			 "\"extra\":null,\"name\":\"two\\nlines\"}]");
	PQclear(res);
}

static void test_table(void **state)
{
	(void)state;
	PGresult *res = make_result(5, NAMES, TYPES, 2, CELLS);
	/* Aligned by characters, not bytes; NULL as -, booleans yes/no, a
	 * newline inside a cell as a blank; the last column is not padded. */
	expect_printed(table, res, 0,
		       "tenant id  credits  active  extra        name\n"
		       "acme       10       yes     {\"a\":[1,2]}  Caf\xc3\xa9 one\n"
		       "bee        0        no      -            two lines\n");
	expect_printed(table, res, 2,
		       "tenant id  credits\n"
		       "acme       10\n"
		       "bee        0\n");
	PQclear(res);
}

static void test_fields(void **state)
{
	(void)state;
	PGresult *res = make_result(5, NAMES, TYPES, 2, CELLS);
	expect_printed(fields0, res, 3,
		       "tenant id  acme\n"
		       "credits    10\n"
		       "active     yes\n");
	PQclear(res);
}

static void test_empty_table(void **state)
{
	(void)state;
	PGresult *res = make_result(2, NAMES, TYPES, 0, NULL);
	expect_printed(table, res, 0, "tenant id  credits\n");
	expect_json(res, "[]");
	PQclear(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_types),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_empty_table),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
