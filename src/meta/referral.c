/*
 * Ad referrals as readable lines: see include/meta/referral.h.
 */
#include "referral.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

/* The agent and the extraction are told plainly what the line is, so that
 * the ad's words are never taken for the customer's (or for instructions). */
static const char AGENT_PREFIX[] =
    "Context from the messaging platform, not written by the customer: the customer's "
    "message(s) in this turn came from something they tapped: ";
static const char EXTRACTION_PREFIX[] =
    "Ad context (from the messaging platform, not the customer's words): the customer's "
    "next message came from ";

static const char *field(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return s && *s ? s : NULL;
}

/* Appends s with every ASCII control character as a blank: one line. */
static void put_line(struct strbuf *sb, const char *s)
{
	for (; *s; s++)
		strbuf_putc(sb, (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

/* sb's bytes cut to max (>= 3) on a UTF-8 boundary, ending in "…" when cut. */
static char *finish(struct strbuf *sb, size_t max)
{
	if (sb->len > max) {
		sb->len = utf8_cut(sb->buf, sb->len, max - 3);
		strbuf_puts(sb, "\xe2\x80\xa6");
	}
	return strbuf_detach(sb);
}

static void describe(struct strbuf *sb, const cJSON *ref)
{
	const char *type = field(ref, "source_type"), *id = field(ref, "source_id");
	const char *headline = field(ref, "headline");
	if (!headline)
		headline = field(ref, "title");
	const char *body = field(ref, "body"), *link = field(ref, "ref");
	const char *url = field(ref, "source_url");

	const char *catalog = field(ref, "catalog_id");
	if (type && strcmp(type, "product") == 0) {
		strbuf_puts(sb, "the product ");
		put_line(sb, id ? id : "(no id)");
		if (catalog) {
			strbuf_puts(sb, " of catalogue ");
			put_line(sb, catalog);
		}
		return;
	}
	if (!type || strcasecmp(type, "ad") == 0 || strcasecmp(type, "ads") == 0) {
		strbuf_puts(sb, "ad");
	} else {
		strbuf_puts(sb, "referral from ");
		put_line(sb, type);
	}
	if (id) {
		strbuf_putc(sb, ' ');
		put_line(sb, id);
	}
	const char *sep = ": ";
	if (headline) {
		strbuf_printf(sb, "%s\"", sep);
		put_line(sb, headline);
		strbuf_putc(sb, '"');
		sep = " \xe2\x80\x94 ";
	}
	if (body) {
		strbuf_puts(sb, sep);
		put_line(sb, body);
		sep = ", ";
	}
	if (link) {
		strbuf_printf(sb, "%sref ", sep);
		put_line(sb, link);
		sep = ", ";
	}
	if (url) {
		strbuf_puts(sb, sep);
		put_line(sb, url);
	}
}

static bool describable(const cJSON *ref)
{
	static const char *const keys[] = {"source_type", "source_id", "headline",   "title",
					   "body",        "ref",       "source_url", "catalog_id"};
	if (!cJSON_IsObject(ref))
		return false;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (field(ref, keys[i]))
			return true;
	return false;
}

/*
 * One line, e.g. `ad 1200001: "Winter sale" — Jackets 30% off,
 * https://fb.me/x` (the kind from source_type: "ad" for WhatsApp's "ad" and
 * Instagram's "ADS"; then the id, the headline or title, the ad's text, the
 * link's ref and the url, each only when present). NULL when ref is not an
 * object or has none of these.
 */
static char *referral_describe(const cJSON *ref)
{
	if (!describable(ref))
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	describe(&sb, ref);
	return finish(&sb, REFERRAL_LINE_MAX);
}

char *referral_describe_text(const char *json)
{
	cJSON *ref = json ? cJSON_Parse(json) : NULL;
	char *out = referral_describe(ref);
	cJSON_Delete(ref);
	return out;
}

char *referral_agent_context(const cJSON *referrals)
{
	struct strbuf sb = STRBUF_INIT;
	int n = cJSON_IsArray(referrals) ? cJSON_GetArraySize(referrals) : 0;
	char **seen = xcalloc(n > 0 ? (size_t)n : 1, sizeof *seen);
	int kept = 0;
	for (int i = 0; i < n; i++) {
		char *line = referral_describe(cJSON_GetArrayItem(referrals, i));
		bool dup = false;
		/* Several messages from one ad tap carry the same referral. */
		for (int k = 0; line && k < kept && !dup; k++)
			dup = strcmp(seen[k], line) == 0;
		if (!line || dup) {
			free(line);
			continue;
		}
		strbuf_puts(&sb, kept ? "; " : AGENT_PREFIX);
		strbuf_puts(&sb, line);
		seen[kept++] = line;
	}
	for (int k = 0; k < kept; k++)
		free(seen[k]);
	free(seen);
	if (kept == 0) {
		strbuf_free(&sb);
		return NULL;
	}
	return finish(&sb, REFERRAL_LINE_MAX);
}

char *referral_extraction_context(const cJSON *ref)
{
	if (!describable(ref))
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, EXTRACTION_PREFIX);
	describe(&sb, ref);
	return finish(&sb, REFERRAL_LINE_MAX);
}
