/* The main() of a unit test program whose tests need nothing before they
 * run: after `static const struct CMUnitTest tests[] = {...};`,
 * UNIT_MAIN(tests) runs them in order, as one cmocka group, and exits with
 * its status. */
#ifndef PARLEY_TEST_UNIT_MAIN_H
#define PARLEY_TEST_UNIT_MAIN_H

#define UNIT_MAIN(tests)                                                                           \
	int main(void)                                                                             \
	{                                                                                          \
		return cmocka_run_group_tests(tests, NULL, NULL);                                  \
	}

#endif
