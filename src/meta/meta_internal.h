#ifndef PARLEY_META_INTERNAL_H
#define PARLEY_META_INTERNAL_H
/*
 * What the files of the meta_parse module share: meta_parse.c (the entry
 * point, the batch being built, text hygiene, tolerant JSON access, errors
 * and referrals), meta_whatsapp.c and meta_instagram.c (one platform's
 * events each) and meta_render.c (the readable text of each kind of
 * message). It lives in src/, not include/: include/meta/meta_parse.h is the
 * module's whole surface for the rest of parley, and nothing outside these
 * four files may build on the parser's internals.
 */
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "meta_parse.h"
#include "strbuf.h"

#define NAME_MAX_BYTES  256 /* error titles and details */
#define WORD_MAX_BYTES  64  /* type and field names quoted in texts and notes, the object */
#define NOTE_MAX_BYTES  512
#define FORM_FIELDS_MAX 50 /* nfm_reply answers shown */
#define LIST_ITEMS_MAX  20 /* order lines, shared contacts shown */

/* Builder state for one meta_parse() call. */
struct parse {
	struct meta_batch *b;
	size_t cap_messages, cap_statuses, cap_notes;
	size_t suppressed; /* notes dropped past META_NOTES_MAX */
};

/* What rendering a WhatsApp message decided besides its text. */
struct render {
	struct parse *p;
	const char *kind;   /* static string */
	const char *target; /* validated id inside the JSON tree, or NULL */
	bool needs_reply;
	int depth; /* 1 inside an edit's message: no edits of edits */
};

struct err_info {
	char *code, *title, *detail; /* owned; any may be NULL */
};

/* How a referral value is cleaned (meta_ref_value). */
enum ref_value { REF_LINE, REF_PROSE, REF_URL, REF_ID };

/* ---- text hygiene and JSON access (meta_parse.c) ---- */

char *meta_clean_name(const char *s);
char *meta_word(const char *s);
bool meta_id_ok(const char *s);
char *meta_dup_or_null(const char *s);
const cJSON *meta_get(const cJSON *o, const char *key);
const char *meta_get_str(const cJSON *o, const char *key);
const char *meta_get_text(const cJSON *o, const char *key);
const char *meta_get_id(const cJSON *o, const char *key);
const char *meta_get_raw_id(const cJSON *o, const char *key);
const cJSON *meta_get_obj(const cJSON *o, const char *key);
const cJSON *meta_get_arr(const cJSON *o, const char *key);
bool meta_get_true(const cJSON *o, const char *key);
bool meta_streq(const char *a, const char *b);
long long meta_ts_ms(const cJSON *v);
bool meta_number_text(const cJSON *v, char *buf, size_t size);

/* ---- building the batch (meta_parse.c) ---- */

void meta_note(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool meta_id_too_long(struct parse *p, const char *s, size_t width, const char *where,
		      const char *what);
void meta_add_message(struct parse *p, const struct meta_message *m);
void meta_add_status(struct parse *p, const struct meta_status *s);
char *meta_finish_text(struct strbuf *sb, const char *fallback);
/* Takes the error object e apart; the caller owns the strings. */
void meta_err_info(const cJSON *e, struct err_info *out);
void meta_note_errors(struct parse *p, const char *where, const cJSON *errors);

/* ---- referrals (meta_parse.c) ---- */

/* One referral field read from a member of a platform's object. */
struct meta_ref_key {
	size_t offset; /* of the char * field in struct meta_referral */
	const char *key;
	enum ref_value how;
};
#define META_REF_KEY(field, key, how)                                                              \
	{                                                                                          \
		offsetof(struct meta_referral, field), key, how                                    \
	}
/* Sets r's fields named in keys[0..n) from o (which may be NULL). */
void meta_ref_values(struct meta_referral *r, const cJSON *o, const struct meta_ref_key *keys,
		     size_t n);
struct meta_referral *meta_referral_or_null(struct meta_referral *r);
/* Visits every item of an optional array member; notes a member of the wrong type. */
bool meta_each_item(struct parse *p, const cJSON *o, const char *key, const char *where,
		    const cJSON **arr);

/* ---- one entry[] item of each platform ---- */

void meta_whatsapp_entry(struct parse *p, const cJSON *entry);
void meta_instagram_entry(struct parse *p, const cJSON *entry);

/* ---- rendering (meta_render.c) ---- */

/* Sets r->kind, r->needs_reply, r->target and appends the readable line. */
void meta_render_whatsapp(const cJSON *m, struct strbuf *sb, struct render *r);
/* Appends one tag per attachment; returns the first one's kind, or NULL. */
const char *meta_render_ig_attachments(const cJSON *atts, struct strbuf *sb);

#endif
