#ifndef PARLEY_STANDIN_COMMON_H
#define PARLEY_STANDIN_COMMON_H
/*
 * What fake_openai.c and fake_graph.c share: the libevent HTTP server, the
 * shutdown on SIGTERM/SIGINT, the request log behind GET /_requests, the
 * fault script behind POST /_script, and answers that wait (delay_ms) or
 * never come (drop).
 *
 * Header-only because the Makefile builds each .c file here alone into
 * its own binary; every function is static and marked unused so that a
 * server that needs only part of it still builds under -Werror.
 *
 * Ownership: struct standin owns everything reachable from it (recorded
 * requests, remaining script, answers waiting to be sent) and
 * standin_free() releases all of it, so that ASan's leak check stays quiet
 * after SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "json.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

#define STANDIN_FN static __attribute__((unused))

/* Far above anything parley sends; Meta's own webhook bodies stop at 3 MB. */
#define STANDIN_MAX_BODY    (32u * 1024 * 1024)
#define STANDIN_MAX_HEADERS 8

/*
 * One planned answer. Built in full when the request arrives (so that
 * /_requests can show it at once), then sent now or after delay_ms.
 * Every string is owned; answer_clear() releases them.
 */
struct answer {
	int status; /* 0: close the connection without answering (drop) */
	char *body; /* JSON text; NULL only when dropping */
	char *hdr[STANDIN_MAX_HEADERS][2];
	size_t n_hdr;
	long delay_ms;
	char *lock;  /* conversation held busy until the answer leaves; may be NULL */
	cJSON *step; /* the script step used, for /_requests; may be NULL */
};

#define ANSWER_INIT                                                                                \
	{                                                                                          \
		0                                                                                  \
	}

struct standin;

/* An answer waiting for its timer; owned by the standin's pending list. */
struct pending {
	struct pending *next;
	struct standin *s;
	struct evhttp_request *req; /* still ours: libevent keeps it until we reply */
	struct event *timer;
	struct answer ans;
	cJSON *entry; /* its /_requests entry, for "answered_ms"; NULL after /_reset */
};

struct standin {
	const char *name; /* program name, for logs */
	struct event_base *base;
	struct evhttp *http;
	struct event *sig_term, *sig_int;
	FILE *log;               /* --log FILE, or NULL */
	cJSON *requests;         /* array, GET /_requests */
	cJSON *script;           /* array of steps not yet used up */
	struct pending *pending; /* answers waiting for a timer */
	long n_pending, max_pending;
	long n_requests;  /* since the last /_reset */
	uint64_t seed;    /* makes ids unique across runs */
	uint64_t counter; /* makes ids unique within a run */
	/* per server: extra /_stats fields, and what /_reset also clears */
	void (*stats)(struct standin *s, cJSON *out);
	void (*reset)(struct standin *s);
	/* per server: "" when a step is valid, else why not (static text) */
	const char *(*check_step)(const cJSON *step);
	void *owner;
	const char *listen, *log_path; /* --listen, --log */
};

/* ---------------------------------------------------------------- small helpers */

STANDIN_FN void standin_log(struct standin *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

STANDIN_FN void standin_log(struct standin *s, const char *fmt, ...)
{
	va_list ap;
	char stamp[32];
	struct tm tm;
	long long ms = clock_wall_ms();
	time_t t = (time_t)(ms / 1000);

	if (!s->log)
		return;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(s->log, "%s.%03lldZ %s ", stamp, ms % 1000, s->name);
	va_start(ap, fmt);
	vfprintf(s->log, fmt, ap);
	va_end(ap);
	fputc('\n', s->log);
	/* Tests read the log while the server runs. */
	fflush(s->log);
}

/*
 * prefix + hexlen hex digits, unique per process (counter) and across runs
 * (seed), e.g. "resp_" + 48 → resp_689a0b25….
 */
STANDIN_FN char *standin_id(struct standin *s, const char *prefix, int hexlen)
{
	struct strbuf sb = STRBUF_INIT;
	uint64_t x = s->seed ^ (++s->counter * 0x9E3779B97F4A7C15ull);
	int i;

	strbuf_puts(&sb, prefix);
	/* The counter goes first so that ids sort by creation in a listing. */
	strbuf_printf(&sb, "%08llx", (unsigned long long)(s->counter & 0xffffffffu));
	for (i = 8; i < hexlen; i++) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdull;
		x ^= x >> 29;
		strbuf_putc(&sb, "0123456789abcdef"[x & 15]);
	}
	return strbuf_detach(&sb);
}

/* n characters from alphabet, random (for fbtrace ids and the like). */
STANDIN_FN char *standin_random_text(struct standin *s, const char *alphabet, size_t n)
{
	size_t k = strlen(alphabet), i;
	char *out = xmalloc(n + 1);
	uint64_t x = s->seed + ++s->counter;

	for (i = 0; i < n; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		out[i] = alphabet[(x >> 33) % k];
	}
	out[n] = '\0';
	return out;
}

/* The request body as a NUL-terminated copy (it may hold NULs; len is exact). */
STANDIN_FN char *standin_body(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *out = xmalloc(n + 1);

	evbuffer_copyout(in, out, n);
	out[n] = '\0';
	*len = n;
	return out;
}

STANDIN_FN const char *standin_header(struct evhttp_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* The token of "Authorization: Bearer <token>", or NULL when there is none. */
STANDIN_FN const char *standin_bearer(struct evhttp_request *req)
{
	const char *h = standin_header(req, "Authorization");

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return *h ? h : NULL;
}

/* Whether the request says its body is JSON (parameters after ';' allowed). */
STANDIN_FN bool standin_is_json(struct evhttp_request *req)
{
	const char *ct = standin_header(req, "Content-Type");

	return ct && strncasecmp(ct, "application/json", 16) == 0 &&
	       (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

/* The path without query string; caller frees. */
STANDIN_FN char *standin_path(struct evhttp_request *req)
{
	const char *uri = evhttp_request_get_uri(req);
	size_t n = strcspn(uri, "?#");

	return xstrndup(uri, n);
}

STANDIN_FN const char *standin_method(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

STANDIN_FN bool standin_is_post(struct evhttp_request *req)
{
	return evhttp_request_get_command(req) == EVHTTP_REQ_POST;
}

/* ---------------------------------------------------------------- JSON helpers */

STANDIN_FN const char *json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

STANDIN_FN double json_num(const cJSON *obj, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

STANDIN_FN bool json_true(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

STANDIN_FN bool json_has(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

/* key: value, or key: null when value is NULL. */
STANDIN_FN void json_add_str_or_null(cJSON *obj, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(obj, key, value);
	else
		cJSON_AddNullToObject(obj, key);
}

/* A copy of obj[key] under key in out, or dflt (taken over) when absent. */
STANDIN_FN void json_echo(cJSON *out, const cJSON *obj, const char *key, cJSON *dflt)
{
	const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;

	if (v) {
		cJSON_AddItemToObject(out, key, cJSON_Duplicate(v, true));
		cJSON_Delete(dflt);
	} else {
		cJSON_AddItemToObject(out, key, dflt);
	}
}

/* Prints and frees doc; caller frees the text. */
STANDIN_FN char *json_take_text(cJSON *doc)
{
	return json_print(doc);
}

/* ---------------------------------------------------------------- answers */

STANDIN_FN void answer_header(struct answer *a, const char *name, const char *value)
{
	if (a->n_hdr == STANDIN_MAX_HEADERS)
		abort(); /* a bug in this file, not a condition */
	a->hdr[a->n_hdr][0] = xstrdup(name);
	a->hdr[a->n_hdr][1] = xstrdup(value);
	a->n_hdr++;
}

/* Sets status and body; doc is taken over. A previous body is replaced. */
STANDIN_FN void answer_json(struct answer *a, int status, cJSON *doc)
{
	free(a->body);
	a->status = status;
	a->body = json_take_text(doc);
}

STANDIN_FN void answer_clear(struct answer *a)
{
	size_t i;

	for (i = 0; i < a->n_hdr; i++) {
		free(a->hdr[i][0]);
		free(a->hdr[i][1]);
	}
	free(a->body);
	free(a->lock);
	cJSON_Delete(a->step);
	memset(a, 0, sizeof(*a));
}

/* libevent 2.1 knows no phrase for 429 and calls it "Client Error". */
STANDIN_FN const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return NULL; /* libevent's own, or a generic one */
	}
}

STANDIN_FN void reply_text(struct evhttp_request *req, int status, const char *ctype,
			   const char *body)
{
	struct evbuffer *out = evbuffer_new();

	if (!out)
		abort();
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, status, reason_phrase(status), out);
	evbuffer_free(out);
}

/* Answers at once with doc (taken over); for the control endpoints. */
STANDIN_FN void reply_json(struct evhttp_request *req, int status, cJSON *doc)
{
	char *text = json_take_text(doc);

	reply_text(req, status, "application/json", text);
	free(text);
}

/* {"error": "…"}: the control endpoints' error shape (like parley's own). */
STANDIN_FN void reply_error(struct evhttp_request *req, int status, const char *msg)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "error", msg);
	reply_json(req, status, doc);
}

STANDIN_FN void send_answer(struct evhttp_request *req, const struct answer *a)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	size_t i;

	for (i = 0; i < a->n_hdr; i++)
		evhttp_add_header(h, a->hdr[i][0], a->hdr[i][1]);
	reply_text(req, a->status, "application/json", a->body ? a->body : "{}");
}

/*
 * Closing the connection frees the request with it; the client sees the
 * socket close with no response at all ("empty reply from server").
 */
STANDIN_FN void drop_connection(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon)
		evhttp_connection_free(evcon);
	else
		evhttp_request_free(req);
}

STANDIN_FN void unlink_pending(struct standin *s, struct pending *p)
{
	struct pending **pp;

	for (pp = &s->pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			s->n_pending--;
			return;
		}
	}
}

STANDIN_FN void pending_fire(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct standin *s = p->s;

	(void)fd;
	(void)what;
	unlink_pending(s, p);
	if (p->entry)
		cJSON_AddNumberToObject(p->entry, "answered_ms", (double)clock_wall_ms());
	if (p->ans.status == 0) {
		standin_log(s, "dropped a connection after %ld ms", p->ans.delay_ms);
		drop_connection(p->req);
	} else {
		send_answer(p->req, &p->ans);
	}
	event_free(p->timer);
	answer_clear(&p->ans);
	free(p);
}

STANDIN_FN bool standin_locked(const struct standin *s, const char *key)
{
	const struct pending *p;

	for (p = s->pending; p; p = p->next)
		if (p->ans.lock && strcmp(p->ans.lock, key) == 0)
			return true;
	return false;
}

/*
 * Sends a (taken over) now or after a->delay_ms, and notes the outcome in
 * the request's /_requests entry (which stays owned by s->requests).
 *
 * A drop always goes through the timer, even at 0 ms: freeing the
 * connection from inside its own request callback would leave libevent
 * holding a freed connection when the callback returns.
 */
STANDIN_FN void standin_answer(struct standin *s, struct evhttp_request *req, cJSON *entry,
			       struct answer *a)
{
	struct pending *p;
	struct timeval tv;

	if (entry) {
		cJSON *resp = a->body ? cJSON_Parse(a->body) : NULL;

		cJSON_AddNumberToObject(entry, "status", a->status);
		cJSON_AddItemToObject(entry, "response", resp ? resp : cJSON_CreateNull());
		cJSON_AddNumberToObject(entry, "delay_ms", (double)a->delay_ms);
		cJSON_AddBoolToObject(entry, "dropped", a->status == 0);
		cJSON_AddItemToObject(
		    entry, "step", a->step ? cJSON_Duplicate(a->step, true) : cJSON_CreateNull());
	}
	standin_log(s, "%s %s -> %d%s (%ld ms)", standin_method(req), evhttp_request_get_uri(req),
		    a->status, a->status == 0 ? " drop" : "", a->delay_ms);
	if (a->delay_ms <= 0 && a->status != 0) {
		send_answer(req, a);
		answer_clear(a);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->req = req;
	p->ans = *a;
	p->entry = entry;
	memset(a, 0, sizeof(*a));
	p->timer = evtimer_new(s->base, pending_fire, p);
	if (!p->timer)
		abort();
	tv.tv_sec = p->ans.delay_ms > 0 ? p->ans.delay_ms / 1000 : 0;
	tv.tv_usec = p->ans.delay_ms > 0 ? (p->ans.delay_ms % 1000) * 1000 : 0;
	evtimer_add(p->timer, &tv);
	p->next = s->pending;
	s->pending = p;
	if (++s->n_pending > s->max_pending)
		s->max_pending = s->n_pending;
}

/* ---------------------------------------------------------------- recording */

STANDIN_FN void record_header(cJSON *h, struct evhttp_request *req, const char *name)
{
	const char *v = standin_header(req, name);

	if (v)
		cJSON_AddStringToObject(h, name, v);
}

/*
 * Appends the request to /_requests and returns its entry (owned by
 * s->requests) so that the handler can add what it decided.
 */
STANDIN_FN cJSON *standin_record(struct standin *s, struct evhttp_request *req, const char *body,
				 size_t len)
{
	cJSON *e = cJSON_CreateObject();
	cJSON *h = cJSON_CreateObject();
	cJSON *parsed = len ? cJSON_ParseWithLength(body, len) : NULL;
	char *path = standin_path(req);
	const char *q = strchr(evhttp_request_get_uri(req), '?');

	s->n_requests++;
	cJSON_AddNumberToObject(e, "seq", (double)s->n_requests);
	cJSON_AddNumberToObject(e, "time_ms", (double)clock_wall_ms());
	cJSON_AddStringToObject(e, "method", standin_method(req));
	cJSON_AddStringToObject(e, "path", path);
	json_add_str_or_null(e, "query", q ? q + 1 : NULL);
	record_header(h, req, "authorization");
	record_header(h, req, "content-type");
	record_header(h, req, "idempotency-key");
	cJSON_AddItemToObject(e, "headers", h);
	cJSON_AddItemToObject(e, "body", parsed ? parsed : cJSON_CreateNull());
	/* Bodies that are not JSON are kept as text so a test can see what came. */
	if (!parsed && len)
		cJSON_AddStringToObject(e, "raw_body", body);
	cJSON_AddItemToArray(s->requests, e);
	free(path);
	return e;
}

/* ---------------------------------------------------------------- the script */

/* standin_take_step, where a step "for":"any" matches only when any_too. */
STANDIN_FN cJSON *standin_take_step_for(struct standin *s, const char *target, const char *dflt_for,
					bool any_too)
{
	cJSON *step;
	int i = 0;

	cJSON_ArrayForEach(step, s->script)
	{
		const char *f = json_str(step, "for");
		cJSON *times;

		if (!f)
			f = dflt_for;
		if ((!any_too || strcmp(f, "any") != 0) && strcmp(f, target) != 0) {
			i++;
			continue;
		}
		times = cJSON_GetObjectItemCaseSensitive(step, "times");
		if (cJSON_IsNumber(times) && times->valuedouble > 1) {
			cJSON_SetNumberValue(times, times->valuedouble - 1);
			return cJSON_Duplicate(step, true);
		}
		return cJSON_DetachItemFromArray(s->script, i);
	}
	return NULL;
}

/*
 * The first step meant for target (a step's "for", or dflt_for when it has
 * none; "any" matches everything), as a copy the caller frees; NULL when the
 * script has none. A step with "times": N serves N requests before it is
 * used up.
 */
STANDIN_FN cJSON *standin_take_step(struct standin *s, const char *target, const char *dflt_for)
{
	return standin_take_step_for(s, target, dflt_for, true);
}

enum step_type { ST_NUM, ST_STR, ST_BOOL, ST_OBJ, ST_ANY };

struct step_key {
	const char *name;
	enum step_type type;
};

/* Common checks; "" when step is fine, else why not (static text). */
STANDIN_FN const char *check_step_keys(const cJSON *step, const struct step_key *keys)
{
	static char why[160];
	const cJSON *kv;
	double status;

	if (!cJSON_IsObject(step))
		return "each step must be a JSON object";
	cJSON_ArrayForEach(kv, step)
	{
		const struct step_key *k;

		for (k = keys; k->name; k++)
			if (strcmp(k->name, kv->string) == 0)
				break;
		if (!k->name) {
			snprintf(why, sizeof(why), "unknown key \"%.100s\"", kv->string);
			return why;
		}
		if ((k->type == ST_NUM && !cJSON_IsNumber(kv)) ||
		    (k->type == ST_STR && !cJSON_IsString(kv)) ||
		    (k->type == ST_BOOL && !cJSON_IsBool(kv)) ||
		    (k->type == ST_OBJ && !cJSON_IsObject(kv))) {
			snprintf(why, sizeof(why), "\"%s\" has the wrong type", k->name);
			return why;
		}
	}
	status = json_num(step, "status", 200);
	if (status < 100 || status > 599 || status != (int)status)
		return "\"status\" must be an HTTP status (100-599)";
	if (json_num(step, "delay_ms", 0) < 0)
		return "\"delay_ms\" must not be negative";
	if (json_num(step, "times", 1) < 1)
		return "\"times\" must be at least 1";
	return "";
}

/* POST /_script: appends a JSON array of steps, all or nothing. */
STANDIN_FN void script_post(struct standin *s, struct evhttp_request *req)
{
	size_t len;
	char *body = standin_body(req, &len);
	cJSON *arr = cJSON_ParseWithLength(body, len);
	cJSON *step;
	int i = 0;

	free(body);
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		reply_error(req, 400, "the script must be a JSON array of steps");
		return;
	}
	cJSON_ArrayForEach(step, arr)
	{
		const char *why = s->check_step(step);

		if (*why) {
			char msg[256];

			snprintf(msg, sizeof(msg), "step %d: %s", i, why);
			cJSON_Delete(arr);
			reply_error(req, 400, msg);
			return;
		}
		i++;
	}
	while ((step = cJSON_DetachItemFromArray(arr, 0)) != NULL)
		cJSON_AddItemToArray(s->script, step);
	cJSON_Delete(arr);
	step = cJSON_CreateObject();
	cJSON_AddNumberToObject(step, "added", i);
	cJSON_AddNumberToObject(step, "remaining", cJSON_GetArraySize(s->script));
	reply_json(req, 200, step);
}

STANDIN_FN void standin_clear(struct standin *s)
{
	struct pending *p;

	for (p = s->pending; p; p = p->next)
		p->entry = NULL; /* freed with the requests below */
	cJSON_Delete(s->requests);
	cJSON_Delete(s->script);
	s->requests = cJSON_CreateArray();
	s->script = cJSON_CreateArray();
	s->n_requests = 0;
	s->max_pending = s->n_pending;
	if (s->reset)
		s->reset(s);
}

/*
 * The test-facing endpoints, all under /_ so that they cannot collide with
 * an API path. Returns true when path was one of them (and was answered).
 */
STANDIN_FN bool standin_control(struct standin *s, struct evhttp_request *req, const char *path)
{
	bool get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
	bool post = standin_is_post(req);

	if (strncmp(path, "/_", 2) != 0)
		return false;
	if (strcmp(path, "/_requests") == 0 && get) {
		reply_json(req, 200, cJSON_Duplicate(s->requests, true));
	} else if (strcmp(path, "/_script") == 0 && post) {
		script_post(s, req);
	} else if (strcmp(path, "/_script") == 0 && get) {
		reply_json(req, 200, cJSON_Duplicate(s->script, true));
	} else if (strcmp(path, "/_reset") == 0 && post) {
		standin_clear(s);
		reply_json(req, 200, cJSON_CreateObject());
	} else if (strcmp(path, "/_stats") == 0 && get) {
		cJSON *st = cJSON_CreateObject();

		cJSON_AddNumberToObject(st, "requests", (double)s->n_requests);
		cJSON_AddNumberToObject(st, "in_flight", (double)s->n_pending);
		cJSON_AddNumberToObject(st, "max_in_flight", (double)s->max_pending);
		cJSON_AddNumberToObject(st, "script_remaining", cJSON_GetArraySize(s->script));
		if (s->stats)
			s->stats(s, st);
		reply_json(req, 200, st);
	} else if (!strcmp(path, "/_requests") || !strcmp(path, "/_script") ||
		   !strcmp(path, "/_reset") || !strcmp(path, "/_stats")) {
		reply_error(req, 405, "method not allowed");
	} else {
		reply_error(req, 404, "no such control endpoint");
	}
	return true;
}

/*
 * The start of a request handler: *path (standin_path), then, unless the
 * request is a control (own's, when own is not NULL, or standin_control's:
 * answered, *path freed, NULL returned), the body into *body and *len (a
 * string the caller frees) and the request recorded: returns its
 * /_requests entry.
 */
STANDIN_FN cJSON *standin_begin(struct standin *s, struct evhttp_request *req,
				bool (*own)(struct standin *s, struct evhttp_request *req,
					    const char *path),
				char **path, char **body, size_t *len)
{
	*path = standin_path(req);
	if ((own && own(s, req, *path)) || standin_control(s, req, *path)) {
		free(*path);
		return NULL;
	}
	*body = standin_body(req, len);
	return standin_record(s, req, *body, *len);
}

/* ---------------------------------------------------------------- life cycle */

STANDIN_FN void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct standin *s = arg;

	(void)what;
	standin_log(s, "signal %d: stopping", (int)sig);
	event_base_loopbreak(s->base);
}

/*
 * "host:port" or "[v6]:port" into host (brackets removed) and port; the
 * host part is kept as written for the "listening on" line.
 */
STANDIN_FN int parse_listen(const char *spec, char *host, size_t hostsz, int *port)
{
	const char *colon = strrchr(spec, ':');
	const char *h = spec;
	size_t n;
	char *end;
	long p;

	if (!colon || colon == spec)
		return -1;
	n = (size_t)(colon - spec);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= hostsz)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

STANDIN_FN int bound_port(struct evhttp_bound_socket *bs)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * evhttp listens with a backlog of 128; a client opening hundreds of
 * connections at once (parley with openai.max_in_flight 1000) would see the
 * rest wait a whole SYN retry. Listening again only raises the backlog.
 */
STANDIN_FN void raise_backlog(evutil_socket_t fd)
{
	(void)listen(fd, 4096);
}

/*
 * Sets up the loop, binds, and prints "listening on HOST:PORT" (the real
 * port when 0 was asked for) once requests can be served, so that scripts
 * can wait for that line. -1 with a message on stderr when it cannot start.
 */
STANDIN_FN int standin_start(struct standin *s, const char *listen, const char *log_path,
			     void (*cb)(struct evhttp_request *, void *), void *arg)
{
	char host[128];
	int port;
	struct evhttp_bound_socket *bs;
	uint64_t seed = 0;

	if (parse_listen(listen, host, sizeof(host), &port) != 0) {
		fprintf(stderr, "%s: --listen wants HOST:PORT, got \"%s\"\n", s->name, listen);
		return -1;
	}
	if (log_path) {
		s->log = fopen(log_path, "a");
		if (!s->log) {
			fprintf(stderr, "%s: %s: %s\n", s->name, log_path, strerror(errno));
			return -1;
		}
	}
	if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)clock_wall_ms() ^ ((uint64_t)getpid() << 32);
	s->seed = seed;
	s->requests = cJSON_CreateArray();
	s->script = cJSON_CreateArray();
	/* A client that hangs up before a delayed answer must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	s->base = event_base_new();
	s->http = s->base ? evhttp_new(s->base) : NULL;
	if (!s->http) {
		fprintf(stderr, "%s: cannot create the event loop\n", s->name);
		return -1;
	}
	evhttp_set_max_body_size(s->http, STANDIN_MAX_BODY);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
						EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(s->http, cb, arg);
	bs = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
	if (!bs) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", s->name, listen, strerror(errno));
		return -1;
	}
	raise_backlog(evhttp_bound_socket_get_fd(bs));
	s->sig_term = evsignal_new(s->base, SIGTERM, on_signal, s);
	s->sig_int = evsignal_new(s->base, SIGINT, on_signal, s);
	if (!s->sig_term || !s->sig_int || evsignal_add(s->sig_term, NULL) ||
	    evsignal_add(s->sig_int, NULL)) {
		fprintf(stderr, "%s: cannot handle signals\n", s->name);
		return -1;
	}
	port = bound_port(bs);
	if (strchr(host, ':'))
		printf("listening on [%s]:%d\n", host, port);
	else
		printf("listening on %s:%d\n", host, port);
	fflush(stdout);
	standin_log(s, "listening on %s port %d", host, port);
	return 0;
}

STANDIN_FN int standin_run(struct standin *s)
{
	return event_base_dispatch(s->base) < 0 ? -1 : 0;
}

/*
 * Answers still waiting are dropped unsent: their requests belong to
 * connections that evhttp_free() closes and frees.
 */
STANDIN_FN void standin_free(struct standin *s)
{
	while (s->pending) {
		struct pending *p = s->pending;

		s->pending = p->next;
		event_free(p->timer);
		answer_clear(&p->ans);
		free(p);
	}
	if (s->http)
		evhttp_free(s->http);
	if (s->sig_term)
		event_free(s->sig_term);
	if (s->sig_int)
		event_free(s->sig_int);
	if (s->base)
		event_base_free(s->base);
	cJSON_Delete(s->requests);
	cJSON_Delete(s->script);
	if (s->log)
		fclose(s->log);
	memset(s, 0, sizeof(*s));
}

/*
 * A step's "retry_after" (seconds) as Retry-After (whole seconds, rounded
 * up) and retry-after-ms, or its "retry_after_ms" as retry-after-ms alone:
 * the headers Graph and OpenAI send with an answer to retry.
 */
STANDIN_FN void standin_retry_after(struct answer *a, const cJSON *step)
{
	char v[32];

	if (json_has(step, "retry_after")) {
		double secs = json_num(step, "retry_after", 0);
		long whole = (long)secs; /* no libm on the link line: ceil by hand */

		snprintf(v, sizeof(v), "%ld", whole + ((double)whole < secs));
		answer_header(a, "Retry-After", v);
		snprintf(v, sizeof(v), "%.0f", secs * 1000);
		answer_header(a, "retry-after-ms", v);
	} else if (json_has(step, "retry_after_ms")) {
		snprintf(v, sizeof(v), "%.0f", json_num(step, "retry_after_ms", 0));
		answer_header(a, "retry-after-ms", v);
	}
}

/* ---------------------------------------------------------------- main */

/*
 * The command line of a stand-in: --listen HOST:PORT (required), --log FILE
 * and --help, which every stand-in takes, and its own options (own, ending
 * with a zeroed entry; their values are letters), each handed to
 * take(owner, value, optarg), which returns 0, or 2 after saying why.
 * Returns -1 to go on, else the exit status: 0 after --help (the usage on
 * stdout), 2 after a usage error (the usage on stderr).
 */
STANDIN_FN int standin_options(int argc, char **argv, const struct option *own,
			       int (*take)(void *owner, int c, const char *arg), void *owner,
			       void (*usage)(FILE *to), const char **listen, const char **log_path)
{
	enum { OPT_LISTEN = 1, OPT_LOG, OPT_HELP };
	struct option opts[32] = {
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"log", required_argument, NULL, OPT_LOG},
	    {"help", no_argument, NULL, OPT_HELP},
	};
	size_t n = 3;
	int c;

	for (; own && own->name; own++)
		if (n + 1 < sizeof(opts) / sizeof(opts[0]))
			opts[n++] = *own;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: *listen = optarg; break;
		case OPT_LOG: *log_path = optarg; break;
		case OPT_HELP: usage(stdout); return 0;
		case '?': usage(stderr); return 2;
		default:
			if (take(owner, c, optarg) != 0)
				return 2;
		}
	}
	if (!*listen || optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/*
 * The start of main(): json_init, then the command line (standin_options,
 * into s->listen and s->log_path, with owner the server's own state), and s
 * named and given its owner. Returns -1 to go on, else the exit status.
 */
STANDIN_FN int standin_setup(struct standin *s, const char *name, int argc, char **argv,
			     const struct option *own,
			     int (*take)(void *owner, int c, const char *arg),
			     void (*usage)(FILE *to), void *owner)
{
	int rc;

	json_init();
	rc = standin_options(argc, argv, own, take, owner, usage, &s->listen, &s->log_path);
	s->name = name;
	s->owner = owner;
	return rc;
}

/* *out = an option's value, a whole number from 0: 0; when it is not one,
 * 2 after saying why on stderr. */
STANDIN_FN int standin_count(const char *arg, long *out, const char *why)
{
	char *end;

	errno = 0;
	*out = strtol(arg, &end, 10);
	if (errno || *end || end == arg || *out < 0) {
		fprintf(stderr, "%s\n", why);
		return 2;
	}
	return 0;
}

/* The end of main(): serves until SIGTERM or SIGINT, then frees s. Returns
 * the exit status. */
STANDIN_FN int standin_serve(struct standin *s, void (*cb)(struct evhttp_request *, void *),
			     void *arg)
{
	int rc = standin_start(s, s->listen, s->log_path, cb, arg) || standin_run(s) ? 1 : 0;

	standin_log(s, "stopped");
	standin_free(s);
	return rc;
}

#endif
