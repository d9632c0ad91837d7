#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "openai.h"

/* The reply text alone, through openai_response_read: function calls in a
 * completed response count as no text. */
static enum openai_outcome read_text(const char *body, char **text, const char **why)
{
	struct openai_call *calls;
	size_t n;
	enum openai_outcome o = openai_response_read(body, strlen(body), text, &calls, &n, why);
	if (o == OPENAI_CALLS) {
		openai_calls_free(calls, n);
		*why = "response has no output text";
		return OPENAI_FINAL;
	}
	return o;
}

/* A turn of user inputs only, as the reply worker's first request is. */
static char *request(const char *prompt_id, const char *conversation_id, const char *model,
		     const char *const *inputs, size_t n_inputs)
{
	return openai_turn_request(&(struct openai_turn){.prompt_id = prompt_id,
							 .conversation_id = conversation_id,
							 .model = model,
							 .inputs = inputs,
							 .n_inputs = n_inputs});
}

static void test_request_shape(void **state)
{
	(void)state;
	const char *inputs[] = {"Hi", "Do you ship to \"Utrecht\"?"};
	char *body = request("pmpt_1", "conv_9", "", inputs, 2);
	cJSON *j = cJSON_Parse(body);
	assert_non_null(j);
	assert_null(cJSON_GetObjectItem(j, "model"));
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "prompt"), "id")->valuestring, "pmpt_1");
	assert_string_equal(cJSON_GetObjectItem(j, "conversation")->valuestring, "conv_9");
	cJSON *input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 2);
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(input, 1), "content")->valuestring,
	    "Do you ship to \"Utrecht\"?");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(input, 0), "role")->valuestring,
			    "user");
	cJSON_Delete(j);
	free(body);

	body = request("pmpt_1", "conv_9", "gpt-4.1-mini", inputs, 1);
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
	    read_text(
		"{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"output\":["
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

static enum openai_outcome read_all(const char *body, char **text, struct openai_call **calls,
				    size_t *n, const char **why)
{
	return openai_response_read(body, strlen(body), text, calls, n, why);
}

static void test_turn_with_tools_and_outputs(void **state)
{
	(void)state;
	const char *inputs[] = {"Can I get a demo?"};
	struct openai_turn t = {
	    .prompt_id = "pmpt_1",
	    .conversation_id = "conv_9",
	    .inputs = inputs,
	    .n_inputs = 1,
	    .tools = "[{\"type\":\"function\",\"name\":\"book_meeting\"}]",
	    .tool_choice = "auto",
	};
	char *body = openai_turn_request(&t);
	cJSON *j = cJSON_Parse(body);
	assert_string_equal(cJSON_GetObjectItem(j, "tool_choice")->valuestring, "auto");
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tools"), 0), "name")
		->valuestring,
	    "book_meeting");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "input")), 1);
	cJSON_Delete(j);
	free(body);

	/* after a round: only the outputs, matched by call_id */
	struct openai_call calls[] = {{"call_1", "check_availability", "{}"},
				      {"call_2", "book_meeting", "{}"}};
	char *outputs[] = {"{\"ok\":true}", "{\"ok\":false}"};
	char *items = openai_call_outputs(calls, outputs, 2);
	t.items = items;
	t.n_inputs = 0;
	t.tool_choice = "none";
	body = openai_turn_request(&t);
	j = cJSON_Parse(body);
	cJSON *input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 2);
	cJSON *second = cJSON_GetArrayItem(input, 1);
	assert_string_equal(cJSON_GetObjectItem(second, "type")->valuestring,
			    "function_call_output");
	assert_string_equal(cJSON_GetObjectItem(second, "call_id")->valuestring, "call_2");
	assert_string_equal(cJSON_GetObjectItem(second, "output")->valuestring, "{\"ok\":false}");
	assert_string_equal(cJSON_GetObjectItem(j, "tool_choice")->valuestring, "none");
	cJSON_Delete(j);
	free(body);

	/* an interrupted call's output goes first, then the customer's messages */
	char *more = openai_items_add_output(NULL, "call_old", "{\"ok\":false}");
	t.items = more;
	t.n_inputs = 1;
	t.tools = NULL;
	t.tool_choice = NULL;
	body = openai_turn_request(&t);
	j = cJSON_Parse(body);
	input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 2);
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(input, 0), "call_id")->valuestring, "call_old");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(input, 1), "role")->valuestring,
			    "user");
	assert_null(cJSON_GetObjectItem(j, "tools"));
	assert_null(cJSON_GetObjectItem(j, "tool_choice"));
	cJSON_Delete(j);
	free(body);
	char *two = openai_items_add_output(items, "call_3", "x");
	j = cJSON_Parse(two);
	assert_int_equal(cJSON_GetArraySize(j), 3);
	cJSON_Delete(j);
	free(two);
	free(more);
	free(items);
}

static const char *item_str(cJSON *input, int i, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(input, i), key));
}

/* The ad context is an item of its own, before the customer's messages,
 * which stay exactly as given; after a tool round it is not sent again. */
/* A person's messages (conversation send, echoes) go as the agent's own
 * side, merged with the customer's by sequence. */
static void test_person_messages_as_assistant(void **state)
{
	(void)state;
	cJSON *inputs = cJSON_Parse("[{\"seq\":3,\"text\":\"Is it on?\"},"
				    "{\"seq\":6,\"text\":\"When?\"}]");
	cJSON *human = cJSON_Parse("[{\"seq\":2,\"text\":\"Mark here.\"},"
				   "{\"seq\":4,\"text\":\"Yes, it is.\"}]");
	char **texts;
	bool *assistant;
	size_t n = openai_merge_inputs(inputs, human, &texts, &assistant);
	assert_int_equal(n, 4);
	assert_string_equal(texts[0], "Mark here.");
	assert_true(assistant[0]);
	assert_string_equal(texts[1], "Is it on?");
	assert_false(assistant[1]);
	assert_string_equal(texts[2], "Yes, it is.");
	assert_true(assistant[2]);
	assert_string_equal(texts[3], "When?");
	assert_false(assistant[3]);

	struct openai_turn t = {
	    .prompt_id = "pmpt_1",
	    .conversation_id = "conv_9",
	    .inputs = (const char *const *)texts,
	    .n_inputs = n,
	    .assistant = assistant,
	};
	char *body = openai_turn_request(&t);
	cJSON *j = cJSON_Parse(body);
	cJSON *input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 4);
	assert_string_equal(item_str(input, 0, "role"), "assistant");
	assert_string_equal(item_str(input, 0, "content"), "Mark here.");
	assert_string_equal(item_str(input, 1, "role"), "user");
	assert_string_equal(item_str(input, 2, "role"), "assistant");
	assert_string_equal(item_str(input, 3, "role"), "user");
	cJSON_Delete(j);
	free(body);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	free(assistant);
	cJSON_Delete(inputs);
	cJSON_Delete(human);

	/* Hostile or missing: not arrays, items without text, no seq. */
	inputs = cJSON_Parse("[{\"seq\":1,\"text\":\"Hi\"},{\"seq\":2},7]");
	human = cJSON_Parse("{\"seq\":1}");
	n = openai_merge_inputs(inputs, human, &texts, &assistant);
	assert_int_equal(n, 1);
	assert_string_equal(texts[0], "Hi");
	assert_false(assistant[0]);
	free(texts[0]);
	free(texts);
	free(assistant);
	cJSON_Delete(human);
	human = cJSON_Parse("[{\"text\":\"no seq\"},{\"seq\":\"x\",\"text\":5}]");
	n = openai_merge_inputs(NULL, human, &texts, &assistant);
	assert_int_equal(n, 1);
	assert_string_equal(texts[0], "no seq");
	assert_true(assistant[0]);
	free(texts[0]);
	free(texts);
	free(assistant);
	cJSON_Delete(human);
	cJSON_Delete(inputs);
	n = openai_merge_inputs(NULL, NULL, &texts, &assistant);
	assert_int_equal(n, 0);
	free(texts);
	free(assistant);
}

static void test_turn_with_context(void **state)
{
	(void)state;
	const char *inputs[] = {"Is this still on?", "And in blue?"};
	struct openai_turn t = {
	    .prompt_id = "pmpt_1",
	    .conversation_id = "conv_9",
	    .inputs = inputs,
	    .n_inputs = 2,
	    .context = "The customer came from ad 1: \"Sale\"",
	};
	char *body = openai_turn_request(&t);
	cJSON *j = cJSON_Parse(body);
	cJSON *input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 3);
	assert_string_equal(item_str(input, 0, "role"), "developer");
	assert_string_equal(item_str(input, 0, "content"), "The customer came from ad 1: \"Sale\"");
	assert_string_equal(item_str(input, 1, "role"), "user");
	assert_string_equal(item_str(input, 1, "content"), "Is this still on?");
	assert_string_equal(item_str(input, 2, "content"), "And in blue?");
	cJSON_Delete(j);
	free(body);

	/* an interrupted call's output first, then the context, then the customer */
	char *items = openai_items_add_output(NULL, "call_old", "{}");
	t.items = items;
	t.n_inputs = 1;
	body = openai_turn_request(&t);
	j = cJSON_Parse(body);
	input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 3);
	assert_string_equal(item_str(input, 0, "call_id"), "call_old");
	assert_string_equal(item_str(input, 1, "role"), "developer");
	assert_string_equal(item_str(input, 2, "role"), "user");
	cJSON_Delete(j);
	free(body);

	/* a tool round: the turn's context is in the conversation already */
	t.n_inputs = 0;
	body = openai_turn_request(&t);
	j = cJSON_Parse(body);
	input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 1);
	assert_null(item_str(input, 0, "role"));
	cJSON_Delete(j);
	free(body);
	free(items);
}

static void test_function_calls(void **state)
{
	(void)state;
	char *text;
	struct openai_call *calls;
	size_t n;
	const char *why;
	assert_int_equal(
	    read_all("{\"status\":\"completed\",\"output\":["
		     "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]},"
		     "{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":"
		     "\"Let me check.\"}]},"
		     "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_a\","
		     "\"name\":\"check_availability\",\"arguments\":\"{\\\"start\\\":1}\"},"
		     "{\"type\":\"function_call\",\"id\":\"fc_2\",\"call_id\":\"call_b\","
		     "\"name\":\"book_meeting\"}]}",
		     &text, &calls, &n, &why),
	    OPENAI_CALLS);
	assert_null(text); /* the text beside calls is not the answer */
	assert_int_equal(n, 2);
	assert_string_equal(calls[0].call_id, "call_a");
	assert_string_equal(calls[0].name, "check_availability");
	assert_string_equal(calls[0].arguments, "{\"start\":1}");
	assert_string_equal(calls[1].arguments, ""); /* none sent */
	openai_calls_free(calls, n);
	/* the text-only reader calls it no text */
	assert_int_equal(read_text("{\"status\":\"completed\",\"output\":[{\"type\":"
				   "\"function_call\",\"call_id\":\"c\",\"name\":\"f\"}]}",
				   &text, &why),
			 OPENAI_FINAL);
}

static void test_function_calls_hostile(void **state)
{
	(void)state;
	char *text;
	struct openai_call *calls;
	size_t n;
	const char *why;
	const char *bad[] = {
	    /* no call_id, empty name, a call_id with a newline, a numeric name */
	    "{\"status\":\"completed\",\"output\":[{\"type\":\"function_call\",\"name\":\"f\"}]}",
	    "{\"status\":\"completed\",\"output\":[{\"type\":\"function_call\",\"call_id\":"
	    "\"c\",\"name\":\"\"}]}",
	    "{\"status\":\"completed\",\"output\":[{\"type\":\"function_call\",\"call_id\":"
	    "\"c\\nX\",\"name\":\"f\"}]}",
	    "{\"status\":\"completed\",\"output\":[{\"type\":\"function_call\",\"call_id\":"
	    "\"c\",\"name\":5}]}",
	    NULL,
	};
	for (size_t i = 0; bad[i]; i++) {
		if (read_all(bad[i], &text, &calls, &n, &why) != OPENAI_FINAL)
			fail_msg("accepted %s", bad[i]);
		assert_null(calls);
		assert_int_equal(n, 0);
	}
	/* too many calls */
	char body[8192] = "{\"status\":\"completed\",\"output\":[";
	for (int i = 0; i <= OPENAI_MAX_CALLS; i++) {
		char one[128];
		snprintf(one, sizeof one,
			 "%s{\"type\":\"function_call\",\"call_id\":\"c%d\","
			 "\"name\":\"f\"}",
			 i ? "," : "", i);
		strcat(body, one);
	}
	strcat(body, "]}");
	assert_int_equal(read_all(body, &text, &calls, &n, &why), OPENAI_FINAL);
	/* calls in an incomplete response are not run */
	assert_int_equal(read_all("{\"status\":\"incomplete\",\"output\":[{\"type\":"
				  "\"function_call\",\"call_id\":\"c\",\"name\":\"f\"}]}",
				  &text, &calls, &n, &why),
			 OPENAI_FINAL);
	/* oversized arguments become "" */
	size_t big = OPENAI_MAX_ARGUMENTS + 10;
	char *huge = malloc(big + 200);
	strcpy(huge, "{\"status\":\"completed\",\"output\":[{\"type\":\"function_call\","
		     "\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"");
	size_t at = strlen(huge);
	memset(huge + at, 'a', big);
	strcpy(huge + at + big, "\"}]}");
	assert_int_equal(read_all(huge, &text, &calls, &n, &why), OPENAI_CALLS);
	assert_string_equal(calls[0].arguments, "");
	openai_calls_free(calls, n);
	free(huge);
}

static void test_unanswered_call(void **state)
{
	(void)state;
	const char *b = "{\"error\":{\"message\":\"No tool output found for function call "
			"call_5AroFIQIK3cm3suliZdux0TB.\",\"type\":\"invalid_request_error\","
			"\"param\":\"input\",\"code\":null}}";
	char *id = openai_unanswered_call(b, strlen(b));
	assert_string_equal(id, "call_5AroFIQIK3cm3suliZdux0TB");
	free(id);
	const char *others[] = {
	    "{\"error\":{\"message\":\"No tool call found for function call output with "
	    "call_id call_x.\"}}",
	    "{\"error\":{\"message\":\"No tool output found for function call \"}}",
	    "{\"error\":{\"message\":\"No tool output found for function call a\\u0001b.\"}}",
	    "{\"error\":{\"message\":\"Another process is currently operating on this "
	    "conversation.\"}}",
	    "not json",
	    NULL,
	};
	for (size_t i = 0; others[i]; i++)
		assert_null(openai_unanswered_call(others[i], strlen(others[i])));
	assert_null(openai_unanswered_call(NULL, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_shape),
	    cmocka_unit_test(test_joins_output_text_of_message_items),
	    cmocka_unit_test(test_failed_and_incomplete),
	    cmocka_unit_test(test_refusal_and_garbage),
	    cmocka_unit_test(test_conversation_id),
	    cmocka_unit_test(test_turn_with_tools_and_outputs),
	    cmocka_unit_test(test_turn_with_context),
	    cmocka_unit_test(test_person_messages_as_assistant),
	    cmocka_unit_test(test_function_calls),
	    cmocka_unit_test(test_function_calls_hostile),
	    cmocka_unit_test(test_unanswered_call),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
