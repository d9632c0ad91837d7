/*
 * The readable text of each kind of message (part of meta_parse): what the
 * agent and the inbox see for a WhatsApp message of any type, and the tags
 * of Instagram attachments. Pure: JSON in, text and kind out.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "meta_internal.h"
#include "meta_parse.h"
#include "strbuf.h"
#include "xalloc.h"

typedef void (*wa_render_fn)(const cJSON *content, struct strbuf *sb, struct render *r);

static void wa_text(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *body = meta_get_text(c, "body");
	(void)r;
	/* Stored as sent: no tag in front of plain text. */
	strbuf_puts(sb, body ? body : "[text]");
}

static void wa_media(const cJSON *c, struct strbuf *sb, struct render *r)
{
	if (meta_streq(r->kind, "audio") && meta_get_true(c, "voice"))
		r->kind = "voice";
	strbuf_printf(sb, "[%s]", r->kind);
	const char *filename = meta_get_text(c, "filename");
	const char *caption = meta_get_text(c, "caption");
	if (filename)
		strbuf_printf(sb, " %s", filename);
	if (caption && !meta_streq(caption, filename))
		strbuf_printf(sb, filename ? " \xe2\x80\x94 %s" : " %s", caption);
}

static void wa_location(const cJSON *c, struct strbuf *sb, struct render *r)
{
	char lat[40], lng[40];
	(void)r;
	strbuf_puts(sb, "[location]");
	if (meta_number_text(meta_get(c, "latitude"), lat, sizeof(lat)) &&
	    meta_number_text(meta_get(c, "longitude"), lng, sizeof(lng)))
		strbuf_printf(sb, " %s,%s", lat, lng);
	const char *name = meta_get_text(c, "name"), *address = meta_get_text(c, "address");
	/* Addresses often start with the place's name already. */
	if (name && address && strncmp(address, name, strlen(name)) == 0)
		name = NULL;
	if (name)
		strbuf_printf(sb, " %s", name);
	if (address)
		strbuf_printf(sb, name ? ", %s" : " %s", address);
}

/* One shared contact: "Name +31 6 1234 5678, +31 20 …". */
static void wa_one_contact(const cJSON *c, struct strbuf *sb)
{
	const cJSON *name = meta_get_obj(c, "name");
	const char *formatted = meta_get_text(name, "formatted_name");
	size_t start = sb->len;
	if (formatted) {
		strbuf_puts(sb, formatted);
	} else {
		const char *first = meta_get_text(name, "first_name"),
			   *last = meta_get_text(name, "last_name");
		if (first)
			strbuf_puts(sb, first);
		if (last)
			strbuf_printf(sb, first ? " %s" : "%s", last);
	}
	const cJSON *ph;
	size_t n = 0;
	cJSON_ArrayForEach(ph, meta_get_arr(c, "phones"))
	{
		const char *num = meta_get_text(ph, "phone");
		if (!num)
			num = meta_get_text(ph, "wa_id");
		if (!num)
			continue;
		strbuf_puts(sb, n ? ", " : sb->len > start ? " " : "");
		strbuf_puts(sb, num);
		if (++n == LIST_ITEMS_MAX)
			break;
	}
}

static void wa_contacts(const cJSON *c, struct strbuf *sb, struct render *r)
{
	(void)r;
	strbuf_puts(sb, "[contacts]");
	const cJSON *one;
	size_t n = 0;
	cJSON_ArrayForEach(one, (cJSON_IsArray(c) ? c : NULL))
	{
		if (n == LIST_ITEMS_MAX) {
			strbuf_puts(sb, "; \xe2\x80\xa6");
			break;
		}
		size_t before = sb->len;
		strbuf_puts(sb, n ? "; " : " ");
		size_t mark = sb->len;
		wa_one_contact(one, sb);
		if (sb->len == mark) { /* nothing readable in it */
			sb->len = before;
			sb->buf[before] = '\0';
			continue;
		}
		n++;
	}
}

/* A Flow's answers, compactly: "[form] first_name: Bob, age: 32". */
static void wa_form(const cJSON *nfm, struct strbuf *sb)
{
	strbuf_puts(sb, "[form]");
	const char *json = meta_get_str(nfm, "response_json");
	cJSON *doc = json ? cJSON_Parse(json) : NULL;
	const cJSON *f;
	size_t n = 0;
	cJSON_ArrayForEach(f, (cJSON_IsObject(doc) ? doc : NULL))
	{
		char num[40];
		/* The flow token is the business's own correlation id, not an answer. */
		if (!f->string || meta_streq(f->string, "flow_token"))
			continue;
		const char *val = NULL;
		if (cJSON_IsString(f))
			val = f->valuestring;
		else if (cJSON_IsBool(f))
			val = cJSON_IsTrue(f) ? "yes" : "no";
		else if (meta_number_text(f, num, sizeof(num)))
			val = num;
		if (!val && !cJSON_IsArray(f))
			continue;
		if (n == FORM_FIELDS_MAX) {
			strbuf_puts(sb, ", \xe2\x80\xa6");
			break;
		}
		strbuf_printf(sb, "%s%s: ", n++ ? ", " : " ", f->string);
		if (val) {
			strbuf_puts(sb, val);
			continue;
		}
		const cJSON *item;
		size_t k = 0;
		cJSON_ArrayForEach(item, f)
		{
			if (cJSON_IsString(item))
				strbuf_printf(sb, "%s%s", k++ ? "/" : "", item->valuestring);
			else if (meta_number_text(item, num, sizeof(num)))
				strbuf_printf(sb, "%s%s", k++ ? "/" : "", num);
			if (k == LIST_ITEMS_MAX)
				break;
		}
	}
	cJSON_Delete(doc);
	if (n == 0) {
		const char *body = meta_get_text(nfm, "body");
		if (body)
			strbuf_printf(sb, " %s", body);
	}
}

static void wa_interactive(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *itype = meta_get_str(c, "type");
	(void)r;
	if (meta_streq(itype, "button_reply") || meta_streq(itype, "list_reply")) {
		/* The customer tapped this: its title is what they "said". */
		const cJSON *reply = meta_get_obj(c, itype);
		const char *title = meta_get_text(reply, "title");
		if (!title)
			title = meta_get_text(reply, "id");
		if (title)
			strbuf_puts(sb, title);
		else
			strbuf_puts(sb, meta_streq(itype, "list_reply") ? "[list reply]"
									: "[button reply]");
	} else if (meta_streq(itype, "nfm_reply")) {
		wa_form(meta_get_obj(c, "nfm_reply"), sb);
	} else {
		strbuf_puts(sb, "[interactive]");
	}
}

static void wa_button(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *text = meta_get_text(c, "text");
	(void)r;
	if (!text)
		text = meta_get_text(c, "payload");
	strbuf_puts(sb, text ? text : "[button]");
}

static void wa_reaction(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *emoji = meta_get_text(c, "emoji");
	r->needs_reply = false;
	r->target = meta_get_id(c, "message_id");
	/* Removal comes as "emoji": "" or without the key. */
	if (emoji)
		strbuf_printf(sb, "[reaction] %s", emoji);
	else
		strbuf_puts(sb, "[reaction removed]");
}

static void wa_order(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const cJSON *items = meta_get_arr(c, "product_items"), *it;
	long long total = 0;
	(void)r;
	cJSON_ArrayForEach(it, items)
	{
		const cJSON *q = meta_get(it, "quantity");
		double d = cJSON_IsNumber(q) ? q->valuedouble : 1;
		total += d >= 1 && d <= 1e6 ? (long long)d : 1;
	}
	strbuf_printf(sb, "[order] %lld item%s", total, total == 1 ? "" : "s");
	size_t n = 0;
	cJSON_ArrayForEach(it, items)
	{
		const char *product = meta_get_text(it, "product_retailer_id");
		if (!product)
			continue;
		if (n == LIST_ITEMS_MAX) {
			strbuf_puts(sb, ", \xe2\x80\xa6");
			break;
		}
		const cJSON *q = meta_get(it, "quantity");
		double d = cJSON_IsNumber(q) ? q->valuedouble : 1;
		strbuf_printf(sb, "%s%lld x %s", n++ ? ", " : ": ",
			      d >= 1 && d <= 1e6 ? (long long)d : 1, product);
	}
	const char *text = meta_get_text(c, "text");
	if (text)
		strbuf_printf(sb, " \xe2\x80\x94 %s", text);
}

static void wa_system(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *body = meta_get_text(c, "body");
	r->needs_reply = false;
	if (body) {
		strbuf_printf(sb, "[system] %s", body);
	} else {
		char *t = meta_word(meta_get_str(c, "type"));
		strbuf_printf(sb, *t ? "[system] %s" : "[system]%s", t);
		free(t);
	}
}

static void wa_edit(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const cJSON *inner = meta_get_obj(c, "message");
	r->needs_reply = false;
	r->target = meta_get_id(c, "original_message_id");
	strbuf_puts(sb, "[edited]");
	if (!inner || r->depth > 0)
		return;
	struct render ir = {.p = r->p, .depth = r->depth + 1};
	struct strbuf isb = STRBUF_INIT;
	meta_render_whatsapp(inner, &isb, &ir);
	strbuf_printf(sb, " %s", strbuf_str(&isb));
	strbuf_free(&isb);
}

static void wa_revoke(const cJSON *c, struct strbuf *sb, struct render *r)
{
	r->needs_reply = false;
	r->target = meta_get_id(c, "original_message_id");
	strbuf_puts(sb, "[message deleted]");
}

static void wa_unsupported(const cJSON *c, struct strbuf *sb, struct render *r)
{
	(void)c;
	r->kind = "unsupported"; /* also the older type "unknown" */
	strbuf_puts(sb, "[unsupported]");
}

static void wa_welcome(const cJSON *c, struct strbuf *sb, struct render *r)
{
	(void)c;
	(void)r;
	strbuf_puts(sb, "[chat opened]");
}

static const struct {
	const char *type;
	wa_render_fn fn;
} wa_types[] = {
    {"text", wa_text},
    {"image", wa_media},
    {"video", wa_media},
    {"audio", wa_media},
    {"voice", wa_media}, /* On-Premises era; Cloud API sends audio with voice: true */
    {"document", wa_media},
    {"sticker", wa_media},
    {"location", wa_location},
    {"contacts", wa_contacts},
    {"interactive", wa_interactive},
    {"button", wa_button},
    {"reaction", wa_reaction},
    {"order", wa_order},
    {"system", wa_system},
    {"edit", wa_edit},
    {"revoke", wa_revoke},
    {"unsupported", wa_unsupported},
    {"unknown", wa_unsupported},
    {"request_welcome", wa_welcome},
};

/* Sets r->kind, r->needs_reply, r->target and appends the readable line. */
void meta_render_whatsapp(const cJSON *m, struct strbuf *sb, struct render *r)
{
	const char *type = meta_get_str(m, "type");
	r->needs_reply = true;
	for (size_t i = 0; type && i < sizeof(wa_types) / sizeof(wa_types[0]); i++) {
		if (strcmp(type, wa_types[i].type) == 0) {
			r->kind = wa_types[i].type;
			wa_types[i].fn(meta_get(m, type), sb, r);
			return;
		}
	}
	r->kind = "unknown";
	char *t = meta_word(type);
	if (*t)
		strbuf_printf(sb, "[unknown type: %s]", t);
	else
		strbuf_puts(sb, "[unknown type]");
	free(t);
}

/* Instagram attachment types → kind and the tag shown in the text. */
static const struct {
	const char *type, *kind, *tag;
	bool titled; /* payload.title worth showing */
} ig_attachments[] = {
    {"image", "image", "[image]", false},
    {"video", "video", "[video]", false},
    {"audio", "audio", "[audio]", false},
    {"file", "document", "[file]", false},
    {"share", "share", "[share]", true},
    {"story_mention", "story_mention", "[story mention]", false},
    {"ig_reel", "reel", "[reel]", true},
    {"reel", "reel", "[reel]", true},
    {"ig_post", "post", "[post]", true},
    {"media", "post", "[post]", true},
    {"ig_story", "story", "[story]", false},
    {"story", "story", "[story]", false},
    {"like_heart", "like", "[like]", false},
    {"unsupported_type", "unsupported", "[unsupported]", false},
    {"template", "template", "[template]", true},
    {"fallback", "link", "[link]", true},
    {"location", "location", "[location]", true},
};

/* Appends one tag per attachment; returns the first one's kind, or NULL. */
const char *meta_render_ig_attachments(const cJSON *atts, struct strbuf *sb)
{
	const char *first = NULL;
	const cJSON *a;
	size_t n = 0;
	cJSON_ArrayForEach(a, atts)
	{
		const char *type = meta_get_str(a, "type");
		const char *kind = "attachment";
		if (n == LIST_ITEMS_MAX)
			break;
		if (n++)
			strbuf_putc(sb, ' ');
		size_t i = 0;
		while (i < sizeof(ig_attachments) / sizeof(ig_attachments[0]) &&
		       !meta_streq(type, ig_attachments[i].type))
			i++;
		if (i < sizeof(ig_attachments) / sizeof(ig_attachments[0])) {
			kind = ig_attachments[i].kind;
			strbuf_puts(sb, ig_attachments[i].tag);
			const char *title = meta_get_text(meta_get_obj(a, "payload"), "title");
			if (ig_attachments[i].titled && title)
				strbuf_printf(sb, " %s", title);
		} else {
			char *w = meta_word(type);
			strbuf_printf(sb, *w ? "[attachment: %s]" : "[attachment]%s", w);
			free(w);
		}
		if (!first)
			first = kind;
	}
	return first;
}
