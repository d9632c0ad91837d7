#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "public_addr.h"
#include "../unit_main.h"

static void test_refused(void **state)
{
	(void)state;
	const char *refused[] = {"127.0.0.1",
				 "127.1.2.3",
				 "10.0.0.1",
				 "172.16.0.1",
				 "172.31.255.1",
				 "192.168.1.1",
				 "169.254.169.254",
				 "0.0.0.0",
				 "100.64.0.1",
				 "224.0.0.1",
				 "255.255.255.255",
				 "::1",
				 "::",
				 "fe80::1",
				 "fc00::1",
				 "fd12:3456::1",
				 "::ffff:127.0.0.1",
				 "::ffff:10.1.2.3",
				 "ff02::1",
				 "not an address"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		assert_false(http_addr_text_public(refused[i]));
}

static void test_public(void **state)
{
	(void)state;
	const char *ok[] = {
	    "8.8.8.8",       "1.1.1.1", "172.32.0.1", "192.169.0.1", "2606:4700:4700::1111",
	    "::ffff:8.8.8.8"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		assert_true(http_addr_text_public(ok[i]));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_refused),
    cmocka_unit_test(test_public),
};
UNIT_MAIN(tests)
