/*
 * POST /webchat/v1/sessions, POST /webchat/v1/messages, POST /webchat/v1/read
 * and the checks every webchat endpoint shares (CORS, rate limits, the
 * session token). The long poll is in webchat_poll.c.
 */
#include "webchat.h"

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "columns.h"
#include "handlers.h"
#include "http_server.h"
#include "ingest_events.h"
#include "ingest_batch.h"
#include "log.h"
#include "metrics.h"
#include "rate_limit.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

/*
 * Rate limits: burst, then a steady rate. A person typing stays far below
 * them; a script hammering one session or one address does not. Addresses
 * are the client's (http_client_key): the TCP peer's, or behind
 * server.trusted_proxies the one X-Forwarded-For names; IPv6 per /64.
 */
#define ADDRESS_BURST       120
#define ADDRESS_PER_SECOND  10.0
#define SESSIONS_BURST      20 /* new sessions per address */
#define SESSIONS_PER_SECOND 0.2
#define SESSION_BURST       30 /* requests per session */
#define SESSION_PER_SECOND  2.0
#define MESSAGES_BURST      10 /* messages per session */
#define MESSAGES_PER_SECOND 0.5
#define LIMIT_KEYS          100000
/* Widgets are rows of phone_numbers, named by signed tokens: few keys. */
#define WIDGET_KEYS 100000

/*
 * What a widget sends is checked against these limits before anything is
 * stored, and they are narrower than the columns the values land in, so no
 * value from a widget can fail the statement that stores it (docs/protocol.md,
 * Skipped events): the session id is the customer, the widget id is compared
 * with the channel's, "webchat:<session>:<client message id>" is the message's
 * id.
 */
#define CLIENT_MESSAGE_ID_MAX 100
_Static_assert(WEBCHAT_SESSION_ID_MAX <= COLUMN_CUSTOMER_PHONE_WIDTH, "session id fits");
_Static_assert(WEBCHAT_WIDGET_ID_MAX <= COLUMN_META_PHONE_NUMBER_ID_WIDTH, "widget id fits");
_Static_assert(sizeof "webchat::srv-" + WEBCHAT_SESSION_ID_MAX + CLIENT_MESSAGE_ID_MAX <=
		   COLUMN_PLATFORM_MESSAGE_ID_WIDTH,
	       "message id fits");

struct webchat {
	struct app *app;
	struct rate_limit *per_address, *sessions_per_address, *per_session, *messages;
	/* webchat.max_messages_per_minute: what anonymous visitors may spend of
	 * a tenant's credits. Per process, like the other limits: the bound is
	 * the processes times it (README.md). */
	struct rate_window *per_widget;
	char **origins; /* webchat.allowed_origins, NULL-terminated */
	bool any_origin;
	struct webchat_polls *polls;
};

static struct webchat *the_webchat; /* one server per process */

struct webchat *webchat_new(struct app *app)
{
	struct webchat *wc = xcalloc(1, sizeof *wc);
	wc->app = app;
	wc->per_address = rate_limit_new(ADDRESS_BURST, ADDRESS_PER_SECOND, LIMIT_KEYS);
	wc->sessions_per_address = rate_limit_new(SESSIONS_BURST, SESSIONS_PER_SECOND, LIMIT_KEYS);
	wc->per_session = rate_limit_new(SESSION_BURST, SESSION_PER_SECOND, LIMIT_KEYS);
	wc->messages = rate_limit_new(MESSAGES_BURST, MESSAGES_PER_SECOND, LIMIT_KEYS);
	wc->per_widget = rate_window_new(app->cfg.webchat_max_messages_per_minute, 60, WIDGET_KEYS);
	const char *origins =
	    app->cfg.webchat_allowed_origins ? app->cfg.webchat_allowed_origins : "";
	config_split_list(origins, &wc->origins);
	for (char **o = wc->origins; *o; o++)
		if (strcmp(*o, "*") == 0)
			wc->any_origin = true;
	wc->polls = webchat_polls_new(app);
	the_webchat = wc;
	metrics_declare("parley_webchat_requests_total", METRIC_COUNTER,
			"Webchat API requests by endpoint and status code.");
	metrics_declare("parley_webchat_rate_limited_total", METRIC_COUNTER,
			"Webchat requests refused with 429, by limit.");
	return wc;
}

struct webchat_polls *webchat_polls_of(struct app *app)
{
	(void)app;
	return the_webchat ? the_webchat->polls : NULL;
}

void webchat_close(struct webchat *wc)
{
	if (wc)
		webchat_polls_close(wc->polls);
}

void webchat_free(struct webchat *wc)
{
	if (!wc)
		return;
	webchat_polls_free(wc->polls);
	rate_limit_free(wc->per_address);
	rate_limit_free(wc->sessions_per_address);
	rate_limit_free(wc->per_session);
	rate_limit_free(wc->messages);
	rate_window_free(wc->per_widget);
	config_free_list(wc->origins);
	if (the_webchat == wc)
		the_webchat = NULL;
	free(wc);
}

/* ------------------------------------------------------------ shared checks */

/* "https://host:port" → "host:port" (what a Host header would say). */
static const char *origin_authority(const char *origin)
{
	const char *p = strstr(origin, "://");
	return p ? p + 3 : origin;
}

/*
 * Adds the CORS headers for an allowed Origin. The page's own origin (the
 * demo page parley serves) is always allowed: browsers send Origin on
 * same-origin POSTs too. Returns false for an Origin that is not allowed.
 */
static bool cors(struct webchat *wc, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *origin = evhttp_find_header(in, "Origin");
	if (!origin)
		return true; /* not a browser's cross-origin request */
	bool allowed = wc->any_origin;
	for (char **o = wc->origins; !allowed && *o; o++)
		allowed = strcasecmp(*o, origin) == 0;
	const char *host = evhttp_find_header(in, "Host");
	if (!allowed && host && strcasecmp(origin_authority(origin), host) == 0)
		allowed = true;
	if (!allowed)
		return false;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
	evhttp_add_header(out, "Vary", "Origin");
	evhttp_add_header(out, "Access-Control-Expose-Headers", "Retry-After");
	return true;
}

static void count_request(const char *endpoint, int code)
{
	char labels[96];
	snprintf(labels, sizeof labels, "endpoint=\"%s\",code=\"%d\"", endpoint, code);
	metrics_add("parley_webchat_requests_total", labels, 1);
}

static void reply_error(struct evhttp_request *req, const char *endpoint, int code, const char *msg)
{
	count_request(endpoint, code);
	http_reply_error(req, code, msg);
}

/* Answers 429 with Retry-After (whole seconds, at least 1). */
static void too_many_says(struct evhttp_request *req, const char *limit, double wait,
			  const char *msg)
{
	char secs[24];
	snprintf(secs, sizeof secs, "%d", (int)ceil(wait < 1 ? 1 : wait));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", secs);
	char labels[64];
	snprintf(labels, sizeof labels, "limit=\"%s\"", limit);
	metrics_add("parley_webchat_rate_limited_total", labels, 1);
	count_request(limit, 429);
	http_reply_error(req, 429, msg);
}

static void too_many(struct evhttp_request *req, const char *limit, double wait)
{
	too_many_says(req, limit, wait, "too many requests, slow down");
}

/* The token from "Authorization: Bearer <token>", or NULL. */
static const char *bearer(struct evhttp_request *req)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

bool webchat_admit(struct app *app, struct evhttp_request *req, struct webchat_claims *claims)
{
	struct webchat *wc = the_webchat;
	(void)app;
	if (!cors(wc, req)) {
		reply_error(req, "cors", 403, "origin not allowed");
		return false;
	}
	double now = clock_mono();
	char client[CLIENT_ADDR_KEY_MAX];
	http_client_key(req, client);
	double wait = rate_limit_take(wc->per_address, client, now);
	if (wait > 0) {
		too_many(req, "address", wait);
		return false;
	}
	if (!claims)
		return true;
	const char *token = bearer(req);
	if (!token) {
		reply_error(req, "auth", 401, "missing bearer token");
		return false;
	}
	const char *why = webchat_token_verify(wc->app->cfg.webchat_secret, token, strlen(token),
					       (long long)time(NULL), claims);
	if (why) {
		reply_error(req, "auth", 401, why);
		return false;
	}
	wait = rate_limit_take(wc->per_session, claims->session_id, now);
	if (wait > 0) {
		too_many(req, "session", wait);
		return false;
	}
	return true;
}

/*
 * Whether JSON text holds a NUL, escaped (\u0000) or raw. cJSON decodes
 * either into a NUL that ends the C string, so "ab\u0000cd" would be stored
 * as "ab" without a word; it is refused instead. A backslash preceded by an
 * odd number of backslashes is itself escaped ("\\u0000" is text).
 */
static bool has_nul(const char *s, size_t len)
{
	if (memchr(s, '\0', len))
		return true;
	for (size_t i = 0; i + 6 <= len; i++) {
		if (s[i] != '\\')
			continue;
		if (memcmp(s + i + 1, "u0000", 5) == 0)
			return true;
		i++; /* skip what this backslash escapes */
	}
	return false;
}

/* The request's JSON object body; NULL after answering 400/413. */
static cJSON *json_body(struct evhttp_request *req, const char *endpoint)
{
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(buf);
	if (len > WEBCHAT_MAX_BODY_BYTES) {
		reply_error(req, endpoint, 413, "body too large");
		return NULL;
	}
	const char *body = len ? (const char *)evbuffer_pullup(buf, -1) : "";
	if (has_nul(body, len)) {
		reply_error(req, endpoint, 400,
			    "strings must not contain \\u0000 (the NUL character)");
		return NULL;
	}
	cJSON *o = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		reply_error(req, endpoint, 400, "body must be a JSON object");
		return NULL;
	}
	return o;
}

/* Ids the widget chooses (widget ids, client message ids): printable ASCII
 * without spaces, 1..max characters. */
static bool valid_id(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (s[n] <= ' ' || s[n] > '~' || n >= max)
			return false;
	return n > 0;
}

/* -------------------------------------------------------------- sessions */

struct session_req {
	struct app *app;
	struct evhttp_request *req;
	char widget[WEBCHAT_WIDGET_ID_MAX + 1];
};

static void on_channel(void *arg, PGresult *res, const char *err)
{
	struct session_req *s = arg;
	if (err) {
		log_error("webchat", "session not opened: %s", err);
		reply_error(s->req, "sessions", 503, "database unavailable, try again later");
	} else if (PQntuples(res) == 0) {
		reply_error(s->req, "sessions", 404, "unknown widget");
	} else if (PQgetisnull(res, 0, 2)) {
		log_warn("webchat", "widget %s has no agent", s->widget);
		reply_error(s->req, "sessions", 404, "this widget has no agent linked");
	} else {
		char sid[36];
		webchat_session_id_new(sid);
		long long expires = (long long)time(NULL) + WEBCHAT_SESSION_DAYS * 86400LL;
		char *token =
		    webchat_token_issue(s->app->cfg.webchat_secret, sid, s->widget, expires);
		char when[32];
		time_t t = (time_t)expires;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
		struct strbuf sb = STRBUF_INIT;
		strbuf_printf(&sb,
			      "{\"session_id\":\"%s\",\"token\":\"%s\",\"expires_at\":\"%s\"}\n",
			      sid, token, when);
		log_info("webchat", "session %s opened on widget %s (tenant %s)", sid, s->widget,
			 PQgetvalue(res, 0, 1));
		count_request("sessions", 201);
		http_reply_json(s->req, 201, strbuf_str(&sb));
		strbuf_free(&sb);
		free(token);
	}
	free(s);
}

void webchat_handle_sessions(struct app *app, struct evhttp_request *req)
{
	if (!webchat_admit(app, req, NULL))
		return;
	struct webchat *wc = the_webchat;
	char client[CLIENT_ADDR_KEY_MAX];
	http_client_key(req, client);
	double wait = rate_limit_take(wc->sessions_per_address, client, clock_mono());
	if (wait > 0) {
		too_many(req, "sessions", wait);
		return;
	}
	if (!app->cfg.webchat_secret || !*app->cfg.webchat_secret) {
		log_error("webchat", "a widget asked for a session but webchat.secret is not set");
		reply_error(req, "sessions", 503, "webchat is not configured on this server");
		return;
	}
	cJSON *body = json_body(req, "sessions");
	if (!body)
		return;
	const char *widget =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "widget_id"));
	if (!widget || !valid_id(widget, WEBCHAT_WIDGET_ID_MAX)) {
		cJSON_Delete(body);
		reply_error(req, "sessions", 400,
			    "widget_id must be a string of 1 to 100 visible ASCII characters "
			    "(letters, digits and punctuation; no spaces)");
		return;
	}
	struct session_req *s = xcalloc(1, sizeof *s);
	s->app = app;
	s->req = req;
	snprintf(s->widget, sizeof s->widget, "%s", widget);
	cJSON_Delete(body);
	const char *params[] = {s->widget};
	db_query(app->db, "SELECT * FROM parley_webchat_channel($1)", 1, params, on_channel, s);
}

/* -------------------------------------------------------------- messages */

struct post_req {
	struct app *app;
	struct evhttp_request *req;
	struct webchat_claims claims;
	char *pmid; /* "webchat:<session>:<client message id>" */
};

static void post_free(struct post_req *p)
{
	free(p->pmid);
	free(p);
}

static void on_ids(void *arg, PGresult *res, const char *err)
{
	struct post_req *p = arg;
	if (err || PQntuples(res) != 1) {
		log_error("webchat", "message stored but not read back: %s",
			  err ? err : "no such message");
		reply_error(p->req, "messages", 503, "database unavailable, send again");
	} else {
		struct strbuf sb = STRBUF_INIT;
		strbuf_puts(&sb, "{\"message_id\":\"");
		strbuf_json_escape(&sb, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0));
		strbuf_printf(&sb, "\",\"sequence_no\":%s}\n", PQgetvalue(res, 0, 1));
		count_request("messages", 202);
		http_reply_json(p->req, 202, strbuf_str(&sb));
		strbuf_free(&sb);
	}
	post_free(p);
}

static void on_posted(void *arg, const char *outcome, const char *err)
{
	struct post_req *p = arg;
	if (err) {
		log_error("webchat", "message not stored: %s", err);
		reply_error(p->req, "messages", 503, "database unavailable, send again");
		post_free(p);
		return;
	}
	cJSON *o = cJSON_Parse(outcome ? outcome : "{}");
	double stored = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "stored"));
	double dups = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, "duplicates"));
	const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "skips"), 0), "reason"));
	if (stored == 1)
		metrics_add("parley_messages_total", "platform=\"webchat\",direction=\"inbound\"",
			    1);
	if (stored != 1 && dups != 1) {
		/* The widget was deleted, or lost its agent, since the session began. */
		log_warn("webchat", "session %s: message not stored: %s", p->claims.session_id,
			 reason ? reason : "unknown reason");
		cJSON_Delete(o);
		reply_error(p->req, "messages", 404,
			    reason && strcmp(reason, "no_agent") == 0
				? "this widget has no agent linked"
				: "unknown widget");
		post_free(p);
		return;
	}
	cJSON_Delete(o);
	/* The ids for the answer; the notification wakes this session's polls
	 * in every parley process (a customer may have several tabs open). */
	const char *params[] = {p->pmid, p->claims.session_id};
	db_query(p->app->db,
		 "SELECT message_id, sequence_no, pg_notify('" WEBCHAT_NOTIFY_CHANNEL "', $2) "
		 "FROM messages WHERE platform_message_id = $1",
		 2, params, on_ids, p);
}

void webchat_handle_messages_post(struct app *app, struct evhttp_request *req)
{
	struct webchat_claims claims;
	if (!webchat_admit(app, req, &claims))
		return;
	cJSON *body = json_body(req, "messages");
	if (!body)
		return;
	cJSON *text = cJSON_GetObjectItemCaseSensitive(body, "text");
	cJSON *cmid = cJSON_GetObjectItemCaseSensitive(body, "client_message_id");
	const char *bad = NULL;
	long chars = cJSON_IsString(text) ? utf8_valid_chars(text->valuestring) : -2;
	if (chars == -2)
		bad = "text must be a string";
	else if (chars < 0)
		bad = "text is not valid UTF-8";
	else if (strspn(text->valuestring, " \t\r\n") == strlen(text->valuestring))
		bad = "text is empty";
	else if (chars > WEBCHAT_MAX_TEXT_CHARS)
		bad = "text is longer than 4096 characters";
	else if (cmid && !cJSON_IsNull(cmid) &&
		 (!cJSON_IsString(cmid) || !valid_id(cmid->valuestring, CLIENT_MESSAGE_ID_MAX)))
		bad = "client_message_id must be a string of 1 to 100 visible ASCII characters "
		      "(letters, digits and punctuation; no spaces)";
	if (bad) {
		cJSON_Delete(body);
		reply_error(req, "messages", 400, bad);
		return;
	}
	double wait = rate_limit_take(the_webchat->messages, claims.session_id, clock_mono());
	if (wait > 0) {
		cJSON_Delete(body);
		too_many(req, "messages", wait);
		return;
	}
	/* After the session's own limit, so one noisy session cannot use up
	 * the widget's budget faster than its own limit lets it. */
	double t = clock_mono();
	wait = rate_window_take(the_webchat->per_widget, claims.widget_id, t);
	if (wait > 0) {
		cJSON_Delete(body);
		/* A flood would make a line per message; the metric counts them all. */
		static double warned = -1e9;
		if (t - warned >= 60) {
			warned = t;
			log_warn("webchat", "widget %s: over webchat.max_messages_per_minute (%ld)",
				 claims.widget_id,
				 the_webchat->app->cfg.webchat_max_messages_per_minute);
		}
		too_many_says(req, "widget", wait,
			      "this chat is receiving too many messages, try again in a minute");
		return;
	}

	struct post_req *p = xcalloc(1, sizeof *p);
	p->app = app;
	p->req = req;
	p->claims = claims;
	if (cJSON_IsString(cmid)) {
		p->pmid = xasprintf("webchat:%s:%s", claims.session_id, cmid->valuestring);
	} else {
		/* No id from the widget: this message cannot be recognised if sent
		 * again, so it gets one of its own. */
		char rnd[36];
		webchat_session_id_new(rnd);
		p->pmid = xasprintf("webchat:%s:srv-%s", claims.session_id, rnd + 3);
	}
	/* The same event a webhook message becomes, so parley_ingest_batch
	 * sees one format; every string is borrowed for the call. */
	char kind[] = "text";
	struct meta_message m = {
	    .platform = PLATFORM_WEBCHAT,
	    .channel_id = p->claims.widget_id,
	    .customer_id = p->claims.session_id,
	    .platform_message_id = p->pmid,
	    .kind = kind,
	    .text = text->valuestring,
	    .timestamp_ms = clock_wall_ms(),
	    .needs_reply = true,
	};
	struct meta_batch batch = {.messages = &m, .n_messages = 1};
	char *json = ingest_events_json(&batch);
	cJSON_Delete(body);
	/* Webchat bodies are not kept raw: `parley capture` replays Meta's. */
	const char *err = ingest_batch_submit(app, "webchat", json, NULL, 0, on_posted, p);
	if (err) /* refused (closed): no callback, the 503 is ours to send */
		on_posted(p, NULL, err);
}

/* ------------------------------------------------------------------ read */

struct read_req {
	struct evhttp_request *req;
};

static void on_read(void *arg, PGresult *res, const char *err)
{
	struct read_req *r = arg;
	if (err) {
		log_error("webchat", "read receipt not stored: %s", err);
		reply_error(r->req, "read", 503, "database unavailable, try again later");
	} else {
		char json[64];
		snprintf(json, sizeof json, "{\"read\":%s}\n", PQgetvalue(res, 0, 0));
		count_request("read", 200);
		http_reply_json(r->req, 200, json);
	}
	free(r);
}

void webchat_handle_read(struct app *app, struct evhttp_request *req)
{
	struct webchat_claims claims;
	if (!webchat_admit(app, req, &claims))
		return;
	cJSON *body = json_body(req, "read");
	if (!body)
		return;
	cJSON *up_to = cJSON_GetObjectItemCaseSensitive(body, "up_to");
	double v = cJSON_IsNumber(up_to) ? up_to->valuedouble : -1;
	cJSON_Delete(body);
	if (v < 0 || v > 2147483647.0 || v != floor(v)) {
		reply_error(req, "read", 400, "up_to must be a non-negative integer");
		return;
	}
	char n[24];
	snprintf(n, sizeof n, "%.0f", v);
	struct read_req *r = xcalloc(1, sizeof *r);
	r->req = req;
	const char *params[] = {claims.widget_id, claims.session_id, n};
	db_query(app->db, "SELECT parley_webchat_read($1, $2, $3::integer)", 3, params, on_read, r);
}

/* ------------------------------------------------------------- preflight */

void webchat_handle_options(struct app *app, struct evhttp_request *req)
{
	(void)app;
	if (!cors(the_webchat, req)) {
		reply_error(req, "cors", 403, "origin not allowed");
		return;
	}
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
	evhttp_add_header(out, "Access-Control-Allow-Headers", "Authorization, Content-Type");
	evhttp_add_header(out, "Access-Control-Max-Age", "600");
	http_reply(req, 204, "text/plain", "", 0);
}
