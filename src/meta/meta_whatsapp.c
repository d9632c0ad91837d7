/*
 * WhatsApp Cloud API webhooks (docs/protocol.md, WhatsApp): entry[] →
 * changes[] → value with messages[], statuses[] and contacts[], turned into
 * the batch's messages and statuses (part of meta_parse).
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

/* "whatsapp <channel>": a channel id fits its column or the change is skipped. */
#define WA_WHERE_BYTES (COLUMN_META_PHONE_NUMBER_ID_WIDTH + 16)

/*
 * WhatsApp messages[].referral (docs/protocol.md, WhatsApp): a
 * Click-to-WhatsApp ad or a post; or, without one, context.referred_product:
 * the customer tapped "Message business" on a catalogue product (source_type
 * "product", the product's retailer id as source_id). Both stay out of the
 * text, which is stored as sent (docs/protocol.md, WhatsApp). NULL without
 * either; one that is not an object, or has nothing usable in it, is noted and
 * dropped: the message itself is stored as usual.
 */
static struct meta_referral *wa_referral(struct parse *p, const char *channel, const char *id,
					 const cJSON *m)
{
	const cJSON *ref = meta_get(m, "referral");
	const cJSON *product = meta_get_obj(meta_get_obj(m, "context"), "referred_product");
	if (!ref && !product)
		return NULL;
	static const struct meta_ref_key ad_keys[] = {
	    META_REF_KEY(source_type, "source_type", REF_LINE),
	    META_REF_KEY(source_id, "source_id", REF_ID),
	    META_REF_KEY(source_url, "source_url", REF_URL),
	    META_REF_KEY(headline, "headline", REF_LINE),
	    META_REF_KEY(body, "body", REF_PROSE),
	    META_REF_KEY(media_type, "media_type", REF_LINE),
	    META_REF_KEY(image_url, "image_url", REF_URL),
	    META_REF_KEY(video_url, "video_url", REF_URL),
	    META_REF_KEY(thumbnail_url, "thumbnail_url", REF_URL),
	    META_REF_KEY(ctwa_clid, "ctwa_clid", REF_ID),
	};
	static const struct meta_ref_key welcome_keys[] = {
	    META_REF_KEY(welcome_message, "text", REF_PROSE),
	};
	static const struct meta_ref_key product_keys[] = {
	    META_REF_KEY(source_id, "product_retailer_id", REF_ID),
	    META_REF_KEY(catalog_id, "catalog_id", REF_ID),
	};
	struct meta_referral *r = xcalloc(1, sizeof(*r));
	if (ref) {
		meta_ref_values(r, ref, ad_keys, sizeof(ad_keys) / sizeof(ad_keys[0]));
		meta_ref_values(r, meta_get_obj(ref, "welcome_message"), welcome_keys, 1);
	} else {
		meta_ref_values(r, product, product_keys,
				sizeof(product_keys) / sizeof(product_keys[0]));
		if (r->source_id || r->catalog_id)
			r->source_type = xstrdup("product");
	}
	if (!(r = meta_referral_or_null(r)))
		meta_note(p, "whatsapp %s: message %s: referral without usable fields ignored",
			  channel, id);
	return r;
}

/* value.contacts[] indexed by wa_id and user_id, to find each sender's profile name. */
struct contact {
	const char *key, *name; /* point into the JSON tree */
};

struct contacts {
	struct contact *v;
	size_t n;
	/* The id of value.contacts[0] when it is the only contact: the sender of
	 * a message that names none (seen with username-era payloads). */
	const char *sole;
};

static int contact_cmp(const void *a, const void *b)
{
	return strcmp(((const struct contact *)a)->key, ((const struct contact *)b)->key);
}

/* Sorted once per value so a batch of 1000 messages is not 1000 linear scans. */
static void contacts_index(const cJSON *value, struct contacts *cs)
{
	const cJSON *arr = meta_get_arr(value, "contacts");
	const cJSON *c;
	size_t cap = 0;
	cs->v = NULL;
	cs->n = 0;
	cs->sole = NULL;
	if (cJSON_GetArraySize(arr) == 1) {
		cs->sole = meta_get_raw_id(arr->child, "wa_id");
		if (!cs->sole)
			cs->sole = meta_get_raw_id(arr->child, "user_id");
	}
	cJSON_ArrayForEach(c, arr)
	{
		const cJSON *profile = meta_get_obj(c, "profile");
		const char *name = meta_get_text(profile, "name");
		if (!name)
			name = meta_get_text(profile, "username");
		if (!name)
			continue;
		const char *keys[] = {meta_get_id(c, "wa_id"), meta_get_id(c, "user_id")};
		for (size_t i = 0; i < 2; i++) {
			if (!keys[i])
				continue;
			if (cs->n == cap) {
				cap = cap ? 2 * cap : 4;
				cs->v = xrealloc(cs->v, cap * sizeof(*cs->v));
			}
			cs->v[cs->n++] = (struct contact){keys[i], name};
		}
	}
	if (cs->n > 1)
		qsort(cs->v, cs->n, sizeof(*cs->v), contact_cmp);
}

static const char *contacts_find(const struct contacts *cs, const char *key)
{
	if (!key || cs->n == 0)
		return NULL;
	struct contact want = {key, NULL};
	const struct contact *c = bsearch(&want, cs->v, cs->n, sizeof(*cs->v), contact_cmp);
	return c ? c->name : NULL;
}

/*
 * The id of an item of value.messages[] or value.statuses[] (array), one
 * "message" or "status" (what); NULL with the item skipped when it is not
 * an object, its id is too long for the column (counted) or missing
 * (noted). where gets "whatsapp <channel>", for the item's other notes.
 */
static const char *wa_item_id(struct parse *p, const cJSON *o, const char *channel,
			      const char *array, const char *what, char where[WA_WHERE_BYTES])
{
	snprintf(where, WA_WHERE_BYTES, "whatsapp %s", channel);
	if (!cJSON_IsObject(o)) {
		meta_note(p, "%s: a %s[] item is not an object, skipped", where, array);
		return NULL;
	}
	char id_what[16];
	snprintf(id_what, sizeof(id_what), "%s id", what);
	if (meta_id_too_long(p, meta_get_str(o, "id"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, where,
			     id_what))
		return NULL;
	const char *id = meta_get_id(o, "id");
	if (!id)
		meta_note(p, "%s: %s without a valid id skipped", where, what);
	return id;
}

/*
 * One item of value.messages[] (echo false) or of value.message_echoes[]
 * (echo true: field smb_message_echoes, a message the business sent from the
 * WhatsApp Business app of a coexistence number; from is the business, to
 * the customer). An echo is stored as a person's agent message and never
 * asks for a reply (docs/protocol.md, Echoes).
 */
static void wa_message(struct parse *p, const char *channel, const struct contacts *cs,
		       const cJSON *m, bool echo)
{
	char where[WA_WHERE_BYTES];
	const char *id = wa_item_id(p, m, channel, echo ? "message_echoes" : "messages",
				    echo ? "echo" : "message", where);
	if (!id)
		return;
	/* The customer (docs/protocol.md, WhatsApp): the phone-number wa_id;
	 * the BSUID only when Meta sends no number. A number too long for the
	 * column is not replaced by the BSUID: the customer would get two
	 * conversations. On an echo the customer is the recipient. */
	const char *from = meta_get_raw_id(m, echo ? "to" : "from");
	if (!from)
		from = meta_get_raw_id(m, echo ? "to_user_id" : "from_user_id");
	if (!from && !echo && !meta_get(m, "from") && !meta_get(m, "from_user_id"))
		from = cs->sole;
	if (meta_id_too_long(p, from, COLUMN_CUSTOMER_PHONE_WIDTH, where, "sender id"))
		return;
	if (!from) {
		meta_note(p, "%s: message %s without a valid sender skipped", where, id);
		return;
	}
	const char *reply_to = meta_get_str(meta_get_obj(m, "context"), "id");
	if (meta_id_too_long(p, reply_to, COLUMN_REPLY_TO_WIDTH, where, "context id"))
		return;

	struct render r = {.p = p};
	struct strbuf sb = STRBUF_INIT;
	meta_render_whatsapp(m, &sb, &r);

	const char *name = echo ? NULL : contacts_find(cs, from);
	if (!name && !echo)
		name = contacts_find(cs, meta_get_id(m, "from_user_id"));
	struct meta_message out = {
	    .platform = PLATFORM_WHATSAPP,
	    .channel_id = xstrdup(channel),
	    .customer_id = xstrdup(from),
	    .platform_message_id = xstrdup(id),
	    .kind = xstrdup(r.kind),
	    .text = meta_finish_text(&sb, "[empty]"),
	    .profile_name = name ? meta_clean_name(name) : NULL,
	    .reply_to = meta_dup_or_null(meta_get_id(meta_get_obj(m, "context"), "id")),
	    .target_message_id = meta_dup_or_null(r.target),
	    .timestamp_ms = meta_ts_ms(meta_get(m, "timestamp")),
	    .needs_reply = r.needs_reply && !echo,
	    .referral = echo ? NULL : wa_referral(p, channel, id, m),
	    .is_echo = echo,
	};
	meta_add_message(p, &out);
}

static void wa_status(struct parse *p, const char *channel, const cJSON *s)
{
	static const struct {
		const char *name;
		enum delivery_status status;
	} known[] = {
	    {"sent", DELIVERY_SENT},     {"delivered", DELIVERY_DELIVERED}, {"read", DELIVERY_READ},
	    {"played", DELIVERY_READ}, /* first play of a voice note: it was read */
	    {"failed", DELIVERY_FAILED},
	};
	char where[WA_WHERE_BYTES];
	const char *id = wa_item_id(p, s, channel, "statuses", "status", where);
	if (!id)
		return;
	const char *name = meta_get_str(s, "status");
	size_t i = 0;
	while (i < sizeof(known) / sizeof(known[0]) && !meta_streq(name, known[i].name))
		i++;
	if (i == sizeof(known) / sizeof(known[0])) {
		char *w = meta_word(name);
		meta_note(p, "whatsapp %s: status \"%s\" for %s ignored", channel, w, id);
		free(w);
		return;
	}

	struct err_info ei = {0};
	const cJSON *errors = meta_get_arr(s, "errors");
	if (errors && errors->child)
		meta_err_info(errors->child, &ei);
	const char *recipient = meta_get_id(s, "recipient_id");
	if (!recipient)
		recipient = meta_get_id(s, "recipient_user_id");
	struct meta_status out = {
	    .platform = PLATFORM_WHATSAPP,
	    .channel_id = xstrdup(channel),
	    .platform_message_id = xstrdup(id),
	    .status = known[i].status,
	    .error_code = ei.code,
	    .error_title = ei.title,
	    .error_detail = ei.detail,
	    .recipient_id = meta_dup_or_null(recipient),
	    .timestamp_ms = meta_ts_ms(meta_get(s, "timestamp")),
	};
	meta_add_status(p, &out);
}

static void wa_change(struct parse *p, const cJSON *change)
{
	if (!cJSON_IsObject(change)) {
		meta_note(p, "whatsapp: a changes[] item is not an object, skipped");
		return;
	}
	/* "messages" carries messages and statuses, "smb_message_echoes" the
	 * business's own sends from its phone app; the rest is account admin. */
	const char *field = meta_get_str(change, "field");
	bool echoes = meta_streq(field, "smb_message_echoes");
	if (field && !echoes && strcmp(field, "messages") != 0) {
		char *w = meta_word(field);
		meta_note(p, "whatsapp: field \"%s\" ignored", w);
		free(w);
		return;
	}
	const cJSON *value = meta_get_obj(change, "value");
	if (!value) {
		meta_note(p, "whatsapp: change without a value object skipped");
		return;
	}
	const char *channel = meta_get_raw_id(meta_get_obj(value, "metadata"), "phone_number_id");
	/* Longer than any channel id parley could hold: no channel matches it. */
	bool channel_too_long = channel && strlen(channel) > COLUMN_META_PHONE_NUMBER_ID_WIDTH;
	if (channel_too_long)
		channel = NULL;
	char where[COLUMN_META_PHONE_NUMBER_ID_WIDTH + 16];
	snprintf(where, sizeof(where), "whatsapp %s", channel ? channel : "?");
	meta_note_errors(p, where, meta_get(value, "errors"));

	const cJSON *msgs, *sts, *it;
	const char *msgs_key = echoes ? "message_echoes" : "messages";
	bool has_msgs = meta_each_item(p, value, msgs_key, where, &msgs);
	bool has_sts = !echoes && meta_each_item(p, value, "statuses", where, &sts);
	if (echoes)
		sts = NULL;
	if ((has_msgs || has_sts) && channel_too_long) {
		const char *raw = meta_get_str(meta_get_obj(value, "metadata"), "phone_number_id");
		p->b->skipped_too_long +=
		    (size_t)cJSON_GetArraySize(msgs) + (size_t)cJSON_GetArraySize(sts);
		meta_note(
		    p,
		    "whatsapp: metadata.phone_number_id of %zu characters (%.16s\xe2\x80\xa6) is "
		    "longer than its column (%d): %d messages, %d statuses skipped",
		    strlen(raw), raw, COLUMN_META_PHONE_NUMBER_ID_WIDTH, cJSON_GetArraySize(msgs),
		    cJSON_GetArraySize(sts));
		return;
	}
	if ((has_msgs || has_sts) && !channel) {
		meta_note(p,
			  "whatsapp: change without a valid metadata.phone_number_id: %d messages, "
			  "%d statuses skipped",
			  cJSON_GetArraySize(msgs), cJSON_GetArraySize(sts));
		return;
	}
	if (!has_msgs && !has_sts && !meta_get(value, "errors") && !meta_get(value, msgs_key) &&
	    !meta_get(value, "statuses"))
		meta_note(p, "%s: change without messages, statuses or errors", where);
	if (has_msgs) {
		struct contacts cs;
		contacts_index(value, &cs);
		cJSON_ArrayForEach(it, msgs) wa_message(p, channel, &cs, it, echoes);
		free(cs.v);
	}
	cJSON_ArrayForEach(it, sts) wa_status(p, channel, it);
}

void meta_whatsapp_entry(struct parse *p, const cJSON *entry)
{
	const cJSON *changes, *ch;
	if (!cJSON_IsObject(entry)) {
		meta_note(p, "whatsapp: an entry[] item is not an object, skipped");
		return;
	}
	if (!meta_each_item(p, entry, "changes", "whatsapp entry", &changes)) {
		if (!changes && !meta_get(entry, "changes"))
			meta_note(p, "whatsapp: entry without changes");
		return;
	}
	cJSON_ArrayForEach(ch, changes) wa_change(p, ch);
}
