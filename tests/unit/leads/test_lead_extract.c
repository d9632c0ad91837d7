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
#include "lead_extract.h"
#include "xalloc.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/leads/lead_extract.c"

/* ---- helpers ------------------------------------------------------------ */

/* A complete, valid answer as the model writes it. */
static cJSON *valid_answer(void)
{
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "name", "Ana Souza");
	cJSON_AddStringToObject(a, "email", "ana@padariaboa.example");
	cJSON_AddStringToObject(a, "company", "Padaria Boa");
	cJSON_AddStringToObject(a, "intent", "Three POS terminals for a new shop.");
	cJSON_AddStringToObject(a, "intent_level", "High");
	cJSON_AddStringToObject(a, "urgency_level", "Medium");
	cJSON_AddStringToObject(a, "budget_constraint", "Yes");
	cJSON_AddStringToObject(a, "fit_alignment", "High");
	cJSON_AddStringToObject(a, "engagement_health", "Low");
	cJSON_AddStringToObject(a, "cta_pricing_clicked", "Yes");
	cJSON_AddStringToObject(a, "cta_demo_clicked", "No");
	cJSON_AddStringToObject(a, "cta_followup_clicked", "Yes");
	cJSON_AddStringToObject(a, "cta_sample_clicked", "No");
	cJSON_AddStringToObject(a, "cta_website_clicked", "No");
	cJSON_AddStringToObject(a, "cta_escalated_to_human", "No");
	cJSON *r = cJSON_AddObjectToObject(a, "reasoning");
	cJSON_AddStringToObject(r, "intent", "Asked for a quote for three terminals.");
	cJSON_AddStringToObject(r, "urgency", "Opens next month.");
	cJSON_AddStringToObject(r, "budget", "Accepted the price.");
	cJSON_AddStringToObject(r, "fit", "Exactly what we sell.");
	cJSON_AddStringToObject(r, "engagement", "Short answers.");
	cJSON_AddStringToObject(a, "smart_notification",
				"Ana from Padaria Boa wants three terminals. Send her the quote.");
	cJSON_AddNullToObject(a, "notes");
	return a;
}

/* The valid answer as the JSON text the model writes; caller frees. */
static char *answer_text(void)
{
	cJSON *a = valid_answer();
	char *s = cJSON_PrintUnformatted(a);
	cJSON_Delete(a);
	return s;
}

/* A Response object whose output_text is text. */
static char *response_with_text(const char *text)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "id", "resp_1");
	cJSON_AddStringToObject(root, "object", "response");
	cJSON_AddStringToObject(root, "status", "completed");
	cJSON *out = cJSON_AddArrayToObject(root, "output");
	cJSON *rs = cJSON_CreateObject();
	cJSON_AddStringToObject(rs, "type", "reasoning");
	cJSON_AddItemToArray(out, rs);
	cJSON *msg = cJSON_CreateObject();
	cJSON_AddStringToObject(msg, "type", "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	cJSON *content = cJSON_AddArrayToObject(msg, "content");
	cJSON *part = cJSON_CreateObject();
	cJSON_AddStringToObject(part, "type", "output_text");
	cJSON_AddStringToObject(part, "text", text);
	cJSON_AddItemToArray(content, part);
	cJSON_AddItemToArray(out, msg);
	char *s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return s;
}

/* Parses a response carrying answer (consumed). */
static enum lead_outcome parse_answer(cJSON *answer, struct lead *l, const char **why,
				      const char **field)
{
	char *text = cJSON_PrintUnformatted(answer);
	cJSON_Delete(answer);
	char *body = response_with_text(text);
	enum lead_outcome o = lead_extract_parse(body, strlen(body), l, why, field);
	free(body);
	free(text);
	return o;
}

static enum lead_outcome parse_body(const char *body, struct lead *l, const char **why)
{
	const char *field;
	return lead_extract_parse(body, strlen(body), l, why, &field);
}

/* Expects answer to be refused as invalid, naming want_field. */
static void expect_invalid(cJSON *answer, const char *want_field, const char *want_why)
{
	struct lead l;
	const char *why, *field;
	assert_int_equal(parse_answer(answer, &l, &why, &field), LEAD_INVALID);
	assert_non_null(why);
	if (want_field)
		assert_string_equal(field, want_field);
	if (want_why)
		assert_non_null(strstr(why, want_why));
	/* Nothing is left to free on failure. */
	assert_null(l.name);
	assert_null(l.reasoning);
	assert_null(l.smart_notification);
}

static char *repeat(const char *unit, size_t n)
{
	size_t u = strlen(unit);
	char *s = xmalloc(u * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * u, unit, u);
	s[u * n] = '\0';
	return s;
}

/* ---- the request -------------------------------------------------------- */

static void assert_schema_enum(const cJSON *props, const char *name, const char *want)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(props, name);
	assert_non_null(p);
	char *got = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(p, "enum"));
	assert_string_equal(got, want);
	free(got);
}

/* Strict mode: every object lists all its properties as required and
 * allows no others. */
static void check_strict_object(const cJSON *o)
{
	assert_string_equal(cJSON_GetObjectItem(o, "type")->valuestring, "object");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "additionalProperties")));
	const cJSON *props = cJSON_GetObjectItem(o, "properties");
	const cJSON *req = cJSON_GetObjectItem(o, "required");
	assert_int_equal(cJSON_GetArraySize(props), cJSON_GetArraySize(req));
	const cJSON *p;
	int i = 0;
	cJSON_ArrayForEach(p, props)
	{
		assert_string_equal(cJSON_GetArrayItem(req, i)->valuestring, p->string);
		const cJSON *t = cJSON_GetObjectItem(p, "type");
		if (cJSON_IsString(t) && strcmp(t->valuestring, "object") == 0)
			check_strict_object(p);
		i++;
	}
}

static void test_request_builtin_instructions(void **state)
{
	(void)state;
	struct lead_message msgs[] = {{true, "Hi, I'm Ana", NULL, false},
				      {false, "Hello Ana!", NULL, false},
				      {true, "", NULL, false}};
	char *body = lead_extract_request("", "", msgs, 3);
	cJSON *j = cJSON_Parse(body);
	assert_non_null(j);
	assert_null(cJSON_GetObjectItem(j, "model"));
	assert_null(cJSON_GetObjectItem(j, "prompt"));
	assert_null(cJSON_GetObjectItem(j, "conversation"));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "store")));
	assert_string_equal(cJSON_GetObjectItem(j, "instructions")->valuestring, INSTRUCTIONS);
	cJSON *input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(input, 0), "role")->valuestring,
			    "user");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(input, 1), "role")->valuestring,
			    "assistant");
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(input, 1), "content")->valuestring,
	    "Hello Ana!");
	/* An empty message still makes a valid input item. */
	assert_true(
	    strlen(cJSON_GetObjectItem(cJSON_GetArrayItem(input, 2), "content")->valuestring) > 0);

	cJSON *fmt = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "text"), "format");
	assert_string_equal(cJSON_GetObjectItem(fmt, "type")->valuestring, "json_schema");
	assert_string_equal(cJSON_GetObjectItem(fmt, "name")->valuestring, "lead");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(fmt, "strict")));
	cJSON *schema = cJSON_GetObjectItem(fmt, "schema");
	check_strict_object(schema);
	cJSON *props = cJSON_GetObjectItem(schema, "properties");
	/* Exactly the seed's CHECK lists. */
	const char *lmh = "[\"Low\",\"Medium\",\"High\"]";
	assert_schema_enum(props, "intent_level", lmh);
	assert_schema_enum(props, "urgency_level", lmh);
	assert_schema_enum(props, "fit_alignment", lmh);
	assert_schema_enum(props, "engagement_health", lmh);
	assert_schema_enum(props, "budget_constraint", "[\"Yes\",\"No\",\"Maybe\"]");
	for (int i = 0; i < LEAD_N_CTA; i++)
		assert_schema_enum(props, lead_cta_names[i], "[\"Yes\",\"No\"]");
	/* Scores, total and tag are parley's, never the model's. */
	assert_null(cJSON_GetObjectItem(props, "total_score"));
	assert_null(cJSON_GetObjectItem(props, "lead_status_tag"));
	assert_null(cJSON_GetObjectItem(props, "intent_score"));
	char *nullable = cJSON_PrintUnformatted(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(props, "email"), "type"));
	assert_string_equal(nullable, "[\"string\",\"null\"]");
	free(nullable);
	cJSON_Delete(j);
	free(body);

	/* The format alone is the same object. */
	cJSON *fj = format_object();
	body = lead_extract_request(NULL, NULL, msgs, 1);
	j = cJSON_Parse(body);
	fmt = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "text"), "format");
	assert_true(cJSON_Compare(fj, fmt, true));
	cJSON_Delete(fj);
	cJSON_Delete(j);
	free(body);
}

static void test_request_stored_prompt_and_model(void **state)
{
	(void)state;
	struct lead_message msgs[] = {{true, "Hi", NULL, false}};
	char *body = lead_extract_request("pmpt_leads", "gpt-4.1-mini", msgs, 1);
	cJSON *j = cJSON_Parse(body);
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(j, "prompt"), "id")->valuestring, "pmpt_leads");
	assert_null(cJSON_GetObjectItem(j, "instructions"));
	assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "gpt-4.1-mini");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "store")));
	assert_null(cJSON_GetObjectItem(j, "conversation"));
	assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "text"), "format"));
	cJSON_Delete(j);
	free(body);
}

static void test_request_transcript_is_bounded(void **state)
{
	(void)state;
	enum { N = 100 };
	struct lead_message msgs[N];
	char *big = repeat("é", 3000); /* 6000 bytes: over the per-message cap */
	char *texts[N];
	for (int i = 0; i < N; i++) {
		texts[i] = xasprintf("message %d %s", i, big);
		msgs[i] = (struct lead_message){i % 2 == 0, texts[i], NULL, false};
	}
	char *body = lead_extract_request("", "m", msgs, N);
	assert_true(strlen(body) < LEAD_TRANSCRIPT_MAX_BYTES + 20000);
	cJSON *j = cJSON_Parse(body);
	cJSON *input = cJSON_GetObjectItem(j, "input");
	int n = cJSON_GetArraySize(input);
	assert_true(n > 1 && n < N);
	/* The latest messages are the ones kept, in order. */
	const char *last =
	    cJSON_GetObjectItem(cJSON_GetArrayItem(input, n - 1), "content")->valuestring;
	assert_int_equal(strncmp(last, "message 99 ", 11), 0);
	/* Cut on a character boundary and marked. */
	size_t len = strlen(last);
	assert_true(len <= LEAD_MESSAGE_MAX_BYTES + 3);
	assert_string_equal(last + len - 3, "…");
	assert_true(((unsigned char)last[len - 4] & 0xC0) != 0xC0 ||
		    (unsigned char)last[len - 4] < 0x80);
	cJSON_Delete(j);
	free(body);
	for (int i = 0; i < N; i++)
		free(texts[i]);
	free(big);

	/* One message bigger than everything is still sent (cut). */
	char *huge = repeat("x", 200000);
	struct lead_message one = {true, huge, NULL, false};
	body = lead_extract_request("", "m", &one, 1);
	j = cJSON_Parse(body);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "input")), 1);
	cJSON_Delete(j);
	free(body);
	free(huge);
}

/* The ad a message came from is a developer item of its own just before
 * it; the customer's words are untouched. */
static void test_request_ad_context(void **state)
{
	(void)state;
	struct lead_message msgs[] = {
	    {true, "Is this offer still valid?", "Ad context: came from ad 1: \"Winter sale\"",
	     false},
	    {false, "Yes!", NULL, false},
	    {true, "Great", NULL, false},
	};
	char *body = lead_extract_request("", "", msgs, 3);
	cJSON *j = cJSON_Parse(body);
	cJSON *input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 4);
	const char *want[][2] = {
	    {"developer", "Ad context: came from ad 1: \"Winter sale\""},
	    {"user", "Is this offer still valid?"},
	    {"assistant", "Yes!"},
	    {"user", "Great"},
	};
	for (int i = 0; i < 4; i++) {
		cJSON *it = cJSON_GetArrayItem(input, i);
		assert_string_equal(cJSON_GetObjectItem(it, "role")->valuestring, want[i][0]);
		assert_string_equal(cJSON_GetObjectItem(it, "content")->valuestring, want[i][1]);
	}
	assert_non_null(strstr(INSTRUCTIONS, "Ad context"));
	cJSON_Delete(j);
	free(body);

	/* The ad counts towards the transcript's bound: a message whose ad does
	 * not fit any more is left out with its ad. */
	enum { N = 40 };
	struct lead_message many[N];
	char *big = repeat("a", 3000);
	for (int i = 0; i < N; i++)
		many[i] = (struct lead_message){true, big, big, false};
	body = lead_extract_request("", "m", many, N);
	j = cJSON_Parse(body);
	input = cJSON_GetObjectItem(j, "input");
	int n = cJSON_GetArraySize(input);
	assert_int_equal(n % 2, 0);
	assert_true(n / 2 * 6000 <= LEAD_TRANSCRIPT_MAX_BYTES);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(input, 0), "role")->valuestring,
			    "developer");
	cJSON_Delete(j);
	free(body);
	free(big);
}

/* A person's message is marked; the handoff note comes after the transcript. */
static void test_request_person_and_handoff(void **state)
{
	(void)state;
	struct lead_message msgs[] = {
	    {.from_customer = true, .text = "I want a real person"},
	    {.from_customer = false, .text = "A colleague will follow up."},
	    {.from_customer = false, .text = "Hi, Bo here.", .by_person = true},
	};
	char *note = lead_handoff_note(true, "infinity", "wants a person");
	assert_string_equal(note, "Handoff: the assistant handed this conversation to a person at "
				  "the business. The assistant is paused until a person resumes "
				  "it. Reason: wants a person");
	char *body = lead_extract_request_with("", "", msgs, 3, note);
	cJSON *j = cJSON_Parse(body);
	cJSON *input = cJSON_GetObjectItem(j, "input");
	assert_int_equal(cJSON_GetArraySize(input), 4);
	const char *want[][2] = {
	    {"user", "I want a real person"},
	    {"assistant", "A colleague will follow up."},
	    {"assistant", LEAD_PERSON_PREFIX " Hi, Bo here."},
	    {"developer", note},
	};
	for (int i = 0; i < 4; i++) {
		cJSON *it = cJSON_GetArrayItem(input, i);
		assert_string_equal(cJSON_GetObjectItem(it, "role")->valuestring, want[i][0]);
		assert_string_equal(cJSON_GetObjectItem(it, "content")->valuestring, want[i][1]);
	}
	assert_non_null(strstr(INSTRUCTIONS, "Handoff"));
	assert_non_null(strstr(INSTRUCTIONS, LEAD_PERSON_PREFIX));
	cJSON_Delete(j);
	free(body);
	free(note);

	/* Nothing to tell: no note, and the request is as before. */
	assert_null(lead_handoff_note(false, NULL, NULL));
	body = lead_extract_request_with("", "", msgs, 2, NULL);
	char *plain = lead_extract_request("", "", msgs, 2);
	assert_string_equal(body, plain);
	free(body);
	free(plain);

	note = lead_handoff_note(false, "2026-12-06 23:00:00", NULL);
	assert_string_equal(note, "Handoff: a person at the business took this conversation over. "
				  "The assistant is paused until 2026-12-06 23:00:00 UTC.");
	free(note);
	note = lead_handoff_note(true, NULL, NULL);
	assert_string_equal(note, "Handoff: the assistant handed this conversation to a person at "
				  "the business. The assistant answers again.");
	free(note);
}

/* ---- scores ------------------------------------------------------------- */

static void test_score_mapping(void **state)
{
	(void)state;
	assert_int_equal(lead_level_score("Low"), 1);
	assert_int_equal(lead_level_score("Medium"), 2);
	assert_int_equal(lead_level_score("High"), 3);
	assert_int_equal(lead_level_score("No"), 1);
	assert_int_equal(lead_level_score("Maybe"), 2);
	assert_int_equal(lead_level_score("Yes"), 3);
	assert_int_equal(lead_level_score("high"), 0);
	assert_int_equal(lead_level_score(""), 0);
	assert_int_equal(lead_level_score(NULL), 0);

	assert_string_equal(lead_status_tag(15), "Hot");
	assert_string_equal(lead_status_tag(12), "Hot");
	assert_string_equal(lead_status_tag(11), "Warm");
	assert_string_equal(lead_status_tag(8), "Warm");
	assert_string_equal(lead_status_tag(7), "Cold");
	assert_string_equal(lead_status_tag(5), "Cold");
}

/* ---- valid answers ------------------------------------------------------ */

static void test_valid_answer(void **state)
{
	(void)state;
	struct lead l;
	const char *why, *field;
	assert_int_equal(parse_answer(valid_answer(), &l, &why, &field), LEAD_OK);
	assert_null(why);
	assert_string_equal(l.name, "Ana Souza");
	assert_string_equal(l.email, "ana@padariaboa.example");
	assert_string_equal(l.company, "Padaria Boa");
	assert_null(l.notes);
	assert_string_equal(l.intent_level, "High");
	assert_int_equal(l.intent_score, 3);
	assert_int_equal(l.urgency_score, 2);
	assert_int_equal(l.budget_score, 3);
	assert_int_equal(l.fit_score, 3);
	assert_int_equal(l.engagement_score, 1);
	assert_int_equal(l.total_score, 12);
	assert_string_equal(l.tag, "Hot");
	assert_true(l.cta[0]);  /* pricing */
	assert_false(l.cta[1]); /* demo */
	assert_true(l.cta[2]);  /* follow-up */
	cJSON *r = cJSON_Parse(l.reasoning);
	assert_int_equal(cJSON_GetArraySize(r), 5);
	assert_string_equal(cJSON_GetObjectItem(r, "budget")->valuestring, "Accepted the price.");
	cJSON_Delete(r);

	char *json = lead_to_json(&l);
	cJSON *j = cJSON_Parse(json);
	assert_int_equal(cJSON_GetObjectItem(j, "total_score")->valueint, 12);
	assert_string_equal(cJSON_GetObjectItem(j, "lead_status_tag")->valuestring, "Hot");
	assert_string_equal(cJSON_GetObjectItem(j, "cta_followup_clicked")->valuestring, "Yes");
	assert_string_equal(cJSON_GetObjectItem(j, "cta_escalated_to_human")->valuestring, "No");
	assert_int_equal(cJSON_GetObjectItem(j, "engagement_score")->valueint, 1);
	assert_true(cJSON_IsObject(cJSON_GetObjectItem(j, "reasoning")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "notes")));
	cJSON_Delete(j);
	free(json);

	/* An escalated conversation's lead says so, whatever the model said. */
	lead_mark_escalated(&l);
	json = lead_to_json(&l);
	j = cJSON_Parse(json);
	assert_string_equal(cJSON_GetObjectItem(j, "cta_escalated_to_human")->valuestring, "Yes");
	assert_string_equal(cJSON_GetObjectItem(j, "cta_demo_clicked")->valuestring, "No");
	assert_int_equal(cJSON_GetObjectItem(j, "total_score")->valueint, 12);
	cJSON_Delete(j);
	free(json);
	lead_free(&l);
}

static void test_total_and_tags_from_levels(void **state)
{
	(void)state;
	static const struct {
		const char *i, *u, *b, *f, *e;
		int total;
		const char *tag;
	} cases[] = {
	    {"Low", "Low", "No", "Low", "Low", 5, "Cold"},
	    {"Medium", "Low", "No", "Low", "Medium", 7, "Cold"},
	    {"Medium", "Medium", "No", "Low", "Medium", 8, "Warm"},
	    {"High", "Medium", "Maybe", "Medium", "Medium", 11, "Warm"},
	    {"High", "High", "Maybe", "Medium", "Medium", 12, "Hot"},
	    {"High", "High", "Yes", "High", "High", 15, "Hot"},
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		cJSON *a = valid_answer();
		cJSON_ReplaceItemInObject(a, "intent_level", cJSON_CreateString(cases[c].i));
		cJSON_ReplaceItemInObject(a, "urgency_level", cJSON_CreateString(cases[c].u));
		cJSON_ReplaceItemInObject(a, "budget_constraint", cJSON_CreateString(cases[c].b));
		cJSON_ReplaceItemInObject(a, "fit_alignment", cJSON_CreateString(cases[c].f));
		cJSON_ReplaceItemInObject(a, "engagement_health", cJSON_CreateString(cases[c].e));
		/* A score the model slips in is ignored, never trusted. */
		cJSON_AddNumberToObject(a, "total_score", 15);
		cJSON_AddStringToObject(a, "lead_status_tag", "Hot");
		struct lead l;
		const char *why, *field;
		assert_int_equal(parse_answer(a, &l, &why, &field), LEAD_OK);
		assert_int_equal(l.total_score, cases[c].total);
		assert_string_equal(l.tag, cases[c].tag);
		lead_free(&l);
	}
}

static void test_normalised_values(void **state)
{
	(void)state;
	cJSON *a = valid_answer();
	cJSON_ReplaceItemInObject(a, "name", cJSON_CreateString("  Ana  "));
	cJSON_ReplaceItemInObject(a, "company", cJSON_CreateString("   "));
	cJSON_ReplaceItemInObject(a, "email", cJSON_CreateString("not given"));
	cJSON_ReplaceItemInObject(a, "intent", cJSON_CreateNull());
	cJSON_ReplaceItemInObject(a, "notes", cJSON_CreateString("Line one\nline two"));
	cJSON_ReplaceItemInObject(
	    a, "smart_notification",
	    cJSON_CreateString("Ana wants 3.5 kg of flour. Call her today! She also asked "
			       "about shipping? And more."));
	struct lead l;
	const char *why, *field;
	assert_int_equal(parse_answer(a, &l, &why, &field), LEAD_OK);
	assert_string_equal(l.name, "Ana");
	assert_null(l.company);
	assert_null(l.email);
	assert_null(l.intent);
	assert_string_equal(l.notes, "Line one\nline two");
	assert_string_equal(l.smart_notification, "Ana wants 3.5 kg of flour. Call her today!");
	lead_free(&l);

	static const char *const bad_emails[] = {"ana@",      "@x.com",     "ana@x",
						 "a b@x.com", "ana@x..com", "a@b@c.com",
						 "ana@.com",  "ana@x.com."};
	for (size_t i = 0; i < sizeof bad_emails / sizeof bad_emails[0]; i++) {
		a = valid_answer();
		cJSON_ReplaceItemInObject(a, "email", cJSON_CreateString(bad_emails[i]));
		assert_int_equal(parse_answer(a, &l, &why, &field), LEAD_OK);
		assert_null(l.email);
		lead_free(&l);
	}

	/* 255 characters of two bytes each fit VARCHAR(255). */
	char *name = repeat("ç", 255);
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "name", cJSON_CreateString(name));
	assert_int_equal(parse_answer(a, &l, &why, &field), LEAD_OK);
	assert_string_equal(l.name, name);
	lead_free(&l);
	free(name);
}

/* ---- hostile answers ---------------------------------------------------- */

static void test_every_missing_field_is_invalid(void **state)
{
	(void)state;
	cJSON *ref = valid_answer();
	const cJSON *f;
	cJSON_ArrayForEach(f, ref)
	{
		cJSON *a = valid_answer();
		cJSON_DeleteItemFromObject(a, f->string);
		expect_invalid(a, f->string, "missing");
	}
	cJSON_Delete(ref);

	cJSON *a = valid_answer();
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(a, "reasoning"), "fit");
	expect_invalid(a, "reasoning.fit", "missing");
}

static void test_wrong_enums(void **state)
{
	(void)state;
	static const struct {
		const char *field, *value;
	} cases[] = {
	    {"intent_level", "high"},
	    {"intent_level", "Extreme"},
	    {"urgency_level", ""},
	    {"budget_constraint", "Low"},
	    {"fit_alignment", "Maybe"},
	    {"engagement_health", "HIGH"},
	    {"cta_demo_clicked", "Maybe"},
	    {"cta_pricing_clicked", "yes"},
	    {"cta_escalated_to_human", "True"},
	    {"intent_level", "High "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cJSON *a = valid_answer();
		cJSON_ReplaceItemInObject(a, cases[i].field, cJSON_CreateString(cases[i].value));
		expect_invalid(a, cases[i].field, "allowed");
	}
}

static void test_wrong_types(void **state)
{
	(void)state;
	static const char *const text_fields[] = {"name",
						  "email",
						  "intent_level",
						  "budget_constraint",
						  "cta_sample_clicked",
						  "reasoning",
						  "smart_notification"};
	for (size_t i = 0; i < sizeof text_fields / sizeof text_fields[0]; i++) {
		cJSON *a = valid_answer();
		cJSON_ReplaceItemInObject(a, text_fields[i], cJSON_CreateNumber(3));
		expect_invalid(a, text_fields[i], "type");
		a = valid_answer();
		cJSON_ReplaceItemInObject(a, text_fields[i], cJSON_CreateArray());
		expect_invalid(a, text_fields[i], "type");
		a = valid_answer();
		cJSON_ReplaceItemInObject(a, text_fields[i], cJSON_CreateTrue());
		expect_invalid(a, text_fields[i], "type");
	}
	/* null only where the schema allows it */
	cJSON *a = valid_answer();
	cJSON_ReplaceItemInObject(a, "intent_level", cJSON_CreateNull());
	expect_invalid(a, "intent_level", "type");
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "smart_notification", cJSON_CreateNull());
	expect_invalid(a, "smart_notification", "type");
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "reasoning", cJSON_CreateString("because"));
	expect_invalid(a, "reasoning", "type");
	a = valid_answer();
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(a, "reasoning"), "urgency",
				  cJSON_CreateNumber(1));
	expect_invalid(a, "reasoning.urgency", "type");
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "smart_notification", cJSON_CreateString(" \n "));
	expect_invalid(a, "smart_notification", "blank");
}

static void test_huge_and_bad_strings(void **state)
{
	(void)state;
	static const struct {
		const char *field;
		size_t over;
	} cases[] = {{"name", 256},    {"email", 256},  {"company", 256},
		     {"intent", 2001}, {"notes", 2001}, {"smart_notification", 601}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *s = repeat("a", cases[i].over);
		cJSON *a = valid_answer();
		cJSON_ReplaceItemInObject(a, cases[i].field, cJSON_CreateString(s));
		expect_invalid(a, cases[i].field, "longer");
		free(s);
	}
	char *s = repeat("b", 1001);
	cJSON *a = valid_answer();
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(a, "reasoning"), "intent",
				  cJSON_CreateString(s));
	expect_invalid(a, "reasoning.intent", "longer");
	free(s);

	/* A megabyte in one field: refused, nothing kept. */
	s = repeat("x", 1 << 20);
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "company", cJSON_CreateString(s));
	expect_invalid(a, "company", "longer");
	free(s);

	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "name", cJSON_CreateString("Ana\x07"));
	expect_invalid(a, "name", "control");
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "company", cJSON_CreateString("Padaria\nBoa"));
	expect_invalid(a, "company", "control");
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "name", cJSON_CreateString("Ana \xff\xfe"));
	expect_invalid(a, "name", "UTF-8");
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "intent", cJSON_CreateString("\xed\xa0\x80 surrogate"));
	expect_invalid(a, "intent", "UTF-8");
	a = valid_answer();
	cJSON_ReplaceItemInObject(a, "intent", cJSON_CreateString("\xc0\xaf overlong"));
	expect_invalid(a, "intent", "UTF-8");
}

static void test_refusal_and_statuses(void **state)
{
	(void)state;
	struct lead l;
	const char *why;
	/* A refusal wins even when some text came with it. */
	const char *refusal =
	    "{\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"content\":["
	    "{\"type\":\"output_text\",\"text\":\"{}\"},"
	    "{\"type\":\"refusal\",\"refusal\":\"I can't help with that.\"}]}]}";
	assert_int_equal(parse_body(refusal, &l, &why), LEAD_REFUSED);
	assert_string_equal(why, "the model refused");

	/* incomplete: the JSON may be cut off, whatever the text says */
	char *answer = answer_text();
	char *body = response_with_text(answer);
	cJSON *root = cJSON_Parse(body);
	free(body);
	cJSON_ReplaceItemInObject(root, "status", cJSON_CreateString("incomplete"));
	body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	assert_int_equal(parse_body(body, &l, &why), LEAD_INCOMPLETE);
	free(body);
	free(answer);

	assert_int_equal(parse_body("{\"status\":\"failed\",\"error\":{\"code\":\"server_error\"},"
				    "\"output\":[]}",
				    &l, &why),
			 LEAD_RETRYABLE);
	assert_int_equal(
	    parse_body("{\"status\":\"failed\",\"error\":{\"code\":\"invalid_prompt\"},"
		       "\"output\":[]}",
		       &l, &why),
	    LEAD_FAILED);
	assert_int_equal(parse_body("{\"status\":\"in_progress\",\"output\":[]}", &l, &why),
			 LEAD_FAILED);
	assert_int_equal(parse_body("not json at all", &l, &why), LEAD_FAILED);
	assert_int_equal(parse_body("[1,2]", &l, &why), LEAD_FAILED);
	assert_int_equal(parse_body("", &l, &why), LEAD_FAILED);
	assert_int_equal(parse_body("{\"status\":\"completed\",\"output\":[]}", &l, &why),
			 LEAD_INVALID);
	assert_string_equal(why, "response has no output text");
	assert_int_equal(parse_body("{\"status\":\"completed\",\"output\":\"x\"}", &l, &why),
			 LEAD_INVALID);
	/* Only message items count: a function call carrying JSON is not an answer. */
	assert_int_equal(parse_body("{\"status\":\"completed\",\"output\":[{\"type\":"
				    "\"function_call\",\"arguments\":\"{}\"}]}",
				    &l, &why),
			 LEAD_INVALID);
	assert_string_equal(lead_outcome_name(LEAD_REFUSED), "refused");
	assert_string_equal(lead_outcome_name(LEAD_INVALID), "invalid");
}

static void test_not_json_and_truncated(void **state)
{
	(void)state;
	struct lead l;
	const char *why, *field;
	static const char *const texts[] = {
	    "Sure! Here is the lead: Ana, High intent.",
	    "[]",
	    "\"a string\"",
	    "42",
	    "null",
	    "{\"name\": \"Ana\", \"intent_level\": \"Hi",
	    "{\"name\": \"Ana\"",
	    "{",
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		char *body = response_with_text(texts[i]);
		assert_int_equal(lead_extract_parse(body, strlen(body), &l, &why, &field),
				 LEAD_INVALID);
		assert_string_equal(why, "answer is not a JSON object");
		free(body);
	}

	/* The valid answer cut anywhere is never accepted. */
	char *answer = answer_text();
	size_t len = strlen(answer);
	for (size_t cut = 0; cut < len; cut += 7) {
		char *part = xstrndup(answer, cut);
		char *body = response_with_text(part);
		assert_int_not_equal(lead_extract_parse(body, strlen(body), &l, &why, &field),
				     LEAD_OK);
		free(body);
		free(part);
	}
	/* The whole body cut anywhere is never accepted either, and never crashes. */
	char *body = response_with_text(answer);
	size_t blen = strlen(body);
	for (size_t cut = 0; cut < blen; cut += 5)
		assert_int_not_equal(lead_extract_parse(body, cut, &l, &why, &field), LEAD_OK);
	assert_int_equal(lead_extract_parse(body, blen, &l, &why, &field), LEAD_OK);
	lead_free(&l);
	free(body);
	free(answer);

	/* Text split over two output_text parts is joined first. */
	answer = answer_text();
	size_t half = strlen(answer) / 2;
	char *a = xstrndup(answer, half);
	cJSON *root = cJSON_Parse(body = response_with_text(a));
	free(body);
	cJSON *content = cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(root, "output"), 1), "content");
	cJSON *part = cJSON_CreateObject();
	cJSON_AddStringToObject(part, "type", "output_text");
	cJSON_AddStringToObject(part, "text", answer + half);
	cJSON_AddItemToArray(content, part);
	body = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	assert_int_equal(lead_extract_parse(body, strlen(body), &l, &why, &field), LEAD_OK);
	lead_free(&l);
	free(body);
	free(a);
	free(answer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_builtin_instructions),
	    cmocka_unit_test(test_request_stored_prompt_and_model),
	    cmocka_unit_test(test_request_transcript_is_bounded),
	    cmocka_unit_test(test_request_ad_context),
	    cmocka_unit_test(test_request_person_and_handoff),
	    cmocka_unit_test(test_score_mapping),
	    cmocka_unit_test(test_valid_answer),
	    cmocka_unit_test(test_total_and_tags_from_levels),
	    cmocka_unit_test(test_normalised_values),
	    cmocka_unit_test(test_every_missing_field_is_invalid),
	    cmocka_unit_test(test_wrong_enums),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_huge_and_bad_strings),
	    cmocka_unit_test(test_refusal_and_statuses),
	    cmocka_unit_test(test_not_json_and_truncated),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
