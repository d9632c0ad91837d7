#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "webchat_assets.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/webchat/webchat_assets.c"
#include "../unit_main.h"

static void test_valid_widget_ids(void **state)
{
	(void)state;
	assert_true(webchat_assets_valid_widget_id("w"));
	assert_true(webchat_assets_valid_widget_id("demo-shop_web.1"));
	assert_true(webchat_assets_valid_widget_id("ABCxyz0189"));
	char longest[101];
	memset(longest, 'a', 100);
	longest[100] = '\0';
	assert_true(webchat_assets_valid_widget_id(longest));
}

static void test_invalid_widget_ids(void **state)
{
	(void)state;
	assert_false(webchat_assets_valid_widget_id(""));
	char too_long[102];
	memset(too_long, 'a', 101);
	too_long[101] = '\0';
	assert_false(webchat_assets_valid_widget_id(too_long));
	const char *bad[] = {"a b", "a\"b",  "a'b",  "<script>",      "a&b",
			     "a/b", "a%20b", "a\tb", "a\nb",          "é",
			     "a=b", "a?b",   "a>b",  "{{WIDGET_ID}}", "\"onload=x"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (webchat_assets_valid_widget_id(bad[i]))
			fail_msg("accepted %s", bad[i]);
	}
}

static void test_html_escape(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char in[] = "<a href=\"x\" title='y'>&amp;</a> ok";
	webchat_assets_html_escape(&sb, in, sizeof in - 1);
	assert_string_equal(strbuf_str(&sb),
			    "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/"
			    "a&gt; ok");
	strbuf_free(&sb);
}

static void test_render_substitutes_every_placeholder(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char tpl[] = "<p data-w=\"{{WIDGET_ID}}\">{{WIDGET_ID}}</p>{{WIDGET_I}}{";
	webchat_assets_render_demo(&sb, tpl, sizeof tpl - 1, "shop-1");
	assert_string_equal(strbuf_str(&sb), "<p data-w=\"shop-1\">shop-1</p>{{WIDGET_I}}{");
	strbuf_free(&sb);
}

static void test_render_escapes_the_id(void **state)
{
	(void)state;
	/* The handler validates first; the escape is the second fence. */
	struct strbuf sb = STRBUF_INIT;
	const char tpl[] = "<script data-widget=\"{{WIDGET_ID}}\"></script>";
	webchat_assets_render_demo(&sb, tpl, sizeof tpl - 1, "x\" onload=\"alert(1)");
	assert_string_equal(strbuf_str(&sb),
			    "<script data-widget=\"x&quot; onload=&quot;alert(1)\"></script>");
	strbuf_free(&sb);
}

static void test_embedded_demo_has_the_placeholder_in_the_script_tag(void **state)
{
	(void)state;
	size_t len;
	const char *html = webchat_assets_demo_html(&len);
	assert_true(len > 100);
	struct strbuf sb = STRBUF_INIT;
	webchat_assets_render_demo(&sb, html, len, "abc.DEF_1-2");
	assert_non_null(
	    strstr(strbuf_str(&sb), "src=\"/webchat/v1/widget.js\" data-widget=\"abc.DEF_1-2\""));
	assert_null(strstr(strbuf_str(&sb), "{{WIDGET_ID}}"));
	/* No inline script: the page's CSP allows only parley's own. */
	assert_null(strstr(strbuf_str(&sb), "<script>"));
	strbuf_free(&sb);
}

static void test_embedded_widget_is_the_script(void **state)
{
	(void)state;
	size_t len;
	const char *js = webchat_assets_widget_js(&len);
	assert_true(len > 1000);
	assert_int_equal(memchr(js, '\0', len), NULL);
	struct strbuf sb = STRBUF_INIT;
	strbuf_append(&sb, js, len);
	assert_non_null(strstr(strbuf_str(&sb), "/webchat/v1/sessions"));
	/* Text goes in as text: the file never assigns innerHTML. */
	assert_null(strstr(strbuf_str(&sb), "innerHTML"));
	assert_null(strstr(strbuf_str(&sb), "insertAdjacentHTML"));
	strbuf_free(&sb);
}

static void test_etag(void **state)
{
	(void)state;
	char a[19], b[19], c[19];
	webchat_assets_etag("hello", 5, a);
	webchat_assets_etag("hello", 5, b);
	webchat_assets_etag("hellp", 5, c);
	assert_int_equal(strlen(a), 18);
	assert_int_equal(a[0], '"');
	assert_int_equal(a[17], '"');
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	/* SHA-256("hello") starts 2cf24dba5fb0a30e. */
	assert_string_equal(a, "\"2cf24dba5fb0a30e\"");
}

static void test_etag_matches(void **state)
{
	(void)state;
	const char *e = "\"2cf24dba5fb0a30e\"";
	const char *match[] = {"\"2cf24dba5fb0a30e\"", "W/\"2cf24dba5fb0a30e\"",
			       "\"old\", \"2cf24dba5fb0a30e\" ", " \"old\" ,W/\"2cf24dba5fb0a30e\"",
			       "*"};
	for (size_t i = 0; i < sizeof match / sizeof match[0]; i++)
		assert_true(webchat_assets_etag_matches(match[i], e));
	const char *other[] = {NULL, "", "\"old\"", "2cf24dba5fb0a30e", "\"2cf24dba5fb0a30e",
			       ", ,"};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
		assert_false(webchat_assets_etag_matches(other[i], e));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid_widget_ids),
    cmocka_unit_test(test_invalid_widget_ids),
    cmocka_unit_test(test_html_escape),
    cmocka_unit_test(test_render_substitutes_every_placeholder),
    cmocka_unit_test(test_render_escapes_the_id),
    cmocka_unit_test(test_embedded_demo_has_the_placeholder_in_the_script_tag),
    cmocka_unit_test(test_embedded_widget_is_the_script),
    cmocka_unit_test(test_etag),
    cmocka_unit_test(test_etag_matches),
};
UNIT_MAIN(tests)
