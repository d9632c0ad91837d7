#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "rate_limit.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/http/rate_limit.c"
#include "../unit_main.h"

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
	assert_int_equal(rl->keys.n_keys, 100);
	/* Full, and every bucket is still draining: new keys are refused. */
	assert_true(rate_limit_take(rl, "new", 0) > 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof key, "flood%d", i);
		rate_limit_take(rl, key, 0.5);
	}
	assert_true(rl->keys.n_keys <= 100);
	/* Later, refilled buckets are dropped and new keys get in. */
	assert_true(rate_limit_take(rl, "new", 10.0) == 0);
	assert_true(rl->keys.n_keys <= 100);
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

/* At most limit in any window: never more, over a long run with a steady
 * stream of requests at odd times. */
static void test_window_never_exceeds_limit(void **state)
{
	(void)state;
	struct rate_window *rw = rate_window_new(5, 60, 10);
	double accepted[10000];
	size_t n = 0;
	for (double t = 1000.0; t < 1600.0; t += 0.37) {
		if (rate_window_take(rw, "w", t) == 0)
			accepted[n++] = t;
	}
	/* Any 60 s holds at most 5; and the budget is really used. */
	for (size_t i = 5; i < n; i++)
		if (accepted[i] - accepted[i - 5] < 60.0)
			fail_msg("6 accepted within %f s", accepted[i] - accepted[i - 5]);
	assert_true(n >= 45);
	rate_window_free(rw);
}

static void test_window_refuses_then_frees(void **state)
{
	(void)state;
	struct rate_window *rw = rate_window_new(3, 60, 10);
	for (int i = 0; i < 3; i++)
		assert_true(rate_window_take(rw, "w", 100.0 + i) == 0);
	/* Full: the first request (t = 100) leaves at most a slice after 160. */
	double wait = rate_window_take(rw, "w", 110.0);
	assert_true(wait >= 50.0 && wait <= 51.01);
	/* Another key has its own budget. */
	assert_true(rate_window_take(rw, "v", 110.0) == 0);
	assert_true(rate_window_take(rw, "w", 159.0) > 0);
	assert_true(rate_window_take(rw, "w", 110.0 + wait) == 0);
	/* A refusal does not count. */
	assert_true(rate_window_take(rw, "w", 110.0 + wait) > 0);
	/* Long after, the whole budget again. */
	for (int i = 0; i < 3; i++)
		assert_true(rate_window_take(rw, "w", 1000.0) == 0);
	assert_true(rate_window_take(rw, "w", 1000.0) > 0);
	/* The clock going back counts in the newest slice. */
	assert_true(rate_window_take(rw, "w", 10.0) > 0);
	rate_window_free(rw);
	rate_window_free(NULL);
}

static void test_window_bounded_keys(void **state)
{
	(void)state;
	struct rate_window *rw = rate_window_new(2, 60, 50);
	char key[32];
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof key, "k%d", i);
		assert_true(rate_window_take(rw, key, 0) == 0);
	}
	assert_true(rate_window_take(rw, "new", 1) > 0);
	assert_int_equal(rw->keys.n_keys, 50);
	/* Once the window has passed, idle keys make room. */
	assert_true(rate_window_take(rw, "new", 62) == 0);
	assert_int_equal(rw->keys.n_keys, 1);
	/* Negative times (any monotonic origin) work too. */
	assert_true(rate_window_take(rw, "neg", -5000.5) == 0);
	rate_window_free(rw);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_burst_then_refused),
    cmocka_unit_test(test_refills_at_rate),
    cmocka_unit_test(test_clock_going_back_is_harmless),
    cmocka_unit_test(test_bounded_keys),
    cmocka_unit_test(test_hostile_keys),
    cmocka_unit_test(test_window_never_exceeds_limit),
    cmocka_unit_test(test_window_refuses_then_frees),
    cmocka_unit_test(test_window_bounded_keys),
};
UNIT_MAIN(tests)
