/*
 * http_client against a real evhttp server in this process, on one loop:
 * scripted answers by path (see handle()), real sockets, real timeouts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "retry.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/http/http_client.c"

#define MAX_DELAYED 32
#define BIG_BODY    (100 * 1024)

/* An answer the server sends later (or never, when the client gave up). */
struct delayed {
	struct server *srv;
	struct event *ev;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	int code;
	char body[64];
	bool gone;    /* connection closed before the timer fired */
	bool counted; /* part of the /conc concurrency count */
};

/* The test server and everything it saw; one per test. */
struct server {
	struct event_base *base;
	struct evhttp *http;
	unsigned short port;
	struct delayed delayed[MAX_DELAYED];
	int n_delayed;
	int delayed_fired;
	int hits;
	int hang_seen;
	int conc_now, conc_max;
	unsigned short peers[64]; /* client ports seen, for connection reuse */
	int n_peers;
	char last_method[16];
};

/* What one callback received, copied out of the borrowed http_resp. */
struct result {
	int calls;
	long status;
	char *body;
	size_t body_len;
	const char *err_ptr;
	char *err;
	int kind;
	char *retry_after, *retry_after_ms, *request_id, *content_type;
	long elapsed_ms;
	int order; /* completion order across a test */
};

struct fixture {
	struct server srv;
	struct http_client *client;
};

static bool in_request; /* set around http_request(): callbacks must not run then */
static int completions; /* callbacks so far in this test */

static void result_clear(struct result *r)
{
	free(r->body);
	free(r->err);
	free(r->retry_after);
	free(r->retry_after_ms);
	free(r->request_id);
	free(r->content_type);
	memset(r, 0, sizeof *r);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void on_done(void *ctx, const struct http_resp *resp, const char *err)
{
	struct result *r = ctx;
	assert_false(in_request);
	assert_non_null(resp);
	assert_non_null(resp->body);
	assert_int_equal(resp->body[resp->body_len], '\0');
	r->calls++;
	r->status = resp->status;
	r->body = malloc(resp->body_len + 1);
	memcpy(r->body, resp->body, resp->body_len + 1);
	r->body_len = resp->body_len;
	r->err_ptr = err;
	r->err = dup_or_null(err);
	r->kind = resp->err_kind;
	r->retry_after = dup_or_null(resp->retry_after);
	r->retry_after_ms = dup_or_null(resp->retry_after_ms);
	r->request_id = dup_or_null(resp->request_id);
	r->content_type = dup_or_null(http_resp_header(resp, "CONTENT-type"));
	r->elapsed_ms = resp->elapsed_ms;
	r->order = ++completions;
}

static void issue(struct http_client *c, const struct http_req *req, struct result *r)
{
	in_request = true;
	http_request(c, req, on_done, r);
	in_request = false;
	/* Never called back from inside http_request. */
	assert_int_equal(r->calls, 0);
}

static char *url(const struct server *s, const char *path)
{
	char *u = malloc(128);
	snprintf(u, 128, "http://127.0.0.1:%u%s", s->port, path);
	return u;
}

static void get(struct fixture *f, const char *path, long timeout_ms, struct result *r)
{
	char *u = url(&f->srv, path);
	struct http_req req = {.url = u, .timeout_ms = timeout_ms};
	issue(f->client, &req, r);
	free(u);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void noop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop until *counter reaches want; fails the test after 10 s. */
static void run_until(struct event_base *base, const int *counter, int want)
{
	/* Something always pending, so EVLOOP_ONCE never returns at once for lack of events. */
	struct event *guard = event_new(base, -1, EV_PERSIST, noop, NULL);
	struct timeval tv = {0, 50 * 1000};
	event_add(guard, &tv);
	double deadline = now_ms() + 10000;
	while (*counter < want && now_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
	if (*counter < want)
		fail_msg("timed out waiting: %d of %d", *counter, want);
}

/* ---- the server ---- */

static void reply(struct evhttp_request *req, int code, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
	evhttp_send_reply(req, code, "X", b);
	evbuffer_free(b);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct server *s = arg;
	for (int i = 0; i < s->n_delayed; i++)
		if (s->delayed[i].evcon == evcon)
			s->delayed[i].gone = true;
}

static void on_delayed(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct delayed *d = arg;
	struct server *s = d->srv;
	s->delayed_fired++;
	if (d->counted)
		s->conc_now--;
	if (d->gone)
		return;
	d->gone = true;
	/* Replying to a client that has gone makes the write fail: evhttp
	 * then frees the connection itself (SIGPIPE is ignored). */
	evhttp_connection_set_closecb(d->evcon, NULL, NULL);
	reply(d->req, d->code, d->body, strlen(d->body));
}

static void delay_reply(struct server *s, struct evhttp_request *req, int ms, int code,
			const char *body, bool counted)
{
	assert_true(s->n_delayed < MAX_DELAYED);
	struct delayed *d = &s->delayed[s->n_delayed++];
	d->srv = s;
	d->req = req;
	d->evcon = evhttp_request_get_connection(req);
	d->code = code;
	d->counted = counted;
	snprintf(d->body, sizeof d->body, "%s", body);
	evhttp_connection_set_closecb(d->evcon, on_conn_close, s);
	d->ev = evtimer_new(s->base, on_delayed, d);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	evtimer_add(d->ev, &tv);
}

static void drop_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	/* Frees the request too; the client sees the connection close unanswered. */
	evhttp_connection_free(arg);
}

static void note_peer(struct server *s, struct evhttp_request *req)
{
	char *addr = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
	for (int i = 0; i < s->n_peers; i++)
		if (s->peers[i] == port)
			return;
	if (s->n_peers < 64)
		s->peers[s->n_peers++] = port;
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	s->hits++;
	note_peer(s, req);
	const char *uri = evhttp_request_get_uri(req);
	const char *q = strchr(uri, '?');
	size_t plen = q ? (size_t)(q - uri) : strlen(uri);
	char path[64];
	snprintf(path, sizeof path, "%.*s", (int)plen, uri);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (strcmp(path, "/ok") == 0) {
		evhttp_add_header(out, "X-Request-Id", "req-123");
		reply(req, 200, "hello world", 11);
	} else if (strcmp(path, "/echo") == 0) {
		const char *m = "?";
		switch (evhttp_request_get_command(req)) {
		case EVHTTP_REQ_GET: m = "GET"; break;
		case EVHTTP_REQ_POST: m = "POST"; break;
		case EVHTTP_REQ_PUT: m = "PUT"; break;
		case EVHTTP_REQ_DELETE: m = "DELETE"; break;
		case EVHTTP_REQ_PATCH: m = "PATCH"; break;
		default: break;
		}
		struct evkeyvalq *in = evhttp_request_get_input_headers(req);
		const char *xt = evhttp_find_header(in, "X-Test");
		const char *auth = evhttp_find_header(in, "Authorization");
		const char *expect = evhttp_find_header(in, "Expect");
		struct evbuffer *body = evhttp_request_get_input_buffer(req);
		struct evbuffer *b = evbuffer_new();
		evbuffer_add_printf(b, "%s|%s|%s|%s|", m, xt ? xt : "-", auth ? auth : "-",
				    expect ? expect : "-");
		evbuffer_add_buffer(b, body);
		evhttp_send_reply(req, 200, "OK", b);
		evbuffer_free(b);
	} else if (strcmp(path, "/500") == 0) {
		const char *b = "{\"error\":{\"message\":\"(#131000) Something went wrong\","
				"\"code\":131000}}";
		reply(req, 500, b, strlen(b));
	} else if (strcmp(path, "/429") == 0) {
		evhttp_add_header(out, "Retry-After", "7");
		evhttp_add_header(out, "retry-after-ms", " 1500 ");
		const char *b =
		    "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\","
		    "\"param\":null,\"code\":\"rate_limit_exceeded\"}}";
		reply(req, 429, b, strlen(b));
	} else if (strcmp(path, "/slow") == 0) {
		delay_reply(s, req, 1200, 200, "late", false);
	} else if (strcmp(path, "/conc") == 0) {
		s->conc_now++;
		if (s->conc_now > s->conc_max)
			s->conc_max = s->conc_now;
		delay_reply(s, req, 40, 200, q ? q + 1 : "", true);
	} else if (strcmp(path, "/drop") == 0) {
		/* Not from inside the request callback: evhttp still uses the
		 * connection after it returns. */
		event_base_once(s->base, -1, EV_TIMEOUT, drop_later,
				evhttp_request_get_connection(req), NULL);
	} else if (strcmp(path, "/hang") == 0) {
		s->hang_seen++; /* never answered; evhttp_free cleans it up */
	} else if (strcmp(path, "/big") == 0) {
		char *b = malloc(BIG_BODY);
		for (size_t i = 0; i < BIG_BODY; i++)
			b[i] = (char)('a' + i % 26);
		reply(req, 200, b, BIG_BODY);
		free(b);
	} else {
		reply(req, 404, "no", 2);
	}
}

static void server_start(struct server *s, struct event_base *base)
{
	memset(s, 0, sizeof *s);
	s->base = base;
	s->http = evhttp_new(base);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(s->http, handle, s);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	assert_non_null(bs);
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl),
			 0);
	s->port = ntohs(sa.sin_port);
}

static void server_stop(struct server *s)
{
	for (int i = 0; i < s->n_delayed; i++)
		event_free(s->delayed[i].ev);
	/* May call on_conn_close for connections still open: s is still valid. */
	evhttp_free(s->http);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	/* As in serve.c: the coarse default clock fires timers a tick early. */
	struct event_config *evcfg = event_config_new();
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	struct event_base *base = event_base_new_with_config(evcfg);
	event_config_free(evcfg);
	server_start(&f->srv, base);
	f->client = http_client_new(base, 8);
	completions = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = f->srv.base;
	/* The client goes first: curl's cleanup still calls into the loop. */
	http_client_free(f->client);
	server_stop(&f->srv);
	event_base_free(base);
	free(f);
	return 0;
}

/* ---- tests ---- */

static void test_get_ok(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};
	get(f, "/ok", 0, &r);
	assert_int_equal(http_client_in_flight(f->client), 1);
	run_until(f->srv.base, &r.calls, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 200);
	assert_null(r.err);
	assert_int_equal(r.kind, HTTP_ERR_NONE);
	assert_string_equal(r.body, "hello world");
	assert_int_equal(r.body_len, 11);
	assert_string_equal(r.request_id, "req-123");
	assert_string_equal(r.content_type, "text/plain");
	assert_null(r.retry_after);
	assert_null(r.retry_after_ms);
	assert_true(r.elapsed_ms >= 0 && r.elapsed_ms < 5000);
	assert_int_equal(retry_classify(r.status, r.kind, r.body, r.body_len), RETRY_OK);
	assert_int_equal(http_client_in_flight(f->client), 0);
	assert_int_equal(http_client_queued(f->client), 0);
	result_clear(&r);
}

static void test_post_copies_request(void **state)
{
	struct fixture *f = *state;
	struct result r1 = {0}, r2 = {0}, r3 = {0};
	char *u = url(&f->srv, "/echo");
	char h1[] = "X-Test: one";
	char h2[] = "Authorization: Bearer tok";
	const char *hdrs[] = {h1, h2};
	/* Over 1 MiB: libcurl 7.88 would send "Expect: 100-continue" if we let it. */
	size_t n = 1536 * 1024;
	char *body = malloc(n);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('A' + i % 26);
	struct http_req req = {.method = "POST",
			       .url = u,
			       .headers = hdrs,
			       .n_headers = 2,
			       .body = body,
			       .body_len = n};
	issue(f->client, &req, &r1);
	/* Everything was copied: scribble over and free the caller's copies. */
	memset(h1, 'z', sizeof h1 - 1);
	memset(body, '!', n);
	free(body);
	free(u);

	u = url(&f->srv, "/echo");
	struct http_req put = {.method = "PUT", .url = u, .body = "{\"a\":1}", .body_len = 7};
	issue(f->client, &put, &r2);
	struct http_req del = {.method = "DELETE", .url = u};
	issue(f->client, &del, &r3);
	free(u);

	run_until(f->srv.base, &completions, 3);
	assert_int_equal(r1.status, 200);
	assert_true(r1.body_len == strlen("POST|one|Bearer tok|-|") + n);
	/* The fourth field is the Expect header the server saw: none. */
	assert_memory_equal(r1.body, "POST|one|Bearer tok|-|ABCDEFG", 29);
	assert_int_equal(r1.body[r1.body_len - 1], 'A' + (n - 1) % 26);
	assert_string_equal(r2.body, "PUT|-|-|-|{\"a\":1}");
	assert_string_equal(r3.body, "DELETE|-|-|-|");
	result_clear(&r1);
	result_clear(&r2);
	result_clear(&r3);
}

static void test_error_statuses(void **state)
{
	struct fixture *f = *state;
	struct result r500 = {0}, r429 = {0}, r404 = {0};
	get(f, "/500", 0, &r500);
	get(f, "/429", 0, &r429);
	get(f, "/nothing-here", 0, &r404);
	run_until(f->srv.base, &completions, 3);

	/* An HTTP error status is a response, not a transport error. */
	assert_int_equal(r500.status, 500);
	assert_null(r500.err);
	assert_int_equal(r500.kind, HTTP_ERR_NONE);
	assert_int_equal(retry_classify(r500.status, r500.kind, r500.body, r500.body_len),
			 RETRY_RETRYABLE);
	char *m = retry_error_message(r500.status, r500.err, r500.body, r500.body_len);
	assert_string_equal(m, "131000: Something went wrong");
	free(m);

	assert_int_equal(r429.status, 429);
	assert_string_equal(r429.retry_after, "7");
	assert_string_equal(r429.retry_after_ms, "1500");
	assert_int_equal(retry_classify(r429.status, r429.kind, r429.body, r429.body_len),
			 RETRY_RETRYABLE);
	assert_int_equal(retry_delay_ms(1, r429.retry_after, r429.retry_after_ms, 0), 1500);

	assert_int_equal(r404.status, 404);
	assert_int_equal(retry_classify(r404.status, r404.kind, r404.body, r404.body_len),
			 RETRY_FINAL);
	result_clear(&r500);
	result_clear(&r429);
	result_clear(&r404);
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};
	double t0 = now_ms();
	get(f, "/slow", 200, &r);
	run_until(f->srv.base, &r.calls, 1);
	double took = now_ms() - t0;
	assert_int_equal(r.status, 0);
	assert_non_null(r.err);
	assert_int_equal(r.kind, HTTP_ERR_TIMEOUT); /* the request had been sent */
	assert_true(took >= 190 && took < 1100);
	assert_int_equal(retry_classify(r.status, r.kind, r.body, r.body_len), RETRY_RETRYABLE);
	/* Let the server's late answer go out to the closed connection. */
	run_until(f->srv.base, &f->srv.delayed_fired, 1);
	result_clear(&r);

	/* The client carries on normally afterwards. */
	get(f, "/ok", 0, &r);
	run_until(f->srv.base, &r.calls, 1);
	assert_int_equal(r.status, 200);
	result_clear(&r);
}

static void test_dropped_connection(void **state)
{
	struct fixture *f = *state;
	struct result r = {0};
	get(f, "/drop", 2000, &r);
	run_until(f->srv.base, &r.calls, 1);
	assert_int_equal(r.status, 0);
	assert_non_null(r.err);
	assert_int_equal(r.kind, HTTP_ERR_NETWORK);
	assert_int_equal(retry_classify(r.status, r.kind, NULL, 0), RETRY_RETRYABLE);
	result_clear(&r);
}

static void test_connection_refused(void **state)
{
	struct fixture *f = *state;
	/* A port that was just free: bind, learn it, close. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	char u[64];
	snprintf(u, sizeof u, "http://127.0.0.1:%u/x", ntohs(sa.sin_port));
	struct result r = {0};
	struct http_req req = {.url = u};
	issue(f->client, &req, &r);
	run_until(f->srv.base, &r.calls, 1);
	assert_int_equal(r.status, 0);
	assert_non_null(r.err);
	assert_int_equal(r.kind, HTTP_ERR_CONNECT);
	assert_string_equal(http_err_kind_name(r.kind), "connect");
	assert_int_equal(retry_classify(r.status, r.kind, NULL, 0), RETRY_RETRYABLE);
	char *m = retry_error_message(r.status, r.err, NULL, 0);
	assert_string_equal(m, r.err);
	free(m);
	result_clear(&r);
}

static void test_connect_timeout(void **state)
{
	struct fixture *f = *state;
	/* A listener whose accept queue is full and never drained: Linux drops
	 * further SYNs, so a connect hangs until our connect timeout. */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(lfd, 0), 0);
	socklen_t sl = sizeof sa;
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	int fillers[3];
	for (int i = 0; i < 3; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fillers[i], (struct sockaddr *)&sa, sizeof sa);
	}
	char u[64];
	snprintf(u, sizeof u, "http://127.0.0.1:%u/x", ntohs(sa.sin_port));
	struct result r = {0};
	struct http_req req = {.url = u, .connect_timeout_ms = 200, .timeout_ms = 5000};
	double t0 = now_ms();
	issue(f->client, &req, &r);
	run_until(f->srv.base, &r.calls, 1);
	double took = now_ms() - t0;
	for (int i = 0; i < 3; i++)
		close(fillers[i]);
	close(lfd);
	assert_int_equal(r.status, 0);
	assert_non_null(r.err);
	/* Nothing was sent: safe to retry even a non-idempotent call. */
	assert_int_equal(r.kind, HTTP_ERR_CONNECT_TIMEOUT);
	assert_true(took >= 190 && took < 2000);
	assert_int_equal(retry_classify(r.status, r.kind, NULL, 0), RETRY_RETRYABLE);
	result_clear(&r);
}

static void test_max_in_flight(void **state)
{
	struct fixture *f = *state;
	http_client_free(f->client);
	f->client = http_client_new(f->srv.base, 2);
	struct result r[10] = {{0}};
	for (int i = 0; i < 10; i++) {
		char path[32];
		snprintf(path, sizeof path, "/conc?%d", i);
		get(f, path, 0, &r[i]);
	}
	assert_int_equal(http_client_in_flight(f->client), 2);
	assert_int_equal(http_client_queued(f->client), 8);
	run_until(f->srv.base, &completions, 10);
	for (int i = 0; i < 10; i++) {
		char want[16];
		snprintf(want, sizeof want, "%d", i);
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 200);
		assert_string_equal(r[i].body, want);
		result_clear(&r[i]);
	}
	assert_int_equal(f->srv.conc_max, 2);
	assert_int_equal(f->srv.hits, 10);
	/* Keep-alive: two connections carried all ten. */
	assert_int_equal(f->srv.n_peers, 2);
	assert_int_equal(http_client_in_flight(f->client), 0);
	assert_int_equal(http_client_queued(f->client), 0);
}

static void test_connection_reuse(void **state)
{
	struct fixture *f = *state;
	for (int i = 0; i < 5; i++) {
		struct result r = {0};
		get(f, "/ok", 0, &r);
		run_until(f->srv.base, &r.calls, 1);
		assert_int_equal(r.status, 200);
		result_clear(&r);
	}
	assert_int_equal(f->srv.hits, 5);
	assert_int_equal(f->srv.n_peers, 1);
}

static void test_response_size_cap(void **state)
{
	struct fixture *f = *state;
	struct result small = {0}, full = {0};
	char *u = url(&f->srv, "/big");
	struct http_req req = {.url = u, .max_response_bytes = 1000};
	issue(f->client, &req, &small);
	struct http_req req2 = {.url = u};
	issue(f->client, &req2, &full);
	free(u);
	run_until(f->srv.base, &completions, 2);
	assert_int_equal(small.kind, HTTP_ERR_TOO_LARGE);
	assert_ptr_equal(small.err_ptr, HTTP_CLIENT_ERR_TOO_LARGE);
	assert_int_equal(retry_classify(small.status, small.kind, NULL, 0), RETRY_FINAL);
	assert_true(small.body_len <= 1000);
	assert_int_equal(full.status, 200);
	assert_int_equal(full.body_len, BIG_BODY);
	assert_int_equal(full.body[BIG_BODY - 1], 'a' + (BIG_BODY - 1) % 26);
	result_clear(&small);
	result_clear(&full);
}

static void test_bad_urls(void **state)
{
	struct fixture *f = *state;
	struct result r1 = {0}, r2 = {0}, r3 = {0};
	struct http_req a = {.url = "ftp://127.0.0.1/x"};
	struct http_req b = {.url = "http://[::1"};
	struct http_req c = {.url = NULL};
	issue(f->client, &a, &r1);
	issue(f->client, &b, &r2);
	issue(f->client, &c, &r3);
	run_until(f->srv.base, &completions, 3);
	assert_int_equal(r1.kind, HTTP_ERR_USAGE);
	assert_int_equal(r2.kind, HTTP_ERR_USAGE);
	assert_int_equal(r3.kind, HTTP_ERR_USAGE);
	assert_non_null(r1.err);
	assert_non_null(r2.err);
	assert_string_equal(r3.err, "request without a URL");
	assert_int_equal(retry_classify(0, r1.kind, NULL, 0), RETRY_FINAL);
	result_clear(&r1);
	result_clear(&r2);
	result_clear(&r3);
}

/* Issues the next request from inside a callback, like a caller's retry. */
struct chain {
	struct fixture *f;
	struct result last;
	int steps;
};

static void on_chain(void *ctx, const struct http_resp *resp, const char *err)
{
	struct chain *ch = ctx;
	assert_null(err);
	assert_int_equal(resp->status, 200);
	if (++ch->steps < 3) {
		char *u = url(&ch->f->srv, "/ok");
		struct http_req req = {.url = u};
		http_request(ch->f->client, &req, on_chain, ch);
		free(u);
		/* Not called back from inside, even here. */
		assert_true(ch->steps < 3);
	}
}

static void test_request_from_callback(void **state)
{
	struct fixture *f = *state;
	struct chain ch = {.f = f};
	char *u = url(&f->srv, "/ok");
	struct http_req req = {.url = u};
	http_request(f->client, &req, on_chain, &ch);
	free(u);
	run_until(f->srv.base, &ch.steps, 3);
	assert_int_equal(f->srv.hits, 3);
}

struct timer_result {
	int calls;
	bool cancelled;
	double at;
};

static void on_timer_done(void *ctx, bool cancelled)
{
	struct timer_result *t = ctx;
	t->calls++;
	t->cancelled = cancelled;
	t->at = now_ms();
}

static void test_after(void **state)
{
	struct fixture *f = *state;
	struct timer_result a = {0}, b = {0};
	double t0 = now_ms();
	http_client_after(f->client, 80, on_timer_done, &a);
	http_client_after(f->client, 0, on_timer_done, &b);
	assert_int_equal(a.calls + b.calls, 0);
	run_until(f->srv.base, &a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_false(a.cancelled);
	assert_false(b.cancelled);
	assert_true(b.at <= a.at);
	assert_true(a.at - t0 >= 75);
}

/* During shutdown: a callback that tries again gets "shutting down" too. */
static struct result retry_during_shutdown;
static struct fixture *shutdown_fixture;

static void on_done_then_retry(void *ctx, const struct http_resp *resp, const char *err)
{
	on_done(ctx, resp, err);
	char *u = url(&shutdown_fixture->srv, "/ok");
	struct http_req req = {.url = u};
	http_request(shutdown_fixture->client, &req, on_done, &retry_during_shutdown);
	free(u);
}

static void on_timer_then_request(void *ctx, bool cancelled)
{
	on_timer_done(ctx, cancelled);
	http_client_after(shutdown_fixture->client, 10, on_timer_done, ctx);
}

static void test_shutdown_fails_pending(void **state)
{
	struct fixture *f = *state;
	shutdown_fixture = f;
	http_client_free(f->client);
	f->client = http_client_new(f->srv.base, 1);
	struct result hang = {0}, q1 = {0}, q2 = {0};
	memset(&retry_during_shutdown, 0, sizeof retry_during_shutdown);
	char *u = url(&f->srv, "/hang");
	struct http_req req = {.url = u};
	in_request = true;
	http_request(f->client, &req, on_done_then_retry, &hang);
	http_request(f->client, &req, on_done, &q1);
	http_request(f->client, &req, on_done, &q2);
	in_request = false;
	free(u);
	struct timer_result t = {0};
	http_client_after(f->client, 60000, on_timer_then_request, &t);
	run_until(f->srv.base, &f->srv.hang_seen, 1);
	assert_int_equal(http_client_in_flight(f->client), 1);
	assert_int_equal(http_client_queued(f->client), 2);
	assert_int_equal(completions, 0);

	http_client_free(f->client);
	f->client = http_client_new(f->srv.base, 8); /* for teardown */
	/* In order: the one in flight, then the queue, then what the callback added. */
	struct result *all[] = {&hang, &q1, &q2, &retry_during_shutdown};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(all[i]->calls, 1);
		assert_int_equal(all[i]->order, (int)i + 1);
		assert_int_equal(all[i]->status, 0);
		assert_int_equal(all[i]->kind, HTTP_ERR_SHUTDOWN);
		assert_ptr_equal(all[i]->err_ptr, HTTP_CLIENT_ERR_SHUTDOWN);
		result_clear(all[i]);
	}
	assert_int_equal(completions, 4);
	/* The timer was cancelled, and so was the one its callback set. */
	assert_int_equal(t.calls, 2);
	assert_true(t.cancelled);
}

static void test_shutdown_with_deferred_failure(void **state)
{
	struct fixture *f = *state;
	/* A failure not yet delivered and an idle keep-alive connection. */
	struct result ok = {0}, bad = {0};
	get(f, "/ok", 0, &ok);
	run_until(f->srv.base, &ok.calls, 1);
	struct http_req req = {.url = NULL};
	issue(f->client, &req, &bad);
	http_client_free(f->client);
	f->client = http_client_new(f->srv.base, 8);
	/* Delivered by the free, with its own reason. */
	assert_int_equal(bad.calls, 1);
	assert_int_equal(bad.kind, HTTP_ERR_USAGE);
	assert_string_equal(bad.err, "request without a URL");
	result_clear(&ok);
	result_clear(&bad);
}

/*
 * The rule every asynchronous API of parley keeps (issue #15 item 2): a
 * failure known when the request is made (no URL, a scheme or URL curl
 * refuses, the client shutting down) arrives after http_request returned,
 * exactly once. issue() and on_done check "not from inside" for each.
 */
static struct result during_free;

static void on_done_then_request(void *ctx, const struct http_resp *resp, const char *err)
{
	on_done(ctx, resp, err);
	char *u = url(&shutdown_fixture->srv, "/ok");
	struct http_req req = {.url = u};
	in_request = true;
	http_request(shutdown_fixture->client, &req, on_done, &during_free);
	in_request = false;
	free(u);
	assert_int_equal(during_free.calls, 0);
}

static void test_submit_failures_arrive_after_the_call(void **state)
{
	struct fixture *f = *state;
	struct result none = {0}, scheme = {0}, bad = {0};
	issue(f->client, &(struct http_req){.url = NULL}, &none);
	issue(f->client, &(struct http_req){.url = "gopher://127.0.0.1/x"}, &scheme);
	issue(f->client, &(struct http_req){.url = "http://[::1"}, &bad);
	run_until(f->srv.base, &completions, 3);
	/* Nothing more comes: one callback each. */
	struct timeval later = {0, 50 * 1000};
	event_base_loopexit(f->srv.base, &later);
	event_base_dispatch(f->srv.base);
	assert_int_equal(none.calls, 1);
	assert_int_equal(scheme.calls, 1);
	assert_int_equal(bad.calls, 1);
	assert_int_equal(completions, 3);
	result_clear(&none);
	result_clear(&scheme);
	result_clear(&bad);

	/* Shutting down: a request made from a callback that the free runs
	 * is failed by the free's drain, not inside its http_request. */
	shutdown_fixture = f;
	memset(&during_free, 0, sizeof during_free);
	struct result first = {0};
	char *u = url(&f->srv, "/hang");
	in_request = true;
	http_request(f->client, &(struct http_req){.url = u}, on_done_then_request, &first);
	in_request = false;
	free(u);
	assert_int_equal(first.calls, 0);
	http_client_free(f->client);
	f->client = http_client_new(f->srv.base, 8); /* for teardown */
	assert_int_equal(first.calls, 1);
	assert_int_equal(first.kind, HTTP_ERR_SHUTDOWN);
	assert_int_equal(during_free.calls, 1);
	assert_int_equal(during_free.kind, HTTP_ERR_SHUTDOWN);
	assert_ptr_equal(during_free.err_ptr, HTTP_CLIENT_ERR_SHUTDOWN);
	result_clear(&first);
	result_clear(&during_free);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_post_copies_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_statuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dropped_connection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_max_in_flight, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_response_size_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_from_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_fails_pending, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_with_deferred_failure, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submit_failures_arrive_after_the_call, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
