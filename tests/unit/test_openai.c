#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "openai.h"

static enum openai_outcome read_text(const char *body, char **text, const char **why)
{
	return openai_response_text(body, strlen(body), text, why);
}

static void test_request_shape(void **state)
{
	(void)state;
	const char *inputs[] = {"Hi", "Do you ship to \"Utrecht\"?"};
	char *body = openai_response_request("pmpt_1", "conv_9", "", inputs, 2);
	cJSON *j = cJSON_Parse(body);
	assert_non_null(j);
	assert_null(cJSON_GetObjectItem(j, "model"));
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "prompt"), "id")->valuestring,
			    "pmpt_1");
	assert_string_equal(cJSON_GetObjectItem(j, "conversation")->valuestring, "conv_9");
	cJSON *input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 2);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(input, 1), "content")->valuestring,
			    "Do you ship to \"Utrecht\"?");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(input, 0), "role")->valuestring,
			    "user");
	cJSON_Delete(j);
	free(body);

	body = openai_response_request("pmpt_1", "conv_9", "gpt-4.1-mini", inputs, 1);
	j = cJSON_Parse(body);
	assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "gpt-4.1-mini");
	cJSON_Delete(j);
	free(body);
}

static void test_joins_output_text_of_message_items(void **state)
{
	(void)state;
	char *text;
	const char *why;
	assert_int_equal(
		read_text("{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":["
			  "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]},"
			  "{\"type\":\"message\",\"role\":\"assistant\",\"content\":["
			  "{\"type\":\"output_text\",\"text\":\"Hello \",\"annotations\":[]},"
			  "{\"type\":\"output_text\",\"text\":\"there.\",\"annotations\":[]}]}]}",
			  &text, &why),
		OPENAI_TEXT);
	assert_string_equal(text, "Hello there.");
	free(text);
}

static void test_failed_and_incomplete(void **state)
{
	(void)state;
	char *text;
	const char *why;
	assert_int_equal(read_text("{\"status\":\"failed\",\"error\":{\"code\":\"server_error\","
				   "\"message\":\"x\"},\"output\":[]}",
				   &text, &why),
			 OPENAI_RETRYABLE);
	assert_null(text);
	assert_int_equal(read_text("{\"status\":\"failed\",\"error\":{\"code\":\"invalid_prompt\","
				   "\"message\":\"x\"},\"output\":[]}",
				   &text, &why),
			 OPENAI_FINAL);
	assert_int_equal(read_text("{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":"
				   "\"max_output_tokens\"},\"output\":[]}",
				   &text, &why),
			 OPENAI_FINAL);
	assert_string_equal(why, "response incomplete");
}

static void test_refusal_and_garbage(void **state)
{
	(void)state;
	char *text;
	const char *why;
	assert_int_equal(read_text("{\"status\":\"completed\",\"output\":[{\"type\":\"message\","
				   "\"content\":[{\"type\":\"refusal\",\"refusal\":\"no\"}]}]}",
				   &text, &why),
			 OPENAI_FINAL);
	assert_string_equal(why, "the model refused");
	assert_int_equal(read_text("not json", &text, &why), OPENAI_FINAL);
	assert_int_equal(read_text("[]", &text, &why), OPENAI_FINAL);
	assert_int_equal(read_text("{\"status\":\"completed\",\"output\":7}", &text, &why),
			 OPENAI_FINAL);
	assert_int_equal(read_text("{\"status\":\"completed\",\"output\":[{\"type\":\"message\","
				   "\"content\":[{\"type\":\"output_text\",\"text\":5}]}]}",
				   &text, &why),
			 OPENAI_FINAL);
}

static void test_conversation_id(void **state)
{
	(void)state;
	const char *ok = "{\"id\":\"conv_abc\",\"object\":\"conversation\"}";
	char *id = openai_conversation_id(ok, strlen(ok));
	assert_string_equal(id, "conv_abc");
	free(id);
	assert_null(openai_conversation_id("{}", 2));
	assert_null(openai_conversation_id("{\"id\":3}", 8));
	assert_null(openai_conversation_id("x", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_shape),
		cmocka_unit_test(test_joins_output_text_of_message_items),
		cmocka_unit_test(test_failed_and_incomplete),
		cmocka_unit_test(test_refusal_and_garbage),
		cmocka_unit_test(test_conversation_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
