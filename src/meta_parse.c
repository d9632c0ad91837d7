#include "meta_parse.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

const char meta_err_empty[] = "empty body";
const char meta_err_json[] = "invalid JSON";
const char meta_err_not_object[] = "not a JSON object";

#define NAME_MAX_BYTES  256 /* error titles and details */
#define WORD_MAX_BYTES  64  /* type and field names quoted in texts and notes, the object */
#define NOTE_MAX_BYTES  512
#define FORM_FIELDS_MAX 50 /* nfm_reply answers shown */
#define LIST_ITEMS_MAX  20 /* order lines, shared contacts shown */

/* Below this a timestamp is taken as seconds: as ms it would be 1973, as seconds year 5138. */
#define TS_SECONDS_BELOW 100000000000ULL
#define TS_MAX           1000000000000000ULL /* ms; anything later is nonsense */

/* The body's "object" is kept with its raw body (webhook_raw.object). */
_Static_assert(WORD_MAX_BYTES <= COLUMN_WEBHOOK_OBJECT_WIDTH, "an object fits webhook_raw");

static const char ellipsis[] = "\xe2\x80\xa6";
static const char replacement[] = "\xef\xbf\xbd";

/* Builder state for one meta_parse() call. */
struct parse {
	struct meta_batch *b;
	size_t cap_messages, cap_statuses, cap_notes;
	size_t suppressed; /* notes dropped past META_NOTES_MAX */
};

const char *meta_status_name(enum delivery_status s)
{
	switch (s) {
	case DELIVERY_PENDING: return "pending";
	case DELIVERY_SENT: return "sent";
	case DELIVERY_DELIVERED: return "delivered";
	case DELIVERY_READ: return "read";
	case DELIVERY_FAILED: return "failed";
	}
	return "?";
}

/* ---- text hygiene ---- */

/*
 * s[0..len) as valid UTF-8 without NUL bytes (dropped); ill-formed sequences
 * become U+FFFD; with one_line, ASCII control characters become spaces (names
 * and titles end up in single log lines). At most max bytes (max >= 3) and
 * max_chars characters (>= 1), counted as PostgreSQL counts a VARCHAR's: a
 * cut lands on a character boundary and ends with "…", within both limits.
 * New string, caller frees.
 */
static char *clean(const char *s, size_t len, size_t max, size_t max_chars, bool one_line)
{
	/* One input byte yields at most 3 output bytes (a U+FFFD). */
	size_t cap = len > max / 3 ? max : len * 3;
	char *out = xmalloc(cap + 1);
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, chars = 0;
	size_t fit = 0; /* last boundary that leaves room for "…" */
	for (size_t i = 0; i < len;) {
		const char *unit = s + i;
		size_t ulen, bad = 0;
		size_t n = utf8_seq(s + i, len - i, &bad);
		if (n == 0) {
			unit = replacement;
			ulen = 3;
			i += bad;
		} else if (p[i] == 0) {
			i++;
			continue;
		} else if (n == 1 && one_line && (p[i] < 0x20 || p[i] == 0x7f)) {
			unit = " ";
			ulen = 1;
			i++;
		} else {
			ulen = n;
			i += n;
		}
		if (o + ulen > max || chars == max_chars) {
			o = fit;
			memcpy(out + o, ellipsis, 3);
			o += 3;
			break;
		}
		memcpy(out + o, unit, ulen);
		o += ulen;
		chars++;
		if (o + 3 <= max && chars < max_chars)
			fit = o;
	}
	out[o] = '\0';
	return out;
}

static char *clean_str(const char *s, size_t max, bool one_line)
{
	return clean(s, strlen(s), max, SIZE_MAX, one_line);
}

/* A name for conversations.customer_name: cut to the column's width in
 * characters, however many bytes they take (4 at most each). */
static char *clean_name(const char *s)
{
	return clean(s, strlen(s), 4 * COLUMN_CUSTOMER_NAME_WIDTH, COLUMN_CUSTOMER_NAME_WIDTH,
		     true);
}

/* A type or field name fit for quoting in a text or a note; "" for NULL. */
static char *word(const char *s)
{
	return clean_str(s ? s : "", WORD_MAX_BYTES, true);
}

/*
 * Ids are compared and stored, never shown as prose, so they are not repaired:
 * printable ASCII or the event is skipped. That also keeps them safe in log
 * lines. Whatever their length: too long is told apart (id_too_long).
 */
static bool id_chars_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* An id of at most META_ID_MAX characters. */
static bool id_ok(const char *s)
{
	return id_chars_ok(s) && strlen(s) <= META_ID_MAX;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* ---- JSON access that tolerates every wrong type ---- */

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *get_str(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Non-empty string or NULL: an empty caption or title is as good as none. */
static const char *get_text(const cJSON *o, const char *key)
{
	const char *s = get_str(o, key);
	return s && *s ? s : NULL;
}

static const char *get_id(const cJSON *o, const char *key)
{
	const char *s = get_str(o, key);
	return id_ok(s) ? s : NULL;
}

/* A printable id of any length at o.key, or NULL. */
static const char *get_raw_id(const cJSON *o, const char *key)
{
	const char *s = get_str(o, key);
	return id_chars_ok(s) ? s : NULL;
}

static const cJSON *get_obj(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	return cJSON_IsObject(v) ? v : NULL;
}

static const cJSON *get_arr(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	return cJSON_IsArray(v) ? v : NULL;
}

static bool get_true(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(get(o, key));
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/*
 * WhatsApp sends "1749416383" (seconds, string), Instagram 1668022333735 (ms,
 * number), the Instagram dashboard test "1527459824" (seconds, string).
 * Accepts both encodings and tells seconds from ms by magnitude. 0 = unknown.
 */
static long long ts_ms(const cJSON *v)
{
	unsigned long long n = 0;
	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		if (!*s)
			return 0;
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return 0;
			n = n * 10 + (unsigned)(*s - '0');
			if (n > TS_MAX)
				return 0;
		}
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (!(d >= 0 && d <= (double)TS_MAX)) /* also false for NaN */
			return 0;
		n = (unsigned long long)d;
	} else {
		return 0;
	}
	if (n < TS_SECONDS_BELOW)
		n *= 1000;
	return (long long)n;
}

/* A number or numeric string as text (ids of errors, coordinates); false if neither. */
static bool number_text(const cJSON *v, char *buf, size_t size)
{
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
			snprintf(buf, size, "%lld", (long long)d);
		else
			snprintf(buf, size, "%.10g", d);
		return true;
	}
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
	if (!s || !*s || strlen(s) >= size || strspn(s, "+-0123456789.eE") != strlen(s))
		return false;
	snprintf(buf, size, "%s", s);
	return true;
}

/* ---- building the batch ---- */

static void note(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void push_note(struct parse *p, char *s)
{
	struct meta_batch *b = p->b;
	if (b->n_notes == p->cap_notes) {
		p->cap_notes = p->cap_notes ? 2 * p->cap_notes : 8;
		b->notes = xrealloc(b->notes, p->cap_notes * sizeof(*b->notes));
	}
	b->notes[b->n_notes++] = s;
}

static void note(struct parse *p, const char *fmt, ...)
{
	if (p->b->n_notes >= META_NOTES_MAX) {
		p->suppressed++;
		return;
	}
	char buf[NOTE_MAX_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	push_note(p, clean_str(buf, NOTE_MAX_BYTES, true));
}

/*
 * True when s is an id, only longer than the width of its column: its event is
 * then skipped (docs/protocol.md, Skipped events), counted, and noted with the
 * id's first characters only, since the rest can be as long as the body. what
 * names the id ("sender id"), where the event ("whatsapp <channel>").
 */
static bool id_too_long(struct parse *p, const char *s, size_t width, const char *where,
			const char *what)
{
	if (!id_chars_ok(s) || strlen(s) <= width)
		return false;
	p->b->skipped_too_long++;
	note(p,
	     "%s: %s of %zu characters (%.16s\xe2\x80\xa6) is longer than its column (%zu), "
	     "skipped",
	     where, what, strlen(s), s, width);
	return true;
}

/* Takes ownership of every string in *m. */
static void add_message(struct parse *p, const struct meta_message *m)
{
	struct meta_batch *b = p->b;
	if (b->n_messages == p->cap_messages) {
		p->cap_messages = p->cap_messages ? 2 * p->cap_messages : 8;
		b->messages = xrealloc(b->messages, p->cap_messages * sizeof(*b->messages));
	}
	b->messages[b->n_messages++] = *m;
}

/* Takes ownership of every string in *s. */
static void add_status(struct parse *p, const struct meta_status *s)
{
	struct meta_batch *b = p->b;
	if (b->n_statuses == p->cap_statuses) {
		p->cap_statuses = p->cap_statuses ? 2 * p->cap_statuses : 8;
		b->statuses = xrealloc(b->statuses, p->cap_statuses * sizeof(*b->statuses));
	}
	b->statuses[b->n_statuses++] = *s;
}

/* Final form of a rendered text: valid UTF-8, capped, never empty. */
static char *finish_text(struct strbuf *sb, const char *fallback)
{
	if (sb->len == 0)
		strbuf_puts(sb, fallback);
	char *t = clean(sb->buf, sb->len, META_TEXT_MAX, SIZE_MAX, false);
	strbuf_free(sb);
	return t;
}

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

/* ---- errors (statuses[].errors, value.errors) ---- */

struct err_info {
	char *code, *title, *detail; /* owned; any may be NULL */
};

static void err_info(const cJSON *e, struct err_info *out)
{
	char code[40];
	memset(out, 0, sizeof(*out));
	if (number_text(get(e, "code"), code, sizeof(code)))
		out->code = xstrdup(code);
	const char *title = get_text(e, "title");
	if (!title)
		title = get_text(e, "message");
	const char *detail = get_text(get_obj(e, "error_data"), "details");
	if (!detail)
		detail = get_text(e, "details");
	if (title)
		out->title = clean_str(title, NAME_MAX_BYTES, true);
	if (detail)
		out->detail = clean_str(detail, NAME_MAX_BYTES, true);
}

static void err_info_free(struct err_info *e)
{
	free(e->code);
	free(e->title);
	free(e->detail);
}

static void note_errors(struct parse *p, const char *where, const cJSON *errors)
{
	if (!errors)
		return;
	if (!cJSON_IsArray(errors)) {
		note(p, "%s: errors is not an array", where);
		return;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, errors)
	{
		struct err_info ei;
		err_info(e, &ei);
		note(p, "%s: error %s %s%s%s", where, ei.code ? ei.code : "?",
		     ei.title ? ei.title : "", ei.detail ? ": " : "", ei.detail ? ei.detail : "");
		err_info_free(&ei);
	}
}

/* ---- ad referrals ---- */

#define REF_FIELD(f) offsetof(struct meta_referral, f)
static const size_t referral_offsets[META_REFERRAL_FIELDS] = {
    REF_FIELD(source_type),   REF_FIELD(source_id), REF_FIELD(source_url),
    REF_FIELD(headline),      REF_FIELD(title),     REF_FIELD(body),
    REF_FIELD(media_type),    REF_FIELD(image_url), REF_FIELD(video_url),
    REF_FIELD(thumbnail_url), REF_FIELD(ctwa_clid), REF_FIELD(welcome_message),
    REF_FIELD(ref),           REF_FIELD(catalog_id),
};

const char *const meta_referral_names[META_REFERRAL_FIELDS] = {
    "source_type", "source_id",       "source_url", "headline",  "title",
    "body",        "media_type",      "image_url",  "video_url", "thumbnail_url",
    "ctwa_clid",   "welcome_message", "ref",        "catalog_id",
};

static char **referral_slot(struct meta_referral *r, size_t i)
{
	return (char **)((char *)r + referral_offsets[i]);
}

const char *meta_referral_get(const struct meta_referral *r, size_t i)
{
	if (!r || i >= META_REFERRAL_FIELDS)
		return NULL;
	return *(char *const *)((const char *)r + referral_offsets[i]);
}

static void referral_free(struct meta_referral *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < META_REFERRAL_FIELDS; i++)
		free(*referral_slot(r, i));
	free(r);
}

enum ref_value { REF_LINE, REF_PROSE, REF_URL, REF_ID };

/*
 * One referral value: a non-empty string (an id may also come as a number),
 * cleaned and cut to its size; anything else is as good as absent. Nothing
 * here is a key, so a value is cut rather than refused: an ad with a
 * headline of a megabyte still says which ad it was.
 */
static char *ref_value(const cJSON *o, const char *key, enum ref_value how)
{
	const cJSON *v = get(o, key);
	/* A numeric id only while a double holds it exactly: beyond 2^53 it
	 * would name another ad. */
	if (how == REF_ID && cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d >= 0 && d < 9007199254740992.0 && d == (double)(long long)d)
			return xasprintf("%lld", (long long)d);
		return NULL;
	}
	const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
	if (!s || !*s)
		return NULL;
	size_t max = how == REF_URL ? META_REFERRAL_URL_MAX : META_REFERRAL_TEXT_MAX;
	return clean_str(s, max, how != REF_PROSE);
}

/* NULL when r holds nothing; r otherwise. Frees an empty one. */
static struct meta_referral *referral_or_null(struct meta_referral *r)
{
	for (size_t i = 0; i < META_REFERRAL_FIELDS; i++)
		if (*referral_slot(r, i))
			return r;
	referral_free(r);
	return NULL;
}

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
	const cJSON *ref = get(m, "referral");
	const cJSON *product = get_obj(get_obj(m, "context"), "referred_product");
	if (!ref && !product)
		return NULL;
	struct meta_referral *r = xcalloc(1, sizeof(*r));
	if (ref) {
		r->source_type = ref_value(ref, "source_type", REF_LINE);
		r->source_id = ref_value(ref, "source_id", REF_ID);
		r->source_url = ref_value(ref, "source_url", REF_URL);
		r->headline = ref_value(ref, "headline", REF_LINE);
		r->body = ref_value(ref, "body", REF_PROSE);
		r->media_type = ref_value(ref, "media_type", REF_LINE);
		r->image_url = ref_value(ref, "image_url", REF_URL);
		r->video_url = ref_value(ref, "video_url", REF_URL);
		r->thumbnail_url = ref_value(ref, "thumbnail_url", REF_URL);
		r->ctwa_clid = ref_value(ref, "ctwa_clid", REF_ID);
		r->welcome_message = ref_value(get_obj(ref, "welcome_message"), "text", REF_PROSE);
	} else {
		r->source_id = ref_value(product, "product_retailer_id", REF_ID);
		r->catalog_id = ref_value(product, "catalog_id", REF_ID);
		if (r->source_id || r->catalog_id)
			r->source_type = xstrdup("product");
	}
	if (!(r = referral_or_null(r)))
		note(p, "whatsapp %s: message %s: referral without usable fields ignored", channel,
		     id);
	return r;
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
	const cJSON *ads = get_obj(ref, "ads_context_data");
	struct meta_referral *r = xcalloc(1, sizeof(*r));
	r->source_type = ref_value(ref, "source", REF_LINE);
	r->source_id = ref_value(ref, "ad_id", REF_ID);
	r->title = ref_value(ads, "ad_title", REF_LINE);
	r->image_url = ref_value(ads, "photo_url", REF_URL);
	r->video_url = ref_value(ads, "video_url", REF_URL);
	r->ref = ref_value(ref, "ref", REF_LINE);
	return referral_or_null(r);
}

/* ---- WhatsApp ---- */

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
	const cJSON *arr = get_arr(value, "contacts");
	const cJSON *c;
	size_t cap = 0;
	cs->v = NULL;
	cs->n = 0;
	cs->sole = NULL;
	if (cJSON_GetArraySize(arr) == 1) {
		cs->sole = get_raw_id(arr->child, "wa_id");
		if (!cs->sole)
			cs->sole = get_raw_id(arr->child, "user_id");
	}
	cJSON_ArrayForEach(c, arr)
	{
		const cJSON *profile = get_obj(c, "profile");
		const char *name = get_text(profile, "name");
		if (!name)
			name = get_text(profile, "username");
		if (!name)
			continue;
		const char *keys[] = {get_id(c, "wa_id"), get_id(c, "user_id")};
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

/* What rendering a WhatsApp message decided besides its text. */
struct render {
	struct parse *p;
	const char *kind;   /* static string */
	const char *target; /* validated id inside the JSON tree, or NULL */
	bool needs_reply;
	int depth; /* 1 inside an edit's message: no edits of edits */
};

typedef void (*wa_render_fn)(const cJSON *content, struct strbuf *sb, struct render *r);

static void wa_render(const cJSON *m, struct strbuf *sb, struct render *r);

static void wa_text(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *body = get_text(c, "body");
	(void)r;
	/* Stored as sent: no tag in front of plain text. */
	strbuf_puts(sb, body ? body : "[text]");
}

static void wa_media(const cJSON *c, struct strbuf *sb, struct render *r)
{
	if (streq(r->kind, "audio") && get_true(c, "voice"))
		r->kind = "voice";
	strbuf_printf(sb, "[%s]", r->kind);
	const char *filename = get_text(c, "filename");
	const char *caption = get_text(c, "caption");
	if (filename)
		strbuf_printf(sb, " %s", filename);
	if (caption && !streq(caption, filename))
		strbuf_printf(sb, filename ? " \xe2\x80\x94 %s" : " %s", caption);
}

static void wa_location(const cJSON *c, struct strbuf *sb, struct render *r)
{
	char lat[40], lng[40];
	(void)r;
	strbuf_puts(sb, "[location]");
	if (number_text(get(c, "latitude"), lat, sizeof(lat)) &&
	    number_text(get(c, "longitude"), lng, sizeof(lng)))
		strbuf_printf(sb, " %s,%s", lat, lng);
	const char *name = get_text(c, "name"), *address = get_text(c, "address");
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
	const cJSON *name = get_obj(c, "name");
	const char *formatted = get_text(name, "formatted_name");
	size_t start = sb->len;
	if (formatted) {
		strbuf_puts(sb, formatted);
	} else {
		const char *first = get_text(name, "first_name"),
			   *last = get_text(name, "last_name");
		if (first)
			strbuf_puts(sb, first);
		if (last)
			strbuf_printf(sb, first ? " %s" : "%s", last);
	}
	const cJSON *ph;
	size_t n = 0;
	cJSON_ArrayForEach(ph, get_arr(c, "phones"))
	{
		const char *num = get_text(ph, "phone");
		if (!num)
			num = get_text(ph, "wa_id");
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
	const char *json = get_str(nfm, "response_json");
	cJSON *doc = json ? cJSON_Parse(json) : NULL;
	const cJSON *f;
	size_t n = 0;
	cJSON_ArrayForEach(f, (cJSON_IsObject(doc) ? doc : NULL))
	{
		char num[40];
		/* The flow token is the business's own correlation id, not an answer. */
		if (!f->string || streq(f->string, "flow_token"))
			continue;
		const char *val = NULL;
		if (cJSON_IsString(f))
			val = f->valuestring;
		else if (cJSON_IsBool(f))
			val = cJSON_IsTrue(f) ? "yes" : "no";
		else if (number_text(f, num, sizeof(num)))
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
			else if (number_text(item, num, sizeof(num)))
				strbuf_printf(sb, "%s%s", k++ ? "/" : "", num);
			if (k == LIST_ITEMS_MAX)
				break;
		}
	}
	cJSON_Delete(doc);
	if (n == 0) {
		const char *body = get_text(nfm, "body");
		if (body)
			strbuf_printf(sb, " %s", body);
	}
}

static void wa_interactive(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *itype = get_str(c, "type");
	(void)r;
	if (streq(itype, "button_reply") || streq(itype, "list_reply")) {
		/* The customer tapped this: its title is what they "said". */
		const cJSON *reply = get_obj(c, itype);
		const char *title = get_text(reply, "title");
		if (!title)
			title = get_text(reply, "id");
		if (title)
			strbuf_puts(sb, title);
		else
			strbuf_puts(sb,
				    streq(itype, "list_reply") ? "[list reply]" : "[button reply]");
	} else if (streq(itype, "nfm_reply")) {
		wa_form(get_obj(c, "nfm_reply"), sb);
	} else {
		strbuf_puts(sb, "[interactive]");
	}
}

static void wa_button(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *text = get_text(c, "text");
	(void)r;
	if (!text)
		text = get_text(c, "payload");
	strbuf_puts(sb, text ? text : "[button]");
}

static void wa_reaction(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *emoji = get_text(c, "emoji");
	r->needs_reply = false;
	r->target = get_id(c, "message_id");
	/* Removal comes as "emoji": "" or without the key. */
	if (emoji)
		strbuf_printf(sb, "[reaction] %s", emoji);
	else
		strbuf_puts(sb, "[reaction removed]");
}

static void wa_order(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const cJSON *items = get_arr(c, "product_items"), *it;
	long long total = 0;
	(void)r;
	cJSON_ArrayForEach(it, items)
	{
		const cJSON *q = get(it, "quantity");
		double d = cJSON_IsNumber(q) ? q->valuedouble : 1;
		total += d >= 1 && d <= 1e6 ? (long long)d : 1;
	}
	strbuf_printf(sb, "[order] %lld item%s", total, total == 1 ? "" : "s");
	size_t n = 0;
	cJSON_ArrayForEach(it, items)
	{
		const char *product = get_text(it, "product_retailer_id");
		if (!product)
			continue;
		if (n == LIST_ITEMS_MAX) {
			strbuf_puts(sb, ", \xe2\x80\xa6");
			break;
		}
		const cJSON *q = get(it, "quantity");
		double d = cJSON_IsNumber(q) ? q->valuedouble : 1;
		strbuf_printf(sb, "%s%lld x %s", n++ ? ", " : ": ",
			      d >= 1 && d <= 1e6 ? (long long)d : 1, product);
	}
	const char *text = get_text(c, "text");
	if (text)
		strbuf_printf(sb, " \xe2\x80\x94 %s", text);
}

static void wa_system(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const char *body = get_text(c, "body");
	r->needs_reply = false;
	if (body) {
		strbuf_printf(sb, "[system] %s", body);
	} else {
		char *t = word(get_str(c, "type"));
		strbuf_printf(sb, *t ? "[system] %s" : "[system]%s", t);
		free(t);
	}
}

static void wa_edit(const cJSON *c, struct strbuf *sb, struct render *r)
{
	const cJSON *inner = get_obj(c, "message");
	r->needs_reply = false;
	r->target = get_id(c, "original_message_id");
	strbuf_puts(sb, "[edited]");
	if (!inner || r->depth > 0)
		return;
	struct render ir = {.p = r->p, .depth = r->depth + 1};
	struct strbuf isb = STRBUF_INIT;
	wa_render(inner, &isb, &ir);
	strbuf_printf(sb, " %s", strbuf_str(&isb));
	strbuf_free(&isb);
}

static void wa_revoke(const cJSON *c, struct strbuf *sb, struct render *r)
{
	r->needs_reply = false;
	r->target = get_id(c, "original_message_id");
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
static void wa_render(const cJSON *m, struct strbuf *sb, struct render *r)
{
	const char *type = get_str(m, "type");
	r->needs_reply = true;
	for (size_t i = 0; type && i < sizeof(wa_types) / sizeof(wa_types[0]); i++) {
		if (strcmp(type, wa_types[i].type) == 0) {
			r->kind = wa_types[i].type;
			wa_types[i].fn(get(m, type), sb, r);
			return;
		}
	}
	r->kind = "unknown";
	char *t = word(type);
	if (*t)
		strbuf_printf(sb, "[unknown type: %s]", t);
	else
		strbuf_puts(sb, "[unknown type]");
	free(t);
}

static void wa_message(struct parse *p, const char *channel, const struct contacts *cs,
		       const cJSON *m)
{
	char where[COLUMN_META_PHONE_NUMBER_ID_WIDTH + 16];
	snprintf(where, sizeof(where), "whatsapp %s", channel);
	if (!cJSON_IsObject(m)) {
		note(p, "%s: a messages[] item is not an object, skipped", where);
		return;
	}
	if (id_too_long(p, get_str(m, "id"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, where, "message id"))
		return;
	const char *id = get_id(m, "id");
	if (!id) {
		note(p, "%s: message without a valid id skipped", where);
		return;
	}
	/* The customer (docs/protocol.md, WhatsApp): the phone-number wa_id;
	 * the BSUID only when Meta sends no number. A number too long for the
	 * column is not replaced by the BSUID: the customer would get two
	 * conversations. */
	const char *from = get_raw_id(m, "from");
	if (!from)
		from = get_raw_id(m, "from_user_id");
	if (!from && !get(m, "from") && !get(m, "from_user_id"))
		from = cs->sole;
	if (id_too_long(p, from, COLUMN_CUSTOMER_PHONE_WIDTH, where, "sender id"))
		return;
	if (!from) {
		note(p, "%s: message %s without a valid sender skipped", where, id);
		return;
	}
	const char *reply_to = get_str(get_obj(m, "context"), "id");
	if (id_too_long(p, reply_to, COLUMN_REPLY_TO_WIDTH, where, "context id"))
		return;

	struct render r = {.p = p};
	struct strbuf sb = STRBUF_INIT;
	wa_render(m, &sb, &r);

	const char *name = contacts_find(cs, from);
	if (!name)
		name = contacts_find(cs, get_id(m, "from_user_id"));
	struct meta_message out = {
	    .platform = PLATFORM_WHATSAPP,
	    .channel_id = xstrdup(channel),
	    .customer_id = xstrdup(from),
	    .platform_message_id = xstrdup(id),
	    .kind = xstrdup(r.kind),
	    .text = finish_text(&sb, "[empty]"),
	    .profile_name = name ? clean_name(name) : NULL,
	    .reply_to = dup_or_null(get_id(get_obj(m, "context"), "id")),
	    .target_message_id = dup_or_null(r.target),
	    .timestamp_ms = ts_ms(get(m, "timestamp")),
	    .needs_reply = r.needs_reply,
	    .referral = wa_referral(p, channel, id, m),
	};
	add_message(p, &out);
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
	char where[COLUMN_META_PHONE_NUMBER_ID_WIDTH + 16];
	snprintf(where, sizeof(where), "whatsapp %s", channel);
	if (!cJSON_IsObject(s)) {
		note(p, "whatsapp %s: a statuses[] item is not an object, skipped", channel);
		return;
	}
	if (id_too_long(p, get_str(s, "id"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, where, "status id"))
		return;
	const char *id = get_id(s, "id");
	if (!id) {
		note(p, "whatsapp %s: status without a valid id skipped", channel);
		return;
	}
	const char *name = get_str(s, "status");
	size_t i = 0;
	while (i < sizeof(known) / sizeof(known[0]) && !streq(name, known[i].name))
		i++;
	if (i == sizeof(known) / sizeof(known[0])) {
		char *w = word(name);
		note(p, "whatsapp %s: status \"%s\" for %s ignored", channel, w, id);
		free(w);
		return;
	}

	struct err_info ei = {0};
	const cJSON *errors = get_arr(s, "errors");
	if (errors && errors->child)
		err_info(errors->child, &ei);
	const char *recipient = get_id(s, "recipient_id");
	if (!recipient)
		recipient = get_id(s, "recipient_user_id");
	struct meta_status out = {
	    .platform = PLATFORM_WHATSAPP,
	    .channel_id = xstrdup(channel),
	    .platform_message_id = xstrdup(id),
	    .status = known[i].status,
	    .error_code = ei.code,
	    .error_title = ei.title,
	    .error_detail = ei.detail,
	    .recipient_id = dup_or_null(recipient),
	    .timestamp_ms = ts_ms(get(s, "timestamp")),
	};
	add_status(p, &out);
}

/* Visits every item of an optional array member; notes a member of the wrong type. */
static bool each_item(struct parse *p, const cJSON *o, const char *key, const char *where,
		      const cJSON **arr)
{
	const cJSON *v = get(o, key);
	*arr = NULL;
	if (!v)
		return false;
	if (!cJSON_IsArray(v)) {
		note(p, "%s: %s is not an array, ignored", where, key);
		return false;
	}
	*arr = v;
	return true;
}

static void wa_change(struct parse *p, const cJSON *change)
{
	if (!cJSON_IsObject(change)) {
		note(p, "whatsapp: a changes[] item is not an object, skipped");
		return;
	}
	/* Only "messages" carries messages and statuses; the rest is account admin. */
	const char *field = get_str(change, "field");
	if (field && strcmp(field, "messages") != 0) {
		char *w = word(field);
		note(p, "whatsapp: field \"%s\" ignored", w);
		free(w);
		return;
	}
	const cJSON *value = get_obj(change, "value");
	if (!value) {
		note(p, "whatsapp: change without a value object skipped");
		return;
	}
	const char *channel = get_raw_id(get_obj(value, "metadata"), "phone_number_id");
	/* Longer than any channel id parley could hold: no channel matches it. */
	bool channel_too_long = channel && strlen(channel) > COLUMN_META_PHONE_NUMBER_ID_WIDTH;
	if (channel_too_long)
		channel = NULL;
	char where[COLUMN_META_PHONE_NUMBER_ID_WIDTH + 16];
	snprintf(where, sizeof(where), "whatsapp %s", channel ? channel : "?");
	note_errors(p, where, get(value, "errors"));

	const cJSON *msgs, *sts, *it;
	bool has_msgs = each_item(p, value, "messages", where, &msgs);
	bool has_sts = each_item(p, value, "statuses", where, &sts);
	if ((has_msgs || has_sts) && channel_too_long) {
		const char *raw = get_str(get_obj(value, "metadata"), "phone_number_id");
		p->b->skipped_too_long +=
		    (size_t)cJSON_GetArraySize(msgs) + (size_t)cJSON_GetArraySize(sts);
		note(p,
		     "whatsapp: metadata.phone_number_id of %zu characters (%.16s\xe2\x80\xa6) is "
		     "longer than its column (%d): %d messages, %d statuses skipped",
		     strlen(raw), raw, COLUMN_META_PHONE_NUMBER_ID_WIDTH, cJSON_GetArraySize(msgs),
		     cJSON_GetArraySize(sts));
		return;
	}
	if ((has_msgs || has_sts) && !channel) {
		note(p,
		     "whatsapp: change without a valid metadata.phone_number_id: %d messages, "
		     "%d statuses skipped",
		     cJSON_GetArraySize(msgs), cJSON_GetArraySize(sts));
		return;
	}
	if (!has_msgs && !has_sts && !get(value, "errors") && !get(value, "messages") &&
	    !get(value, "statuses"))
		note(p, "%s: change without messages, statuses or errors", where);
	if (has_msgs) {
		struct contacts cs;
		contacts_index(value, &cs);
		cJSON_ArrayForEach(it, msgs) wa_message(p, channel, &cs, it);
		free(cs.v);
	}
	cJSON_ArrayForEach(it, sts) wa_status(p, channel, it);
}

static void wa_entry(struct parse *p, const cJSON *entry)
{
	const cJSON *changes, *ch;
	if (!cJSON_IsObject(entry)) {
		note(p, "whatsapp: an entry[] item is not an object, skipped");
		return;
	}
	if (!each_item(p, entry, "changes", "whatsapp entry", &changes)) {
		if (!changes && !get(entry, "changes"))
			note(p, "whatsapp: entry without changes");
		return;
	}
	cJSON_ArrayForEach(ch, changes) wa_change(p, ch);
}

/* ---- Instagram ---- */

/* Who is who in one messaging event. */
struct ig_event {
	const char *account;  /* the business's IG account: the channel */
	const char *customer; /* the other party (any length), or NULL */
	bool echo;            /* sent by the account itself */
	long long ts;
	char ts_text[24]; /* ts for derived ids */
	char where[COLUMN_META_PHONE_NUMBER_ID_WIDTH + 16]; /* "instagram <account>" for notes */
};

/*
 * The other party of an event that becomes a message is its conversation's
 * customer: false (the event skipped and counted) when the id is longer than
 * that column. Read receipts and deliveries only name it.
 */
static bool ig_customer_fits(struct parse *p, const struct ig_event *ev)
{
	return !id_too_long(p, ev->customer, COLUMN_CUSTOMER_PHONE_WIDTH, ev->where, "customer id");
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
static const char *ig_render_attachments(const cJSON *atts, struct strbuf *sb)
{
	const char *first = NULL;
	const cJSON *a;
	size_t n = 0;
	cJSON_ArrayForEach(a, atts)
	{
		const char *type = get_str(a, "type");
		const char *kind = "attachment";
		if (n == LIST_ITEMS_MAX)
			break;
		if (n++)
			strbuf_putc(sb, ' ');
		size_t i = 0;
		while (i < sizeof(ig_attachments) / sizeof(ig_attachments[0]) &&
		       !streq(type, ig_attachments[i].type))
			i++;
		if (i < sizeof(ig_attachments) / sizeof(ig_attachments[0])) {
			kind = ig_attachments[i].kind;
			strbuf_puts(sb, ig_attachments[i].tag);
			const char *title = get_text(get_obj(a, "payload"), "title");
			if (ig_attachments[i].titled && title)
				strbuf_printf(sb, " %s", title);
		} else {
			char *w = word(type);
			strbuf_printf(sb, *w ? "[attachment: %s]" : "[attachment]%s", w);
			free(w);
		}
		if (!first)
			first = kind;
	}
	return first;
}

static void ig_message(struct parse *p, const struct ig_event *ev, const cJSON *msg)
{
	if (id_too_long(p, get_str(msg, "mid"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, ev->where, "mid"))
		return;
	const char *mid = get_id(msg, "mid");
	if (!mid) {
		note(p, "instagram %s: message without a valid mid skipped", ev->account);
		return;
	}
	if (!ev->customer) {
		note(p, "instagram %s: message %s without the other party's id skipped",
		     ev->account, mid);
		return;
	}
	if (!ig_customer_fits(p, ev))
		return;
	if (id_too_long(p, get_str(get_obj(msg, "reply_to"), "mid"), COLUMN_REPLY_TO_WIDTH,
			ev->where, "reply_to mid"))
		return;
	if (get_true(msg, "is_deleted")) {
		/* The unsend reuses the original mid, which storage already holds. */
		struct meta_message out = ig_base(ev, "deleted");
		const char *f[] = {ev->account, ev->customer, mid};
		out.platform_message_id = derived_id("unsend", f, 3);
		out.target_message_id = xstrdup(mid);
		out.text = xstrdup("[message deleted]");
		out.needs_reply = false;
		add_message(p, &out);
		return;
	}

	struct strbuf sb = STRBUF_INIT, atts = STRBUF_INIT;
	const char *text = get_text(msg, "text");
	const cJSON *reply_to = get_obj(msg, "reply_to");
	bool story_reply = get_obj(reply_to, "story") != NULL;
	const char *akind = ig_render_attachments(get_arr(msg, "attachments"), &atts);
	if (!akind && get_true(msg, "is_unsupported")) {
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
	out.text = finish_text(&sb, "[empty message]");
	out.reply_to = dup_or_null(get_id(reply_to, "mid"));
	out.referral = ig_referral_of(get(msg, "referral"));
	/* A heart sent as a message closes a chat like a reaction does. */
	if (streq(kind, "like"))
		out.needs_reply = false;
	add_message(p, &out);
}

static void ig_reaction(struct parse *p, const struct ig_event *ev, const cJSON *r)
{
	/* The message reacted to: no stored message has an id that long. */
	if (id_too_long(p, get_str(r, "mid"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, ev->where, "mid"))
		return;
	const char *mid = get_id(r, "mid");
	if (!mid || !ev->customer) {
		note(p, "instagram %s: reaction without a valid mid or sender skipped",
		     ev->account);
		return;
	}
	if (!ig_customer_fits(p, ev))
		return;
	const char *action = get_str(r, "action");
	const char *emoji = get_text(r, "emoji");
	if (!emoji)
		emoji = get_text(r, "reaction"); /* "love" */
	struct meta_message out = ig_base(ev, "reaction");
	const char *f[] = {ev->account, ev->customer, mid, action, emoji, ev->ts_text};
	out.platform_message_id = derived_id("reaction", f, 6);
	out.target_message_id = xstrdup(mid);
	struct strbuf sb = STRBUF_INIT;
	if (streq(action, "unreact"))
		strbuf_puts(&sb, "[reaction removed]");
	else if (emoji)
		strbuf_printf(&sb, "[reaction] %s", emoji);
	out.text = finish_text(&sb, "[reaction]");
	out.needs_reply = false;
	add_message(p, &out);
}

static void ig_status(struct parse *p, const struct ig_event *ev, const char *mid,
		      enum delivery_status status)
{
	struct meta_status out = {
	    .platform = PLATFORM_INSTAGRAM,
	    .channel_id = xstrdup(ev->account),
	    .platform_message_id = xstrdup(mid),
	    .status = status,
	    .recipient_id = dup_or_null(ev->customer),
	    .timestamp_ms = ev->ts,
	};
	add_status(p, &out);
}

static void ig_read(struct parse *p, const struct ig_event *ev, const cJSON *read)
{
	const char *mid = get_id(read, "mid");
	/* The account reading the customer's message says nothing about our sends. */
	if (ev->echo) {
		note(p, "instagram %s: read by the account itself ignored", ev->account);
		return;
	}
	if (id_too_long(p, get_str(read, "mid"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, ev->where,
			"mid"))
		return;
	if (!mid) {
		note(p, "instagram %s: read without a valid mid skipped", ev->account);
		return;
	}
	ig_status(p, ev, mid, DELIVERY_READ);
}

static void ig_delivery(struct parse *p, const struct ig_event *ev, const cJSON *d)
{
	const cJSON *mids = get_arr(d, "mids"), *m;
	if (ev->echo)
		return;
	if (!mids)
		note(p, "instagram %s: delivery without mids skipped", ev->account);
	cJSON_ArrayForEach(m, mids)
	{
		const char *mid = cJSON_IsString(m) ? m->valuestring : NULL;
		if (id_too_long(p, mid, COLUMN_PLATFORM_MESSAGE_ID_WIDTH, ev->where, "mid"))
			continue;
		if (id_ok(mid))
			ig_status(p, ev, mid, DELIVERY_DELIVERED);
		else
			note(p, "instagram %s: delivery with an invalid mid skipped", ev->account);
	}
}

static void ig_postback(struct parse *p, const struct ig_event *ev, const cJSON *pb)
{
	if (!ev->customer) {
		note(p, "instagram %s: postback without a sender skipped", ev->account);
		return;
	}
	if (!ig_customer_fits(p, ev) ||
	    id_too_long(p, get_str(pb, "mid"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, ev->where, "mid"))
		return;
	const char *title = get_text(pb, "title"), *payload = get_str(pb, "payload");
	const char *mid = get_id(pb, "mid");
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
	out.text = finish_text(&sb, "[postback]");
	add_message(p, &out);
}

static void ig_edit(struct parse *p, const struct ig_event *ev, const cJSON *e)
{
	/* The message edited: no stored message has an id that long. */
	if (id_too_long(p, get_str(e, "mid"), COLUMN_PLATFORM_MESSAGE_ID_WIDTH, ev->where, "mid"))
		return;
	const char *mid = get_id(e, "mid");
	if (!mid || !ev->customer) {
		note(p, "instagram %s: message_edit without a valid mid or sender skipped",
		     ev->account);
		return;
	}
	if (!ig_customer_fits(p, ev))
		return;
	char num[40] = "";
	number_text(get(e, "num_edit"), num, sizeof(num));
	struct meta_message out = ig_base(ev, "edit");
	const char *f[] = {ev->account, ev->customer, mid, num, ev->ts_text};
	out.platform_message_id = derived_id("edit", f, 5);
	out.target_message_id = xstrdup(mid);
	struct strbuf sb = STRBUF_INIT;
	const char *text = get_text(e, "text");
	strbuf_puts(&sb, "[edited]");
	if (text)
		strbuf_printf(&sb, " %s", text);
	out.text = finish_text(&sb, "[edited]");
	out.needs_reply = false;
	add_message(p, &out);
}

static void ig_referral(struct parse *p, const struct ig_event *ev, const cJSON *r)
{
	if (!ev->customer) {
		note(p, "instagram %s: referral without a sender skipped", ev->account);
		return;
	}
	if (!ig_customer_fits(p, ev))
		return;
	const char *ref = get_text(r, "ref"), *source = get_str(r, "source");
	struct meta_message out = ig_base(ev, "referral");
	const char *f[] = {ev->account, ev->customer, ref, source, ev->ts_text};
	out.platform_message_id = derived_id("referral", f, 5);
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "[referral]");
	if (ref)
		strbuf_printf(&sb, " %s", ref);
	out.text = finish_text(&sb, "[referral]");
	out.referral = ig_referral_of(r);
	/* Opening a link says nothing yet; the message that follows gets the reply. */
	out.needs_reply = false;
	add_message(p, &out);
}

/*
 * One messaging[]/standby[] item, or the value of a changes[] item in the
 * dashboard-test form. entry_id is NULL when unusable (missing, or "0").
 */
static void ig_event(struct parse *p, const char *entry_id, const cJSON *item)
{
	if (!cJSON_IsObject(item)) {
		note(p, "instagram: a messaging item is not an object, skipped");
		return;
	}
	const char *sender = get_raw_id(get_obj(item, "sender"), "id");
	const char *recipient = get_raw_id(get_obj(item, "recipient"), "id");
	const cJSON *msg = get_obj(item, "message");
	bool echo_flag = get_true(msg, "is_echo");

	struct ig_event ev = {0};
	ev.account = entry_id ? entry_id : echo_flag ? sender : recipient;
	if (!ev.account) {
		note(p, "instagram: event without a valid account id skipped");
		return;
	}
	/* Longer than any channel id parley could hold: no channel matches it. */
	if (id_too_long(p, ev.account, COLUMN_META_PHONE_NUMBER_ID_WIDTH, "instagram",
			"account id"))
		return;
	snprintf(ev.where, sizeof(ev.where), "instagram %s", ev.account);
	if (streq(sender, ev.account))
		ev.customer = recipient;
	else if (streq(recipient, ev.account))
		ev.customer = sender;
	else
		ev.customer = echo_flag ? recipient : sender;
	ev.echo = echo_flag || streq(sender, ev.account);
	ev.ts = ts_ms(get(item, "timestamp"));
	snprintf(ev.ts_text, sizeof(ev.ts_text), "%lld", ev.ts);

	const cJSON *x;
	if (msg)
		ig_message(p, &ev, msg);
	else if ((x = get_obj(item, "reaction")))
		ig_reaction(p, &ev, x);
	else if ((x = get_obj(item, "read")))
		ig_read(p, &ev, x);
	else if ((x = get_obj(item, "delivery")))
		ig_delivery(p, &ev, x);
	else if ((x = get_obj(item, "postback")))
		ig_postback(p, &ev, x);
	else if ((x = get_obj(item, "message_edit")))
		ig_edit(p, &ev, x);
	else if ((x = get_obj(item, "referral")))
		ig_referral(p, &ev, x);
	else
		note(p, "instagram %s: event of no handled kind skipped", ev.account);
}

static void ig_entry(struct parse *p, const cJSON *entry)
{
	static const char *const lists[] = {"messaging", "standby"};
	const cJSON *arr, *it;
	bool any = false;
	if (!cJSON_IsObject(entry)) {
		note(p, "instagram: an entry[] item is not an object, skipped");
		return;
	}
	/* Any length: an account id too long is skipped per event, and counted. */
	const char *entry_id = get_raw_id(entry, "id");
	/* The dashboard's test sends entry id "0": the recipient then names the account. */
	if (streq(entry_id, "0"))
		entry_id = NULL;
	for (size_t i = 0; i < 2; i++) {
		any |= get(entry, lists[i]) != NULL;
		if (each_item(p, entry, lists[i], "instagram entry", &arr))
			cJSON_ArrayForEach(it, arr) ig_event(p, entry_id, it);
	}
	any |= get(entry, "changes") != NULL;
	if (each_item(p, entry, "changes", "instagram entry", &arr)) {
		cJSON_ArrayForEach(it, arr)
		{
			const cJSON *value = get_obj(it, "value");
			if (get_obj(value, "sender") || get_obj(value, "recipient")) {
				ig_event(p, entry_id, value);
			} else {
				char *w = word(get_str(it, "field"));
				note(p, "instagram: field \"%s\" ignored", w);
				free(w);
			}
		}
	}
	if (!any)
		note(p, "instagram %.*s: entry without messaging or changes",
		     COLUMN_META_PHONE_NUMBER_ID_WIDTH, entry_id ? entry_id : "?");
}

/* ---- entry point ---- */

static int hex4(const char *s, size_t avail)
{
	int v = 0;
	if (avail < 4)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/*
 * A copy of the body that cJSON parses without losing what we want: raw NUL
 * bytes and \u0000 escapes are dropped (cJSON strings end at the first NUL,
 * which would cut the rest of a text silently), and a lone UTF-16 surrogate
 * escape becomes \ufffd (cJSON rejects the whole body for one broken emoji).
 * In valid JSON a backslash only occurs inside strings, so no string state is
 * needed. NUL-terminated; *n gets the length.
 */
static char *prepare_body(const char *body, size_t len, size_t *n)
{
	char *buf = xmalloc(len + 1);
	size_t m = 0, o = 0;
	for (size_t i = 0; i < len; i++)
		if (body[i])
			buf[m++] = body[i];
	for (size_t i = 0; i < m;) {
		int cp = buf[i] == '\\' && i + 1 < m && buf[i + 1] == 'u'
			     ? hex4(buf + i + 2, m - i - 2)
			     : -1;
		if (cp < 0) {
			/* Not a \u escape: copy it, and the escaped character with it. */
			size_t k = buf[i] == '\\' && i + 1 < m ? 2 : 1;
			memmove(buf + o, buf + i, k);
			o += k;
			i += k;
		} else if (cp == 0) {
			i += 6;
		} else if (cp >= 0xd800 && cp <= 0xdbff) {
			bool pair = i + 7 < m && buf[i + 6] == '\\' && buf[i + 7] == 'u';
			int lo = pair ? hex4(buf + i + 8, m - i - 8) : -1;
			if (lo >= 0xdc00 && lo <= 0xdfff) {
				memmove(buf + o, buf + i, 12);
				o += 12;
				i += 12;
			} else {
				memcpy(buf + o, "\\ufffd", 6);
				o += 6;
				i += 6;
			}
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			memcpy(buf + o, "\\ufffd", 6);
			o += 6;
			i += 6;
		} else {
			memmove(buf + o, buf + i, 6);
			o += 6;
			i += 6;
		}
	}
	buf[o] = '\0';
	*n = o;
	return buf;
}

static cJSON *parse_json(const char *body, size_t len)
{
	size_t n;
	char *buf = prepare_body(body, len, &n);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(buf, n, &end, false);
	/* Trailing garbage makes the whole body suspect, as a strict parser would. */
	if (root && end) {
		size_t used = (size_t)(end - buf);
		if (strspn(end, " \t\r\n") != n - used) {
			cJSON_Delete(root);
			root = NULL;
		}
	}
	free(buf);
	return root;
}

const char *meta_parse(const char *body, size_t len, struct meta_batch *out)
{
	memset(out, 0, sizeof(*out));
	if (!body || len == 0)
		return meta_err_empty;
	cJSON *root = parse_json(body, len);
	if (!root)
		return meta_err_json;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return meta_err_not_object;
	}

	struct parse p = {.b = out};
	const char *object = get_str(root, "object");
	void (*entry_fn)(struct parse *, const cJSON *) = NULL;
	if (object)
		out->object = clean_str(object, WORD_MAX_BYTES, true);
	if (streq(object, "whatsapp_business_account"))
		entry_fn = wa_entry;
	else if (streq(object, "instagram"))
		entry_fn = ig_entry;
	else
		note(&p, "object \"%s\" not handled", out->object ? out->object : "");

	const cJSON *entries, *e;
	if (entry_fn && each_item(&p, root, "entry", "body", &entries)) {
		cJSON_ArrayForEach(e, entries) entry_fn(&p, e);
	} else if (entry_fn && !get(root, "entry")) {
		note(&p, "body without entry");
	}
	if (p.suppressed)
		push_note(&p, xasprintf("%zu more notes suppressed", p.suppressed));
	cJSON_Delete(root);
	return NULL;
}

void meta_batch_free(struct meta_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_messages; i++) {
		struct meta_message *m = &b->messages[i];
		free(m->channel_id);
		free(m->customer_id);
		free(m->platform_message_id);
		free(m->kind);
		free(m->text);
		free(m->profile_name);
		free(m->reply_to);
		free(m->target_message_id);
		referral_free(m->referral);
	}
	for (size_t i = 0; i < b->n_statuses; i++) {
		struct meta_status *s = &b->statuses[i];
		free(s->channel_id);
		free(s->platform_message_id);
		free(s->error_code);
		free(s->error_title);
		free(s->error_detail);
		free(s->recipient_id);
	}
	for (size_t i = 0; i < b->n_notes; i++)
		free(b->notes[i]);
	free(b->messages);
	free(b->statuses);
	free(b->notes);
	free(b->object);
	memset(b, 0, sizeof(*b));
}
