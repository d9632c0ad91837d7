#include "meta_parse.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "encoding.h"
#include "meta_internal.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

const char META_ERR_EMPTY[] = "empty body";
const char META_ERR_JSON[] = "invalid JSON";
const char META_ERR_NOT_OBJECT[] = "not a JSON object";

/* Below this a timestamp is taken as seconds: as ms it would be 1973, as seconds year 5138. */
#define TS_SECONDS_BELOW 100000000000ULL
#define TS_MAX           1000000000000000ULL /* ms; anything later is nonsense */

/* The body's "object" is kept with its raw body (webhook_raw.object). */
_Static_assert(WORD_MAX_BYTES <= COLUMN_WEBHOOK_OBJECT_WIDTH, "an object fits webhook_raw");

static const char ellipsis[] = "\xe2\x80\xa6";
static const char replacement[] = "\xef\xbf\xbd";

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
char *meta_clean_name(const char *s)
{
	return clean(s, strlen(s), 4 * COLUMN_CUSTOMER_NAME_WIDTH, COLUMN_CUSTOMER_NAME_WIDTH,
		     true);
}

/* A type or field name fit for quoting in a text or a note; "" for NULL. */
char *meta_word(const char *s)
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
bool meta_id_ok(const char *s)
{
	return id_chars_ok(s) && strlen(s) <= META_ID_MAX;
}

char *meta_dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* ---- JSON access that tolerates every wrong type ---- */

const cJSON *meta_get(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

const char *meta_get_str(const cJSON *o, const char *key)
{
	const cJSON *v = meta_get(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Non-empty string or NULL: an empty caption or title is as good as none. */
const char *meta_get_text(const cJSON *o, const char *key)
{
	const char *s = meta_get_str(o, key);
	return s && *s ? s : NULL;
}

const char *meta_get_id(const cJSON *o, const char *key)
{
	const char *s = meta_get_str(o, key);
	return meta_id_ok(s) ? s : NULL;
}

/* A printable id of any length at o.key, or NULL. */
const char *meta_get_raw_id(const cJSON *o, const char *key)
{
	const char *s = meta_get_str(o, key);
	return id_chars_ok(s) ? s : NULL;
}

const cJSON *meta_get_obj(const cJSON *o, const char *key)
{
	const cJSON *v = meta_get(o, key);
	return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *meta_get_arr(const cJSON *o, const char *key)
{
	const cJSON *v = meta_get(o, key);
	return cJSON_IsArray(v) ? v : NULL;
}

bool meta_get_true(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(meta_get(o, key));
}

bool meta_streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/*
 * WhatsApp sends "1749416383" (seconds, string), Instagram 1668022333735 (ms,
 * number), the Instagram dashboard test "1527459824" (seconds, string).
 * Accepts both encodings and tells seconds from ms by magnitude. 0 = unknown.
 */
long long meta_ts_ms(const cJSON *v)
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
bool meta_number_text(const cJSON *v, char *buf, size_t size)
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

static void push_note(struct parse *p, char *s)
{
	struct meta_batch *b = p->b;
	if (b->n_notes == p->cap_notes) {
		p->cap_notes = p->cap_notes ? 2 * p->cap_notes : 8;
		b->notes = xrealloc(b->notes, p->cap_notes * sizeof(*b->notes));
	}
	b->notes[b->n_notes++] = s;
}

void meta_note(struct parse *p, const char *fmt, ...)
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
bool meta_id_too_long(struct parse *p, const char *s, size_t width, const char *where,
		      const char *what)
{
	if (!id_chars_ok(s) || strlen(s) <= width)
		return false;
	p->b->skipped_too_long++;
	meta_note(p,
		  "%s: %s of %zu characters (%.16s\xe2\x80\xa6) is longer than its column (%zu), "
		  "skipped",
		  where, what, strlen(s), s, width);
	return true;
}

/* Takes ownership of every string in *m. */
void meta_add_message(struct parse *p, const struct meta_message *m)
{
	struct meta_batch *b = p->b;
	if (b->n_messages == p->cap_messages) {
		p->cap_messages = p->cap_messages ? 2 * p->cap_messages : 8;
		b->messages = xrealloc(b->messages, p->cap_messages * sizeof(*b->messages));
	}
	b->messages[b->n_messages++] = *m;
}

/* Takes ownership of every string in *s. */
void meta_add_status(struct parse *p, const struct meta_status *s)
{
	struct meta_batch *b = p->b;
	if (b->n_statuses == p->cap_statuses) {
		p->cap_statuses = p->cap_statuses ? 2 * p->cap_statuses : 8;
		b->statuses = xrealloc(b->statuses, p->cap_statuses * sizeof(*b->statuses));
	}
	b->statuses[b->n_statuses++] = *s;
}

/* Final form of a rendered text: valid UTF-8, capped, never empty. */
char *meta_finish_text(struct strbuf *sb, const char *fallback)
{
	if (sb->len == 0)
		strbuf_puts(sb, fallback);
	char *t = clean(sb->buf, sb->len, META_TEXT_MAX, SIZE_MAX, false);
	strbuf_free(sb);
	return t;
}

/* ---- errors (statuses[].errors, value.errors) ---- */

void meta_err_info(const cJSON *e, struct err_info *out)
{
	char code[40];
	memset(out, 0, sizeof(*out));
	if (meta_number_text(meta_get(e, "code"), code, sizeof(code)))
		out->code = xstrdup(code);
	const char *title = meta_get_text(e, "title");
	if (!title)
		title = meta_get_text(e, "message");
	const char *detail = meta_get_text(meta_get_obj(e, "error_data"), "details");
	if (!detail)
		detail = meta_get_text(e, "details");
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

void meta_note_errors(struct parse *p, const char *where, const cJSON *errors)
{
	if (!errors)
		return;
	if (!cJSON_IsArray(errors)) {
		meta_note(p, "%s: errors is not an array", where);
		return;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, errors)
	{
		struct err_info ei;
		meta_err_info(e, &ei);
		meta_note(p, "%s: error %s %s%s%s", where, ei.code ? ei.code : "?",
			  ei.title ? ei.title : "", ei.detail ? ": " : "",
			  ei.detail ? ei.detail : "");
		err_info_free(&ei);
	}
}

/* ---- ad referrals ---- */

#define REF_FIELD(f) offsetof(struct meta_referral, f)
static const size_t referral_offsets[META_REFERRAL_FIELDS] = {
    REF_FIELD(source_type),   REF_FIELD(source_id),  REF_FIELD(source_url),
    REF_FIELD(headline),      REF_FIELD(title),      REF_FIELD(body),
    REF_FIELD(media_type),    REF_FIELD(image_url),  REF_FIELD(video_url),
    REF_FIELD(thumbnail_url), REF_FIELD(ctwa_clid),  REF_FIELD(welcome_message),
    REF_FIELD(ref),           REF_FIELD(catalog_id),
};

const char *const meta_referral_names[META_REFERRAL_FIELDS] = {
    "source_type", "source_id",       "source_url", "headline",   "title",
    "body",        "media_type",      "image_url",  "video_url",  "thumbnail_url",
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

/*
 * One referral value: a non-empty string (an id may also come as a number),
 * cleaned and cut to its size; anything else is as good as absent. Nothing
 * here is a key, so a value is cut rather than refused: an ad with a
 * headline of a megabyte still says which ad it was.
 */
static char *meta_ref_value(const cJSON *o, const char *key, enum ref_value how)
{
	const cJSON *v = meta_get(o, key);
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

void meta_ref_values(struct meta_referral *r, const cJSON *o, const struct meta_ref_key *keys,
		     size_t n)
{
	for (size_t i = 0; i < n; i++)
		*(char **)((char *)r + keys[i].offset) =
		    meta_ref_value(o, keys[i].key, keys[i].how);
}

/* NULL when r holds nothing; r otherwise. Frees an empty one. */
struct meta_referral *meta_referral_or_null(struct meta_referral *r)
{
	for (size_t i = 0; i < META_REFERRAL_FIELDS; i++)
		if (*referral_slot(r, i))
			return r;
	referral_free(r);
	return NULL;
}

/* Visits every item of an optional array member; notes a member of the wrong type. */
bool meta_each_item(struct parse *p, const cJSON *o, const char *key, const char *where,
		    const cJSON **arr)
{
	const cJSON *v = meta_get(o, key);
	*arr = NULL;
	if (!v)
		return false;
	if (!cJSON_IsArray(v)) {
		meta_note(p, "%s: %s is not an array, ignored", where, key);
		return false;
	}
	*arr = v;
	return true;
}
/* ---- entry point ---- */

static int hex4(const char *s, size_t avail)
{
	int v = 0;
	if (avail < 4)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		int d = encoding_hex_value((unsigned char)s[i]);
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
		return META_ERR_EMPTY;
	cJSON *root = parse_json(body, len);
	if (!root)
		return META_ERR_JSON;
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return META_ERR_NOT_OBJECT;
	}

	struct parse p = {.b = out};
	const char *object = meta_get_str(root, "object");
	void (*entry_fn)(struct parse *, const cJSON *) = NULL;
	if (object)
		out->object = clean_str(object, WORD_MAX_BYTES, true);
	if (meta_streq(object, "whatsapp_business_account"))
		entry_fn = meta_whatsapp_entry;
	else if (meta_streq(object, "instagram"))
		entry_fn = meta_instagram_entry;
	else
		meta_note(&p, "object \"%s\" not handled", out->object ? out->object : "");

	const cJSON *entries, *e;
	if (entry_fn && meta_each_item(&p, root, "entry", "body", &entries)) {
		cJSON_ArrayForEach(e, entries) entry_fn(&p, e);
	} else if (entry_fn && !meta_get(root, "entry")) {
		meta_note(&p, "body without entry");
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