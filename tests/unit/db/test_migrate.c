#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrate.h"
#include "xalloc.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/db/migrate.c"
#include "../unit_main.h"

static int cmp_names(const void *a, const void *b)
{
	return migrate_function_order(*(const char *const *)a, *(const char *const *)b);
}

static void test_function_order_common_first_then_by_name(void **state)
{
	(void)state;
	const char *names[] = {"webchat.sql",  "replies.sql", "admin.sql",     "common.sql",
			       "meetings.sql", "ingest.sql",  "extraction.sql"};
	qsort(names, sizeof names / sizeof names[0], sizeof names[0], cmp_names);
	const char *want[] = {"common.sql",   "admin.sql",   "extraction.sql", "ingest.sql",
			      "meetings.sql", "replies.sql", "webchat.sql"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		assert_string_equal(names[i], want[i]);
}

static void test_function_order_is_a_total_order(void **state)
{
	(void)state;
	assert_int_equal(migrate_function_order("common.sql", "common.sql"), 0);
	assert_true(migrate_function_order("common.sql", "a.sql") < 0);
	assert_true(migrate_function_order("a.sql", "common.sql") > 0);
	assert_true(migrate_function_order("a.sql", "b.sql") < 0);
	/* Only the exact name is first: a file that merely starts with it is not. */
	assert_true(migrate_function_order("common_x.sql", "b.sql") > 0);
}

struct tree {
	char root[64];
	char *migrations, *functions;
};

static void tree_make(struct tree *t, int with_functions)
{
	snprintf(t->root, sizeof t->root, "/tmp/parley-test-migrate.XXXXXX");
	assert_non_null(mkdtemp(t->root));
	char *sql = xasprintf("%s/sql", t->root);
	t->migrations = xasprintf("%s/sql/migrations", t->root);
	t->functions = xasprintf("%s/sql/functions", t->root);
	assert_int_equal(mkdir(sql, 0700), 0);
	assert_int_equal(mkdir(t->migrations, 0700), 0);
	if (with_functions)
		assert_int_equal(mkdir(t->functions, 0700), 0);
	free(sql);
}

static void tree_free(struct tree *t)
{
	rmdir(t->functions);
	rmdir(t->migrations);
	char *sql = xasprintf("%s/sql", t->root);
	rmdir(sql);
	free(sql);
	rmdir(t->root);
	free(t->migrations);
	free(t->functions);
}

static void test_functions_dir_is_the_sibling(void **state)
{
	(void)state;
	unsetenv("PARLEY_FUNCTIONS_DIR");
	struct tree t;
	tree_make(&t, 1);
	char *dir = migrate_functions_dir(t.migrations);
	char *want = xasprintf("%s/../functions", t.migrations);
	assert_non_null(dir);
	assert_string_equal(dir, want);
	free(dir);
	free(want);
	tree_free(&t);
}

static void test_functions_dir_missing_is_null(void **state)
{
	(void)state;
	unsetenv("PARLEY_FUNCTIONS_DIR");
	struct tree t;
	tree_make(&t, 0);
	assert_null(migrate_functions_dir(t.migrations));
	tree_free(&t);
}

static void test_functions_dir_from_the_environment(void **state)
{
	(void)state;
	struct tree t;
	tree_make(&t, 1);
	setenv("PARLEY_FUNCTIONS_DIR", t.functions, 1);
	char *dir = migrate_functions_dir("/nowhere/migrations");
	assert_non_null(dir);
	assert_string_equal(dir, t.functions);
	free(dir);
	/* Named but absent: no fallback to the sibling. */
	setenv("PARLEY_FUNCTIONS_DIR", "/nowhere/functions", 1);
	assert_null(migrate_functions_dir(t.migrations));
	unsetenv("PARLEY_FUNCTIONS_DIR");
	tree_free(&t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_function_order_common_first_then_by_name),
    cmocka_unit_test(test_function_order_is_a_total_order),
    cmocka_unit_test(test_functions_dir_is_the_sibling),
    cmocka_unit_test(test_functions_dir_missing_is_null),
    cmocka_unit_test(test_functions_dir_from_the_environment),
};
UNIT_MAIN(tests)
