/*
 * Instagram messaging webhooks (docs/protocol.md, Instagram): entry[] with
 * messaging[] events (messages, echoes, reactions, reads, postbacks, edits,
 * referrals) or changes[], turned into the batch's messages and statuses
 * (part of meta_parse).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "meta_internal.h"
#include "meta_parse.h"
#include "strbuf.h"
#include "xalloc.h"

/* Appends s (if any) to a line of space-separated parts. */
static void append_part(struct strbuf *sb, const char *s)
{
	if (!s || !*s)
		return;
	if (sb->len)
		strbuf_putc(sb, ' ');
	strbuf_puts(sb, s);
}

/*
 * Ids for Instagram events that carry none of their own (reactions, unsends,
 * edits, postbacks without mid, referrals): "ig-<what>-" + the first 128 bits
 * of SHA-256 over what and the fields, each NUL-terminated (fields hold no NUL,
 * so the encoding is unambiguous). The fields are the event's identity
 * (account, customer, target mid, action, Meta's timestamp…), so a redelivery
 * gets the same id and dedupes, while a later react/unreact does not. At most
 * 44 characters: short enough for any id column even when the mid is long.
 */
static char *derived_id(const char *what, const char *const *fields, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, what, strlen(what) + 1)) {
		fprintf(stderr, "parley: SHA-256 unavailable\n");
		abort();
	}
	for (size_t i = 0; i < n; i++) {
		const char *f = fields[i] ? fields[i] : "";
		EVP_DigestUpdate(ctx, f, strlen(f) + 1);
	}
	EVP_DigestFinal_ex(ctx, md, &md_len);
	EVP_MD_CTX_free(ctx);
	char hex[33];
	for (size_t i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return xasprintf("ig-%s-%s", what, hex);
}

/*
 * Instagram's referral {ref, ad_id, source, type, ads_context_data: {ad_title,
 * photo_url, video_url}}, on a message or as an event of its own. NULL when
 * absent or without anything usable.
 */
static struct meta_referral *ig_referral_of(const cJSON *ref)
{
	if (!cJSON_IsObject(ref))
		return NULL;
	static const struct meta_ref_key keys[] = {
	    META_REF_KEY(source_type, "source", REF_LINE),
	    META_REF_KEY(source_id, "ad_id", REF_ID),
	    META_REF_KEY(ref, "ref", REF_LINE),
	};
	static const struct meta_ref_key ads_keys[] = {
	    META_REF_KEY(title, "ad_title", REF_LINE),
	    META_REF_KEY(image_url, "photo_url", REF_URL),
	    META_REF_KEY(video_url, "video_url", REF_URL),
	};
	struct meta_referral *r = xcalloc(1, sizeof(*r));
	meta_ref_values(r, ref, keys, sizeof(keys) / sizeof(keys[0]));
	meta_ref_values(r, meta_get_obj(ref, "ads_context_data"), ads_keys,
			sizeof(ads_keys) / sizeof(ads_keys[0]));
	return meta_referral_or_null(r);
}

/* Who is who in one messaging event. */
struct ig_event {
	const char *account;  /* the business's IG account: the channel */
	const char *customer; /* the other party (any length), or NULL */
	bool echo;            /* sent by the account itself */
	long long ts;
	char ts_text[24];                                   /* ts for derived ids */
	char where[COLUMN_META_PHONE_NUMBER_ID_WIDTH + 16]; /* "instagram <account>" for notes */
};

/*
 * The other party of an event that becomes a message is its conversation's
 * customer: false (the event skipped and counted) when the id is longer than
 * that column. Read receipts and deliveries only name it.
 */
static bool ig_customer_fits(struct parse *p, const struct ig_event *ev)
{
	return !meta_id_too_long(p, ev->customer, COLUMN_CUSTOMER_PHONE_WIDTH, ev->where,
				 "customer id");
}

/*
 * The mid of o, valid and short enough for its column, or NULL with the
 * event skipped: a mid too long is counted, a missing or invalid one noted
 * as "<what> without a valid mid". With sender, the event also needs the
 * other party, fitting its column (ig_customer_fits).
 */
static const char *ig_mid(struct parse *p, const struct ig_event *ev, const cJSON *o,
			  const char *what, bool sender)
{
	if (meta_id_too_long(p, meta_get_str(o, "mid"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, ev->where,
			     "mid"))
		return NULL;
	const char *mid = meta_get_id(o, "mid");
	if (!mid || (sender && !ev->customer)) {
		meta_note(p, "instagram %s: %s without a valid mid%s skipped", ev->account, what,
			  sender ? " or sender" : "");
		return NULL;
	}
	if (sender && !ig_customer_fits(p, ev))
		return NULL;
	return mid;
}

static struct meta_message ig_base(const struct ig_event *ev, const char *kind)
{
	return (struct meta_message){
	    .platform = PLATFORM_INSTAGRAM,
	    .channel_id = xstrdup(ev->account),
	    .customer_id = xstrdup(ev->customer),
	    .kind = xstrdup(kind),
	    .timestamp_ms = ev->ts,
	    .is_echo = ev->echo,
	    .needs_reply = !ev->echo,
	};
}

static void ig_message(struct parse *p, const struct ig_event *ev, const cJSON *msg)
{
	const char *mid = ig_mid(p, ev, msg, "message", false);
	if (!mid)
		return;
	if (!ev->customer) {
		meta_note(p, "instagram %s: message %s without the other party's id skipped",
			  ev->account, mid);
		return;
	}
	if (!ig_customer_fits(p, ev))
		return;
	if (meta_id_too_long(p, meta_get_str(meta_get_obj(msg, "reply_to"), "mid"),
			     COLUMN_REPLY_TO_WIDTH, ev->where, "reply_to mid"))
		return;
	if (meta_get_true(msg, "is_deleted")) {
		/* The unsend reuses the original mid, which storage already holds. */
		struct meta_message out = ig_base(ev, "deleted");
		const char *f[] = {ev->account, ev->customer, mid};
		out.platform_message_id = derived_id("unsend", f, 3);
		out.target_message_id = xstrdup(mid);
		out.text = xstrdup("[message deleted]");
		out.needs_reply = false;
		meta_add_message(p, &out);
		return;
	}

	struct strbuf sb = STRBUF_INIT, atts = STRBUF_INIT;
	const char *text = meta_get_text(msg, "text");
	const cJSON *reply_to = meta_get_obj(msg, "reply_to");
	bool story_reply = meta_get_obj(reply_to, "story") != NULL;
	const char *akind = meta_render_ig_attachments(meta_get_arr(msg, "attachments"), &atts);
	if (!akind && meta_get_true(msg, "is_unsupported")) {
		strbuf_puts(&atts, "[unsupported]");
		akind = "unsupported";
	}
	const char *kind = story_reply ? "story_reply" : akind ? akind : text ? "text" : "unknown";
	if (story_reply)
		strbuf_puts(&sb, "[story reply]");
	append_part(&sb, strbuf_str(&atts));
	strbuf_free(&atts);
	append_part(&sb, text);

	struct meta_message out = ig_base(ev, kind);
	out.platform_message_id = xstrdup(mid);
	out.text = meta_finish_text(&sb, "[empty message]");
	out.reply_to = meta_dup_or_null(meta_get_id(reply_to, "mid"));
	out.referral = ig_referral_of(meta_get(msg, "referral"));
	/* A heart sent as a message closes a chat like a reaction does. */
	if (meta_streq(kind, "like"))
		out.needs_reply = false;
	meta_add_message(p, &out);
}

static void ig_reaction(struct parse *p, const struct ig_event *ev, const cJSON *r)
{
	/* The message reacted to: no stored message has an id that long. */
	const char *mid = ig_mid(p, ev, r, "reaction", true);
	if (!mid)
		return;
	const char *action = meta_get_str(r, "action");
	const char *emoji = meta_get_text(r, "emoji");
	if (!emoji)
		emoji = meta_get_text(r, "reaction"); /* "love" */
	struct meta_message out = ig_base(ev, "reaction");
	const char *f[] = {ev->account, ev->customer, mid, action, emoji, ev->ts_text};
	out.platform_message_id = derived_id("reaction", f, 6);
	out.target_message_id = xstrdup(mid);
	struct strbuf sb = STRBUF_INIT;
	if (meta_streq(action, "unreact"))
		strbuf_puts(&sb, "[reaction removed]");
	else if (emoji)
		strbuf_printf(&sb, "[reaction] %s", emoji);
	out.text = meta_finish_text(&sb, "[reaction]");
	out.needs_reply = false;
	meta_add_message(p, &out);
}

static void ig_status(struct parse *p, const struct ig_event *ev, const char *mid,
		      enum delivery_status status)
{
	struct meta_status out = {
	    .platform = PLATFORM_INSTAGRAM,
	    .channel_id = xstrdup(ev->account),
	    .platform_message_id = xstrdup(mid),
	    .status = status,
	    .recipient_id = meta_dup_or_null(ev->customer),
	    .timestamp_ms = ev->ts,
	};
	meta_add_status(p, &out);
}

static void ig_read(struct parse *p, const struct ig_event *ev, const cJSON *read)
{
	/* The account reading the customer's message says nothing about our sends. */
	if (ev->echo) {
		meta_note(p, "instagram %s: read by the account itself ignored", ev->account);
		return;
	}
	const char *mid = ig_mid(p, ev, read, "read", false);
	if (mid)
		ig_status(p, ev, mid, DELIVERY_READ);
}

static void ig_delivery(struct parse *p, const struct ig_event *ev, const cJSON *d)
{
	const cJSON *mids = meta_get_arr(d, "mids"), *m;
	if (ev->echo)
		return;
	if (!mids)
		meta_note(p, "instagram %s: delivery without mids skipped", ev->account);
	cJSON_ArrayForEach(m, mids)
	{
		const char *mid = cJSON_IsString(m) ? m->valuestring : NULL;
		if (meta_id_too_long(p, mid, COLUMN_PLATFORM_MESSAGE_ID_WIDTH, ev->where, "mid"))
			continue;
		if (meta_id_ok(mid))
			ig_status(p, ev, mid, DELIVERY_DELIVERED);
		else
			meta_note(p, "instagram %s: delivery with an invalid mid skipped",
				  ev->account);
	}
}

static void ig_postback(struct parse *p, const struct ig_event *ev, const cJSON *pb)
{
	if (!ev->customer) {
		meta_note(p, "instagram %s: postback without a sender skipped", ev->account);
		return;
	}
	if (!ig_customer_fits(p, ev) ||
	    meta_id_too_long(p, meta_get_str(pb, "mid"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH,
			     ev->where, "mid"))
		return;
	const char *title = meta_get_text(pb, "title"), *payload = meta_get_str(pb, "payload");
	const char *mid = meta_get_id(pb, "mid");
	struct meta_message out = ig_base(ev, "postback");
	if (mid) {
		out.platform_message_id = xstrdup(mid);
	} else {
		const char *f[] = {ev->account, ev->customer, payload, title, ev->ts_text};
		out.platform_message_id = derived_id("postback", f, 5);
	}
	struct strbuf sb = STRBUF_INIT;
	/* The button's title is what the customer "said"; the payload is ours. */
	strbuf_puts(&sb, title ? title : payload ? payload : "");
	out.text = meta_finish_text(&sb, "[postback]");
	meta_add_message(p, &out);
}

static void ig_edit(struct parse *p, const struct ig_event *ev, const cJSON *e)
{
	/* The message edited: no stored message has an id that long. */
	const char *mid = ig_mid(p, ev, e, "message_edit", true);
	if (!mid)
		return;
	char num[40] = "";
	meta_number_text(meta_get(e, "num_edit"), num, sizeof(num));
	struct meta_message out = ig_base(ev, "edit");
	const char *f[] = {ev->account, ev->customer, mid, num, ev->ts_text};
	out.platform_message_id = derived_id("edit", f, 5);
	out.target_message_id = xstrdup(mid);
	struct strbuf sb = STRBUF_INIT;
	const char *text = meta_get_text(e, "text");
	strbuf_puts(&sb, "[edited]");
	if (text)
		strbuf_printf(&sb, " %s", text);
	out.text = meta_finish_text(&sb, "[edited]");
	out.needs_reply = false;
	meta_add_message(p, &out);
}

static void ig_referral(struct parse *p, const struct ig_event *ev, const cJSON *r)
{
	if (!ev->customer) {
		meta_note(p, "instagram %s: referral without a sender skipped", ev->account);
		return;
	}
	if (!ig_customer_fits(p, ev))
		return;
	const char *ref = meta_get_text(r, "ref"), *source = meta_get_str(r, "source");
	struct meta_message out = ig_base(ev, "referral");
	const char *f[] = {ev->account, ev->customer, ref, source, ev->ts_text};
	out.platform_message_id = derived_id("referral", f, 5);
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "[referral]");
	if (ref)
		strbuf_printf(&sb, " %s", ref);
	out.text = meta_finish_text(&sb, "[referral]");
	out.referral = ig_referral_of(r);
	/* Opening a link says nothing yet; the message that follows gets the reply. */
	out.needs_reply = false;
	meta_add_message(p, &out);
}

/*
 * One messaging[]/standby[] item, or the value of a changes[] item in the
 * dashboard-test form. entry_id is NULL when unusable (missing, or "0").
 */
static void ig_event(struct parse *p, const char *entry_id, const cJSON *item)
{
	if (!cJSON_IsObject(item)) {
		meta_note(p, "instagram: a messaging item is not an object, skipped");
		return;
	}
	const char *sender = meta_get_raw_id(meta_get_obj(item, "sender"), "id");
	const char *recipient = meta_get_raw_id(meta_get_obj(item, "recipient"), "id");
	const cJSON *msg = meta_get_obj(item, "message");
	bool echo_flag = meta_get_true(msg, "is_echo");

	struct ig_event ev = {0};
	ev.account = entry_id ? entry_id : echo_flag ? sender : recipient;
	if (!ev.account) {
		meta_note(p, "instagram: event without a valid account id skipped");
		return;
	}
	/* Longer than any channel id parley could hold: no channel matches it. */
	if (meta_id_too_long(p, ev.account, COLUMN_META_PHONE_NUMBER_ID_WIDTH, "instagram",
			     "account id"))
		return;
	snprintf(ev.where, sizeof(ev.where), "instagram %s", ev.account);
	if (meta_streq(sender, ev.account))
		ev.customer = recipient;
	else if (meta_streq(recipient, ev.account))
		ev.customer = sender;
	else
		ev.customer = echo_flag ? recipient : sender;
	ev.echo = echo_flag || meta_streq(sender, ev.account);
	ev.ts = meta_ts_ms(meta_get(item, "timestamp"));
	snprintf(ev.ts_text, sizeof(ev.ts_text), "%lld", ev.ts);

	if (msg) {
		ig_message(p, &ev, msg);
		return;
	}
	/* The first member present decides the kind, in this order. */
	static const struct {
		const char *key;
		void (*fn)(struct parse *p, const struct ig_event *ev, const cJSON *o);
	} kinds[] = {
	    {"reaction", ig_reaction}, {"read", ig_read},         {"delivery", ig_delivery},
	    {"postback", ig_postback}, {"message_edit", ig_edit}, {"referral", ig_referral},
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const cJSON *x = meta_get_obj(item, kinds[i].key);
		if (x) {
			kinds[i].fn(p, &ev, x);
			return;
		}
	}
	meta_note(p, "instagram %s: event of no handled kind skipped", ev.account);
}

void meta_instagram_entry(struct parse *p, const cJSON *entry)
{
	static const char *const lists[] = {"messaging", "standby"};
	const cJSON *arr, *it;
	bool any = false;
	if (!cJSON_IsObject(entry)) {
		meta_note(p, "instagram: an entry[] item is not an object, skipped");
		return;
	}
	/* Any length: an account id too long is skipped per event, and counted. */
	const char *entry_id = meta_get_raw_id(entry, "id");
	/* The dashboard's test sends entry id "0": the recipient then names the account. */
	if (meta_streq(entry_id, "0"))
		entry_id = NULL;
	for (size_t i = 0; i < 2; i++) {
		any |= meta_get(entry, lists[i]) != NULL;
		if (meta_each_item(p, entry, lists[i], "instagram entry", &arr))
			cJSON_ArrayForEach(it, arr) ig_event(p, entry_id, it);
	}
	any |= meta_get(entry, "changes") != NULL;
	if (meta_each_item(p, entry, "changes", "instagram entry", &arr)) {
		cJSON_ArrayForEach(it, arr)
		{
			const cJSON *value = meta_get_obj(it, "value");
			if (meta_get_obj(value, "sender") || meta_get_obj(value, "recipient")) {
				ig_event(p, entry_id, value);
			} else {
				char *w = meta_word(meta_get_str(it, "field"));
				meta_note(p, "instagram: field \"%s\" ignored", w);
				free(w);
			}
		}
	}
	if (!any)
		meta_note(p, "instagram %.*s: entry without messaging or changes",
			  COLUMN_META_PHONE_NUMBER_ID_WIDTH, entry_id ? entry_id : "?");
}
