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

static void test_template_body(void **state)
{
	(void)state;
	const char *params[] = {"Ana", "#1234 \"x\""};
	char *body = graph_template_body("31612345678", "order_update", "en_US", params, 2);
	assert_string_equal(body, "{\"messaging_product\":\"whatsapp\",\"to\":\"31612345678\","
				  "\"type\":\"template\",\"template\":{\"name\":\"order_update\","
				  "\"language\":{\"code\":\"en_US\"},\"components\":[{\"type\":"
				  "\"body\",\"parameters\":[{\"type\":\"text\",\"text\":\"Ana\"},"
				  "{\"type\":\"text\",\"text\":\"#1234 \\\"x\\\"\"}]}]}}");
	free(body);
	body = graph_template_body("31612345678", "hello_world", "en", NULL, 0);
	assert_string_equal(body, "{\"messaging_product\":\"whatsapp\",\"to\":\"31612345678\","
				  "\"type\":\"template\",\"template\":{\"name\":\"hello_world\","
				  "\"language\":{\"code\":\"en\"}}}");
	free(body);

	char *text = graph_template_text("order_update", params, 2);
	assert_string_equal(text, "[template order_update] Ana | #1234 \"x\"");
	free(text);
	text = graph_template_text("hello_world", NULL, 0);
	assert_string_equal(text, "[template hello_world]");
	free(text);
}

static void test_template_checks(void **state)
{
	(void)state;
	assert_null(graph_check_template_name("order_update_2"));
	assert_non_null(graph_check_template_name(""));
	assert_non_null(graph_check_template_name("Order"));
	assert_non_null(graph_check_template_name("order-update"));
	assert_non_null(graph_check_template_name("order update"));
	assert_non_null(graph_check_template_name("../x"));
	char long_name[600];
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	assert_non_null(graph_check_template_name(long_name));
	long_name[512] = '\0';
	assert_null(graph_check_template_name(long_name));

	const char *good[] = {"en", "en_US", "pt_BR", "zh_Hant_HK", "fil", "es_419"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_null(graph_check_template_language(good[i]));
	const char *bad[] = {"",     "e",         "english",  "EN",    "en-US",     "en_",
			     "en_U", "en_US_x_y", "en_USAAA", "en US", "en_US_HK_X"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_non_null(graph_check_template_language(bad[i]));

	assert_null(graph_check_template_param("Ana"));
	assert_null(graph_check_template_param("caf\xc3\xa9 \xf0\x9f\x98\x80    x"));
	const char *bad_params[] = {"", "a\nb", "a\tb", "a     b", "\xff", "\xc3"};
	for (size_t i = 0; i < sizeof bad_params / sizeof bad_params[0]; i++)
		assert_non_null(graph_check_template_param(bad_params[i]));
	char p[1100];
	memset(p, 'x', 1024);
	p[1024] = '\0';
	assert_null(graph_check_template_param(p));
	p[1024] = 'x';
	p[1025] = '\0';
	assert_non_null(graph_check_template_param(p));
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
	    cmocka_unit_test(test_template_body),  cmocka_unit_test(test_template_checks),
	    cmocka_unit_test(test_signal_bodies),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
