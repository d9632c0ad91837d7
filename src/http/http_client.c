#include "http_client.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "defer.h"
#include "log.h"
#include "public_addr.h"
#include "strbuf.h"
#include "xalloc.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "dev"
#endif

const char HTTP_CLIENT_ERR_SHUTDOWN[] = "shutting down";
const char HTTP_CLIENT_ERR_TOO_LARGE[] = "response too large";
const char HTTP_CLIENT_ERR_PRIVATE[] =
    "refused to connect to a loopback, private, link-local or unspecified address";
static const char HTTP_CLIENT_ERR_RESET[] = "HTTP client reset after a libcurl error";
static const char HTTP_CLIENT_ERR_NO_URL[] = "request without a URL";

/* Response header lines kept per request: enough for any API, bounded for a hostile one. */
#define MAX_HEADER_LINES 100
#define MAX_HEADER_LINE  8192

/*
 * One request, from http_request() until its callback has run; owned by the
 * client (queue, active list or deferred queue), freed by transfer_free().
 */
struct transfer {
	struct transfer *prev, *next; /* in one of the client's lists, or neither while failed */
	bool priority;                /* queued ahead of the others */
	CURL *easy;                   /* NULL until started */
	char *method, *url;
	/* curl reads both in place until the transfer is done */
	char *body;
	size_t body_len;
	struct curl_slist *headers;
	long connect_timeout_ms, timeout_ms;
	size_t max_response;
	struct strbuf resp;
	char **lines; /* response header lines, "Name: value" */
	size_t n_lines;
	bool too_large;
	bool public_only, truncate, refused;
	/* Set for requests that fail before reaching curl; delivered from the loop. */
	struct defer_item failed;
	const char *fail_msg;
	int fail_kind;
	char errbuf[CURL_ERROR_SIZE];
	http_done_cb cb;
	void *ctx;
};

/*
 * One socket libcurl asked us to watch; created in on_socket, attached to the
 * socket with curl_multi_assign, freed on CURL_POLL_REMOVE or, for any curl
 * forgot to remove, after curl_multi_cleanup.
 */
struct sock {
	struct http_client *client;
	struct sock *prev, *next;
	CURLM *multi; /* the multi that announced it (differs after a reset) */
	struct event *ev;
};

/* A pending http_client_after(); owned by the client until cb has run. */
struct after {
	struct http_client *client;
	struct after *prev, *next;
	struct event *ev;
	http_timer_cb cb;
	void *ctx;
};

/* Doubly linked list with head and tail, used for all three kinds above. */
#define LIST_APPEND(head, tail, x)                                                                 \
	do {                                                                                       \
		(x)->prev = (tail);                                                                \
		(x)->next = NULL;                                                                  \
		if (tail)                                                                          \
			(tail)->next = (x);                                                        \
		else                                                                               \
			(head) = (x);                                                              \
		(tail) = (x);                                                                      \
	} while (0)
#define LIST_REMOVE(head, tail, x)                                                                 \
	do {                                                                                       \
		if ((x)->prev)                                                                     \
			(x)->prev->next = (x)->next;                                               \
		else                                                                               \
			(head) = (x)->next;                                                        \
		if ((x)->next)                                                                     \
			(x)->next->prev = (x)->prev;                                               \
		else                                                                               \
			(tail) = (x)->prev;                                                        \
		(x)->prev = (x)->next = NULL;                                                      \
	} while (0)

struct http_client {
	struct event_base *base; /* borrowed; must outlive the client */
	CURLM *multi;
	CURLSH *share;       /* TLS sessions shared between easy handles */
	struct event *timer; /* libcurl's one timeout */
	int max_in_flight;
	int in_flight, queued;
	struct transfer *queue_head, *queue_tail;   /* waiting for a slot, FIFO */
	struct transfer *active_head, *active_tail; /* added to multi */
	struct defer failed;                        /* callbacks due from the loop */
	struct sock *socks_head, *socks_tail;
	struct after *after_head, *after_tail;
	bool closing;
};

static void check_done(struct http_client *c);
static void pump(struct http_client *c);

const char *http_err_kind_name(int kind)
{
	switch (kind) {
	case HTTP_ERR_NONE: return "none";
	case HTTP_ERR_DNS: return "dns";
	case HTTP_ERR_CONNECT: return "connect";
	case HTTP_ERR_CONNECT_TIMEOUT: return "connect_timeout";
	case HTTP_ERR_TIMEOUT: return "timeout";
	case HTTP_ERR_NETWORK: return "network";
	case HTTP_ERR_TLS: return "tls";
	case HTTP_ERR_TOO_LARGE: return "too_large";
	case HTTP_ERR_USAGE: return "usage";
	case HTTP_ERR_SHUTDOWN: return "shutdown";
	default: return "other";
	}
}

/* ---- transfers ---- */

static void transfer_free(struct transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	for (size_t i = 0; i < t->n_lines; i++)
		free(t->lines[i]);
	free(t->lines);
	strbuf_free(&t->resp);
	free(t->method);
	free(t->url);
	free(t->body);
	free(t);
}

/* Header names compared up to the colon, case-insensitively. */
static const char *line_value(const char *line, const char *name)
{
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	const char *v = line + n + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	return v;
}

/* Value of the response header name (case-insensitive), trimmed; NULL when
 * absent. The last one wins when a header repeats. */
static const char *http_resp_header(const struct http_resp *resp, const char *name)
{
	const char *found = NULL;
	for (size_t i = 0; i < resp->n_lines; i++) {
		const char *v = line_value(resp->lines[i], name);
		if (v)
			found = v;
	}
	return found;
}

/* Runs the callback exactly once and frees t; t is on no list by now. */
static void finish(struct transfer *t, long status, int kind, const char *err)
{
	struct http_resp resp = {0};
	resp.status = status;
	resp.body = strbuf_str(&t->resp);
	resp.body_len = t->resp.len;
	resp.err_kind = kind;
	resp.lines = t->lines;
	resp.n_lines = t->n_lines;
	resp.retry_after = http_resp_header(&resp, "retry-after");
	resp.retry_after_ms = http_resp_header(&resp, "retry-after-ms");
	resp.request_id = http_resp_header(&resp, "x-request-id");
	if (t->easy) {
		curl_off_t us = 0;
		if (curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &us) == CURLE_OK)
			resp.elapsed_ms = (long)(us / 1000);
	}
	t->cb(t->ctx, &resp, err);
	transfer_free(t);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	if (len > t->max_response - t->resp.len) {
		if (t->truncate)
			strbuf_append(&t->resp, data, t->max_response - t->resp.len);
		/* Returning short aborts the transfer (CURLE_WRITE_ERROR); the
		 * easy handle is cleaned up later, from check_done. */
		t->too_large = true;
		return 0;
	}
	strbuf_append(&t->resp, data, len);
	return len;
}

static void trim_line(char *s)
{
	size_t len = strlen(s);
	while (len && (s[len - 1] == '\r' || s[len - 1] == '\n' || s[len - 1] == ' ' ||
		       s[len - 1] == '\t'))
		s[--len] = '\0';
}

/*
 * Called for every header line of every response, including interim ones
 * (100 Continue) and the blank line that ends each block. Only the final
 * response's headers are kept: a new status line forgets what came before.
 */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		for (size_t i = 0; i < t->n_lines; i++)
			free(t->lines[i]);
		t->n_lines = 0;
		return len;
	}
	if (len > MAX_HEADER_LINE || !memchr(data, ':', len) || t->n_lines >= MAX_HEADER_LINES)
		return len;
	char *line = xstrndup(data, len);
	trim_line(line);
	if (!t->lines)
		t->lines = xcalloc(MAX_HEADER_LINES, sizeof *t->lines);
	t->lines[t->n_lines++] = line;
	return len;
}

static int map_error(struct transfer *t, CURLcode rc)
{
	switch (rc) {
	case CURLE_OK: return HTTP_ERR_NONE;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return HTTP_ERR_DNS;
	case CURLE_COULDNT_CONNECT: return HTTP_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT: {
		/* Pretransfer time stays 0 until the request starts going
		 * out: before that, the server cannot have acted on it. */
		curl_off_t pre = 0;
		curl_easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
		return pre == 0 ? HTTP_ERR_CONNECT_TIMEOUT : HTTP_ERR_TIMEOUT;
	}
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_SSL_CONNECT_ERROR: return HTTP_ERR_NETWORK;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED: return HTTP_ERR_TLS;
	case CURLE_WRITE_ERROR: return t->too_large ? HTTP_ERR_TOO_LARGE : HTTP_ERR_OTHER;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_UNKNOWN_OPTION: return HTTP_ERR_USAGE;
	default: return HTTP_ERR_OTHER;
	}
}

/* Fails t from the loop, never from inside http_request (no re-entrancy). */
static void fail_later(struct http_client *c, struct transfer *t, int kind, const char *msg)
{
	t->fail_kind = kind;
	t->fail_msg = msg;
	defer_push(&c->failed, &t->failed);
}

static void on_failed(struct defer_item *item, void *ctx)
{
	(void)ctx;
	struct transfer *t = DEFER_CONTAINER(item, struct transfer, failed);
	finish(t, 0, t->fail_kind, t->fail_msg);
}

/* CURLOPT_OPENSOCKETFUNCTION of a public_only request: the address is the
 * resolved one about to be connected to. */
static curl_socket_t open_public(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct transfer *t = arg;
	if (purpose == CURLSOCKTYPE_IPCXN && !http_addr_public(&a->addr)) {
		t->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Builds the easy handle and hands it to curl; false when curl refused it. */
static bool start(struct http_client *c, struct transfer *t)
{
	t->easy = curl_easy_init();
	if (!t->easy)
		return false;
	CURL *e = t->easy;
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	/* No signals from a library inside our loop; SIGPIPE is ignored. */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t->timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "parley/" PARLEY_VERSION);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	/* OpenAI can think for a minute without a byte on the wire; keepalive
	 * probes stop idle-connection reapers (NAT, load balancers) from
	 * cutting it silently, which would only show as a timeout. */
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 15L);
	/* Over TLS, prefer waiting for an HTTP/2 connection being set up to
	 * opening another one: many requests to one API share a connection.
	 * Cleartext http:// is HTTP/1.1 here, which never multiplexes, and
	 * libcurl 7.88 holds a waiting transfer until the first request on that
	 * host *finishes*: a second for every request behind a slow answer. */
	if (strncasecmp(t->url, "https://", 8) == 0)
		curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_SHARE, c->share);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	if (t->public_only) {
		curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_public);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
		curl_easy_setopt(e, CURLOPT_PROXY, ""); /* the check must see the target */
	}

	const char *m = t->method;
	if (strcmp(m, "GET") == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		/* POSTFIELDS does not copy: t->body lives until transfer_free. */
		if (t->body || strcmp(m, "POST") == 0) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body ? t->body : "");
		}
		if (strcmp(m, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
	}

	CURLMcode mc = curl_multi_add_handle(c->multi, e);
	if (mc != CURLM_OK) {
		log_error("http", "curl_multi_add_handle: %s", curl_multi_strerror(mc));
		return false;
	}
	LIST_APPEND(c->active_head, c->active_tail, t);
	c->in_flight++;
	return true;
}

/* Moves queued requests onto the wire while there is room. */
static void pump(struct http_client *c)
{
	while (!c->closing && c->queue_head && c->in_flight < c->max_in_flight) {
		struct transfer *t = c->queue_head;
		LIST_REMOVE(c->queue_head, c->queue_tail, t);
		c->queued--;
		if (!start(c, t))
			fail_later(c, t, HTTP_ERR_OTHER, "could not start the request");
	}
}

void http_request(struct http_client *c, const struct http_req *req, http_done_cb cb, void *ctx)
{
	struct transfer *t = xcalloc(1, sizeof *t);
	t->cb = cb;
	t->ctx = ctx;
	t->url = xstrdup(req->url ? req->url : "");
	t->method = xstrdup(req->method ? req->method : req->body ? "POST" : "GET");
	if (req->body) {
		t->body = xmalloc(req->body_len + 1);
		memcpy(t->body, req->body, req->body_len);
		t->body[req->body_len] = '\0';
		t->body_len = req->body_len;
	}
	bool has_expect = false;
	for (size_t i = 0; i < req->n_headers; i++) {
		t->headers = curl_slist_append(t->headers, req->headers[i]);
		if (!t->headers)
			abort(); /* allocation failure: parley's one OOM policy */
		if (strncasecmp(req->headers[i], "expect:", 7) == 0)
			has_expect = true;
	}
	/* libcurl 7.88 sends "Expect: 100-continue" for bodies over 1 MiB and
	 * then waits up to a second for a 100 that some servers never send. */
	if (!has_expect && !(t->headers = curl_slist_append(t->headers, "Expect:")))
		abort();
	t->connect_timeout_ms =
	    req->connect_timeout_ms > 0 ? req->connect_timeout_ms : HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
	t->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	t->max_response =
	    req->max_response_bytes ? req->max_response_bytes : HTTP_DEFAULT_MAX_RESPONSE;

	if (!req->url || !req->url[0]) {
		fail_later(c, t, HTTP_ERR_USAGE, HTTP_CLIENT_ERR_NO_URL);
		return;
	}
	/* FIFO within each priority: nobody overtakes a waiting request of its
	 * own kind, not even when a slot is free right now because its owner's
	 * callback is still running. While closing, everything is queued and
	 * http_client_free fails it. */
	t->priority = req->priority;
	t->public_only = req->public_only;
	t->truncate = req->truncate_response;
	struct transfer *after = NULL;
	if (t->priority) {
		for (struct transfer *q = c->queue_head; q && q->priority; q = q->next)
			after = q;
	}
	if (t->priority && !after) {
		t->prev = NULL;
		t->next = c->queue_head;
		if (c->queue_head)
			c->queue_head->prev = t;
		else
			c->queue_tail = t;
		c->queue_head = t;
	} else if (t->priority && after->next) {
		t->prev = after;
		t->next = after->next;
		after->next->prev = t;
		after->next = t;
	} else {
		LIST_APPEND(c->queue_head, c->queue_tail, t);
	}
	c->queued++;
	pump(c);
}

/* ---- libcurl ↔ libevent ---- */

static void sock_free(struct http_client *c, struct sock *s)
{
	LIST_REMOVE(c->socks_head, c->socks_tail, s);
	if (s->ev)
		event_free(s->ev);
	free(s);
}

/* Logs and recovers when curl_multi_socket_action fails: the state of every
 * transfer is then unknown (curl docs), so fail them all and start afresh. */
static void multi_reset(struct http_client *c, CURLMcode mc);

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct sock *s = arg;
	/* s may be freed by the socket callback inside socket_action. */
	struct http_client *c = s->client;
	CURLM *multi = s->multi;
	if (multi != c->multi)
		return; /* a leftover of a reset multi; freed after its cleanup */
	int mask =
	    (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running = 0;
	CURLMcode mc = curl_multi_socket_action(multi, fd, mask, &running);
	if (mc != CURLM_OK) {
		multi_reset(c, mc);
		return;
	}
	check_done(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct http_client *c = arg;
	int running = 0;
	CURLMcode mc = curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	if (mc != CURLM_OK) {
		multi_reset(c, mc);
		return;
	}
	check_done(c);
}

/* CURLMOPT_SOCKETFUNCTION: keep one persistent event per socket in step with what curl wants. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	(void)easy;
	struct http_client *c = userp;
	struct sock *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		/* socketp is NULL for sockets we were never told about (seen
		 * from curl's internal handles); the fd may already be closed,
		 * which event_del tolerates. */
		if (s)
			sock_free(c, s);
		return 0;
	}
	short events = (short)(EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
			       (what & CURL_POLL_OUT ? EV_WRITE : 0));
	if (!s) {
		s = xcalloc(1, sizeof *s);
		s->client = c;
		s->multi = c->multi;
		LIST_APPEND(c->socks_head, c->socks_tail, s);
		curl_multi_assign(c->multi, fd, s);
	} else if (s->ev && event_get_events(s->ev) == events) {
		return 0;
	}
	if (s->ev)
		event_free(s->ev);
	s->ev = event_new(c->base, fd, events, on_event, s);
	event_add(s->ev, NULL);
	return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: (re)arm the one timer; -1 deletes it. Never calls
 * back into curl from here (curl documents recursion with 0 ms); a 0 ms
 * libevent timer runs on the next loop iteration instead.
 */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct http_client *c = userp;
	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
	return 0;
}

/* Finishes every transfer curl reports done; called after every socket_action. */
static void check_done(struct http_client *c)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg dies with remove_handle: copy what we need first. */
		CURL *easy = msg->easy_handle;
		CURLcode rc = msg->data.result;
		struct transfer *t = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
		curl_multi_remove_handle(c->multi, easy);
		LIST_REMOVE(c->active_head, c->active_tail, t);
		c->in_flight--;

		long status = 0;
		if (rc == CURLE_WRITE_ERROR && t->truncate && t->too_large)
			rc = CURLE_OK; /* the status stands; the body was cut */
		int kind = map_error(t, rc);
		const char *err = NULL;
		if (rc == CURLE_OK) {
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
		} else if (kind == HTTP_ERR_TOO_LARGE) {
			err = HTTP_CLIENT_ERR_TOO_LARGE;
		} else if (t->refused) {
			kind = HTTP_ERR_CONNECT;
			err = HTTP_CLIENT_ERR_PRIVATE;
		} else {
			err = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
		}
		/* Start the next one before the callback, so that a callback
		 * that issues a request queues behind those already waiting. */
		pump(c);
		finish(t, status, kind, err);
	}
}

static CURLM *multi_new(struct http_client *c)
{
	CURLM *m = curl_multi_init();
	if (!m)
		abort();
	curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(m, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(m, CURLMOPT_TIMERDATA, c);
	/* Our FIFO already bounds concurrency; a lower per-host limit would
	 * park transfers inside curl, where their timeout runs unseen.
	 * HTTP/2 multiplexing keeps the real number of connections small. */
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_in_flight);
	/* Idle connections kept for reuse. The default (4 × handles added)
	 * shrinks to nothing between bursts since we add and remove handles
	 * per request, and every burst would pay TCP + TLS again. */
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS,
			  (long)(c->max_in_flight < 16 ? 16 : c->max_in_flight));
	return m;
}

/*
 * Takes every active transfer out of c->multi and destroys it. The
 * transfers are returned as a list (linked through next) with their easy
 * handles already detached, for the caller to complete.
 */
static struct transfer *multi_teardown(struct http_client *c)
{
	CURLM *old = c->multi;
	/* A cleanup may still announce timeouts; they are no longer ours to arm. */
	curl_multi_setopt(old, CURLMOPT_TIMERFUNCTION, NULL);
	struct transfer *list = c->active_head;
	c->active_head = c->active_tail = NULL;
	for (struct transfer *t = list; t; t = t->next) {
		curl_multi_remove_handle(old, t->easy);
		c->in_flight--;
	}
	curl_multi_cleanup(old);
	/* Sockets curl closed without a REMOVE (known in several versions). */
	for (struct sock *s = c->socks_head, *next; s; s = next) {
		next = s->next;
		if (s->multi == old)
			sock_free(c, s);
	}
	evtimer_del(c->timer);
	c->multi = NULL;
	return list;
}

static void complete_all(struct transfer *list, int kind, const char *msg)
{
	while (list) {
		struct transfer *next = list->next;
		list->prev = list->next = NULL;
		finish(list, 0, kind, msg);
		list = next;
	}
}

static void multi_reset(struct http_client *c, CURLMcode mc)
{
	log_error("http", "curl_multi_socket_action: %s; failing %d requests and starting afresh",
		  curl_multi_strerror(mc), c->in_flight);
	struct transfer *list = multi_teardown(c);
	c->multi = multi_new(c);
	pump(c);
	complete_all(list, HTTP_ERR_OTHER, HTTP_CLIENT_ERR_RESET);
}

/* ---- public ---- */

static void check_resolver(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	if (!(v->features & CURL_VERSION_ASYNCHDNS))
		log_error("http",
			  "libcurl %s has no asynchronous resolver: DNS lookups will block "
			  "the event loop",
			  v->version);
	else
		log_debug("http", "libcurl %s, %s resolver", v->version,
			  v->ares ? "c-ares" : "threaded");
}

struct http_client *http_client_new(struct event_base *base, int max_in_flight)
{
	/* Reference-counted, and thread-safe in this libcurl (7.84+). */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	check_resolver();
	struct http_client *c = xcalloc(1, sizeof *c);
	c->base = base;
	c->max_in_flight = max_in_flight < 1 ? 1 : max_in_flight;
	c->timer = evtimer_new(base, on_timer, c);
	defer_init(&c->failed, base, on_failed, c);
	c->share = curl_share_init();
	if (!c->share)
		abort();
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	c->multi = multi_new(c);
	return c;
}

static void on_after(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct after *a = arg;
	struct http_client *c = a->client;
	LIST_REMOVE(c->after_head, c->after_tail, a);
	event_free(a->ev);
	http_timer_cb cb = a->cb;
	void *ctx = a->ctx;
	free(a);
	cb(ctx, false);
}

void http_client_after(struct http_client *c, long ms, http_timer_cb cb, void *ctx)
{
	struct after *a = xcalloc(1, sizeof *a);
	a->client = c;
	a->cb = cb;
	a->ctx = ctx;
	LIST_APPEND(c->after_head, c->after_tail, a);
	if (c->closing) {
		/* Runs from the draining loop in http_client_free. */
		return;
	}
	if (ms < 0)
		ms = 0;
	a->ev = evtimer_new(c->base, on_after, a);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	/* The loop caches its clock per iteration; measured from a stale
	 * "now" the wait would end early. */
	event_base_update_cache_time(c->base);
	evtimer_add(a->ev, &tv);
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	c->closing = true;
	complete_all(multi_teardown(c), HTTP_ERR_SHUTDOWN, HTTP_CLIENT_ERR_SHUTDOWN);
	/* Callbacks may add requests and timers; loop until nothing is left. */
	while (c->queue_head || defer_pending(&c->failed) || c->after_head) {
		struct transfer *q = c->queue_head;
		c->queue_head = c->queue_tail = NULL;
		c->queued = 0;
		complete_all(q, HTTP_ERR_SHUTDOWN, HTTP_CLIENT_ERR_SHUTDOWN);
		/* Failures already decided keep their own reason. */
		defer_deliver_due(&c->failed);
		struct after *a = c->after_head;
		if (a) {
			LIST_REMOVE(c->after_head, c->after_tail, a);
			if (a->ev)
				event_free(a->ev);
			http_timer_cb cb = a->cb;
			void *ctx = a->ctx;
			free(a);
			cb(ctx, true);
		}
	}
	while (c->socks_head)
		sock_free(c, c->socks_head);
	curl_share_cleanup(c->share);
	event_free(c->timer);
	defer_fini(&c->failed);
	free(c);
	curl_global_cleanup();
}

int http_client_in_flight(const struct http_client *c)
{
	return c->in_flight;
}
int http_client_queued(const struct http_client *c)
{
	return c->queued;
}
