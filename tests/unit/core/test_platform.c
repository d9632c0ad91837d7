#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "platform.h"
#include "../unit_main.h"

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(platform_name(PLATFORM_WHATSAPP), "whatsapp");
	assert_string_equal(platform_name(PLATFORM_INSTAGRAM), "instagram");
	assert_string_equal(platform_name(PLATFORM_WEBCHAT), "webchat");
	assert_string_equal(platform_name((enum platform)42), "?");
}

static void test_from_name(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int rc;
		enum platform want; /* when rc is 0 */
	} cases[] = {
	    {"whatsapp", 0, PLATFORM_WHATSAPP},
	    {"instagram", 0, PLATFORM_INSTAGRAM},
	    {"webchat", 0, PLATFORM_WEBCHAT},
	    {"sms", -1, 0},
	    {"WhatsApp", -1, 0},
	    {"", -1, 0},
	    {NULL, -1, 0},
	};
	enum platform p;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(platform_from_name(cases[i].name, &p), cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(p, cases[i].want);
	}
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_from_name),
};
UNIT_MAIN(tests)
