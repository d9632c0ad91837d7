#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "json.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/meta/graph.c"

static void test_whatsapp_body(void **state)
{
	(void)state;
	char *body = graph_send_body(PLATFORM_WHATSAPP, "31612345678", "Hi \"there\"\n");
	assert_string_equal(body, "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
				  "\"individual\",\"to\":\"31612345678\",\"type\":\"text\","
				  "\"text\":{\"body\":\"Hi \\\"there\\\"\\n\"}}");
	free(body);
}

static void test_instagram_body(void **state)
{
	(void)state;
	char *body = graph_send_body(PLATFORM_INSTAGRAM, "5551234567890001", "Hi");
	assert_string_equal(body, "{\"recipient\":{\"id\":\"5551234567890001\"},\"message\":{"
				  "\"text\":\"Hi\"}}");
	free(body);
}

static void test_url_and_limits(void **state)
{
	(void)state;
	char *url = graph_send_url("http://127.0.0.1:9/v24.0/", "106540352242922");
	assert_string_equal(url, "http://127.0.0.1:9/v24.0/106540352242922/messages");
	free(url);
	/* Anything but Meta's numeric id builds no URL at all. */
	static const char *const bad[] = {
	    "",      "123/../../me",     "123?access_token=x",
	    "123#x", "../123",           "12 3",
	    "-123",  "１２３",           "123\n",
	    "0x1F",  "106540352242922/",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (graph_send_url("http://127.0.0.1:9/v24.0", bad[i]))
			fail_msg("built a URL with channel '%s'", bad[i]);
		assert_false(graph_valid_channel_id(bad[i]));
	}
	assert_null(graph_send_url("http://127.0.0.1:9/v24.0", NULL));
	char id[102];
	memset(id, '7', 100);
	id[100] = '\0';
	url = graph_send_url("http://g", id);
	assert_non_null(url);
	free(url);
	id[100] = '7';
	id[101] = '\0';
	assert_null(graph_send_url("http://g", id));
	assert_int_equal(graph_max_chars(PLATFORM_WHATSAPP), 4096);
	assert_int_equal(graph_max_chars(PLATFORM_INSTAGRAM), 1000);
}

static void test_sent_ids(void **state)
{
	(void)state;
	const char *wa = "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"1\","
			 "\"wa_id\":\"1\"}],\"messages\":[{\"id\":\"wamid.X\"}]}";
	char *id = graph_sent_message_id(PLATFORM_WHATSAPP, wa, strlen(wa));
	assert_string_equal(id, "wamid.X");
	free(id);
	const char *ig = "{\"recipient_id\":\"1\",\"message_id\":\"aWdfZAG1\"}";
	id = graph_sent_message_id(PLATFORM_INSTAGRAM, ig, strlen(ig));
	assert_string_equal(id, "aWdfZAG1");
	free(id);
	assert_null(graph_sent_message_id(PLATFORM_WHATSAPP, "{\"messages\":[]}", 15));
	assert_null(graph_sent_message_id(PLATFORM_INSTAGRAM, "garbage", 7));
}

static void test_signal_bodies(void **state)
{
	(void)state;
	char *body = graph_read_body("wamid.HBgL\"x", true);
	assert_string_equal(body, "{\"messaging_product\":\"whatsapp\",\"status\":\"read\","
				  "\"message_id\":\"wamid.HBgL\\\"x\",\"typing_indicator\":{"
				  "\"type\":\"text\"}}");
	free(body);
	body = graph_read_body("wamid.A", false);
	assert_string_equal(body, "{\"messaging_product\":\"whatsapp\",\"status\":\"read\","
				  "\"message_id\":\"wamid.A\"}");
	free(body);
	body = graph_sender_action_body("5551234567890001", "mark_seen");
	assert_string_equal(body, "{\"recipient\":{\"id\":\"5551234567890001\"},"
				  "\"sender_action\":\"mark_seen\"}");
	free(body);
	body = graph_sender_action_body("5551234567890001", "typing_on");
	assert_string_equal(body, "{\"recipient\":{\"id\":\"5551234567890001\"},"
				  "\"sender_action\":\"typing_on\"}");
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whatsapp_body),  cmocka_unit_test(test_instagram_body),
	    cmocka_unit_test(test_url_and_limits), cmocka_unit_test(test_sent_ids),
	    cmocka_unit_test(test_signal_bodies),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
