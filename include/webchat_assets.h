#ifndef PARLEY_WEBCHAT_ASSETS_H
#define PARLEY_WEBCHAT_ASSETS_H
/*
 * The embeddable chat widget (src/widget/widget.js) and its demo page
 * (src/widget/demo.html), compiled into the binary by
 * src/webchat_assets_data.S so that serving them needs no file at run time.
 *
 *   GET /webchat/v1/widget.js            the script, cacheable, with an ETag
 *   GET /webchat/v1/demo?widget=ID       a shop page embedding the widget
 *
 * The pure helpers below are what the handlers are made of; the unit tests
 * call them directly.
 */
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

struct app;
struct strbuf;

void webchat_assets_handle_widget_js(struct app *app, struct evhttp_request *req);
void webchat_assets_handle_demo(struct app *app, struct evhttp_request *req);

/* The embedded files (not NUL-terminated; the bytes live as long as the process). */
const char *webchat_assets_widget_js(size_t *len);
const char *webchat_assets_demo_html(size_t *len);

/* A widget id as the demo page accepts it: 1 to 100 of [A-Za-z0-9._-]. */
bool webchat_assets_valid_widget_id(const char *id);

/* Appends s with & < > " ' replaced by entities, safe inside a quoted
 * HTML attribute and in text. */
void webchat_assets_html_escape(struct strbuf *out, const char *s, size_t len);

/* Appends the template tpl with every "{{WIDGET_ID}}" replaced by the
 * HTML-escaped widget_id. */
void webchat_assets_render_demo(struct strbuf *out, const char *tpl, size_t len,
				const char *widget_id);

/* Writes the strong ETag of data ('"' + 16 hex digits of its SHA-256 + '"')
 * into out, which must hold 19 bytes. */
void webchat_assets_etag(const char *data, size_t len, char out[19]);

/* Whether an If-None-Match header value (a comma-separated list of entity
 * tags, weak or strong, or "*") names etag. NULL matches nothing. */
bool webchat_assets_etag_matches(const char *if_none_match, const char *etag);

#endif
