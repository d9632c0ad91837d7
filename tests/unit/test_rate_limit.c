#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "rate_limit.h"

static void test_burst_then_refused(void **state)
{
	(void)state;
	struct rate_limit *rl = rate_limit_new(3, 1, 100);
	for (int i = 0; i < 3; i++)
		assert_true(rate_limit_take(rl, "a", 10.0) == 0);
	double wait = rate_limit_take(rl, "a", 10.0);
	assert_true(wait > 0.99 && wait <= 1.0);
	/* Another key has its own bucket. */
	assert_true(rate_limit_take(rl, "b", 10.0) == 0);
	rate_limit_free(rl);
}

static void test_refills_at_rate(void **state)
{
	(void)state;
	struct rate_limit *rl = rate_limit_new(2, 0.5, 100); /* one per two seconds */
	assert_true(rate_limit_take(rl, "k", 0) == 0);
	assert_true(rate_limit_take(rl, "k", 0) == 0);
	double wait = rate_limit_take(rl, "k", 1.0);
	assert_true(wait > 0.99 && wait < 1.01);
	assert_true(rate_limit_take(rl, "k", 2.0) == 0);
	assert_true(rate_limit_take(rl, "k", 2.0) > 0);
	/* Never more than the burst, however long the pause. */
	assert_true(rate_limit_take(rl, "k", 1000.0) == 0);
	assert_true(rate_limit_take(rl, "k", 1000.0) == 0);
	assert_true(rate_limit_take(rl, "k", 1000.0) > 0);
	rate_limit_free(rl);
}

static void test_clock_going_back_is_harmless(void **state)
{
	(void)state;
	struct rate_limit *rl = rate_limit_new(1, 1, 10);
	assert_true(rate_limit_take(rl, "k", 100.0) == 0);
	assert_true(rate_limit_take(rl, "k", 50.0) > 0);
	rate_limit_free(rl);
}

/* A flood of distinct keys: memory stays bounded; idle keys make room. */
static void test_bounded_keys(void **state)
{
	(void)state;
	struct rate_limit *rl = rate_limit_new(2, 1, 100);
	char key[32];
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof key, "k%d", i);
		assert_true(rate_limit_take(rl, key, 0) == 0);
	}
	assert_int_equal(rate_limit_keys(rl), 100);
	/* Full, and every bucket is still draining: new keys are refused. */
	assert_true(rate_limit_take(rl, "new", 0) > 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "flood%d", i);
		rate_limit_take(rl, key, 0.5);
	}
	assert_true(rate_limit_keys(rl) <= 100);
	/* Later, refilled buckets are dropped and new keys get in. */
	assert_true(rate_limit_take(rl, "new", 10.0) == 0);
	assert_true(rate_limit_keys(rl) <= 100);
	rate_limit_free(rl);
}

static void test_hostile_keys(void **state)
{
	(void)state;
	struct rate_limit *rl = rate_limit_new(1, 1, 4);
	assert_true(rate_limit_take(rl, "", 0) == 0);
	assert_true(rate_limit_take(rl, "", 0) > 0);
	char *big = malloc(1 << 16);
	for (int i = 0; i < (1 << 16) - 1; i++)
		big[i] = (char)('a' + i % 26);
	big[(1 << 16) - 1] = '\0';
	assert_true(rate_limit_take(rl, big, 0) == 0);
	free(big);
	rate_limit_free(rl);
	rate_limit_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_refused),
	    cmocka_unit_test(test_refills_at_rate),
	    cmocka_unit_test(test_clock_going_back_is_harmless),
	    cmocka_unit_test(test_bounded_keys),
	    cmocka_unit_test(test_hostile_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
