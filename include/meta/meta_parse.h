#ifndef PARLEY_META_PARSE_H
#define PARLEY_META_PARSE_H
/*
 * Meta webhook bodies (WhatsApp Cloud API "whatsapp_business_account",
 * Instagram messaging "instagram") turned into normalised events.
 *
 * Pure: no database, no I/O, no globals, no logging. The caller verifies the
 * signature first (webhook_sig.h), then parses, then resolves channels and
 * stores. Every entry[], changes[], messages[], statuses[], messaging[] and
 * standby[] item of the body is visited (Meta batches up to 1000 updates).
 * A malformed part is skipped with a note; it never fails the whole batch.
 *
 * Every string this module hands out is valid UTF-8 without NUL bytes (invalid
 * sequences become U+FFFD), so it can go straight into PostgreSQL, and fits
 * the column it is meant for (columns.h; docs/protocol.md, Skipped events).
 * Ids (channel, customer, message ids) are never repaired: an id that is not
 * printable ASCII makes its event skipped with a note, because a mangled id
 * could collide with a real one; an id longer than its column (a customer id
 * over 50 characters, a message id over 512, a channel id over 100) makes its
 * event skipped with a note that shows only its first characters, and is
 * counted in skipped_too_long. Names are cut at a character boundary to their
 * column's width instead: a name is not what anything is found by.
 */
#include <stdbool.h>
#include <stddef.h>

#include "columns.h"
#include "platform.h"

/* Longest stored text in bytes; longer text is cut at a UTF-8 boundary and ends in "…". */
#define META_TEXT_MAX 65536
/* Longest id handed out at all (the widest id column); each kind of id also
 * fits its own column: customer ids COLUMN_CUSTOMER_PHONE_WIDTH, channel ids
 * COLUMN_META_PHONE_NUMBER_ID_WIDTH, message ids COLUMN_PLATFORM_MESSAGE_ID_WIDTH. */
#define META_ID_MAX COLUMN_PLATFORM_MESSAGE_ID_WIDTH
/* At most this many notes per batch; then one "N more notes suppressed". */
#define META_NOTES_MAX 100

/* Longest referral value in bytes: free text (headline, title, body,
 * welcome message) and ids; URLs get META_REFERRAL_URL_MAX. Longer values
 * are cut at a UTF-8 boundary and end in "…": they are context for people
 * and the model, never keys. */
#define META_REFERRAL_TEXT_MAX 1024
#define META_REFERRAL_URL_MAX  2048

/*
 * Where the customer came from, as Meta describes it (docs/protocol.md,
 * WhatsApp and Instagram): a Click-to-WhatsApp ad's messages[]
 * .referral, an Instagram message's referral (ads_context_data), or
 * Instagram's standalone referral event (an ig.me link or ad opened). Every
 * field is NULL when Meta did not send it (or sent a value of the wrong
 * type); single-line fields have control characters blanked. Stored as
 * messages.referral, one key per non-NULL field, named as here.
 */
struct meta_referral {
	char *source_type;     /* WA source_type ("ad", "post", or "product" for a
				* referred product); IG source ("ADS", "SHORTLINK") */
	char *source_id;       /* WA source_id or product_retailer_id; IG ad_id */
	char *source_url;      /* WA source_url */
	char *headline;        /* WA headline */
	char *title;           /* IG ads_context_data.ad_title */
	char *body;            /* WA body: the ad's text (may span lines) */
	char *media_type;      /* WA media_type: "image", "video" */
	char *image_url;       /* WA image_url; IG ads_context_data.photo_url */
	char *video_url;       /* WA video_url; IG ads_context_data.video_url */
	char *thumbnail_url;   /* WA thumbnail_url */
	char *ctwa_clid;       /* WA click id, for conversion reporting */
	char *welcome_message; /* WA welcome_message.text (may span lines) */
	char *ref;             /* IG ref: the link's ref parameter */
	char *catalog_id;      /* WA context.referred_product: "Message business" on a product */
};

/* The fields of struct meta_referral in declaration order: their names
 * (the keys of messages.referral) and meta_referral_get(r, i), the value of
 * field i (NULL when absent), so that storing them needs no list of its own. */
#define META_REFERRAL_FIELDS 14
extern const char *const meta_referral_names[META_REFERRAL_FIELDS];
const char *meta_referral_get(const struct meta_referral *r, size_t i);

/*
 * One inbound (or echoed) message-like event. All strings owned by the
 * batch; freed by meta_batch_free().
 *
 * kind is one of:
 *   WhatsApp: text image video audio voice document sticker location contacts
 *             interactive button reaction order system edit revoke
 *             request_welcome unsupported unknown
 *   Instagram: text image video audio document share story_mention
 *              story_reply reel post story like template link location
 *              attachment postback referral reaction edit deleted
 *              unsupported unknown
 * A message that came from an ad keeps its own kind (usually "text") and its
 * text exactly as sent; the ad is in referral (docs/protocol.md, WhatsApp).
 *
 * needs_reply is false for: reactions, echoes (and any Instagram message the
 * account sent itself), deletions (WA revoke, IG unsend), edits (the original
 * was already answered; the new wording is in the transcript for the next
 * reply), WA system messages, IG referral-only events (a link opened, nothing
 * said) and IG like_heart (a "♥" sent as a message acts like a reaction).
 * Everything else, unsupported and unknown kinds included, is true: the
 * customer said something the agent should acknowledge.
 */
struct meta_message {
	enum platform platform;
	/* WA value.metadata.phone_number_id; IG account id: entry.id, or when
	 * that is missing or "0" (dashboard test) recipient.id (sender.id on echo). */
	char *channel_id;
	/* WA messages[].from, else from_user_id (username-era BSUID); IG the other
	 * party's id (sender.id inbound, recipient.id on echo). */
	char *customer_id;
	/* wamid / mid. IG events without an id of their own get a derived id
	 * "ig-<what>-<32 hex>", see meta_instagram.c (derived_id). */
	char *platform_message_id;
	char *kind;
	/* Readable line (README, Webhook ingestion); never NULL, at most
	 * META_TEXT_MAX bytes. */
	char *text;
	/* WA value.contacts[].profile.name (else .username) of this sender, or
	 * NULL; at most COLUMN_CUSTOMER_NAME_WIDTH characters (a longer one is
	 * cut and ends in "…"). */
	char *profile_name;
	/* Message this one replies to / quotes (WA context.id, IG reply_to.mid), or NULL. */
	char *reply_to;
	/* Reactions, edits, deletions: the message they act on; else NULL. */
	char *target_message_id;
	/* Where the customer came from (docs/protocol.md), or NULL. */
	struct meta_referral *referral;
	/* Event time, ms since the epoch (WA sends seconds, IG ms); 0 if missing or invalid. */
	long long timestamp_ms;
	bool needs_reply;
	/* IG is_echo (or sender == account): the business's own send. */
	bool is_echo;
};

/* Rank order is advancement order: a status only ever moves to a higher value. */
enum delivery_status {
	DELIVERY_PENDING,
	DELIVERY_SENT,
	DELIVERY_DELIVERED,
	DELIVERY_READ,
	DELIVERY_FAILED
};

/* "pending", "sent", "delivered", "read", "failed": message_delivery_status.status. */
const char *meta_status_name(enum delivery_status s);

/*
 * A delivery update for a message the business sent. WA statuses[]: "sent",
 * "delivered", "read", "played" (voice note heard; counts as read), "failed".
 * The On-Premises values "deleted" and "warning" and unknown values are
 * skipped with a note: they say nothing about delivery that we could rank.
 * IG: read {mid} → READ, delivery {mids[]} → DELIVERED.
 * All strings owned by the batch.
 */
struct meta_status {
	enum platform platform;
	char *channel_id;
	char *platform_message_id; /* the agent message's wamid / mid */
	enum delivery_status status;
	char *error_code;   /* errors[0].code as text, e.g. "131047"; or NULL */
	char *error_title;  /* errors[0].title (else .message); or NULL */
	char *error_detail; /* errors[0].error_data.details (else .details); or NULL */
	char *recipient_id; /* WA recipient_id (else recipient_user_id); IG reader; or NULL */
	long long timestamp_ms;
};

/* Owned by whoever declared it; meta_batch_free() releases the contents. */
struct meta_batch {
	char *object; /* body's "object" ("whatsapp_business_account", "instagram", …) or NULL */
	struct meta_message *messages;
	size_t n_messages;
	struct meta_status *statuses;
	size_t n_statuses;
	/* Why parts were skipped (value.errors, ignored fields, malformed items),
	 * for logging: ids, field names and Meta's error titles, never message
	 * text. One line each, valid UTF-8. */
	char **notes;
	size_t n_notes;
	/* Messages and statuses skipped because one of their ids is longer than
	 * its column (each also has a note): for the skipped-events metric. */
	size_t skipped_too_long;
};

/* The errors meta_parse() returns; compare by identity. */
extern const char META_ERR_EMPTY[];      /* "empty body" */
extern const char META_ERR_JSON[];       /* "invalid JSON" (also: nested too deep) */
extern const char META_ERR_NOT_OBJECT[]; /* "not a JSON object" */

/*
 * Parses body[0..len) (need not be NUL-terminated). Returns NULL and fills *out
 * (caller then calls meta_batch_free), or one of the META_ERR_* strings when
 * the body is not a JSON object at all; *out is then empty and may still be
 * passed to meta_batch_free. An object of an unknown or missing "object" kind
 * is not an error: it yields no events and a note, so that the caller can
 * acknowledge it and keep the raw body instead of making Meta retry for days.
 */
const char *meta_parse(const char *body, size_t len, struct meta_batch *out);

void meta_batch_free(struct meta_batch *b);

#endif
