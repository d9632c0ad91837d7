#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "referral.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/meta/referral.c"

static char *describe_json(const char *json)
{
	return referral_describe_text(json);
}

static void expect_line(const char *json, const char *want)
{
	char *got = describe_json(json);
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_whatsapp_ad(void **state)
{
	(void)state;
	expect_line(
	    "{\"source_type\":\"ad\",\"source_id\":\"1200\",\"source_url\":\"https://fb.me/x\","
	    "\"headline\":\"Winter sale\",\"body\":\"Jackets 30% off\",\"media_type\":\"image\","
	    "\"ctwa_clid\":\"ARAk\"}",
	    "ad 1200: \"Winter sale\" \xe2\x80\x94 Jackets 30% off, https://fb.me/x");
	expect_line("{\"source_url\":\"https://fb.me/x\"}", "ad: https://fb.me/x");
	expect_line("{\"source_type\":\"ad\",\"body\":\"Only a body\"}", "ad: Only a body");
	expect_line("{\"source_type\":\"post\",\"source_id\":\"9\"}", "referral from post 9");
}

static void test_instagram_ad_and_link(void **state)
{
	(void)state;
	expect_line("{\"source_type\":\"ADS\",\"source_id\":\"77\",\"title\":\"Summer\","
		    "\"ref\":\"promo\",\"image_url\":\"https://x/p.jpg\"}",
		    "ad 77: \"Summer\" \xe2\x80\x94 ref promo");
	expect_line("{\"source_type\":\"SHORTLINK\",\"ref\":\"summer-promo\"}",
		    "referral from SHORTLINK: ref summer-promo");
	/* headline wins over title when both are there */
	expect_line("{\"headline\":\"H\",\"title\":\"T\"}", "ad: \"H\"");
}

/* "Message business" on a catalogue product: named as a product, not an ad. */
static void test_product(void **state)
{
	(void)state;
	char *line = referral_describe_text(
	    "{\"source_type\":\"product\",\"source_id\":\"SKU-9\",\"catalog_id\":\"77\"}");
	assert_string_equal(line, "the product SKU-9 of catalogue 77");
	free(line);
	line = referral_describe_text("{\"source_type\":\"product\",\"catalog_id\":\"77\"}");
	assert_string_equal(line, "the product (no id) of catalogue 77");
	free(line);
}

static void test_nothing_to_describe(void **state)
{
	(void)state;
	expect_line(NULL, NULL);
	expect_line("", NULL);
	expect_line("not json", NULL);
	expect_line("[1]", NULL);
	expect_line("\"ad\"", NULL);
	expect_line("{}", NULL);
	expect_line("{\"media_type\":\"image\",\"ctwa_clid\":\"x\"}", NULL);
	expect_line("{\"headline\":\"\",\"source_id\":7,\"title\":{\"a\":1}}", NULL);
	assert_null(referral_describe(NULL));
}

/* What is stored is valid UTF-8 already; here it must also stay one line
 * and bounded, whatever the row holds. */
static void test_one_line_and_bounded(void **state)
{
	(void)state;
	expect_line("{\"headline\":\"a\\nb\\tc\",\"body\":\"line 1\\r\\nline 2\"}",
		    "ad: \"a b c\" \xe2\x80\x94 line 1  line 2");
	size_t big = 3 * REFERRAL_LINE_MAX;
	char *json = malloc(2 * big + 64);
	assert_non_null(json);
	strcpy(json, "{\"body\":\"");
	size_t o = strlen(json);
	for (size_t i = 0; i < big; i++) {
		json[o++] = '\xc3';
		json[o++] = '\xa9';
	}
	strcpy(json + o, "\"}");
	char *got = describe_json(json);
	assert_non_null(got);
	size_t n = strlen(got);
	assert_true(n <= REFERRAL_LINE_MAX && n > REFERRAL_LINE_MAX - 8);
	assert_string_equal(got + n - 3, "\xe2\x80\xa6");
	/* the cut is on a boundary: what precedes "…" is whole "é"s */
	assert_true(memcmp(got, "ad: ", 4) == 0);
	assert_int_equal((n - 3 - 4) % 2, 0);
	for (size_t i = 4; i < n - 3; i += 2)
		assert_true(got[i] == '\xc3' && got[i + 1] == '\xa9');
	free(got);
	free(json);
}

static void test_agent_context(void **state)
{
	(void)state;
	cJSON *refs =
	    cJSON_Parse("[{\"source_type\":\"ad\",\"source_id\":\"1\",\"headline\":\"A\"},"
			"{\"source_type\":\"ad\",\"source_id\":\"1\",\"headline\":\"A\"},{},7,"
			"{\"source_type\":\"ad\",\"source_id\":\"2\",\"headline\":\"B\"}]");
	char *ctx = referral_agent_context(refs);
	assert_non_null(ctx);
	assert_non_null(strstr(ctx, "not written by the customer"));
	const char *first = strstr(ctx, "ad 1: \"A\"");
	assert_non_null(first);
	assert_null(strstr(first + 1, "ad 1: \"A\"")); /* each ad once */
	assert_non_null(strstr(ctx, "; ad 2: \"B\""));
	free(ctx);
	cJSON_Delete(refs);

	refs = cJSON_Parse("[]");
	assert_null(referral_agent_context(refs));
	cJSON_Delete(refs);
	refs = cJSON_Parse("[{},null]");
	assert_null(referral_agent_context(refs));
	cJSON_Delete(refs);
	refs = cJSON_Parse("{\"source_id\":\"1\"}");
	assert_null(referral_agent_context(refs)); /* not an array */
	cJSON_Delete(refs);
	assert_null(referral_agent_context(NULL));
}

static void test_extraction_context(void **state)
{
	(void)state;
	cJSON *ref =
	    cJSON_Parse("{\"source_type\":\"ad\",\"source_id\":\"5\",\"headline\":\"Sale\"}");
	char *ctx = referral_extraction_context(ref);
	assert_non_null(ctx);
	assert_non_null(strstr(ctx, "not the customer's words"));
	assert_non_null(strstr(ctx, "came from ad 5: \"Sale\""));
	free(ctx);
	cJSON_Delete(ref);
	assert_null(referral_extraction_context(NULL));
	ref = cJSON_Parse("{}");
	assert_null(referral_extraction_context(ref));
	cJSON_Delete(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whatsapp_ad),
	    cmocka_unit_test(test_instagram_ad_and_link),
	    cmocka_unit_test(test_product),
	    cmocka_unit_test(test_nothing_to_describe),
	    cmocka_unit_test(test_one_line_and_bounded),
	    cmocka_unit_test(test_agent_context),
	    cmocka_unit_test(test_extraction_context),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
