#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_events.h"
#include "json.h"

static cJSON *events_of(const char *body)
{
	struct meta_batch b;
	assert_null(meta_parse(body, strlen(body), &b));
	char *json = ingest_events_json(&b);
	meta_batch_free(&b);
	cJSON *arr = cJSON_Parse(json);
	free(json);
	assert_non_null(arr);
	assert_true(cJSON_IsArray(arr));
	return arr;
}

static const char *str(cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

struct kv {
	const char *key, *value;
};

/* Each pair of kv (ending with a NULL key) is a string e has under key. */
static void assert_strs(cJSON *e, const struct kv *kv)
{
	for (; kv->key; kv++)
		assert_string_equal(str(e, kv->key), kv->value);
}

static void test_whatsapp_text_event(void **state)
{
	(void)state;
	cJSON *arr = events_of(
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":[{"
	    "\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{"
	    "\"phone_number_id\":\"PN\"},\"contacts\":[{\"profile\":{\"name\":\"Ana\"},\"wa_id\":"
	    "\"316\"}],\"messages\":[{\"from\":\"316\",\"id\":\"wamid.A\",\"timestamp\":"
	    "\"1700000000\","
	    "\"type\":\"text\",\"text\":{\"body\":\"Hi \\\"you\\\"\"}}]}}]}]}");
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON *e = cJSON_GetArrayItem(arr, 0);
	assert_strs(e, (const struct kv[]){{"t", "m"},
					   {"platform", "whatsapp"},
					   {"channel", "PN"},
					   {"customer", "316"},
					   {"id", "wamid.A"},
					   {"text", "Hi \"you\""},
					   {"name", "Ana"},
					   {NULL, NULL}});
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "reply")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(e, "echo")));
	assert_true(cJSON_GetObjectItem(e, "ts")->valuedouble == 1700000000000.0);
	cJSON_Delete(arr);
}

static void test_failed_status_carries_code_and_title(void **state)
{
	(void)state;
	cJSON *arr = events_of(
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":[{"
	    "\"field\":\"messages\",\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{"
	    "\"phone_number_id\":\"PN\"},\"statuses\":[{\"id\":\"wamid.S\",\"status\":\"failed\","
	    "\"timestamp\":\"1700000001\",\"recipient_id\":\"316\",\"errors\":[{\"code\":131047,"
	    "\"title\":\"Re-engagement message\"}]}]}}]}]}");
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	cJSON *e = cJSON_GetArrayItem(arr, 0);
	assert_strs(e, (const struct kv[]){{"t", "s"},
					   {"id", "wamid.S"},
					   {"status", "failed"},
					   {"error", "131047: Re-engagement message"},
					   {NULL, NULL}});
	cJSON_Delete(arr);
}

/* The ad goes beside the text as an object of the fields Meta sent; the
 * text is the customer's alone; a message without one has no key. */
static void test_referral_is_an_object_beside_the_text(void **state)
{
	(void)state;
	cJSON *arr = events_of(
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":[{"
	    "\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":\"PN\"},"
	    "\"messages\":[{\"from\":\"316\",\"id\":\"wamid.R\",\"type\":\"text\","
	    "\"text\":{\"body\":\"Still on?\"},\"referral\":{\"source_type\":\"ad\","
	    "\"source_id\":\"42\",\"headline\":\"Sale\",\"media_type\":7}},"
	    "{\"from\":\"316\",\"id\":\"wamid.P\",\"type\":\"text\",\"text\":{\"body\":\"x\"}}]}}]}"
	    "]}");
	assert_int_equal(cJSON_GetArraySize(arr), 2);
	cJSON *e = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(str(e, "text"), "Still on?");
	cJSON *ref = cJSON_GetObjectItemCaseSensitive(e, "referral");
	assert_true(cJSON_IsObject(ref));
	assert_int_equal(cJSON_GetArraySize(ref), 3);
	assert_strs(ref, (const struct kv[]){{"source_type", "ad"},
					     {"source_id", "42"},
					     {"headline", "Sale"},
					     {NULL, NULL}});
	assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, 1), "referral"));
	cJSON_Delete(arr);
}

static void test_empty_batch_is_empty_array(void **state)
{
	(void)state;
	cJSON *arr = events_of("{\"object\":\"instagram\",\"entry\":[]}");
	assert_int_equal(cJSON_GetArraySize(arr), 0);
	cJSON_Delete(arr);
}

/* A widget message (webchat.c builds one) is the same event a webhook text
 * becomes: no name, reply_to or referral keys when they are absent. */
static void test_webchat_message_event(void **state)
{
	(void)state;
	char channel[] = "w-1", customer[] = "s-1", id[] = "webchat:s-1:c-1", kind[] = "text",
	     text[] = "Hola \xc3\xa9";
	struct meta_message m = {
	    .platform = PLATFORM_WEBCHAT,
	    .channel_id = channel,
	    .customer_id = customer,
	    .platform_message_id = id,
	    .kind = kind,
	    .text = text,
	    .timestamp_ms = 1700000000123LL,
	    .needs_reply = true,
	};
	struct meta_batch b = {.messages = &m, .n_messages = 1};
	char *json = ingest_events_json(&b);
	assert_string_equal(json,
			    "[{\"t\":\"m\",\"platform\":\"webchat\",\"channel\":\"w-1\","
			    "\"customer\":\"s-1\",\"id\":\"webchat:s-1:c-1\",\"kind\":\"text\","
			    "\"text\":\"Hola \xc3\xa9\",\"ts\":1700000000123,\"reply\":true,"
			    "\"echo\":false}]");
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whatsapp_text_event),
	    cmocka_unit_test(test_failed_status_carries_code_and_title),
	    cmocka_unit_test(test_referral_is_an_object_beside_the_text),
	    cmocka_unit_test(test_empty_batch_is_empty_array),
	    cmocka_unit_test(test_webchat_message_event),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
