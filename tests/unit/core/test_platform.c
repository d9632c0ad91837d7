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
	enum platform p;
	assert_int_equal(platform_from_name("whatsapp", &p), 0);
	assert_int_equal(p, PLATFORM_WHATSAPP);
	assert_int_equal(platform_from_name("instagram", &p), 0);
	assert_int_equal(p, PLATFORM_INSTAGRAM);
	assert_int_equal(platform_from_name("webchat", &p), 0);
	assert_int_equal(p, PLATFORM_WEBCHAT);
	assert_int_equal(platform_from_name("sms", &p), -1);
	assert_int_equal(platform_from_name("WhatsApp", &p), -1);
	assert_int_equal(platform_from_name("", &p), -1);
	assert_int_equal(platform_from_name(NULL, &p), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_from_name),
};
UNIT_MAIN(tests)
