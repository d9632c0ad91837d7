#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "xalloc.h"
#include "../unit_main.h"

static void test_strings(void **state)
{
	(void)state;
	char *s = xstrndup("secret-token", 6);
	assert_string_equal(s, "secret");
	free(s);
	s = xasprintf("%s=%d", "n", 42);
	assert_string_equal(s, "n=42");
	free(s);
}

static void test_free_secret(void **state)
{
	(void)state;
	/* NULL is fine, like free(); the sanitized pass checks the rest. */
	xfree_secret(NULL);
	xfree_secret(xstrdup(""));
	xfree_secret(xstrdup("EAAG-access-token"));
}

/* After json_init cJSON allocates through xmalloc: what it prints is
 * released with free() and a print never fails. */
static void test_json_hooks(void **state)
{
	(void)state;
	json_init();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "k", "v");
	char *s = json_print(o);
	assert_string_equal(s, "{\"k\":\"v\"}");
	free(s);
	cJSON *p = cJSON_Parse("[1,2,");
	assert_null(p); /* bad input is still reported, not an abort */
}

static void test_json_dup_string(void **state)
{
	(void)state;
	cJSON *o = cJSON_Parse("{\"s\":\"text\",\"n\":1,\"S\":\"other\"}");
	char *s = json_dup_string(o, "s");
	assert_string_equal(s, "text");
	free(s);
	assert_null(json_dup_string(o, "n"));       /* not a string */
	assert_null(json_dup_string(o, "missing")); /* absent */
	s = json_dup_string(o, "S");                /* case-sensitive */
	assert_string_equal(s, "other");
	free(s);
	assert_null(json_dup_string(NULL, "s"));
	cJSON_Delete(o);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_strings),
    cmocka_unit_test(test_free_secret),
    cmocka_unit_test(test_json_hooks),
    cmocka_unit_test(test_json_dup_string),
};
UNIT_MAIN(tests)
