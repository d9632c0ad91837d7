#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "meta_parse.h"

/*
 * Bodies are written with ' for " so they stay readable; q() swaps them back.
 * (Texts that need an apostrophe use \u0027.)
 */
#define WA_HEAD                                                                                    \
	"{'object':'whatsapp_business_account','entry':[{'id':'102290129340398','changes':[{"      \
	"'field':'messages','value':{'messaging_product':'whatsapp','metadata':{"                  \
	"'display_phone_number':'15550001111','phone_number_id':'106540352242922'},"
#define WA_TAIL    "}}]}]}"
#define WA_CONTACT "'contacts':[{'profile':{'name':'Anna de Vries'},'wa_id':'31612345678'}],"
#define WA_MSG(fields)                                                                             \
	WA_HEAD WA_CONTACT "'messages':[{'from':'31612345678','id':'wamid.T1',"                    \
			   "'timestamp':'1750000000'," fields "}]" WA_TAIL
#define WA_STATUS(fields) WA_HEAD "'statuses':[{" fields "}]" WA_TAIL

#define IG_ACC  "17841400000000001"
#define IG_CUST "5551234567890001"
#define IG_EVENT(fields)                                                                           \
	"{'object':'instagram','entry':[{'time':1750000000500,'id':'" IG_ACC "','messaging':[{"    \
	"'sender':{'id':'" IG_CUST "'},'recipient':{'id':'" IG_ACC "'},"                           \
	"'timestamp':1750000000123," fields "}]}]}"

static char *q(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/* Parses a '-quoted body that must be accepted. */
static void parse_ok(const char *body_q, struct meta_batch *b)
{
	char *body = q(body_q);
	const char *err = meta_parse(body, strlen(body), b);
	free(body);
	if (err)
		fail_msg("meta_parse: %s", err);
}

static const char *parse_raw(const char *body, size_t len, struct meta_batch *b)
{
	return meta_parse(body, len, b);
}

static const struct meta_message *only_message(const struct meta_batch *b)
{
	assert_int_equal(b->n_messages, 1);
	assert_int_equal(b->n_statuses, 0);
	return &b->messages[0];
}

static const struct meta_status *only_status(const struct meta_batch *b)
{
	assert_int_equal(b->n_statuses, 1);
	assert_int_equal(b->n_messages, 0);
	return &b->statuses[0];
}

/* The WhatsApp text of a one-message body. */
static void expect_wa(const char *body_q, const char *kind, const char *text, bool needs_reply)
{
	struct meta_batch b;
	parse_ok(body_q, &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, kind);
	assert_string_equal(m->text, text);
	assert_int_equal(m->needs_reply, needs_reply);
	assert_string_equal(m->platform_message_id, "wamid.T1");
	meta_batch_free(&b);
}

static void expect_ig(const char *body_q, const char *kind, const char *text, bool needs_reply)
{
	struct meta_batch b;
	parse_ok(body_q, &b);
	const struct meta_message *m = only_message(&b);
	assert_int_equal(m->platform, PLATFORM_INSTAGRAM);
	assert_string_equal(m->kind, kind);
	assert_string_equal(m->text, text);
	assert_int_equal(m->needs_reply, needs_reply);
	meta_batch_free(&b);
}

static bool has_note(const struct meta_batch *b, const char *needle)
{
	for (size_t i = 0; i < b->n_notes; i++)
		if (strstr(b->notes[i], needle))
			return true;
	return false;
}

/* Independent of the parser's own validator: well-formed UTF-8, no NUL. */
static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		size_t n;
		unsigned cp;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

static void assert_batch_clean(const struct meta_batch *b)
{
	for (size_t i = 0; i < b->n_messages; i++) {
		const struct meta_message *m = &b->messages[i];
		assert_non_null(m->text);
		assert_true(valid_utf8(m->text));
		assert_true(strlen(m->text) <= META_TEXT_MAX);
		assert_non_null(m->channel_id);
		assert_non_null(m->customer_id);
		assert_non_null(m->platform_message_id);
		assert_non_null(m->kind);
		if (m->profile_name)
			assert_true(valid_utf8(m->profile_name));
	}
	for (size_t i = 0; i < b->n_notes; i++)
		assert_true(valid_utf8(b->notes[i]));
}

/* ---- names ---- */

static void test_status_names_and_rank(void **state)
{
	(void)state;
	assert_string_equal(meta_status_name(DELIVERY_PENDING), "pending");
	assert_string_equal(meta_status_name(DELIVERY_SENT), "sent");
	assert_string_equal(meta_status_name(DELIVERY_DELIVERED), "delivered");
	assert_string_equal(meta_status_name(DELIVERY_READ), "read");
	assert_string_equal(meta_status_name(DELIVERY_FAILED), "failed");
	assert_true(DELIVERY_PENDING < DELIVERY_SENT && DELIVERY_SENT < DELIVERY_DELIVERED &&
		    DELIVERY_DELIVERED < DELIVERY_READ);
}

/* ---- WhatsApp messages ---- */

static void test_wa_text(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'type':'text','text':{'body':'Do you deliver to Utrecht?'}"), &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(b.object, "whatsapp_business_account");
	assert_int_equal(m->platform, PLATFORM_WHATSAPP);
	assert_string_equal(m->channel_id, "106540352242922");
	assert_string_equal(m->customer_id, "31612345678");
	assert_string_equal(m->platform_message_id, "wamid.T1");
	assert_string_equal(m->kind, "text");
	assert_string_equal(m->text, "Do you deliver to Utrecht?");
	assert_string_equal(m->profile_name, "Anna de Vries");
	assert_null(m->reply_to);
	assert_null(m->target_message_id);
	assert_true(m->timestamp_ms == 1750000000000LL);
	assert_true(m->needs_reply);
	assert_false(m->is_echo);
	assert_int_equal(b.n_notes, 0);
	meta_batch_free(&b);
}

static void test_wa_text_unicode_escapes(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'text','text':{'body':'caf\\u00e9 \\ud83d\\ude00 a\\/b'}"), "text",
		  "caf\xc3\xa9 \xf0\x9f\x98\x80 a/b", true);
}

static void test_wa_reply_context(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'context':{'from':'15550001111','id':'wamid.OUT1'},'type':'text',"
			"'text':{'body':'Yes please'}"),
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->reply_to, "wamid.OUT1");
	assert_string_equal(m->text, "Yes please");
	meta_batch_free(&b);
}

static void test_wa_image(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'image','image':{'caption':'Is this the right part?',"
			 "'mime_type':'image/jpeg','sha256':'abc','id':'1003383421387256'}"),
		  "image", "[image] Is this the right part?", true);
	expect_wa(WA_MSG("'type':'image','image':{'mime_type':'image/jpeg','id':'1'}"), "image",
		  "[image]", true);
	expect_wa(WA_MSG("'type':'image','image':{'caption':'','id':'1'}"), "image", "[image]",
		  true);
}

static void test_wa_video(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'video','video':{'caption':'Unboxing','id':'2'}"), "video",
		  "[video] Unboxing", true);
}

static void test_wa_audio_and_voice(void **state)
{
	(void)state;
	expect_wa(
	    WA_MSG("'type':'audio','audio':{'mime_type':'audio/mpeg','id':'3','voice':false}"),
	    "audio", "[audio]", true);
	expect_wa(WA_MSG("'type':'audio','audio':{'mime_type':'audio/ogg; codecs=opus','id':'3',"
			 "'voice':true}"),
		  "voice", "[voice]", true);
	expect_wa(WA_MSG("'type':'voice','voice':{'id':'3'}"), "voice", "[voice]", true);
}

static void test_wa_document(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'document','document':{'filename':'invoice.pdf','id':'4'}"),
		  "document", "[document] invoice.pdf", true);
	expect_wa(WA_MSG("'type':'document','document':{'filename':'invoice.pdf',"
			 "'caption':'March invoice','id':'4'}"),
		  "document", "[document] invoice.pdf \xe2\x80\x94 March invoice", true);
	expect_wa(WA_MSG("'type':'document','document':{'caption':'scan','id':'4'}"), "document",
		  "[document] scan", true);
}

static void test_wa_sticker(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'sticker','sticker':{'mime_type':'image/webp','id':'5',"
			 "'animated':true}"),
		  "sticker", "[sticker]", true);
}

static void test_wa_location(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'location','location':{'latitude':52.37,'longitude':4.89,"
			 "'name':'Central Station','address':'Stationsplein 1, Amsterdam'}"),
		  "location", "[location] 52.37,4.89 Central Station, Stationsplein 1, Amsterdam",
		  true);
	expect_wa(WA_MSG("'type':'location','location':{'latitude':-33.8688197,"
			 "'longitude':151.2092955}"),
		  "location", "[location] -33.8688197,151.2092955", true);
	/* An address that repeats the name is shown once. */
	expect_wa(WA_MSG("'type':'location','location':{'latitude':1,'longitude':2,"
			 "'name':'Beach','address':'Beach, Main St'}"),
		  "location", "[location] 1,2 Beach, Main St", true);
	expect_wa(WA_MSG("'type':'location','location':{'latitude':'x','longitude':2}"), "location",
		  "[location]", true);
}

static void test_wa_contacts(void **state)
{
	(void)state;
	expect_wa(
	    WA_MSG("'type':'contacts','contacts':[{'name':{'formatted_name':'Jan Jansen',"
		   "'first_name':'Jan'},'phones':[{'phone':'+31 6 1111 2222','type':'CELL'}]}]"),
	    "contacts", "[contacts] Jan Jansen +31 6 1111 2222", true);
	expect_wa(WA_MSG("'type':'contacts','contacts':[{'name':{'first_name':'Piet',"
			 "'last_name':'Bos'},'phones':[{'phone':'+31 6 1'},{'wa_id':'3162'}]},"
			 "{'name':{'formatted_name':'Els'}},{'org':{}}]"),
		  "contacts", "[contacts] Piet Bos +31 6 1, 3162; Els", true);
	expect_wa(WA_MSG("'type':'contacts','contacts':{}"), "contacts", "[contacts]", true);
}

static void test_wa_interactive_button_reply(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'context':{'from':'15550001111','id':'wamid.OUT2'},'type':'interactive',"
			"'interactive':{'type':'button_reply','button_reply':{'id':'btn-yes',"
			"'title':'Yes, book it'}}"),
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "interactive");
	assert_string_equal(m->text, "Yes, book it");
	assert_string_equal(m->reply_to, "wamid.OUT2");
	assert_true(m->needs_reply);
	meta_batch_free(&b);
}

static void test_wa_interactive_list_reply(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'interactive','interactive':{'type':'list_reply','list_reply':{"
			 "'id':'express','title':'Express delivery','description':'Next day'}}"),
		  "interactive", "Express delivery", true);
	expect_wa(WA_MSG("'type':'interactive','interactive':{'type':'list_reply','list_reply':{"
			 "'id':'express'}}"),
		  "interactive", "express", true);
	expect_wa(WA_MSG("'type':'interactive','interactive':{'type':'list_reply'}"), "interactive",
		  "[list reply]", true);
}

static void test_wa_interactive_form(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'interactive','interactive':{'type':'nfm_reply','nfm_reply':{"
			 "'name':'flow','body':'Sent','response_json':'{\\'flow_token\\':\\'tok\\',"
			 "\\'name\\':\\'Anna\\',\\'guests\\':4,\\'vegan\\':true,"
			 "\\'days\\':[\\'mon\\',\\'tue\\']}'}}"),
		  "interactive", "[form] name: Anna, guests: 4, vegan: yes, days: mon/tue", true);
	/* response_json that is not an object: fall back to the body. */
	expect_wa(WA_MSG("'type':'interactive','interactive':{'type':'nfm_reply','nfm_reply':{"
			 "'body':'Sent','response_json':'[1,2]'}}"),
		  "interactive", "[form] Sent", true);
	expect_wa(WA_MSG("'type':'interactive','interactive':{'type':'nfm_reply','nfm_reply':{"
			 "'response_json':'{not json'}}"),
		  "interactive", "[form]", true);
}

static void test_wa_interactive_other(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'interactive','interactive':{'type':'call_permission_reply'}"),
		  "interactive", "[interactive]", true);
	expect_wa(WA_MSG("'type':'interactive'"), "interactive", "[interactive]", true);
}

static void test_wa_button(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'context':{'from':'15550001111','id':'wamid.TPL1'},'type':'button',"
			"'button':{'payload':'STOP_PROMOS','text':'Stop promotions'}"),
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "button");
	assert_string_equal(m->text, "Stop promotions");
	assert_string_equal(m->reply_to, "wamid.TPL1");
	meta_batch_free(&b);
	expect_wa(WA_MSG("'type':'button','button':{'payload':'P1'}"), "button", "P1", true);
}

static void test_wa_reaction(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'type':'reaction','reaction':{'message_id':'wamid.OUT1',"
			"'emoji':'\\ud83d\\udc4d'}"),
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "reaction");
	assert_string_equal(m->text, "[reaction] \xf0\x9f\x91\x8d");
	assert_string_equal(m->target_message_id, "wamid.OUT1");
	assert_false(m->needs_reply);
	meta_batch_free(&b);
}

static void test_wa_reaction_removed(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'reaction','reaction':{'message_id':'wamid.OUT1','emoji':''}"),
		  "reaction", "[reaction removed]", false);
	expect_wa(WA_MSG("'type':'reaction','reaction':{'message_id':'wamid.OUT1'}"), "reaction",
		  "[reaction removed]", false);
}

static void test_wa_order(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'order','order':{'catalog_id':'1','text':'Gift wrap please',"
			 "'product_items':[{'product_retailer_id':'SKU-1','quantity':2,"
			 "'item_price':9.5,'currency':'EUR'},{'product_retailer_id':'SKU-2',"
			 "'quantity':1,'item_price':20,'currency':'EUR'}]}"),
		  "order", "[order] 3 items: 2 x SKU-1, 1 x SKU-2 \xe2\x80\x94 Gift wrap please",
		  true);
	expect_wa(WA_MSG("'type':'order','order':{'product_items':[{'product_retailer_id':'A',"
			 "'quantity':'many'}]}"),
		  "order", "[order] 1 item: 1 x A", true);
	expect_wa(WA_MSG("'type':'order','order':{}"), "order", "[order] 0 items", true);
}

/* The one message of a '-quoted body, parsed into *b (caller frees *b). */
static const struct meta_message *one(const char *body_q, struct meta_batch *b)
{
	parse_ok(body_q, b);
	return only_message(b);
}

/* docs/protocol.md, WhatsApp: the text stays exactly as sent; the ad is kept
 * beside it. */
static void test_wa_referral(void **state)
{
	(void)state;
	struct meta_batch b;
	const struct meta_message *m = one(
	    WA_MSG("'referral':{'source_url':'https://fb.me/abc','source_id':'1',"
		   "'source_type':'ad','body':'Spring sale: 20% off','headline':'Chat with us',"
		   "'media_type':'image','image_url':'https://x/i.jpg','video_url':'https://x/v',"
		   "'thumbnail_url':'https://x/t','ctwa_clid':'ARAkLk',"
		   "'welcome_message':{'text':'Hi there!'}},'type':'text',"
		   "'text':{'body':'Is the sale still on?'}"),
	    &b);
	assert_string_equal(m->kind, "text");
	assert_string_equal(m->text, "Is the sale still on?");
	assert_true(m->needs_reply);
	const struct meta_referral *r = m->referral;
	assert_non_null(r);
	assert_string_equal(r->source_type, "ad");
	assert_string_equal(r->source_id, "1");
	assert_string_equal(r->source_url, "https://fb.me/abc");
	assert_string_equal(r->headline, "Chat with us");
	assert_string_equal(r->body, "Spring sale: 20% off");
	assert_string_equal(r->media_type, "image");
	assert_string_equal(r->image_url, "https://x/i.jpg");
	assert_string_equal(r->video_url, "https://x/v");
	assert_string_equal(r->thumbnail_url, "https://x/t");
	assert_string_equal(r->ctwa_clid, "ARAkLk");
	assert_string_equal(r->welcome_message, "Hi there!");
	assert_null(r->title);
	assert_null(r->ref);
	meta_batch_free(&b);

	m = one(WA_MSG("'referral':{'source_url':'https://fb.me/abc'},'type':'text',"
		       "'text':{'body':'Hi'}"),
		&b);
	assert_string_equal(m->text, "Hi");
	assert_string_equal(m->referral->source_url, "https://fb.me/abc");
	assert_null(m->referral->headline);
	meta_batch_free(&b);

	/* An image from an ad: the readable line is the image's, nothing added. */
	m = one(WA_MSG("'referral':{'source_type':'ad','headline':'H'},'type':'image',"
		       "'image':{'id':'1','caption':'this one'}"),
		&b);
	assert_string_equal(m->text, "[image] this one");
	assert_string_equal(m->referral->headline, "H");
	meta_batch_free(&b);

	m = one(WA_MSG("'type':'text','text':{'body':'No ad'}"), &b);
	assert_null(m->referral);
	meta_batch_free(&b);

	/* "Message business" on a product: the text as sent, the product beside it. */
	m = one(WA_MSG("'context':{'from':'15550001111','id':'wamid.P','referred_product':{"
		       "'catalog_id':'1','product_retailer_id':'SKU-9'}},'type':'text',"
		       "'text':{'body':'In stock?'}"),
		&b);
	assert_string_equal(m->text, "In stock?");
	assert_non_null(m->referral);
	assert_string_equal(m->referral->source_type, "product");
	assert_string_equal(m->referral->source_id, "SKU-9");
	assert_string_equal(m->referral->catalog_id, "1");
	meta_batch_free(&b);
	m = one(WA_MSG("'context':{'referred_product':{'product_retailer_id':{}}},'type':'text',"
		       "'text':{'body':'In stock?'}"),
		&b);
	assert_string_equal(m->text, "In stock?");
	assert_null(m->referral);
	meta_batch_free(&b);
}

/* A '-quoted WA text message "Hi" whose referral is value (JSON text). Caller frees. */
static char *wa_with_referral_value(const char *value)
{
	size_t n =
	    sizeof(WA_MSG("'referral':%s,'type':'text','text':{'body':'Hi'}")) + strlen(value);
	char *out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, WA_MSG("'referral':%s,'type':'text','text':{'body':'Hi'}"), value);
	return out;
}

/* The same with the referral object {fields}. */
static char *wa_with_referral(const char *fields)
{
	size_t n = strlen(fields) + 3;
	char *obj = malloc(n);
	assert_non_null(obj);
	snprintf(obj, n, "{%s}", fields);
	char *out = wa_with_referral_value(obj);
	free(obj);
	return out;
}

/* Hostile referral shapes never fail the message, never alter its text. */
static void test_wa_referral_wrong_types(void **state)
{
	(void)state;
	struct meta_batch b;
	const char *not_objects[] = {"'ad'",
				     "[1,2]",
				     "7",
				     "{}",
				     "{'headline':'','body':null}",
				     "{'headline':{'x':1},'source_url':[1],'body':true}"};
	for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
		char *body = wa_with_referral_value(not_objects[i]);
		const struct meta_message *m = one(body, &b);
		free(body);
		assert_string_equal(m->text, "Hi");
		assert_null(m->referral);
		assert_true(has_note(&b, "referral without usable fields ignored"));
		meta_batch_free(&b);
	}
	/* A number where Meta sends a string id is still that id, unless it is
	 * too big for a double to hold exactly (it would name another ad); a
	 * number where text belongs is dropped; the rest stays. */
	const struct meta_message *m =
	    one(WA_MSG("'referral':{'source_id':120000000000000001,'ctwa_clid':4503599627370497,'"
		       "headline':5,"
		       "'source_type':'ad','welcome_message':'not an object'},"
		       "'type':'text','text':{'body':'Hi'}"),
		&b);
	assert_non_null(m->referral);
	assert_null(m->referral->source_id);
	assert_string_equal(m->referral->ctwa_clid, "4503599627370497");
	assert_null(m->referral->headline);
	assert_null(m->referral->welcome_message);
	assert_string_equal(m->referral->source_type, "ad");
	meta_batch_free(&b);
}

/* Huge values are cut at a character boundary with "…"; control characters
 * in one-line values become blanks; the ad's body keeps its line breaks. */
static void test_wa_referral_huge_and_control(void **state)
{
	(void)state;
	size_t big = 300000;
	char *fields = malloc(3 * big + 200);
	assert_non_null(fields);
	/* headline: "é" repeated (2 bytes each); source_url: 'u' repeated */
	strcpy(fields, "'headline':'");
	size_t o = strlen(fields);
	for (size_t i = 0; i < big / 2; i++) {
		fields[o++] = '\xc3';
		fields[o++] = '\xa9';
	}
	strcpy(fields + o, "','source_url':'https://");
	o += strlen(fields + o);
	memset(fields + o, 'u', big);
	o += big;
	strcpy(fields + o, "','body':'line 1\\nline 2','source_type':'a\\tb\\u0000c'");
	char *body = wa_with_referral(fields);
	struct meta_batch b;
	const struct meta_message *m = one(body, &b);
	assert_string_equal(m->text, "Hi");
	const struct meta_referral *r = m->referral;
	assert_non_null(r);
	assert_true(strlen(r->headline) <= META_REFERRAL_TEXT_MAX);
	assert_true(strlen(r->headline) > META_REFERRAL_TEXT_MAX - 8);
	assert_true(valid_utf8(r->headline));
	assert_string_equal(r->headline + strlen(r->headline) - 3, "\xe2\x80\xa6");
	assert_true(strlen(r->source_url) <= META_REFERRAL_URL_MAX);
	assert_true(strlen(r->source_url) > META_REFERRAL_URL_MAX - 8);
	assert_string_equal(r->body, "line 1\nline 2");
	assert_string_equal(r->source_type, "a bc");
	meta_batch_free(&b);
	free(body);
	free(fields);
}

/* Invalid UTF-8 in a referral is repaired like any text, never passed on. */
static void test_wa_referral_invalid_utf8(void **state)
{
	(void)state;
	char *body = wa_with_referral("'headline':'a\xff"
				      "b','source_type':'ad'");
	struct meta_batch b;
	parse_ok(body, &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->referral->headline, "a\xef\xbf\xbd"
						   "b");
	meta_batch_free(&b);
	free(body);
}

/* The names and the getter cover every field, in declaration order. */
static void test_referral_fields_table(void **state)
{
	(void)state;
	struct meta_referral r = {
	    .source_type = "st",
	    .source_id = "si",
	    .source_url = "su",
	    .headline = "h",
	    .title = "t",
	    .body = "b",
	    .media_type = "mt",
	    .image_url = "iu",
	    .video_url = "vu",
	    .thumbnail_url = "tu",
	    .ctwa_clid = "cc",
	    .welcome_message = "wm",
	    .ref = "r",
	    .catalog_id = "ci",
	};
	const char *want[][2] = {
	    {"source_type", "st"}, {"source_id", "si"},
	    {"source_url", "su"},  {"headline", "h"},
	    {"title", "t"},        {"body", "b"},
	    {"media_type", "mt"},  {"image_url", "iu"},
	    {"video_url", "vu"},   {"thumbnail_url", "tu"},
	    {"ctwa_clid", "cc"},   {"welcome_message", "wm"},
	    {"ref", "r"},          {"catalog_id", "ci"},
	};
	assert_int_equal(sizeof(want) / sizeof(want[0]), META_REFERRAL_FIELDS);
	for (size_t i = 0; i < META_REFERRAL_FIELDS; i++) {
		assert_string_equal(meta_referral_names[i], want[i][0]);
		assert_string_equal(meta_referral_get(&r, i), want[i][1]);
	}
	assert_null(meta_referral_get(&r, META_REFERRAL_FIELDS));
	assert_null(meta_referral_get(NULL, 0));
}

static void test_wa_system(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'system','system':{'body':'User Anna changed from 31612345678 to "
			 "31699999999','wa_id':'31699999999','type':'user_changed_number'}"),
		  "system", "[system] User Anna changed from 31612345678 to 31699999999", false);
	expect_wa(WA_MSG("'type':'system','system':{'type':'customer_identity_changed'}"), "system",
		  "[system] customer_identity_changed", false);
	expect_wa(WA_MSG("'type':'system'"), "system", "[system]", false);
}

static void test_wa_edit(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'type':'edit','edit':{'original_message_id':'wamid.ORIG',"
			"'message':{'type':'text','text':{'body':'Tuesday, not Monday'}}}"),
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "edit");
	assert_string_equal(m->text, "[edited] Tuesday, not Monday");
	assert_string_equal(m->target_message_id, "wamid.ORIG");
	assert_false(m->needs_reply);
	meta_batch_free(&b);
	expect_wa(WA_MSG("'type':'edit','edit':{'original_message_id':'wamid.ORIG','message':{"
			 "'type':'image','image':{'caption':'new caption','id':'9'}}}"),
		  "edit", "[edited] [image] new caption", false);
	/* An edit of an edit is not followed further. */
	expect_wa(WA_MSG("'type':'edit','edit':{'message':{'type':'edit','edit':{'message':{"
			 "'type':'text','text':{'body':'deep'}}}}}"),
		  "edit", "[edited] [edited]", false);
}

static void test_wa_revoke(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'type':'revoke','revoke':{'original_message_id':'wamid.ORIG'}"), &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "revoke");
	assert_string_equal(m->text, "[message deleted]");
	assert_string_equal(m->target_message_id, "wamid.ORIG");
	assert_false(m->needs_reply);
	meta_batch_free(&b);
}

static void test_wa_unsupported(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'unsupported','unsupported':{'type':'poll'},'errors':[{"
			 "'code':131051,'title':'Message type unknown'}]"),
		  "unsupported", "[unsupported]", true);
	/* The older shape of the same thing. */
	expect_wa(WA_MSG("'type':'unknown','errors':[{'code':131051,'details':'not supported',"
			 "'title':'Unsupported message type'}]"),
		  "unsupported", "[unsupported]", true);
}

static void test_wa_unknown_type(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'hologram','hologram':{}"), "unknown", "[unknown type: hologram]",
		  true);
	expect_wa(WA_MSG("'text':{'body':'no type'}"), "unknown", "[unknown type]", true);
	expect_wa(WA_MSG("'type':7"), "unknown", "[unknown type]", true);
	expect_wa(WA_MSG("'type':'a\\nb'"), "unknown", "[unknown type: a b]", true);
}

static void test_wa_request_welcome(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'request_welcome'"), "request_welcome", "[chat opened]", true);
}

static void test_wa_profile_names_by_wa_id(void **state)
{
	(void)state;
	struct meta_batch b;
	/* contacts[] deliberately in the other order than messages[]. */
	parse_ok(WA_HEAD "'contacts':[{'profile':{'name':'Bram'},'wa_id':'31687654321'},"
			 "{'profile':{'name':'Anna'},'wa_id':'31612345678'}],'messages':["
			 "{'from':'31612345678','id':'wamid.A','timestamp':'1','type':'text','text'"
			 ":{'body':'a'}},"
			 "{'from':'31687654321','id':'wamid.B','timestamp':'2','type':'text','text'"
			 ":{'body':'b'}},"
			 "{'from':'31600000000','id':'wamid.C','timestamp':'3','type':'text','text'"
			 ":{'body':'c'}}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_messages, 3);
	assert_string_equal(b.messages[0].profile_name, "Anna");
	assert_string_equal(b.messages[1].profile_name, "Bram");
	assert_null(b.messages[2].profile_name);
	meta_batch_free(&b);
}

static void test_wa_profile_name_cleaned(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD
		 "'contacts':[{'profile':{'name':'Anna\\n\\u0007X'},'wa_id':'31612345678'}],"
		 "'messages':[{'from':'31612345678','id':'wamid.A','type':'text',"
		 "'text':{'body':'a'}}]" WA_TAIL,
		 &b);
	assert_string_equal(only_message(&b)->profile_name, "Anna  X");
	meta_batch_free(&b);
}

static void test_wa_bsuid_sender(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD "'contacts':[{'profile':{'name':'Kim','username':'@kim'},"
			 "'user_id':'US.13491208655302741918'}],'messages':[{'from':'',"
			 "'from_user_id':'US.13491208655302741918','id':'wamid.U','timestamp':'1',"
			 "'type':'text','text':{'body':'hi'}}]" WA_TAIL,
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->customer_id, "US.13491208655302741918");
	assert_string_equal(m->profile_name, "Kim");
	meta_batch_free(&b);
}

static void test_wa_phone_preferred_over_bsuid(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD "'messages':[{'from':'31612345678','from_user_id':'US.1','id':'wamid.U',"
			 "'type':'text','text':{'body':'hi'}}]" WA_TAIL,
		 &b);
	assert_string_equal(only_message(&b)->customer_id, "31612345678");
	meta_batch_free(&b);
}

static void test_wa_sole_contact_is_sender(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD "'contacts':[{'profile':{'name':'Kim'},'user_id':'US.77'}],'messages':["
			 "{'id':'wamid.U','type':'text','text':{'body':'hi'}}]" WA_TAIL,
		 &b);
	assert_string_equal(only_message(&b)->customer_id, "US.77");
	meta_batch_free(&b);
}

static void test_wa_missing_sender_skipped(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    WA_HEAD
	    "'contacts':[{'wa_id':'1'},{'wa_id':'2'}],'messages':["
	    "{'id':'wamid.U','type':'text','text':{'body':'hi'}},"
	    "{'from':'','id':'wamid.V','type':'text','text':{'body':'hi'}},"
	    "{'from':'31612345678','id':'wamid.W','type':'text','text':{'body':'ok'}}]" WA_TAIL,
	    &b);
	assert_int_equal(b.n_messages, 1);
	assert_string_equal(b.messages[0].platform_message_id, "wamid.W");
	assert_true(has_note(&b, "wamid.U without a valid sender"));
	assert_true(has_note(&b, "wamid.V without a valid sender"));
	meta_batch_free(&b);
}

static void test_wa_missing_id_skipped(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    WA_HEAD
	    "'messages':[{'from':'31612345678','type':'text','text':{'body':'x'}},"
	    "{'from':'31612345678','id':'','type':'text','text':{'body':'x'}},"
	    "{'from':'31612345678','id':7,'type':'text','text':{'body':'x'}},"
	    "{'from':'31612345678','id':'wamid.OK','type':'text','text':{'body':'y'}}]" WA_TAIL,
	    &b);
	assert_int_equal(b.n_messages, 1);
	assert_string_equal(b.messages[0].text, "y");
	assert_int_equal(b.n_notes, 3);
	assert_true(has_note(&b, "without a valid id"));
	meta_batch_free(&b);
}

static void test_wa_bad_ids_skipped(void **state)
{
	(void)state;
	char longid[META_ID_MAX + 2];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	char *body;
	assert_true(asprintf(&body,
			     WA_HEAD
			     "'messages':[{'from':'31612345678','id':'wamid with space',"
			     "'type':'text'},{'from':'316\\n1','id':'wamid.X','type':'text'},"
			     "{'from':'31612345678','id':'%s','type':'text'},"
			     "{'from':'31612345678','id':'wamid.\\u00e9','type':'text'}]" WA_TAIL,
			     longid) > 0);
	struct meta_batch b;
	parse_ok(body, &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.n_notes, 4);
	meta_batch_free(&b);
	free(body);
}

static void test_wa_timestamps(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD
		 "'messages':["
		 "{'from':'1','id':'a','timestamp':'1750000000','type':'text'},"
		 "{'from':'1','id':'b','timestamp':1750000001,'type':'text'},"
		 "{'from':'1','id':'c','timestamp':'asdf','type':'text'},"
		 "{'from':'1','id':'d','timestamp':'-5','type':'text'},"
		 "{'from':'1','id':'e','timestamp':'99999999999999999999999','type':'text'},"
		 "{'from':'1','id':'f','timestamp':-1e308,'type':'text'},"
		 "{'from':'1','id':'g','type':'text'},"
		 "{'from':'1','id':'h','timestamp':{},'type':'text'}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_messages, 8);
	assert_true(b.messages[0].timestamp_ms == 1750000000000LL);
	assert_true(b.messages[1].timestamp_ms == 1750000001000LL);
	for (size_t i = 2; i < 8; i++)
		assert_true(b.messages[i].timestamp_ms == 0);
	meta_batch_free(&b);
}

static void test_wa_duplicate_delivery_kept(void **state)
{
	(void)state;
	/* Dedupe is storage's job (on the id); the parser reports both faithfully. */
	struct meta_batch b;
	parse_ok(WA_HEAD
		 "'messages':[{'from':'1','id':'wamid.D','type':'text','text':{'body':'x'}},"
		 "{'from':'1','id':'wamid.D','type':'text','text':{'body':'x'}}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_messages, 2);
	assert_string_equal(b.messages[0].platform_message_id, b.messages[1].platform_message_id);
	meta_batch_free(&b);
}

/* ---- WhatsApp statuses ---- */

static void test_wa_status_values(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    WA_HEAD
	    "'statuses':["
	    "{'id':'wamid.S','status':'sent','timestamp':'1750000010','recipient_id':'31612345678',"
	    "'pricing':{'billable':true,'pricing_model':'PMP','category':'service'}},"
	    "{'id':'wamid.S','status':'delivered','timestamp':'1750000011','recipient_id':'"
	    "31612345678'},"
	    "{'id':'wamid.S','status':'read','timestamp':'1750000012','recipient_id':'31612345678'}"
	    ","
	    "{'id':'wamid.S','status':'played','timestamp':'1750000013','recipient_id':'"
	    "31612345678'},"
	    "{'id':'wamid.S','status':'failed','timestamp':'1750000014','recipient_id':'"
	    "31612345678'}]" WA_TAIL,
	    &b);
	assert_int_equal(b.n_statuses, 5);
	assert_int_equal(b.n_messages, 0);
	const enum delivery_status want[] = {DELIVERY_SENT, DELIVERY_DELIVERED, DELIVERY_READ,
					     DELIVERY_READ, DELIVERY_FAILED};
	for (size_t i = 0; i < 5; i++) {
		const struct meta_status *s = &b.statuses[i];
		assert_int_equal(s->status, want[i]);
		assert_int_equal(s->platform, PLATFORM_WHATSAPP);
		assert_string_equal(s->channel_id, "106540352242922");
		assert_string_equal(s->platform_message_id, "wamid.S");
		assert_string_equal(s->recipient_id, "31612345678");
		assert_true(s->timestamp_ms == 1750000010000LL + 1000LL * (long long)i);
		assert_null(s->error_code);
	}
	meta_batch_free(&b);
}

static void test_wa_status_failed_errors(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_STATUS("'id':'wamid.F','status':'failed','timestamp':'1750000020',"
			   "'recipient_id':'31612345678','errors':[{'code':131047,"
			   "'title':'Re-engagement message','message':'Re-engagement message',"
			   "'error_data':{'details':'More than 24 hours have passed.'},"
			   "'href':'https://developers.facebook.com/'}]"),
		 &b);
	const struct meta_status *s = only_status(&b);
	assert_int_equal(s->status, DELIVERY_FAILED);
	assert_string_equal(s->error_code, "131047");
	assert_string_equal(s->error_title, "Re-engagement message");
	assert_string_equal(s->error_detail, "More than 24 hours have passed.");
	meta_batch_free(&b);
}

static void test_wa_status_error_variants(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD
		 "'statuses':["
		 "{'id':'a','status':'failed','errors':[{'code':'131026','message':'Undeliverable',"
		 "'details':'old shape'}]},"
		 "{'id':'b','status':'failed','errors':[]},"
		 "{'id':'c','status':'failed','errors':'x'},"
		 "{'id':'d','status':'failed','errors':[{'code':1.5,'title':{}}]}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_statuses, 4);
	assert_string_equal(b.statuses[0].error_code, "131026");
	assert_string_equal(b.statuses[0].error_title, "Undeliverable");
	assert_string_equal(b.statuses[0].error_detail, "old shape");
	assert_null(b.statuses[1].error_code);
	assert_null(b.statuses[2].error_code);
	assert_string_equal(b.statuses[3].error_code, "1.5");
	assert_null(b.statuses[3].error_title);
	meta_batch_free(&b);
}

static void test_wa_status_unknown_values_skipped(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD
		 "'statuses':[{'id':'a','status':'deleted'},{'id':'b','status':'warning'},"
		 "{'id':'c','status':'in_orbit'},{'id':'d'},{'id':'e','status':7},"
		 "{'status':'read'},{'id':'f','status':'READ'},{'id':'g','status':'read'}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_statuses, 1);
	assert_string_equal(b.statuses[0].platform_message_id, "g");
	assert_true(has_note(&b, "status \"deleted\" for a ignored"));
	assert_true(has_note(&b, "status without a valid id"));
	assert_int_equal(b.n_notes, 7);
	meta_batch_free(&b);
}

static void test_wa_status_recipient_user_id(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_STATUS("'id':'wamid.S','status':'delivered','timestamp':'1',"
			   "'recipient_user_id':'US.42'"),
		 &b);
	assert_string_equal(only_status(&b)->recipient_id, "US.42");
	meta_batch_free(&b);
	parse_ok(WA_STATUS("'id':'wamid.S','status':'delivered'"), &b);
	assert_null(only_status(&b)->recipient_id);
	meta_batch_free(&b);
}

static void test_wa_value_errors(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD
		 "'errors':[{'code':130429,'title':'Rate limit hit','message':'Rate limit hit',"
		 "'error_data':{'details':'Too many messages'}},{'code':0,'title':'Auth'}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.n_statuses, 0);
	assert_int_equal(b.n_notes, 2);
	assert_true(has_note(&b, "130429 Rate limit hit: Too many messages"));
	assert_true(has_note(&b, "106540352242922"));
	assert_true(has_note(&b, "error 0 Auth"));
	meta_batch_free(&b);
}

static void test_wa_other_fields_ignored(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok("{'object':'whatsapp_business_account','entry':[{'id':'1','changes':["
		 "{'field':'message_template_status_update','value':{'event':'APPROVED'}},"
		 "{'field':'account_update','value':{'event':'VERIFIED_ACCOUNT'}}]}]}",
		 &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.n_notes, 2);
	assert_true(has_note(&b, "field \"message_template_status_update\" ignored"));
	meta_batch_free(&b);
}

static void test_wa_missing_phone_number_id(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    "{'object':'whatsapp_business_account','entry':[{'id':'1','changes':[{'field':"
	    "'messages','value':{'metadata':{'display_phone_number':'15550001111'},'messages':["
	    "{'from':'1','id':'a','type':'text'},{'from':'1','id':'b','type':'text'}],"
	    "'statuses':[{'id':'c','status':'sent'}]}}]}]}",
	    &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.n_statuses, 0);
	assert_true(has_note(&b, "2 messages, 1 statuses skipped"));
	meta_batch_free(&b);
}

static void test_wa_messages_and_statuses_in_one_value(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD "'messages':[{'from':'1','id':'m','type':'text','text':{'body':'x'}}],"
			 "'statuses':[{'id':'s','status':'read'}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_messages, 1);
	assert_int_equal(b.n_statuses, 1);
	meta_batch_free(&b);
}

static void test_wa_batch(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    "{'object':'whatsapp_business_account','entry':["
	    "{'id':'102290129340398','changes':["
	    "{'field':'messages','value':{'metadata':{'phone_number_id':'106540352242922'},"
	    "'contacts':[{'profile':{'name':'Anna'},'wa_id':'31612345678'},"
	    "{'profile':{'name':'Bram'},'wa_id':'31687654321'}],'messages':["
	    "{'from':'31612345678','id':'wamid.B1','timestamp':'1750000100','type':'text','text':{'"
	    "body':'one'}},"
	    "{'from':'31687654321','id':'wamid.B2','timestamp':'1750000101','type':'text','text':{'"
	    "body':'two'}},"
	    "{'from':'31612345678','id':'wamid.B3','timestamp':'1750000102','type':'reaction',"
	    "'reaction':{'message_id':'wamid.OUT1','emoji':'\\u2764\\ufe0f'}}]}},"
	    "{'field':'messages','value':{'metadata':{'phone_number_id':'106540352242922'},"
	    "'statuses':[{'id':'wamid.OUT1','status':'read','timestamp':'1750000099'}]}}]},"
	    "{'id':'419561257915477','changes':["
	    "{'field':'messages','value':{'metadata':{'phone_number_id':'555000111222333'},"
	    "'statuses':[{'id':'wamid.OUT9','status':'delivered'}],'messages':["
	    "{'from':'447700900123','id':'wamid.B4','type':'text','text':{'body':'four'}}]}}]}]}",
	    &b);
	assert_int_equal(b.n_messages, 4);
	assert_int_equal(b.n_statuses, 2);
	assert_string_equal(b.messages[0].text, "one");
	assert_string_equal(b.messages[1].text, "two");
	assert_string_equal(b.messages[1].profile_name, "Bram");
	assert_string_equal(b.messages[2].kind, "reaction");
	assert_string_equal(b.messages[3].channel_id, "555000111222333");
	assert_string_equal(b.statuses[0].platform_message_id, "wamid.OUT1");
	assert_string_equal(b.statuses[1].channel_id, "555000111222333");
	assert_int_equal(b.n_notes, 0);
	meta_batch_free(&b);
}

static void test_wa_thousand_messages(void **state)
{
	(void)state;
	size_t cap = 200 * 1000 + 1024, len = 0;
	char *body = malloc(cap);
	len +=
	    (size_t)snprintf(body + len, cap - len,
			     "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{"
			     "\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":"
			     "\"106540352242922\"},\"messages\":[");
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(body + len, cap - len,
					"%s{\"from\":\"31612345678\",\"id\":\"wamid.N%d\","
					"\"type\":\"text\",\"text\":{\"body\":\"m%d\"}}",
					i ? "," : "", i, i);
	len += (size_t)snprintf(body + len, cap - len, "]}}]}]}");
	struct meta_batch b;
	assert_null(parse_raw(body, len, &b));
	assert_int_equal(b.n_messages, 1000);
	assert_string_equal(b.messages[999].platform_message_id, "wamid.N999");
	assert_string_equal(b.messages[999].text, "m999");
	meta_batch_free(&b);
	free(body);
}

static void test_wa_wrong_types(void **state)
{
	(void)state;
	struct meta_batch b;
	/* "text": {"body": 7} keeps the message with a placeholder. */
	expect_wa(WA_MSG("'type':'text','text':{'body':7}"), "text", "[text]", true);
	expect_wa(WA_MSG("'type':'text','text':'plain'"), "text", "[text]", true);
	expect_wa(WA_MSG("'type':'image','image':[]"), "image", "[image]", true);
	expect_wa(WA_MSG("'type':'reaction','reaction':{'emoji':5,'message_id':[]}"), "reaction",
		  "[reaction removed]", false);
	expect_wa(WA_MSG("'type':'location','location':'here'"), "location", "[location]", true);
	expect_wa(
	    WA_MSG("'type':'interactive','interactive':{'type':'button_reply','button_reply':5}"),
	    "interactive", "[button reply]", true);

	parse_ok(WA_HEAD "'messages':5,'statuses':{'id':'x'}" WA_TAIL, &b);
	assert_int_equal(b.n_messages + b.n_statuses, 0);
	assert_true(has_note(&b, "messages is not an array"));
	assert_true(has_note(&b, "statuses is not an array"));
	meta_batch_free(&b);

	parse_ok(WA_HEAD "'contacts':'nobody','messages':[5,'x',null,[],{'from':'1','id':'ok',"
			 "'type':'text','text':{'body':'fine'},'context':7}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_messages, 1);
	assert_null(b.messages[0].reply_to);
	assert_int_equal(b.n_notes, 4);
	meta_batch_free(&b);

	const char *bodies[] = {
	    "{'object':'whatsapp_business_account'}",
	    "{'object':'whatsapp_business_account','entry':{}}",
	    "{'object':'whatsapp_business_account','entry':[1,'a',null,{'changes':5},{'changes':[7]"
	    "}]}",
	    "{'object':'whatsapp_business_account','entry':[{'changes':[{'field':'messages','value'"
	    ":[]}]}]}",
	    "{'object':'whatsapp_business_account','entry':[{'changes':[{'field':5,'value':{'"
	    "metadata':5}}]}]}",
	    "{'object':'whatsapp_business_account','entry':[{'changes':[{'value':{'metadata':{"
	    "'phone_number_id':123},'messages':[{}]}}]}]}",
	    "{'object':7,'entry':[]}",
	    "{'object':'whatsapp_business_account','entry':[{'changes':[{'field':'messages','value'"
	    ":{"
	    "'metadata':{'phone_number_id':'1'},'messages':[{'from':'1','id':'a','type':'order',"
	    "'order':{'product_items':[5,{'quantity':1e308},{'product_retailer_id':7}]}},"
	    "{'from':'1','id':'b','type':'contacts','contacts':[5,{'name':5,'phones':5},"
	    "{'phones':[5,{'phone':5}]}]},{'from':'1','id':'c','type':'edit','edit':5},"
	    "{'from':'1','id':'d','type':'system','system':[]}]}}]}]}",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		parse_ok(bodies[i], &b);
		assert_batch_clean(&b);
		assert_true(b.n_notes > 0 || b.n_messages > 0);
		meta_batch_free(&b);
	}
}

/* ---- Instagram ---- */

static void test_ig_text(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(IG_EVENT("'message':{'mid':'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx','text':"
			  "'Do you ship to Lisbon?'}"),
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(b.object, "instagram");
	assert_int_equal(m->platform, PLATFORM_INSTAGRAM);
	assert_string_equal(m->channel_id, IG_ACC);
	assert_string_equal(m->customer_id, IG_CUST);
	assert_string_equal(m->platform_message_id, "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx");
	assert_string_equal(m->kind, "text");
	assert_string_equal(m->text, "Do you ship to Lisbon?");
	assert_true(m->timestamp_ms == 1750000000123LL);
	assert_null(m->profile_name);
	assert_true(m->needs_reply);
	assert_false(m->is_echo);
	meta_batch_free(&b);
}

static void test_ig_attachments(void **state)
{
	(void)state;
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'image','payload':{"
			   "'url':'https://lookaside.fbsbx.com/x'}}]}"),
		  "image", "[image]", true);
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'video','payload':{}},"
			   "{'type':'audio'}],'text':'look'}"),
		  "video", "[video] [audio] look", true);
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'file'}]}"), "document",
		  "[file]", true);
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'ig_reel','payload':{"
			   "'reel_video_id':'1','title':'Our spring collection','url':'u'}}]}"),
		  "reel", "[reel] Our spring collection", true);
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'share','payload':{"
			   "'url':'u'}}],'text':'this one?'}"),
		  "share", "[share] this one?", true);
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'hologram'}]}"),
		  "attachment", "[attachment: hologram]", true);
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'payload':{}}]}"), "attachment",
		  "[attachment]", true);
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'unsupported_type'}]}"),
		  "unsupported", "[unsupported]", true);
}

static void test_ig_story_mention(void **state)
{
	(void)state;
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'story_mention',"
			   "'payload':{'url':'https://lookaside.fbsbx.com/story'}}]}"),
		  "story_mention", "[story mention]", true);
}

static void test_ig_story_reply(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(IG_EVENT("'message':{'mid':'m1','text':'love this','reply_to':{'story':{"
			  "'url':'https://lookaside.fbsbx.com/s','id':'17927261066947525'}}}"),
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "story_reply");
	assert_string_equal(m->text, "[story reply] love this");
	assert_null(m->reply_to);
	assert_true(m->needs_reply);
	meta_batch_free(&b);
}

static void test_ig_reply_to_mid(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(IG_EVENT("'message':{'mid':'m2','text':'this one','reply_to':{'mid':'m-out-1'}}"),
		 &b);
	assert_string_equal(only_message(&b)->reply_to, "m-out-1");
	meta_batch_free(&b);
}

static void test_ig_like_heart(void **state)
{
	(void)state;
	expect_ig(IG_EVENT("'message':{'mid':'m1','attachments':[{'type':'like_heart'}]}"), "like",
		  "[like]", false);
}

static void test_ig_unsupported(void **state)
{
	(void)state;
	expect_ig(IG_EVENT("'message':{'mid':'m1','is_unsupported':true}"), "unsupported",
		  "[unsupported]", true);
}

static void test_ig_empty_message(void **state)
{
	(void)state;
	expect_ig(IG_EVENT("'message':{'mid':'m1'}"), "unknown", "[empty message]", true);
	expect_ig(IG_EVENT("'message':{'mid':'m1','text':''}"), "unknown", "[empty message]", true);
}

static void test_ig_ad_referral_in_message(void **state)
{
	(void)state;
	struct meta_batch b;
	const struct meta_message *m = one(
	    IG_EVENT("'message':{'mid':'m1','text':'Price?','referral':{'ref':'r','ad_id':'1',"
		     "'source':'ADS','type':'OPEN_THREAD','ads_context_data':{'ad_title':"
		     "'Spring sale','photo_url':'https://x/p.jpg','video_url':'https://x/v'}}}"),
	    &b);
	assert_string_equal(m->kind, "text");
	assert_string_equal(m->text, "Price?");
	assert_true(m->needs_reply);
	const struct meta_referral *r = m->referral;
	assert_non_null(r);
	assert_string_equal(r->source_type, "ADS");
	assert_string_equal(r->source_id, "1");
	assert_string_equal(r->title, "Spring sale");
	assert_string_equal(r->image_url, "https://x/p.jpg");
	assert_string_equal(r->video_url, "https://x/v");
	assert_string_equal(r->ref, "r");
	assert_null(r->headline);
	meta_batch_free(&b);

	/* Wrong shapes: the text is untouched and nothing unusable is kept. */
	m = one(IG_EVENT("'message':{'mid':'m1','text':'Price?','referral':'ADS'}"), &b);
	assert_string_equal(m->text, "Price?");
	assert_null(m->referral);
	meta_batch_free(&b);
	m = one(IG_EVENT("'message':{'mid':'m1','text':'Price?','referral':{'ads_context_data':"
			 "'x','ad_id':1234567890123,'source':['ADS']}}"),
		&b);
	assert_string_equal(m->text, "Price?");
	assert_string_equal(m->referral->source_id, "1234567890123");
	assert_null(m->referral->source_type);
	assert_null(m->referral->title);
	meta_batch_free(&b);
}

static void test_ig_reaction(void **state)
{
	(void)state;
	struct meta_batch b, b2, b3;
	const char *react =
	    IG_EVENT("'reaction':{'mid':'m-out-1','action':'react','reaction':'love',"
		     "'emoji':'\\u2764\\ufe0f'}");
	parse_ok(react, &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "reaction");
	assert_string_equal(m->text, "[reaction] \xe2\x9d\xa4\xef\xb8\x8f");
	assert_string_equal(m->target_message_id, "m-out-1");
	assert_false(m->needs_reply);
	assert_int_equal(strncmp(m->platform_message_id, "ig-reaction-", 12), 0);
	assert_int_equal(strlen(m->platform_message_id), 12 + 32);
	/* Redelivery: same id. */
	parse_ok(react, &b2);
	assert_string_equal(b2.messages[0].platform_message_id, m->platform_message_id);
	/* Unreact of the same mid: another event, another id. */
	parse_ok(IG_EVENT("'reaction':{'mid':'m-out-1','action':'unreact'}"), &b3);
	assert_string_equal(only_message(&b3)->text, "[reaction removed]");
	assert_string_not_equal(b3.messages[0].platform_message_id, m->platform_message_id);
	meta_batch_free(&b);
	meta_batch_free(&b2);
	meta_batch_free(&b3);
	expect_ig(IG_EVENT("'reaction':{'mid':'m1','action':'react','reaction':'love'}"),
		  "reaction", "[reaction] love", false);
}

static void test_ig_reaction_without_mid(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(IG_EVENT("'reaction':{'action':'react','emoji':'x'}"), &b);
	assert_int_equal(b.n_messages, 0);
	assert_true(has_note(&b, "reaction without a valid mid"));
	meta_batch_free(&b);
}

static void test_ig_read(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(IG_EVENT("'read':{'mid':'m-out-1'}"), &b);
	const struct meta_status *s = only_status(&b);
	assert_int_equal(s->platform, PLATFORM_INSTAGRAM);
	assert_int_equal(s->status, DELIVERY_READ);
	assert_string_equal(s->channel_id, IG_ACC);
	assert_string_equal(s->platform_message_id, "m-out-1");
	assert_string_equal(s->recipient_id, IG_CUST);
	assert_true(s->timestamp_ms == 1750000000123LL);
	meta_batch_free(&b);
	parse_ok(IG_EVENT("'read':{'watermark':1750000000000}"), &b);
	assert_int_equal(b.n_statuses, 0);
	assert_true(has_note(&b, "read without a valid mid"));
	meta_batch_free(&b);
}

static void test_ig_read_by_account_ignored(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok("{'object':'instagram','entry':[{'id':'" IG_ACC
		 "','messaging':[{'sender':{'id':'" IG_ACC "'},'recipient':{'id':'" IG_CUST
		 "'},'timestamp':1,'read':{'mid':'m-in'}}]}]}",
		 &b);
	assert_int_equal(b.n_statuses, 0);
	assert_int_equal(b.n_notes, 1);
	meta_batch_free(&b);
}

static void test_ig_delivery(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(IG_EVENT("'delivery':{'mids':['m-out-1','m-out-2',5],'watermark':1}"), &b);
	assert_int_equal(b.n_statuses, 2);
	assert_int_equal(b.statuses[0].status, DELIVERY_DELIVERED);
	assert_string_equal(b.statuses[1].platform_message_id, "m-out-2");
	assert_int_equal(b.n_notes, 1);
	meta_batch_free(&b);
}

static void test_ig_postback(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    IG_EVENT("'postback':{'mid':'m-pb-1','title':'Talk to a human','payload':'HUMAN'}"),
	    &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "postback");
	assert_string_equal(m->text, "Talk to a human");
	assert_string_equal(m->platform_message_id, "m-pb-1");
	assert_true(m->needs_reply);
	meta_batch_free(&b);

	parse_ok(IG_EVENT("'postback':{'title':'Get started','payload':'START'}"), &b);
	assert_int_equal(strncmp(only_message(&b)->platform_message_id, "ig-postback-", 12), 0);
	meta_batch_free(&b);
	expect_ig(IG_EVENT("'postback':{'payload':'START'}"), "postback", "START", true);
	expect_ig(IG_EVENT("'postback':{}"), "postback", "[postback]", true);
}

/* WhatsApp coexistence echoes (field smb_message_echoes): the business's own
 * message from its phone app, to the customer in "to". */
#define WA_ECHO_HEAD                                                                               \
	"{'object':'whatsapp_business_account','entry':[{'id':'102290129340398','changes':[{"      \
	"'field':'smb_message_echoes','value':{'messaging_product':'whatsapp','metadata':{"        \
	"'display_phone_number':'15550001111','phone_number_id':'106540352242922'},"

static void test_wa_smb_echo(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_ECHO_HEAD "'message_echoes':[{'from':'15550001111','to':'31612345678',"
			      "'id':'wamid.E1','timestamp':'1750000100','type':'text',"
			      "'text':{'body':'Mark here, it is back in stock.'},"
			      "'referral':{'source_type':'ad','source_id':'1'}}]}}]}]}",
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_true(m->is_echo);
	assert_false(m->needs_reply);
	assert_string_equal(m->channel_id, "106540352242922");
	assert_string_equal(m->customer_id, "31612345678");
	assert_string_equal(m->platform_message_id, "wamid.E1");
	assert_string_equal(m->kind, "text");
	assert_string_equal(m->text, "Mark here, it is back in stock.");
	assert_null(m->profile_name);
	assert_null(m->referral); /* an echo never came from an ad */
	assert_int_equal(m->timestamp_ms, 1750000100000LL);
	meta_batch_free(&b);

	/* Other kinds render as inbound ones do; a batch of echoes all counts. */
	parse_ok(WA_ECHO_HEAD "'message_echoes':[{'from':'15550001111','to':'31612345678',"
			      "'id':'wamid.E2','type':'image','image':{'caption':'This one'}},"
			      "{'from':'15550001111','to':'31687654321','id':'wamid.E3',"
			      "'type':'text','text':{'body':'Hi Bram'}}]}}]}]}",
		 &b);
	assert_int_equal(b.n_messages, 2);
	assert_string_equal(b.messages[0].text, "[image] This one");
	assert_true(b.messages[0].is_echo && b.messages[1].is_echo);
	assert_string_equal(b.messages[1].customer_id, "31687654321");
	meta_batch_free(&b);
}

static void test_wa_smb_echo_hostile(void **state)
{
	(void)state;
	struct meta_batch b;
	/* No "to": the customer is unknown, never the business's own number. */
	parse_ok(WA_ECHO_HEAD "'contacts':[{'wa_id':'31612345678'}],'message_echoes':[{"
			      "'from':'15550001111','id':'wamid.E4','type':'text',"
			      "'text':{'body':'x'}}]}}]}]}",
		 &b);
	assert_int_equal(b.n_messages, 0);
	assert_true(has_note(&b, "without a valid sender"));
	meta_batch_free(&b);
	/* message_echoes not an array, items not objects, no id, a "to" too
	 * long for the column: skipped with notes, nothing else breaks. */
	parse_ok(WA_ECHO_HEAD "'message_echoes':{'id':'x'}}}]}]}", &b);
	assert_int_equal(b.n_messages, 0);
	assert_true(has_note(&b, "message_echoes is not an array"));
	meta_batch_free(&b);
	parse_ok(WA_ECHO_HEAD "'message_echoes':[7,'s',{'to':'31612345678','type':'text'},"
			      "{'to':'3161234567831612345678316123456783161234567831612345678',"
			      "'id':'wamid.E5','type':'text','text':{'body':'x'}},"
			      "{'to':'31612345678','id':'wamid.E6','type':'text',"
			      "'text':{'body':'kept'}}]}}]}]}",
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->text, "kept");
	assert_true(m->is_echo);
	assert_true(has_note(&b, "message_echoes[] item is not an object"));
	assert_true(has_note(&b, "echo without a valid id"));
	assert_int_equal(b.skipped_too_long, 1);
	meta_batch_free(&b);
	/* messages[] inside an echo change is not read as customer messages,
	 * nor statuses[] as statuses. */
	parse_ok(WA_ECHO_HEAD "'messages':[{'from':'31612345678','id':'wamid.E7','type':'text',"
			      "'text':{'body':'x'}}],'statuses':[{'id':'wamid.E8','status':'read'}]"
			      "}}]}]}",
		 &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.n_statuses, 0);
	meta_batch_free(&b);
}

static void test_ig_echo(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok("{'object':'instagram','entry':[{'time':1750000009000,'id':'" IG_ACC "',"
		 "'messaging':[{'sender':{'id':'" IG_ACC "'},'recipient':{'id':'" IG_CUST "'},"
		 "'timestamp':1750000008500,'message':{'mid':'m-echo-1','text':'Yes, 3-5 days.',"
		 "'is_echo':true}}]}]}",
		 &b);
	const struct meta_message *m = only_message(&b);
	assert_true(m->is_echo);
	assert_false(m->needs_reply);
	assert_string_equal(m->channel_id, IG_ACC);
	assert_string_equal(m->customer_id, IG_CUST);
	assert_string_equal(m->text, "Yes, 3-5 days.");
	meta_batch_free(&b);
}

static void test_ig_sender_is_account_counts_as_echo(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok("{'object':'instagram','entry':[{'id':'" IG_ACC
		 "','messaging':[{'sender':{'id':'" IG_ACC "'},'recipient':{'id':'" IG_CUST
		 "'},'message':{'mid':'m','text':'hi'}}]}]}",
		 &b);
	assert_true(only_message(&b)->is_echo);
	assert_false(b.messages[0].needs_reply);
	assert_string_equal(b.messages[0].customer_id, IG_CUST);
	meta_batch_free(&b);
}

static void test_ig_unsend(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(IG_EVENT("'message':{'mid':'m-in-1','is_deleted':true}"), &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "deleted");
	assert_string_equal(m->text, "[message deleted]");
	assert_string_equal(m->target_message_id, "m-in-1");
	assert_int_equal(strncmp(m->platform_message_id, "ig-unsend-", 10), 0);
	assert_false(m->needs_reply);
	meta_batch_free(&b);
}

static void test_ig_message_edit(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    IG_EVENT("'message_edit':{'mid':'m-in-1','text':'Lisbon, not Porto','num_edit':1}"),
	    &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->kind, "edit");
	assert_string_equal(m->text, "[edited] Lisbon, not Porto");
	assert_string_equal(m->target_message_id, "m-in-1");
	assert_int_equal(strncmp(m->platform_message_id, "ig-edit-", 8), 0);
	assert_false(m->needs_reply);
	meta_batch_free(&b);
}

static void test_ig_referral_event(void **state)
{
	(void)state;
	expect_ig(
	    IG_EVENT("'referral':{'ref':'summer-promo','source':'SHORTLINK','type':'OPEN_THREAD'}"),
	    "referral", "[referral] summer-promo", false);
	struct meta_batch b;
	const struct meta_message *m =
	    one(IG_EVENT("'referral':{'ref':'summer-promo','source':'ADS','type':'OPEN_THREAD',"
			 "'ad_id':'77','ads_context_data':{'ad_title':'Summer'}}"),
		&b);
	assert_non_null(m->referral);
	assert_string_equal(m->referral->ref, "summer-promo");
	assert_string_equal(m->referral->source_type, "ADS");
	assert_string_equal(m->referral->source_id, "77");
	assert_string_equal(m->referral->title, "Summer");
	meta_batch_free(&b);
}

static void test_ig_changes_form(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    "{'object':'instagram','entry':[{'id':'0','time':1750000000,'changes':[{'field':"
	    "'messages','value':{'sender':{'id':'" IG_CUST "'},'recipient':{'id':'" IG_ACC "'},"
	    "'timestamp':'1750000000','message':{'mid':'random_mid','text':'random_text'}}}]}]}",
	    &b);
	const struct meta_message *m = only_message(&b);
	assert_string_equal(m->channel_id, IG_ACC);
	assert_string_equal(m->customer_id, IG_CUST);
	assert_string_equal(m->text, "random_text");
	assert_true(m->timestamp_ms == 1750000000000LL);
	assert_true(m->needs_reply);
	meta_batch_free(&b);
}

static void test_ig_changes_other_fields(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok("{'object':'instagram','entry':[{'id':'" IG_ACC "','time':1,'changes':["
		 "{'field':'comments','value':{'from':{'id':'1','username':'u'},'text':'nice'}},"
		 "{'field':'mentions','value':{'media_id':'1'}},5]}]}",
		 &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.n_notes, 3);
	assert_true(has_note(&b, "field \"comments\" ignored"));
	meta_batch_free(&b);
}

static void test_ig_standby(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok("{'object':'instagram','entry':[{'id':'" IG_ACC
		 "','standby':[{'sender':{'id':'" IG_CUST "'},'recipient':{'id':'" IG_ACC
		 "'},'message':{'mid':'m-sb','text':'hi'}}]}]}",
		 &b);
	assert_string_equal(only_message(&b)->platform_message_id, "m-sb");
	meta_batch_free(&b);
}

static void test_ig_batch(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(
	    "{'object':'instagram','entry':["
	    "{'id':'" IG_ACC "','time':1,'messaging':["
	    "{'sender':{'id':'5551234567890001'},'recipient':{'id':'" IG_ACC "'},'timestamp':1,"
	    "'message':{'mid':'a','text':'first'}},"
	    "{'sender':{'id':'5551234567890002'},'recipient':{'id':'" IG_ACC "'},'timestamp':2,"
	    "'message':{'mid':'b','text':'second'}},"
	    "{'sender':{'id':'5551234567890001'},'recipient':{'id':'" IG_ACC "'},'timestamp':3,"
	    "'read':{'mid':'out-1'}}]},"
	    "{'id':'" IG_ACC "','time':2,'messaging':["
	    "{'sender':{'id':'5551234567890002'},'recipient':{'id':'" IG_ACC "'},'timestamp':4,"
	    "'message':{'mid':'c','text':'third'}}]}]}",
	    &b);
	assert_int_equal(b.n_messages, 3);
	assert_int_equal(b.n_statuses, 1);
	assert_string_equal(b.messages[1].customer_id, "5551234567890002");
	assert_string_equal(b.messages[2].text, "third");
	meta_batch_free(&b);
}

static void test_ig_malformed_events(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok("{'object':'instagram','entry':[{'id':'" IG_ACC "','messaging':["
		 "{'sender':{'id':'1'},'recipient':{'id':'" IG_ACC "'},'timestamp':1},"
		 "{'sender':{'id':'1'},'recipient':{'id':'" IG_ACC
		 "'},'message':{'text':'no mid'}},"
		 "{'recipient':{'id':'" IG_ACC "'},'message':{'mid':'x','text':'no sender'}},"
		 "5,{'message':'str'},"
		 "{'sender':{'id':7},'recipient':{'id':'" IG_ACC "'},'postback':{'title':'t'}}]},"
		 "{'messaging':[{'sender':{'id':'1'},'message':{'mid':'y'}}]},"
		 "{'id':'" IG_ACC "'},{'id':'" IG_ACC "','messaging':{}}]}",
		 &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.n_statuses, 0);
	assert_int_equal(b.n_notes, 9);
	assert_batch_clean(&b);
	meta_batch_free(&b);
}

static void test_ig_customer_from_different_page(void **state)
{
	(void)state;
	/* recipient differs from entry.id: the entry names the account, the sender the customer. */
	struct meta_batch b;
	parse_ok("{'object':'instagram','entry':[{'id':'" IG_ACC
		 "','messaging':[{'sender':{'id':'" IG_CUST
		 "'},'recipient':{'id':'999'},'message':{'mid':'m','text':'hi'}}]}]}",
		 &b);
	assert_string_equal(only_message(&b)->channel_id, IG_ACC);
	assert_string_equal(b.messages[0].customer_id, IG_CUST);
	meta_batch_free(&b);
}

/* ---- the body as a whole ---- */

static void test_empty_body(void **state)
{
	(void)state;
	struct meta_batch b;
	assert_ptr_equal(parse_raw(NULL, 0, &b), META_ERR_EMPTY);
	assert_ptr_equal(parse_raw("", 0, &b), META_ERR_EMPTY);
	assert_int_equal(b.n_messages + b.n_statuses + b.n_notes, 0);
	meta_batch_free(&b);
}

static void test_not_json(void **state)
{
	(void)state;
	struct meta_batch b;
	const char *bodies[] = {"hello",
				"{",
				"{\"a\":}",
				"   ",
				"{'single':'quotes'}",
				"\xff\xfe",
				"{\"a\":1} trailing",
				"{\"a\":1}{\"b\":2}",
				"nul"};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_ptr_equal(parse_raw(bodies[i], strlen(bodies[i]), &b), META_ERR_JSON);
		meta_batch_free(&b);
	}
	/* Trailing whitespace is fine. */
	assert_null(parse_raw("{\"object\":\"instagram\"} \r\n", 25, &b));
	meta_batch_free(&b);
}

static void test_json_not_object(void **state)
{
	(void)state;
	struct meta_batch b;
	const char *bodies[] = {"[]",  "[{\"object\":\"instagram\"}]", "\"str\"", "42", "null",
				"true"};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_ptr_equal(parse_raw(bodies[i], strlen(bodies[i]), &b), META_ERR_NOT_OBJECT);
		assert_int_equal(b.n_messages + b.n_statuses + b.n_notes, 0);
		assert_null(b.object);
		meta_batch_free(&b);
	}
}

static void test_truncated_json(void **state)
{
	(void)state;
	char *full = q(WA_MSG("'type':'text','text':{'body':'hello'}"));
	struct meta_batch b;
	size_t len = strlen(full);
	for (size_t cut = 1; cut < len; cut++) {
		const char *err = parse_raw(full, cut, &b);
		assert_ptr_equal(err, cut == 0 ? META_ERR_EMPTY : META_ERR_JSON);
		meta_batch_free(&b);
	}
	assert_null(parse_raw(full, len, &b));
	meta_batch_free(&b);
	free(full);
}

static void test_unknown_object(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok("{'object':'page','entry':[{'id':'1','messaging':[{'message':{'mid':'x'}}]}]}",
		 &b);
	assert_int_equal(b.n_messages, 0);
	assert_string_equal(b.object, "page");
	assert_true(has_note(&b, "object \"page\" not handled"));
	meta_batch_free(&b);
	parse_ok("{'entry':[]}", &b);
	assert_null(b.object);
	assert_int_equal(b.n_notes, 1);
	meta_batch_free(&b);
	parse_ok("{}", &b);
	meta_batch_free(&b);
	parse_ok("{'object':'instagram','entry':[]}", &b);
	assert_int_equal(b.n_notes, 0);
	meta_batch_free(&b);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	size_t depth = 10000;
	char *body = malloc(2 * depth + 64);
	memset(body, '[', depth);
	memset(body + depth, ']', depth);
	struct meta_batch b;
	assert_ptr_equal(parse_raw(body, 2 * depth, &b), META_ERR_JSON);
	meta_batch_free(&b);

	/* The same depth inside an otherwise fine object. */
	size_t n = (size_t)sprintf(body, "{\"object\":\"instagram\",\"x\":");
	memset(body + n, '[', depth);
	memset(body + n + depth, ']', depth);
	body[n + 2 * depth] = '}';
	assert_ptr_equal(parse_raw(body, n + 2 * depth + 1, &b), META_ERR_JSON);
	meta_batch_free(&b);

	/* Moderate nesting (below cJSON's limit) where a message is expected. */
	n = (size_t)sprintf(body, "{\"object\":\"instagram\",\"entry\":");
	memset(body + n, '[', 500);
	memset(body + n + 500, ']', 500);
	body[n + 1000] = '}';
	assert_null(parse_raw(body, n + 1001, &b));
	assert_int_equal(b.n_messages, 0);
	meta_batch_free(&b);
	free(body);
}

static void test_deep_nesting_in_form(void **state)
{
	(void)state;
	/* A Flow answer nesting deeper than cJSON allows: just no answers shown. */
	struct meta_batch b;
	char *rj = malloc(4000);
	memset(rj, '[', 1500);
	memcpy(rj + 1500, "1", 2);
	char *body;
	assert_true(asprintf(&body,
			     WA_HEAD "'messages':[{'from':'1','id':'f','type':'interactive',"
				     "'interactive':{'type':'nfm_reply','nfm_reply':{'body':'Sent',"
				     "'response_json':'%s'}}}]" WA_TAIL,
			     rj) > 0);
	parse_ok(body, &b);
	assert_string_equal(only_message(&b)->text, "[form] Sent");
	meta_batch_free(&b);
	free(body);
	free(rj);
}

static void test_huge_text_capped(void **state)
{
	(void)state;
	size_t big = 1024 * 1024;
	char *body = malloc(big + 512);
	size_t n = (size_t)sprintf(body, "{\"object\":\"instagram\",\"entry\":[{\"id\":\"1\","
					 "\"messaging\":[{\"sender\":{\"id\":\"2\"},\"recipient\":"
					 "{\"id\":\"1\"},\"message\":{\"mid\":\"m\",\"text\":\"");
	/* "é" (2 bytes) repeated: an odd cap position would split a character. */
	for (size_t i = 0; i < big / 2; i++) {
		body[n++] = '\xc3';
		body[n++] = '\xa9';
	}
	n += (size_t)sprintf(body + n, "\"}}]}]}");
	struct meta_batch b;
	assert_null(parse_raw(body, n, &b));
	const struct meta_message *m = only_message(&b);
	size_t len = strlen(m->text);
	assert_true(len <= META_TEXT_MAX);
	assert_true(len > META_TEXT_MAX - 8);
	assert_true(valid_utf8(m->text));
	assert_string_equal(m->text + len - 3, "\xe2\x80\xa6");
	meta_batch_free(&b);
	free(body);
}

static void test_text_at_cap_not_cut(void **state)
{
	(void)state;
	size_t n0, big = META_TEXT_MAX;
	char *body = malloc(big + 512);
	n0 = (size_t)sprintf(body,
			     "{\"object\":\"instagram\",\"entry\":[{\"id\":\"1\",\"messaging\":"
			     "[{\"sender\":{\"id\":\"2\"},\"message\":{\"mid\":\"m\",\"text\":\"");
	memset(body + n0, 'x', big);
	size_t n = n0 + big + (size_t)sprintf(body + n0 + big, "\"}}]}]}");
	struct meta_batch b;
	assert_null(parse_raw(body, n, &b));
	assert_int_equal(strlen(only_message(&b)->text), META_TEXT_MAX);
	assert_int_equal(b.messages[0].text[META_TEXT_MAX - 1], 'x');
	meta_batch_free(&b);
	free(body);
}

static void test_invalid_utf8_replaced(void **state)
{
	(void)state;
	/* lone continuation, truncated sequence, overlong '/', UTF-16 surrogate, > U+10FFFF, 0xff
	 */
	const char *body = "{\"object\":\"instagram\",\"entry\":[{\"id\":\"1\",\"messaging\":[{"
			   "\"sender\":{\"id\":\"2\"},\"message\":{\"mid\":\"m\",\"text\":"
			   "\"a\x80"
			   "b\xe2\x82"
			   "c\xc0\xaf"
			   "d\xed\xa0\x80"
			   "e\xf4\x90\x80\x80"
			   "f\xff"
			   "g\"}}]}]}";
	struct meta_batch b;
	assert_null(parse_raw(body, strlen(body), &b));
	const struct meta_message *m = only_message(&b);
	assert_true(valid_utf8(m->text));
	assert_string_equal(m->text, "a\xef\xbf\xbd"
				     "b\xef\xbf\xbd"
				     "c\xef\xbf\xbd\xef\xbf\xbd"
				     "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				     "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				     "f\xef\xbf\xbd"
				     "g");
	meta_batch_free(&b);
}

static void test_valid_utf8_kept(void **state)
{
	(void)state;
	const char *text = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf";
	char *body;
	assert_true(
	    asprintf(&body,
		     "{\"object\":\"instagram\",\"entry\":[{\"id\":\"1\",\"messaging\":"
		     "[{\"sender\":{\"id\":\"2\"},\"message\":{\"mid\":\"m\",\"text\":\"%s\"}}]}]}",
		     text) > 0);
	struct meta_batch b;
	assert_null(parse_raw(body, strlen(body), &b));
	assert_string_equal(only_message(&b)->text, text);
	meta_batch_free(&b);
	free(body);
}

static void test_escaped_nul_stripped(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'type':'text','text':{'body':'abc\\u0000def\\u0000'}"), &b);
	assert_string_equal(only_message(&b)->text, "abcdef");
	meta_batch_free(&b);
	/* An escaped backslash before "u0000" is text, not an escape. */
	parse_ok(WA_MSG("'type':'text','text':{'body':'C:\\\\u0000'}"), &b);
	assert_string_equal(only_message(&b)->text, "C:\\u0000");
	meta_batch_free(&b);
	/* Only NULs: nothing readable left. */
	parse_ok(WA_MSG("'type':'text','text':{'body':'\\u0000'}"), &b);
	assert_string_equal(only_message(&b)->text, "[text]");
	meta_batch_free(&b);
}

static void test_raw_nul_bytes_stripped(void **state)
{
	(void)state;
	const char body[] =
	    "{\"object\":\"instagram\",\"entry\":[{\"id\":\"1\",\"messaging\":[{"
	    "\"sender\":{\"id\":\"2\"},\"message\":{\"mid\":\"m\",\"text\":\"ab\0cd\"}}]}]}\0";
	struct meta_batch b;
	assert_null(parse_raw(body, sizeof(body) - 1, &b));
	assert_string_equal(only_message(&b)->text, "abcd");
	meta_batch_free(&b);
}

static void test_lone_surrogates(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'type':'text','text':{'body':'a\\ud83d b\\udc4d c\\ud83d\\u0041 "
			"d\\ud83d\\udc4d'}"),
		 &b);
	assert_string_equal(only_message(&b)->text, "a\xef\xbf\xbd b\xef\xbf\xbd c\xef\xbf\xbd"
						    "A d\xf0\x9f\x91\x8d");
	meta_batch_free(&b);
	/* At the very end of the body. */
	assert_ptr_equal(parse_raw("{\"a\":\"\\ud83d", 12, &b), META_ERR_JSON);
	meta_batch_free(&b);
}

static void test_notes_capped(void **state)
{
	(void)state;
	size_t cap = 64 * 1024, len = 0;
	char *body = malloc(cap);
	len +=
	    (size_t)snprintf(body + len, cap - len,
			     "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{"
			     "\"field\":\"messages\",\"value\":{\"metadata\":{\"phone_number_id\":"
			     "\"1\"},\"messages\":[");
	for (int i = 0; i < 300; i++)
		len += (size_t)snprintf(body + len, cap - len, "%s{\"from\":\"1\"}", i ? "," : "");
	len += (size_t)snprintf(body + len, cap - len, "]}}]}]}");
	struct meta_batch b;
	assert_null(parse_raw(body, len, &b));
	assert_int_equal(b.n_notes, META_NOTES_MAX + 1);
	assert_string_equal(b.notes[META_NOTES_MAX], "200 more notes suppressed");
	meta_batch_free(&b);
	free(body);
}

static void test_free_is_idempotent(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_MSG("'type':'text','text':{'body':'x'}"), &b);
	meta_batch_free(&b);
	meta_batch_free(&b);
	meta_batch_free(NULL);
}

static void test_duplicate_keys_first_wins(void **state)
{
	(void)state;
	expect_wa(WA_MSG("'type':'text','text':{'body':'first','body':'second'}"), "text", "first",
		  true);
}

static void test_numbers_extreme(void **state)
{
	(void)state;
	struct meta_batch b;
	parse_ok(WA_HEAD
		 "'messages':[{'from':'1','id':'a','timestamp':1e999,'type':'location',"
		 "'location':{'latitude':1e999,'longitude':-1e999}},"
		 "{'from':'1','id':'b','type':'order','order':{'product_items':["
		 "{'product_retailer_id':'x','quantity':1e999},{'product_retailer_id':'y',"
		 "'quantity':-3}]}}],"
		 "'statuses':[{'id':'s','status':'failed','errors':[{'code':1e300}]}]" WA_TAIL,
		 &b);
	assert_int_equal(b.n_messages, 2);
	assert_true(b.messages[0].timestamp_ms == 0);
	assert_string_equal(b.messages[1].text, "[order] 2 items: 1 x x, 1 x y");
	assert_non_null(b.statuses[0].error_code);
	assert_batch_clean(&b);
	meta_batch_free(&b);
}

/* ---- values wider than their columns (docs/protocol.md) ---- */

/* unit repeated n times; caller frees. */
static char *rep(const char *unit, size_t n)
{
	size_t u = strlen(unit);
	char *s = malloc(u * n + 1);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * u, unit, u);
	s[u * n] = '\0';
	return s;
}

/* Characters of valid UTF-8 as PostgreSQL counts a VARCHAR's: code points. */
static size_t chars_of(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* No note holds more than the first 16 characters of id. */
static void assert_id_not_in_notes(const struct meta_batch *b, const char *id)
{
	char prefix17[18];
	snprintf(prefix17, sizeof prefix17, "%s", id);
	for (size_t i = 0; i < b->n_notes; i++)
		assert_null(strstr(b->notes[i], prefix17));
}

/* A WhatsApp body: a message from `from` named `name` (NULL: no contacts),
 * with id `id` and context id `ctx` (NULL: none), then a normal message. */
static char *wa_two(const char *from, const char *name, const char *id, const char *ctx)
{
	char *contacts = NULL, *context = NULL, *body = NULL;
	assert_true(asprintf(&contacts, "'contacts':[{'profile':{'name':'%s'},'wa_id':'%s'}],",
			     name ? name : "", from) > 0);
	assert_true(asprintf(&context, ",'context':{'id':'%s'}", ctx ? ctx : "") > 0);
	assert_true(asprintf(&body,
			     WA_HEAD "%s'messages':[{'from':'%s','id':'%s','type':'text',"
				     "'text':{'body':'variant'}%s},"
				     "{'from':'31687654321','id':'wamid.NORMAL','type':'text',"
				     "'text':{'body':'normal'}}]" WA_TAIL,
			     name ? contacts : "", from, id, ctx ? context : "") > 0);
	free(contacts);
	free(context);
	return body;
}

/* The normal message of wa_two() is always there, and last. */
static void assert_normal_kept(const struct meta_batch *b)
{
	assert_true(b->n_messages >= 1);
	const struct meta_message *m = &b->messages[b->n_messages - 1];
	assert_string_equal(m->platform_message_id, "wamid.NORMAL");
	assert_string_equal(m->customer_id, "31687654321");
	assert_string_equal(m->text, "normal");
	assert_batch_clean(b);
}

static void test_width_names_cut_in_characters(void **state)
{
	(void)state;
	/* 1, 2 and 4 bytes a character: the cut counts characters, not bytes. */
	static const char *const units[] = {"a", "\xc3\xa9", "\xf0\x9f\x98\x80", "\\u00e9",
					    "\\ud83d\\ude00"};
	static const char *const decoded[] = {"a", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xc3\xa9",
					      "\xf0\x9f\x98\x80"};
	static const size_t lengths[] = {0, 1, 254, 255, 256, 10000};
	for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
		for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
			size_t n = lengths[l];
			char *name = rep(units[u], n);
			char *body = wa_two("31612345678", name, "wamid.V", NULL);
			struct meta_batch b;
			parse_ok(body, &b);
			assert_int_equal(b.n_messages, 2);
			assert_int_equal(b.skipped_too_long, 0);
			const char *got = b.messages[0].profile_name;
			if (n == 0) {
				assert_null(got); /* an empty name is no name */
			} else if (n <= COLUMN_CUSTOMER_NAME_WIDTH) {
				char *want = rep(decoded[u], n);
				assert_string_equal(got, want);
				free(want);
			} else {
				char *want = rep(decoded[u], COLUMN_CUSTOMER_NAME_WIDTH - 1);
				size_t wl = strlen(want);
				assert_int_equal(chars_of(got), COLUMN_CUSTOMER_NAME_WIDTH);
				assert_memory_equal(got, want, wl);
				assert_string_equal(got + wl, "\xe2\x80\xa6");
				free(want);
			}
			assert_normal_kept(&b);
			meta_batch_free(&b);
			free(body);
			free(name);
		}
	}
}

static void test_width_names_invalid_utf8_at_the_cut(void **state)
{
	(void)state;
	static const struct {
		const char *tail; /* after 254 'a': raw bytes, some ill-formed */
		const char *want; /* what follows the 254 'a' in the name */
	} cases[] = {
	    /* An ill-formed byte is one character (U+FFFD): 255 in all, then more. */
	    {"\xff!!!", "\xe2\x80\xa6"},
	    /* A sequence cut short at the very end: 255 characters, kept. */
	    {"\xe2\x82", "\xef\xbf\xbd"},
	    /* A 4-byte character as the 255th, and one more: cut before it. */
	    {"\xf0\x9f\x98\x80\xf0\x9f\x98\x80", "\xe2\x80\xa6"},
	    /* The 255th exactly: kept whole. */
	    {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},
	    /* An encoded surrogate is three ill-formed bytes: three characters. */
	    {"\xed\xa0\x80", "\xe2\x80\xa6"},
	    /* A continuation byte where a character should start. */
	    {"\x80", "\xef\xbf\xbd"},
	    /* An overlong '/' then a control character (a space in a name). */
	    {"\xc0\xaf", "\xe2\x80\xa6"},
	    {"\x01", " "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *a = rep("a", 254), *name = NULL;
		assert_true(asprintf(&name, "%s%s", a, cases[i].tail) > 0);
		char *body = wa_two("31612345678", name, "wamid.V", NULL);
		struct meta_batch b;
		parse_ok(body, &b);
		assert_int_equal(b.n_messages, 2);
		const char *got = b.messages[0].profile_name;
		assert_non_null(got);
		assert_true(valid_utf8(got));
		assert_true(chars_of(got) <= COLUMN_CUSTOMER_NAME_WIDTH);
		assert_memory_equal(got, a, 254);
		assert_string_equal(got + 254, cases[i].want);
		assert_normal_kept(&b);
		meta_batch_free(&b);
		free(body);
		free(name);
		free(a);
	}
}

static void test_width_wa_sender(void **state)
{
	(void)state;
	static const size_t lengths[] = {0, 1, 49, 50, 51, 200, 10000};
	for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
		size_t n = lengths[l];
		char *from = rep("3", n);
		char *body = wa_two(from, "Anna", "wamid.V", NULL);
		struct meta_batch b;
		parse_ok(body, &b);
		if (n == 0) {
			assert_int_equal(b.n_messages, 1);
			assert_int_equal(b.skipped_too_long, 0);
			assert_true(has_note(&b, "without a valid sender"));
		} else if (n <= COLUMN_CUSTOMER_PHONE_WIDTH) {
			assert_int_equal(b.n_messages, 2);
			assert_int_equal(b.skipped_too_long, 0);
			assert_string_equal(b.messages[0].customer_id, from);
		} else {
			char want[80];
			assert_int_equal(b.n_messages, 1);
			assert_int_equal(b.skipped_too_long, 1);
			snprintf(want, sizeof want,
				 "sender id of %zu characters (3333333333333333\xe2\x80\xa6)", n);
			assert_true(has_note(&b, want));
			assert_true(has_note(&b, "whatsapp 106540352242922"));
			assert_id_not_in_notes(&b, from);
		}
		assert_normal_kept(&b);
		meta_batch_free(&b);
		free(body);
		free(from);
	}
}

/* A number too long is not swapped for the username id: one customer would
 * then have two conversations, depending on which one fitted. */
static void test_width_wa_sender_no_fallback(void **state)
{
	(void)state;
	char *from = rep("3", 51), *body = NULL;
	assert_true(asprintf(&body,
			     WA_HEAD
			     "'messages':[{'from':'%s','from_user_id':'US.1','id':'wamid.V',"
			     "'type':'text','text':{'body':'x'}}]" WA_TAIL,
			     from) > 0);
	struct meta_batch b;
	parse_ok(body, &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.skipped_too_long, 1);
	meta_batch_free(&b);
	free(body);
	/* A sole contact naming the sender is held to the same width. */
	assert_true(asprintf(&body,
			     WA_HEAD "'contacts':[{'wa_id':'%s'}],'messages':[{'id':'wamid.V',"
				     "'type':'text','text':{'body':'x'}}]" WA_TAIL,
			     from) > 0);
	parse_ok(body, &b);
	assert_int_equal(b.n_messages, 0);
	assert_int_equal(b.skipped_too_long, 1);
	meta_batch_free(&b);
	free(body);
	free(from);
}

static void test_width_wa_message_and_context_ids(void **state)
{
	(void)state;
	static const size_t lengths[] = {0, 1, 511, 512, 513, 10000};
	for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
		size_t n = lengths[l];
		char *id = rep("W", n);
		for (int as_context = 0; as_context < 2; as_context++) {
			char *body = as_context ? wa_two("31612345678", NULL, "wamid.V", id)
						: wa_two("31612345678", NULL, id, NULL);
			struct meta_batch b;
			parse_ok(body, &b);
			if (n > COLUMN_PLATFORM_MESSAGE_ID_WIDTH) {
				assert_int_equal(b.n_messages, 1);
				assert_int_equal(b.skipped_too_long, 1);
				assert_true(
				    has_note(&b, as_context ? "context id of" : "message id of"));
				assert_id_not_in_notes(&b, id);
			} else if (n == 0 && !as_context) {
				assert_int_equal(b.n_messages, 1);
				assert_int_equal(b.skipped_too_long, 0);
			} else {
				assert_int_equal(b.n_messages, 2);
				assert_int_equal(b.skipped_too_long, 0);
				if (as_context && n > 0)
					assert_string_equal(b.messages[0].reply_to, id);
				else if (as_context)
					assert_null(b.messages[0].reply_to);
				else
					assert_string_equal(b.messages[0].platform_message_id, id);
			}
			assert_normal_kept(&b);
			meta_batch_free(&b);
			free(body);
		}
		free(id);
	}
}

static void test_width_wa_status_ids(void **state)
{
	(void)state;
	char *ok = rep("S", 512), *over = rep("S", 513), *huge = rep("S", 10000), *body = NULL;
	char *recipient = rep("9", 10000);
	assert_true(asprintf(&body,
			     WA_STATUS("'id':'%s','status':'read'},{'id':'%s','status':'read'},"
				       "{'id':'%s','status':'delivered'},"
				       "{'id':'wamid.OUT1','status':'sent','recipient_id':'%s'"),
			     ok, over, huge, recipient) > 0);
	struct meta_batch b;
	parse_ok(body, &b);
	/* The recipient is not stored: its length does not matter. */
	assert_int_equal(b.n_statuses, 2);
	assert_string_equal(b.statuses[0].platform_message_id, ok);
	assert_string_equal(b.statuses[1].platform_message_id, "wamid.OUT1");
	assert_int_equal(b.skipped_too_long, 2);
	assert_true(has_note(&b, "status id of 513 characters"));
	assert_true(has_note(&b, "status id of 10000 characters"));
	assert_id_not_in_notes(&b, huge);
	meta_batch_free(&b);
	free(body);
	free(ok);
	free(over);
	free(huge);
	free(recipient);
}

static void test_width_wa_channel(void **state)
{
	(void)state;
	static const size_t lengths[] = {1, 100, 101, 10000};
	for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
		size_t n = lengths[l];
		char *channel = rep("1", n), *body = NULL;
		assert_true(
		    asprintf(&body,
			     "{'object':'whatsapp_business_account','entry':[{'id':'1','changes':["
			     "{'field':'messages','value':{'metadata':{'phone_number_id':'%s'},"
			     "'messages':[{'from':'1','id':'a','type':'text'},"
			     "{'from':'1','id':'b','type':'text'}],"
			     "'statuses':[{'id':'c','status':'read'}]}},"
			     "{'field':'messages','value':{'metadata':{'phone_number_id':'PN'},"
			     "'messages':[{'from':'1','id':'d','type':'text'}]}}]}]}",
			     channel) > 0);
		struct meta_batch b;
		parse_ok(body, &b);
		if (n <= COLUMN_META_PHONE_NUMBER_ID_WIDTH) {
			assert_int_equal(b.n_messages, 3);
			assert_int_equal(b.n_statuses, 1);
			assert_string_equal(b.messages[0].channel_id, channel);
			assert_int_equal(b.skipped_too_long, 0);
		} else {
			assert_int_equal(b.n_messages, 1);
			assert_string_equal(b.messages[0].platform_message_id, "d");
			assert_int_equal(b.n_statuses, 0);
			assert_int_equal(b.skipped_too_long, 3);
			assert_true(has_note(&b, "phone_number_id of"));
			assert_id_not_in_notes(&b, channel);
		}
		meta_batch_free(&b);
		free(body);
		free(channel);
	}
}

/* An Instagram entry: account (entry id and recipient) acc, from sender, and
 * the event's own fields; then a normal message from another customer. */
static char *ig_two(const char *acc, const char *sender, const char *fields)
{
	char *body = NULL;
	assert_true(
	    asprintf(&body,
		     "{'object':'instagram','entry':[{'id':'%s','messaging':[{"
		     "'sender':{'id':'%s'},'recipient':{'id':'%s'},'timestamp':1750000000123,"
		     "%s}]},{'id':'" IG_ACC "','messaging':[{'sender':{'id':'" IG_CUST
		     "'},'recipient':{'id':'" IG_ACC "'},'timestamp':1750000000123,"
		     "'message':{'mid':'mid.NORMAL','text':'normal'}}]}]}",
		     acc, sender, acc, fields) > 0);
	return body;
}

static void test_width_instagram(void **state)
{
	(void)state;
	char *acc100 = rep("1", 100), *acc101 = rep("1", 101), *c50 = rep("5", 50),
	     *c51 = rep("5", 51), *m512 = rep("M", 512), *m513 = rep("M", 513), *f = NULL;
	struct {
		const char *acc, *sender;
		size_t messages, statuses, too_long;
	} cases[] = {
	    {acc100, IG_CUST, 2, 0, 0}, {acc101, IG_CUST, 1, 0, 1}, {IG_ACC, c50, 2, 0, 0},
	    {IG_ACC, c51, 1, 0, 1},     {IG_ACC, IG_CUST, 2, 0, 0}, /* mid 512 */
	    {IG_ACC, IG_CUST, 1, 0, 1},                             /* mid 513 */
	    {IG_ACC, IG_CUST, 1, 0, 1},                             /* reply_to mid 513 */
	    {IG_ACC, IG_CUST, 1, 0, 1},                             /* reaction to mid 513 */
	    {IG_ACC, c51, 1, 0, 1},     /* reaction by a customer id too long */
	    {IG_ACC, IG_CUST, 1, 0, 1}, /* edit of mid 513 */
	    {IG_ACC, c51, 1, 0, 1},     /* postback */
	    {IG_ACC, IG_CUST, 1, 0, 1}, /* postback with its own mid 513 */
	    {IG_ACC, c51, 1, 0, 1},     /* referral */
	    {IG_ACC, c51, 1, 1, 0},     /* a read names the customer, stores nothing of it */
	    {IG_ACC, IG_CUST, 1, 0, 1}, /* read of mid 513 */
	    {IG_ACC, IG_CUST, 1, 1, 1}, /* delivery of mid 513 and of one that fits */
	};
	const char *fields[] = {
	    "'message':{'mid':'mid.V','text':'x'}",
	    "'message':{'mid':'mid.V','text':'x'}",
	    "'message':{'mid':'mid.V','text':'x'}",
	    "'message':{'mid':'mid.V','text':'x'}",
	    "'message':{'mid':'%s','text':'x'}",
	    "'message':{'mid':'%s','text':'x'}",
	    "'message':{'mid':'mid.V','text':'x','reply_to':{'mid':'%s'}}",
	    "'reaction':{'mid':'%s','action':'react','emoji':'x'}",
	    "'reaction':{'mid':'mid.V','action':'react','emoji':'x'}",
	    "'message_edit':{'mid':'%s','text':'x','num_edit':1}",
	    "'postback':{'title':'x','payload':'p'}",
	    "'postback':{'mid':'%s','title':'x','payload':'p'}",
	    "'referral':{'ref':'x','source':'ADS'}",
	    "'read':{'mid':'mid.OUT'}",
	    "'read':{'mid':'%s'}",
	    "'delivery':{'mids':['%s','mid.OUT']}",
	};
	const char *mids[] = {NULL, NULL, NULL, NULL, m512, m513, m513, m513,
			      NULL, m513, NULL, m513, NULL, NULL, m513, m513};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		/* fields[i] with its "%s", if any, replaced by mids[i]. */
		const char *at = strstr(fields[i], "%s");
		if (at)
			assert_true(asprintf(&f, "%.*s%s%s", (int)(at - fields[i]), fields[i],
					     mids[i], at + 2) > 0);
		else
			f = strdup(fields[i]);
		char *body = ig_two(cases[i].acc, cases[i].sender, f);
		struct meta_batch b;
		parse_ok(body, &b);
		if (b.n_messages != cases[i].messages || b.n_statuses != cases[i].statuses ||
		    b.skipped_too_long != cases[i].too_long)
			fail_msg("case %zu: %zu messages, %zu statuses, %zu too long", i,
				 b.n_messages, b.n_statuses, b.skipped_too_long);
		const struct meta_message *last = &b.messages[b.n_messages - 1];
		assert_string_equal(last->platform_message_id, "mid.NORMAL");
		if (cases[i].too_long)
			assert_true(has_note(&b, "is longer than its column"));
		if (i == 4)
			assert_string_equal(b.messages[0].platform_message_id, m512);
		assert_batch_clean(&b);
		meta_batch_free(&b);
		free(body);
		free(f);
	}
	free(acc100);
	free(acc101);
	free(c50);
	free(c51);
	free(m512);
	free(m513);
}

/* Whatever the widths, nothing the parser hands out is wider than its column. */
static void test_width_everything_fits(void **state)
{
	(void)state;
	char *x = rep("x", 10000), *body = NULL;
	assert_true(asprintf(&body,
			     "{'object':'%s','entry':[{'id':'1','changes':[{'field':'messages',"
			     "'value':{'metadata':{'phone_number_id':'PN'},"
			     "'messages':[{'from':'1','id':'a','type':'%s'}]}}]}]}",
			     x, x) > 0);
	struct meta_batch b;
	parse_ok(body, &b);
	assert_true(chars_of(b.object) <= COLUMN_WEBHOOK_OBJECT_WIDTH);
	assert_int_equal(b.n_messages, 0); /* an object of that name is not handled */
	meta_batch_free(&b);
	free(body);
	assert_true(asprintf(&body,
			     WA_HEAD "'messages':[{'from':'1','id':'a','type':'%s'}]" WA_TAIL,
			     x) > 0);
	parse_ok(body, &b);
	assert_int_equal(b.n_messages, 1);
	assert_true(strlen(b.messages[0].kind) <= COLUMN_KIND_WIDTH);
	assert_true(chars_of(b.object) <= COLUMN_WEBHOOK_OBJECT_WIDTH);
	meta_batch_free(&b);
	free(body);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_names_and_rank),
	    cmocka_unit_test(test_wa_text),
	    cmocka_unit_test(test_wa_text_unicode_escapes),
	    cmocka_unit_test(test_wa_reply_context),
	    cmocka_unit_test(test_wa_image),
	    cmocka_unit_test(test_wa_video),
	    cmocka_unit_test(test_wa_audio_and_voice),
	    cmocka_unit_test(test_wa_document),
	    cmocka_unit_test(test_wa_sticker),
	    cmocka_unit_test(test_wa_location),
	    cmocka_unit_test(test_wa_contacts),
	    cmocka_unit_test(test_wa_interactive_button_reply),
	    cmocka_unit_test(test_wa_interactive_list_reply),
	    cmocka_unit_test(test_wa_interactive_form),
	    cmocka_unit_test(test_wa_interactive_other),
	    cmocka_unit_test(test_wa_button),
	    cmocka_unit_test(test_wa_reaction),
	    cmocka_unit_test(test_wa_reaction_removed),
	    cmocka_unit_test(test_wa_order),
	    cmocka_unit_test(test_wa_referral),
	    cmocka_unit_test(test_wa_referral_wrong_types),
	    cmocka_unit_test(test_wa_referral_huge_and_control),
	    cmocka_unit_test(test_wa_referral_invalid_utf8),
	    cmocka_unit_test(test_referral_fields_table),
	    cmocka_unit_test(test_wa_system),
	    cmocka_unit_test(test_wa_edit),
	    cmocka_unit_test(test_wa_revoke),
	    cmocka_unit_test(test_wa_unsupported),
	    cmocka_unit_test(test_wa_unknown_type),
	    cmocka_unit_test(test_wa_request_welcome),
	    cmocka_unit_test(test_wa_profile_names_by_wa_id),
	    cmocka_unit_test(test_wa_profile_name_cleaned),
	    cmocka_unit_test(test_wa_bsuid_sender),
	    cmocka_unit_test(test_wa_phone_preferred_over_bsuid),
	    cmocka_unit_test(test_wa_sole_contact_is_sender),
	    cmocka_unit_test(test_wa_missing_sender_skipped),
	    cmocka_unit_test(test_wa_missing_id_skipped),
	    cmocka_unit_test(test_wa_bad_ids_skipped),
	    cmocka_unit_test(test_wa_timestamps),
	    cmocka_unit_test(test_wa_duplicate_delivery_kept),
	    cmocka_unit_test(test_wa_status_values),
	    cmocka_unit_test(test_wa_status_failed_errors),
	    cmocka_unit_test(test_wa_status_error_variants),
	    cmocka_unit_test(test_wa_status_unknown_values_skipped),
	    cmocka_unit_test(test_wa_status_recipient_user_id),
	    cmocka_unit_test(test_wa_value_errors),
	    cmocka_unit_test(test_wa_other_fields_ignored),
	    cmocka_unit_test(test_wa_missing_phone_number_id),
	    cmocka_unit_test(test_wa_messages_and_statuses_in_one_value),
	    cmocka_unit_test(test_wa_batch),
	    cmocka_unit_test(test_wa_thousand_messages),
	    cmocka_unit_test(test_wa_wrong_types),
	    cmocka_unit_test(test_ig_text),
	    cmocka_unit_test(test_ig_attachments),
	    cmocka_unit_test(test_ig_story_mention),
	    cmocka_unit_test(test_ig_story_reply),
	    cmocka_unit_test(test_ig_reply_to_mid),
	    cmocka_unit_test(test_ig_like_heart),
	    cmocka_unit_test(test_ig_unsupported),
	    cmocka_unit_test(test_ig_empty_message),
	    cmocka_unit_test(test_ig_ad_referral_in_message),
	    cmocka_unit_test(test_ig_reaction),
	    cmocka_unit_test(test_ig_reaction_without_mid),
	    cmocka_unit_test(test_ig_read),
	    cmocka_unit_test(test_ig_read_by_account_ignored),
	    cmocka_unit_test(test_ig_delivery),
	    cmocka_unit_test(test_ig_postback),
	    cmocka_unit_test(test_wa_smb_echo),
	    cmocka_unit_test(test_wa_smb_echo_hostile),
	    cmocka_unit_test(test_ig_echo),
	    cmocka_unit_test(test_ig_sender_is_account_counts_as_echo),
	    cmocka_unit_test(test_ig_unsend),
	    cmocka_unit_test(test_ig_message_edit),
	    cmocka_unit_test(test_ig_referral_event),
	    cmocka_unit_test(test_ig_changes_form),
	    cmocka_unit_test(test_ig_changes_other_fields),
	    cmocka_unit_test(test_ig_standby),
	    cmocka_unit_test(test_ig_batch),
	    cmocka_unit_test(test_ig_malformed_events),
	    cmocka_unit_test(test_ig_customer_from_different_page),
	    cmocka_unit_test(test_empty_body),
	    cmocka_unit_test(test_not_json),
	    cmocka_unit_test(test_json_not_object),
	    cmocka_unit_test(test_truncated_json),
	    cmocka_unit_test(test_unknown_object),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_deep_nesting_in_form),
	    cmocka_unit_test(test_huge_text_capped),
	    cmocka_unit_test(test_text_at_cap_not_cut),
	    cmocka_unit_test(test_invalid_utf8_replaced),
	    cmocka_unit_test(test_valid_utf8_kept),
	    cmocka_unit_test(test_escaped_nul_stripped),
	    cmocka_unit_test(test_raw_nul_bytes_stripped),
	    cmocka_unit_test(test_lone_surrogates),
	    cmocka_unit_test(test_notes_capped),
	    cmocka_unit_test(test_free_is_idempotent),
	    cmocka_unit_test(test_duplicate_keys_first_wins),
	    cmocka_unit_test(test_numbers_extreme),
	    cmocka_unit_test(test_width_names_cut_in_characters),
	    cmocka_unit_test(test_width_names_invalid_utf8_at_the_cut),
	    cmocka_unit_test(test_width_wa_sender),
	    cmocka_unit_test(test_width_wa_sender_no_fallback),
	    cmocka_unit_test(test_width_wa_message_and_context_ids),
	    cmocka_unit_test(test_width_wa_status_ids),
	    cmocka_unit_test(test_width_wa_channel),
	    cmocka_unit_test(test_width_instagram),
	    cmocka_unit_test(test_width_everything_fits),
	};
	json_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
