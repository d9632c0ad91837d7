#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "handoff_tool.h"
#include "utf8.h"
#include "../unit_main.h"

static void test_declared_alone(void **state)
{
	(void)state;
	char *t = handoff_tool_declare(NULL);
	cJSON *arr = cJSON_Parse(t);
	assert_true(cJSON_IsArray(arr));
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON *d = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "type")), "function");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "name")), HANDOFF_TOOL);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(d, "strict")));
	cJSON *params = cJSON_GetObjectItem(d, "parameters");
	/* strict: every property required, nothing else allowed */
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(params, "properties"), "reason"), "type")),
	    "string");
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(params, "required"), 0)),
	    "reason");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(params, "additionalProperties")));
	cJSON_Delete(arr);
	free(t);
}

static void test_declared_after_meeting_tools(void **state)
{
	(void)state;
	char *t = handoff_tool_declare("[{\"type\":\"function\",\"name\":\"book_meeting\"}]");
	cJSON *arr = cJSON_Parse(t);
	assert_int_equal(cJSON_GetArraySize(arr), 2);
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "name")),
	    "book_meeting");
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 1), "name")),
	    HANDOFF_TOOL);
	cJSON_Delete(arr);
	free(t);
}

static void test_is_call(void **state)
{
	(void)state;
	struct openai_call yes = {
	    .call_id = "call_1", .name = "escalate_to_human", .arguments = ""};
	struct openai_call no = {.call_id = "call_2", .name = "book_meeting", .arguments = ""};
	assert_true(handoff_tool_is_call(&yes));
	assert_false(handoff_tool_is_call(&no));
	assert_false(handoff_tool_is_call(NULL));
}

static void expect_reason(const char *args, const char *want)
{
	char *r = handoff_tool_reason(args);
	assert_string_equal(r, want);
	free(r);
}

static void test_reason(void **state)
{
	(void)state;
	expect_reason("{\"reason\":\"Customer wants a refund\"}", "Customer wants a refund");
	expect_reason("{\"reason\":\"  \\n asks for a manager \\t\"}", "asks for a manager");
	/* whatever the model wrote, it asked for a person */
	expect_reason("{\"reason\":\"\"}", HANDOFF_REASON_DEFAULT);
	expect_reason("{\"reason\":\"   \"}", HANDOFF_REASON_DEFAULT);
	expect_reason("{\"reason\":null}", HANDOFF_REASON_DEFAULT);
	expect_reason("{}", HANDOFF_REASON_DEFAULT);
	expect_reason("", HANDOFF_REASON_DEFAULT);
	expect_reason("not json", HANDOFF_REASON_DEFAULT);
	expect_reason("[\"reason\"]", HANDOFF_REASON_DEFAULT);
	expect_reason(NULL, HANDOFF_REASON_DEFAULT);
	expect_reason("{\"reason\":\"Kunde möchte 😀\"}", "Kunde möchte 😀");
}

/* Cut to 500 characters, never inside one. */
static void test_reason_cut_at_characters(void **state)
{
	(void)state;
	size_t n = 700;
	char *args = malloc(n * 2 + 32);
	strcpy(args, "{\"reason\":\"");
	for (size_t i = 0; i < n; i++)
		strcat(args, "é");
	strcat(args, "\"}");
	char *r = handoff_tool_reason(args);
	assert_int_equal(utf8_valid_chars(r), HANDOFF_REASON_MAX_CHARS);
	assert_int_equal(strlen(r), 2 * HANDOFF_REASON_MAX_CHARS);
	free(r);
	free(args);
}

/* PostgreSQL refuses ill-formed UTF-8: each bad part becomes U+FFFD. */
static void test_reason_ill_formed(void **state)
{
	(void)state;
	expect_reason("{\"reason\":\"a\xff"
		      "b\xc3\"}",
		      "a\xEF\xBF\xBD"
		      "b\xEF\xBF\xBD");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_declared_alone),
    cmocka_unit_test(test_declared_after_meeting_tools),
    cmocka_unit_test(test_is_call),
    cmocka_unit_test(test_reason),
    cmocka_unit_test(test_reason_cut_at_characters),
    cmocka_unit_test(test_reason_ill_formed),
};
UNIT_MAIN(tests)
