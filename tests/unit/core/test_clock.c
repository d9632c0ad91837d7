#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "clock.h"
#include "../unit_main.h"

static void test_mono_never_goes_back(void **state)
{
	(void)state;
	double prev = clock_mono();
	for (int i = 0; i < 1000; i++) {
		double now = clock_mono();
		assert_true(now >= prev);
		prev = now;
	}
}

static void test_mono_measures_a_sleep(void **state)
{
	(void)state;
	double t0 = clock_mono();
	struct timespec nap = {0, 20 * 1000 * 1000};
	nanosleep(&nap, NULL);
	double took = clock_mono() - t0;
	/* At least the nap; an upper bound would fail on a busy machine. */
	assert_true(took >= 0.019);
}

static void test_wall_ms_is_the_epoch_in_ms(void **state)
{
	(void)state;
	long long before = (long long)time(NULL);
	long long ms = clock_wall_ms();
	long long after = (long long)time(NULL);
	assert_true(ms >= before * 1000);
	assert_true(ms < (after + 1) * 1000);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mono_never_goes_back),
    cmocka_unit_test(test_mono_measures_a_sleep),
    cmocka_unit_test(test_wall_ms_is_the_epoch_in_ms),
};
UNIT_MAIN(tests)
