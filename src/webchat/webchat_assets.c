/*
 * GET /webchat/v1/widget.js and GET /webchat/v1/demo (docs/protocol.md): the
 * widget script and its demo page, both compiled into the binary
 * (webchat_assets_data.S), so an installed parley needs no asset files.
 */
#include "webchat_assets.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "http_server.h"
#include "strbuf.h"

extern const char parley_widget_js_start[], parley_widget_js_end[];
extern const char parley_demo_html_start[], parley_demo_html_end[];

#define WIDGET_ID_MAX 100
#define PLACEHOLDER   "{{WIDGET_ID}}"

/* The demo page loads only parley's own script and talks only to parley.
 * Its styles are inline, hence 'unsafe-inline' for styles alone; the widget
 * itself needs no inline style (it uses a constructed stylesheet). */
static const char demo_csp[] = "default-src 'none'; script-src 'self'; connect-src 'self'; "
			       "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
			       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/* The embedded files (not NUL-terminated; the bytes live as long as the process). */
static const char *webchat_assets_widget_js(size_t *len)
{
	*len = (size_t)(parley_widget_js_end - parley_widget_js_start);
	return parley_widget_js_start;
}

static const char *webchat_assets_demo_html(size_t *len)
{
	*len = (size_t)(parley_demo_html_end - parley_demo_html_start);
	return parley_demo_html_start;
}

/* A widget id as the demo page accepts it: 1 to 100 of [A-Za-z0-9._-]. */
static bool webchat_assets_valid_widget_id(const char *id)
{
	size_t n = 0;
	for (const char *p = id; *p; p++, n++) {
		char c = *p;
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok || n >= WIDGET_ID_MAX)
			return false;
	}
	return n > 0;
}

/* Appends s with & < > " ' replaced by entities, safe inside a quoted
 * HTML attribute and in text. */
static void webchat_assets_html_escape(struct strbuf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '&': strbuf_puts(out, "&amp;"); break;
		case '<': strbuf_puts(out, "&lt;"); break;
		case '>': strbuf_puts(out, "&gt;"); break;
		case '"': strbuf_puts(out, "&quot;"); break;
		case '\'': strbuf_puts(out, "&#39;"); break;
		default: strbuf_putc(out, s[i]);
		}
	}
}

/* Appends the template tpl with every "{{WIDGET_ID}}" replaced by the
 * HTML-escaped widget_id. */
static void webchat_assets_render_demo(struct strbuf *out, const char *tpl, size_t len,
				       const char *widget_id)
{
	const size_t plen = sizeof PLACEHOLDER - 1;
	size_t i = 0;
	while (i < len) {
		const char *hit = NULL;
		/* memmem would do, but the template is small and this needs no
		 * feature macro beyond what the build sets. */
		for (size_t j = i; j + plen <= len; j++) {
			if (tpl[j] == '{' && memcmp(tpl + j, PLACEHOLDER, plen) == 0) {
				hit = tpl + j;
				break;
			}
		}
		if (!hit) {
			strbuf_append(out, tpl + i, len - i);
			return;
		}
		strbuf_append(out, tpl + i, (size_t)(hit - (tpl + i)));
		webchat_assets_html_escape(out, widget_id, strlen(widget_id));
		i = (size_t)(hit - tpl) + plen;
	}
}

/* Writes the strong ETag of data ('"' + 16 hex digits of its SHA-256 + '"')
 * into out, which must hold 19 bytes. */
static void webchat_assets_etag(const char *data, size_t len, char out[19])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	/* SHA-256 of a few tens of kilobytes cannot fail short of OOM inside
	 * OpenSSL; a zero digest would still be a valid (if useless) tag. */
	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		memset(md, 0, sizeof md);
	out[0] = '"';
	for (int i = 0; i < 8; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
	out[17] = '"';
	out[18] = '\0';
}

/* Whether an If-None-Match header value (a comma-separated list of entity
 * tags, weak or strong, or "*") names etag. NULL matches nothing. */
static bool webchat_assets_etag_matches(const char *if_none_match, const char *etag)
{
	if (!if_none_match)
		return false;
	size_t elen = strlen(etag);
	const char *p = if_none_match;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != ',')
			p++;
		const char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		/* If-None-Match compares weakly (RFC 9110 §13.1.2). */
		if (end - start >= 2 && start[0] == 'W' && start[1] == '/')
			start += 2;
		size_t n = (size_t)(end - start);
		if ((n == 1 && *start == '*') || (n == elen && memcmp(start, etag, n) == 0))
			return true;
	}
	return false;
}

void webchat_assets_handle_widget_js(struct app *app, struct evhttp_request *req)
{
	(void)app;
	static char etag[19];
	size_t len;
	const char *js = webchat_assets_widget_js(&len);
	if (!etag[0])
		webchat_assets_etag(js, len, etag);

	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	/* Short enough that a fixed widget reaches every site within minutes,
	 * and the ETag makes the revalidation after that cost a 304. */
	evhttp_add_header(out, "Cache-Control", "public, max-age=300");
	evhttp_add_header(out, "ETag", etag);
	const char *inm =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
	if (webchat_assets_etag_matches(inm, etag)) {
		http_reply(req, 304, "application/javascript; charset=utf-8", "", 0);
		return;
	}
	http_reply(req, 200, "application/javascript; charset=utf-8", js, len);
}

void webchat_assets_handle_demo(struct app *app, struct evhttp_request *req)
{
	(void)app;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	/* evhttp_parse_query_str initialises the list itself; {0} is the
	 * empty list when there is no query. */
	struct evkeyvalq params = {0};
	if (query && evhttp_parse_query_str(query, &params) != 0) {
		http_reply_error(req, 400, "malformed query string");
		return;
	}
	const char *id = evhttp_find_header(&params, "widget");
	if (!id || !webchat_assets_valid_widget_id(id)) {
		evhttp_clear_headers(&params);
		http_reply_error(req, 400,
				 "widget: required, 1 to 100 letters, digits, '.', '_' or '-'");
		return;
	}
	size_t len;
	const char *tpl = webchat_assets_demo_html(&len);
	struct strbuf page = STRBUF_INIT;
	webchat_assets_render_demo(&page, tpl, len, id);
	evhttp_clear_headers(&params);

	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Security-Policy", demo_csp);
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	http_reply(req, 200, "text/html; charset=utf-8", page.buf ? page.buf : "", page.len);
	strbuf_free(&page);
}
