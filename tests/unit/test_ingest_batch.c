/* How many ingest statements run at once (include/ingest_batch.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ingest_batch.h"

static void test_a_quarter_of_the_pool(void **state)
{
	(void)state;
	assert_int_equal(ingest_batch_statements(8), 2);
	assert_int_equal(ingest_batch_statements(16), 4);
	assert_int_equal(ingest_batch_statements(100), 25);
}

static void test_at_least_one(void **state)
{
	(void)state;
	/* parley's default pool of 4, and the smallest ones. */
	assert_int_equal(ingest_batch_statements(4), 1);
	assert_int_equal(ingest_batch_statements(3), 1);
	assert_int_equal(ingest_batch_statements(1), 1);
	assert_int_equal(ingest_batch_statements(0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_quarter_of_the_pool),
	    cmocka_unit_test(test_at_least_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
