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
#include "log.h"

/* The module itself (as h2o's unit tests do): the tests point its output
 * stream at memory. */
#include "../../../src/core/log.c"

static char *captured;
static size_t captured_len;
static FILE *stream;

static int setup(void **state)
{
	(void)state;
	stream = open_memstream(&captured, &captured_len);
	out_stream = stream;
	log_set_level(LOG_LEVEL_INFO);
	log_set_format(LOG_FORMAT_TEXT);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	out_stream = NULL;
	fclose(stream);
	free(captured);
	captured = NULL;
	return 0;
}

static const char *output(void)
{
	fflush(stream);
	return captured ? captured : "";
}

static void test_levels_filter(void **state)
{
	(void)state;
	log_debug("x", "hidden %d", 1);
	assert_string_equal(output(), "");
	log_warn("x", "shown %d", 2);
	assert_non_null(strstr(output(), "warn  shown 2 [x]"));
}

static void test_parse_level_and_format(void **state)
{
	(void)state;
	enum log_level l;
	enum log_format f;
	assert_int_equal(log_parse_level("debug", &l), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_int_equal(log_parse_level("error", &l), 0);
	assert_int_equal(l, LOG_LEVEL_ERROR);
	assert_int_equal(log_parse_level("verbose", &l), -1);
	assert_int_equal(log_parse_level("", &l), -1);
	assert_int_equal(log_parse_format("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_parse_format("xml", &f), -1);
}

static void test_text_is_one_line(void **state)
{
	(void)state;
	log_info(NULL, "line one\nline two");
	const char *out = output();
	assert_non_null(strstr(out, "line one line two"));
	assert_int_equal(strchr(out, '\n') - out, (long)strlen(out) - 1);
}

static void test_json_is_valid_with_context_fields(void **state)
{
	(void)state;
	log_set_format(LOG_FORMAT_JSON);
	log_info("req=ab12 tenant=acme lone", "he said \"hi\"\n\x01");
	const char *out = output();
	assert_int_equal(out[strlen(out) - 1], '\n');
	cJSON *j = cJSON_Parse(out);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "info");
	assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring, "he said \"hi\"\n\x01");
	assert_string_equal(cJSON_GetObjectItem(j, "req")->valuestring, "ab12");
	assert_string_equal(cJSON_GetObjectItem(j, "tenant")->valuestring, "acme");
	assert_string_equal(cJSON_GetObjectItem(j, "ctx")->valuestring, "lone");
	assert_non_null(cJSON_GetObjectItem(j, "ts"));
	cJSON_Delete(j);
}

static void test_long_message_truncated_not_overflowing(void **state)
{
	(void)state;
	char big[10000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_error("x", "%s", big);
	assert_true(strlen(output()) < 2200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_levels_filter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_parse_level_and_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_is_one_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_is_valid_with_context_fields, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_long_message_truncated_not_overflowing, setup,
					    teardown),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
