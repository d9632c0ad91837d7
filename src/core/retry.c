#include "retry.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_client.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

/*
 * Graph API codes that mean "later", whatever HTTP status carries them
 * (docs/protocol.md, Retries of upstream calls, and Meta's error-code pages):
 * 1 unknown / 2 service temporarily unavailable; 4 app, 17 user, 32 page, 341
 * application, 613 custom rate limits; 80000-80014 business-use-case rate
 * limits (80007 is WhatsApp's); 130429 Cloud API throughput; 131000 something
 * went wrong; 131016 service unavailable; 131056 pair rate limit; 131057
 * account in maintenance; 133004 server temporarily unavailable.
 */
static const long meta_transient[] = {
    1, 2, 4, 17, 32, 341, 613, 130429, 131000, 131016, 131056, 131057, 133004,
};

/* OpenAI: quota and billing ("retrying billing, spend, or quota errors won't
 * restore API access", says OpenAI's error guide; docs/protocol.md, Retries of
 * upstream calls), arriving as 429. */
static const char *const openai_billing[] = {
    "insufficient_quota",
    "credit_balance_exhausted",
    "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded",
    "organization_usage_limit_exceeded",
    "billing_hard_limit_reached",
    "billing_not_active",
    "access_terminated",
};

/* What an error body says, borrowed from the parsed tree. */
struct upstream_error {
	bool meta;            /* numeric "code": a Graph error */
	long code;            /* Graph code */
	long subcode;         /* Graph error_subcode, 0 when absent */
	bool transient;       /* Graph is_transient: true */
	const char *code_str; /* OpenAI "code" */
	const char *type;     /* OpenAI / Graph "type" */
	const char *message;  /* "message", or the whole "error" when a string */
};

static bool get_long(const cJSON *item, long *out)
{
	if (cJSON_IsNumber(item)) {
		double d = item->valuedouble;
		if (d < -1e15 || d > 1e15)
			return false;
		*out = (long)d;
		return true;
	}
	/* Some proxies and older Graph versions quote numbers. */
	if (cJSON_IsString(item) && item->valuestring[0]) {
		char *end;
		long v = strtol(item->valuestring, &end, 10);
		if (*end)
			return false;
		*out = v;
		return true;
	}
	return false;
}

static const char *get_str(const cJSON *obj, const char *key)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(it) && it->valuestring[0] ? it->valuestring : NULL;
}

/* Parses {"error": {...}} (or {"error": "text"}); NULL when the body is none. */
static cJSON *parse_error(const char *body, size_t len, struct upstream_error *e)
{
	memset(e, 0, sizeof *e);
	if (!body || !len || len > RETRY_BODY_PARSE_MAX)
		return NULL;
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (!root)
		return NULL;
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsString(err) && err->valuestring[0]) {
		e->message = err->valuestring;
		return root;
	}
	if (!cJSON_IsObject(err)) {
		cJSON_Delete(root);
		return NULL;
	}
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
	if (cJSON_IsString(code) && code->valuestring[0] && !get_long(code, &e->code))
		e->code_str = code->valuestring;
	else if (get_long(code, &e->code))
		e->meta = true;
	get_long(cJSON_GetObjectItemCaseSensitive(err, "error_subcode"), &e->subcode);
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(err, "is_transient");
	e->transient =
	    cJSON_IsTrue(tr) || (cJSON_IsString(tr) && strcasecmp(tr->valuestring, "true") == 0);
	e->type = get_str(err, "type");
	e->message = get_str(err, "message");
	return root;
}

static bool meta_is_transient(long code)
{
	if (code >= 80000 && code <= 80014)
		return true;
	for (size_t i = 0; i < sizeof meta_transient / sizeof meta_transient[0]; i++)
		if (meta_transient[i] == code)
			return true;
	return false;
}

static bool openai_is_billing(const struct upstream_error *e)
{
	for (size_t i = 0; i < sizeof openai_billing / sizeof openai_billing[0]; i++) {
		if (e->code_str && strcmp(e->code_str, openai_billing[i]) == 0)
			return true;
		if (e->type && strcmp(e->type, openai_billing[i]) == 0)
			return true;
	}
	return false;
}

/*
 * Final: a bad certificate stays bad for longer than our attempts last, an
 * oversized answer would come again, a usage error is our bug. Everything
 * else is the network, including HTTP_ERR_SHUTDOWN: the upstream never said
 * no, and a caller that is shutting down abandons the job anyway.
 */
static enum retry_verdict classify_transport(int kind)
{
	if (kind == HTTP_ERR_TLS || kind == HTTP_ERR_TOO_LARGE || kind == HTTP_ERR_USAGE)
		return RETRY_FINAL;
	return RETRY_RETRYABLE;
}

enum retry_verdict retry_classify(long http_status, int transport_error, const char *body,
				  size_t len)
{
	if (transport_error)
		return classify_transport(transport_error);
	if (http_status >= 200 && http_status < 300)
		return RETRY_OK;
	if (http_status <= 0)
		return RETRY_RETRYABLE; /* no answer at all: treat as the network */

	struct upstream_error e;
	cJSON *root = parse_error(body, len, &e);
	enum retry_verdict v = RETRY_FINAL;
	bool decided = false;
	if (root) {
		if (openai_is_billing(&e) ||
		    (e.message && strncmp(e.message, "Request too large", 17) == 0)) {
			v = RETRY_FINAL;
			decided = true;
		} else if ((e.meta && meta_is_transient(e.code)) || e.transient) {
			v = RETRY_RETRYABLE;
			decided = true;
		} else if (e.code_str && strcmp(e.code_str, "conversation_locked") == 0) {
			v = RETRY_RETRYABLE;
			decided = true;
		}
		cJSON_Delete(root);
	}
	if (decided)
		return v;
	if (http_status == 408 || http_status == 409 || http_status == 429 || http_status >= 500)
		return RETRY_RETRYABLE;
	return RETRY_FINAL;
}

/* ---- error_message ---- */

static const char replacement[] = "\xef\xbf\xbd";
static const char ellipsis[] = "\xe2\x80\xa6";

/* Appends s to sb as single-line UTF-8: bad bytes become U+FFFD, controls spaces. */
static void put_clean(struct strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	while (n) {
		size_t k = utf8_seq((const char *)p, n, NULL);
		if (!k) {
			strbuf_puts(sb, replacement);
			k = 1;
		} else if (k == 1 && (*p < 0x20 || *p == 0x7f)) {
			strbuf_putc(sb, ' ');
		} else {
			strbuf_append(sb, p, k);
		}
		p += k;
		n -= k;
	}
}

/* Cuts sb to RETRY_ERROR_MAX bytes at a character boundary, marking the cut. */
static void clip(struct strbuf *sb)
{
	if (sb->len <= RETRY_ERROR_MAX)
		return;
	size_t keep = utf8_cut(sb->buf, sb->len, RETRY_ERROR_MAX - (sizeof ellipsis - 1));
	sb->len = keep;
	sb->buf[keep] = '\0';
	strbuf_puts(sb, ellipsis);
}

/* Meta's message is "(#131047) Re-engagement message": the code comes first anyway. */
static const char *strip_graph_prefix(const char *msg)
{
	if (msg[0] != '(' || msg[1] != '#')
		return msg;
	const char *close = strchr(msg, ')');
	if (!close)
		return msg;
	close++;
	while (*close == ' ')
		close++;
	return *close ? close : msg;
}

char *retry_error_message(long http_status, const char *err, const char *body, size_t len)
{
	struct strbuf sb = STRBUF_INIT;
	if (err) {
		put_clean(&sb, err);
		clip(&sb);
		return strbuf_detach(&sb);
	}
	struct upstream_error e;
	cJSON *root = parse_error(body, len, &e);
	char head[64] = "";
	if (root && e.meta && e.subcode)
		snprintf(head, sizeof head, "%ld/%ld", e.code, e.subcode);
	else if (root && e.meta)
		snprintf(head, sizeof head, "%ld", e.code);
	const char *code = head[0] ? head : root ? (e.code_str ? e.code_str : e.type) : NULL;
	const char *msg = e.message ? strip_graph_prefix(e.message) : NULL;

	if (code)
		put_clean(&sb, code);
	if (code && msg)
		strbuf_puts(&sb, ": ");
	if (msg)
		put_clean(&sb, msg);
	clip(&sb);
	if (!code && !msg) {
		if (http_status > 0)
			strbuf_printf(&sb, "HTTP %ld", http_status);
		else
			strbuf_puts(&sb, "no response");
	}
	cJSON_Delete(root);
	return strbuf_detach(&sb);
}

/* ---- backoff ---- */

/*
 * A non-negative decimal ("12", "1.5", " 3 ") scaled by unit into
 * milliseconds; saturates instead of overflowing. False for anything else,
 * including an HTTP-date and a sign.
 */
static bool parse_hint(const char *s, long unit, long *ms)
{
	if (!s)
		return false;
	while (*s == ' ' || *s == '\t')
		s++;
	const long limit = 1000L * 1000 * 1000; /* ms; far beyond any cap */
	long whole = 0;
	bool digits = false;
	while (*s >= '0' && *s <= '9') {
		whole = whole > limit / 10 ? limit : whole * 10 + (*s - '0');
		digits = true;
		s++;
	}
	long frac = 0, scale = 1;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			if (scale < 1000000) {
				frac = frac * 10 + (*s - '0');
				scale *= 10;
			}
			digits = true;
			s++;
		}
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (!digits || *s)
		return false;
	if (whole >= limit / unit) {
		*ms = limit;
		return true;
	}
	*ms = whole * unit + frac * unit / scale;
	return true;
}

long retry_schedule_delay_ms(const struct retry_schedule *s, int attempt, const char *retry_after,
			     const char *retry_after_ms, unsigned rnd)
{
	long hint;
	if ((parse_hint(retry_after_ms, 1, &hint) && hint > 0) ||
	    (parse_hint(retry_after, 1000, &hint) && hint > 0))
		return hint < s->max_hint_ms ? hint : s->max_hint_ms;

	if (attempt < 1)
		attempt = 1;
	long ceiling = s->cap_ms;
	/* Doubling stops at the cap, before a shift could overflow. */
	long c = s->base_ms;
	for (int i = 1; i < attempt && c < s->cap_ms; i++)
		c *= 2;
	if (c < ceiling)
		ceiling = c;
	long span = ceiling - s->floor_ms + 1;
	if (span < 1)
		return s->floor_ms;
	return s->floor_ms + (long)(rnd % (unsigned long)span);
}

long retry_delay_ms(int attempt, const char *retry_after, const char *retry_after_ms, unsigned rnd)
{
	static const struct retry_schedule upstream = {
	    .base_ms = RETRY_BASE_MS,
	    .cap_ms = RETRY_CAP_MS,
	    .floor_ms = RETRY_FLOOR_MS,
	    .max_hint_ms = RETRY_MAX_DELAY_MS,
	};
	return retry_schedule_delay_ms(&upstream, attempt, retry_after, retry_after_ms, rnd);
}
