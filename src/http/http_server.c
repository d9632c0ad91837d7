#include "http_server.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "app.h"
#include "client_addr.h"
#include "handlers.h"
#include "http_conn.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"
#include "webchat.h"
#include "webchat_assets.h"
#include "xalloc.h"

/* Connections the kernel holds for us before accept(). */
#define LISTEN_BACKLOG 4096
/* Body limits of the routes that are not webhooks (SPEC §12). */
#define WEBCHAT_BODY_MAX (64 * 1024)
#define OTHER_BODY_MAX   (4 * 1024)

typedef void (*handler_fn)(struct app *app, struct evhttp_request *req);

struct route {
	const char *path;
	handler_fn get;
	handler_fn post;
	handler_fn options; /* CORS preflight */
	bool internal;      /* health and metrics: only on internal_listen when it is set */
	enum { BODY_OTHER, BODY_WEBCHAT, BODY_WEBHOOK } body; /* which limit (SPEC §12) */
};

static const struct route routes[] = {
    {"/webhooks/meta", webhook_handle_get, webhook_handle_post, NULL, false, BODY_WEBHOOK},
    {"/webchat/v1/sessions", NULL, webchat_handle_sessions, webchat_handle_options, false,
     BODY_WEBCHAT},
    {"/webchat/v1/messages", webchat_handle_messages_get, webchat_handle_messages_post,
     webchat_handle_options, false, BODY_WEBCHAT},
    {"/webchat/v1/read", NULL, webchat_handle_read, webchat_handle_options, false, BODY_WEBCHAT},
    {"/healthz", health_handle_healthz, NULL, NULL, true, BODY_OTHER},
    {"/readyz", health_handle_readyz, NULL, NULL, true, BODY_OTHER},
    {"/metrics", health_handle_metrics, NULL, NULL, true, BODY_OTHER},
    {"/webchat/v1/widget.js", webchat_assets_handle_widget_js, NULL, NULL, false, BODY_WEBCHAT},
    {"/webchat/v1/demo", webchat_assets_handle_demo, NULL, NULL, false, BODY_WEBCHAT},
};

struct listener {
	struct http_server *srv;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct http_conn_guard *guard;
	bool internal;
};

struct http_server {
	struct app *app;
	struct listener pub, priv;
	bool has_priv;
};

static int in_flight;
/* server.trusted_proxies, parsed once; empty until a server starts. */
static struct client_nets trusted;

int http_server_in_flight(void)
{
	return in_flight;
}

void http_client_key(struct evhttp_request *req, char out[CLIENT_ADDR_KEY_MAX])
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;
	if (conn)
		evhttp_connection_get_peer(conn, &addr, &port);
	struct client_ip peer, client;
	/* A link-local peer comes as "fe80::1%eth0"; the zone is not the client. */
	size_t len = addr ? strcspn(addr, "%") : 0;
	if (!addr || client_addr_parse(addr, len, &peer) < 0) {
		snprintf(out, CLIENT_ADDR_KEY_MAX, "?"); /* not an IP socket: all such share */
		return;
	}
	const char **xff = NULL;
	size_t n = 0;
	if (trusted.n && client_addr_in(&trusted, &peer)) {
		/* Several X-Forwarded-For headers are one list, in order. */
		struct evkeyvalq *in = evhttp_request_get_input_headers(req);
		struct evkeyval *h;
		size_t cap = 0;
		for (h = in->tqh_first; h; h = h->next.tqe_next) {
			if (strcasecmp(h->key, "X-Forwarded-For") != 0)
				continue;
			if (n == cap)
				xff = xrealloc(xff, (cap = cap ? cap * 2 : 4) * sizeof *xff);
			xff[n++] = h->value;
		}
	}
	client_addr_resolve(&trusted, &peer, xff, n, &client);
	free(xff);
	client_addr_key(&client, out);
}

void http_reply(struct evhttp_request *req, int code, const char *content_type, const char *body,
		size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", content_type);
	/* Dynamic answers must not be cached; a handler serving a static
	 * asset sets its own policy first. */
	if (!evhttp_find_header(h, "Cache-Control"))
		evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	struct evbuffer *buf = evbuffer_new();
	evbuffer_add(buf, body, len);
	const char *reason = code == 200 ? "OK" : NULL;
	evhttp_send_reply(req, code, reason, buf);
	evbuffer_free(buf);
	in_flight--;
}

void http_reply_json(struct evhttp_request *req, int code, const char *json)
{
	http_reply(req, code, "application/json", json, strlen(json));
}

void http_reply_error(struct evhttp_request *req, int code, const char *msg)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "{\"error\":\"");
	strbuf_json_escape(&sb, msg, strlen(msg));
	strbuf_puts(&sb, "\"}\n");
	http_reply_json(req, code, strbuf_str(&sb));
	strbuf_free(&sb);
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
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

/* The route path names on listener l, or NULL (404). */
static const struct route *find_route(const struct listener *l, const char *path)
{
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		const struct route *r = &routes[i];
		if (strcmp(r->path, path) != 0)
			continue;
		/* With an internal listener, the public one does not expose
		 * health and metrics, and the internal one exposes only those. */
		if (l->srv->has_priv && r->internal != l->internal)
			return NULL;
		return r;
	}
	return NULL;
}

/* The framing's question, asked before a body is read: how much body may a
 * request for target have? The target is parsed as evhttp parses it for
 * dispatch(), so that both find the same route. */
static uint64_t body_limit(void *arg, const char *target, size_t len)
{
	const struct listener *l = arg;
	char *t = xstrndup(target, len);
	struct evhttp_uri *uri = evhttp_uri_parse_with_flags(t, EVHTTP_URI_NONCONFORMANT);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const struct route *r = find_route(l, path && *path ? path : "/");
	uint64_t max = !r                        ? OTHER_BODY_MAX
		       : r->body == BODY_WEBHOOK ? (uint64_t)l->srv->app->cfg.server_max_body_bytes
		       : r->body == BODY_WEBCHAT ? WEBCHAT_BODY_MAX
						 : OTHER_BODY_MAX;
	if (uri)
		evhttp_uri_free(uri);
	free(t);
	return max;
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	struct listener *l = arg;
	struct http_server *srv = l->srv;
	in_flight++;

	int status;
	const char *refused = http_conn_request(req, &status);
	if (refused) {
		/* The rest of what the client sent was not read: the
		 * connection cannot carry another request. */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_reply_error(req, status, refused);
		return;
	}

	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	if (!path || !*path)
		path = "/";
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	log_debug("http", "%s %s", method_name(method), path);

	const struct route *r = find_route(l, path);
	if (r) {
		handler_fn h = method == EVHTTP_REQ_GET       ? r->get
			       : method == EVHTTP_REQ_POST    ? r->post
			       : method == EVHTTP_REQ_OPTIONS ? r->options
							      : NULL;
		if (!h) {
			char allow[32];
			snprintf(allow, sizeof allow, "%s%s%s%s", r->get ? "GET" : "",
				 r->get && r->post ? ", " : "", r->post ? "POST" : "",
				 r->options ? ", OPTIONS" : "");
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
			http_reply_error(req, 405, "method not allowed");
			return;
		}
		h(srv->app, req);
		return;
	}
	http_reply_error(req, 404, "not found");
}

/* Splits "host:port" or "[v6]:port" into host (caller frees) and port. */
static int http_parse_listen(const char *spec, char **host, unsigned short *port)
{
	const char *colon;
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':')
			return -1;
		*host = xstrndup(spec + 1, (size_t)(close - spec - 1));
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || colon == spec)
			return -1;
		*host = xstrndup(spec, (size_t)(colon - spec));
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p < 0 || p > 65535) {
		free(*host);
		*host = NULL;
		return -1;
	}
	*port = (unsigned short)p;
	return 0;
}

const char *http_listen_reason(int err)
{
	switch (err) {
	case EADDRINUSE:
		return "address already in use: another process listens there (ss -ltnp shows "
		       "which); stop it or choose another port";
	case EACCES:
	case EPERM:
		return "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; "
		       "choose a port from 1024 up";
	case EADDRNOTAVAIL:
		return "no such address on this machine: use one of its own addresses, "
		       "127.0.0.1 or 0.0.0.0";
	case 0: return "the host name does not resolve: use an IP address";
	default: return strerror(err);
	}
}

static int listener_start(struct http_server *srv, struct listener *l, const char *spec,
			  bool internal)
{
	struct app *app = srv->app;
	l->srv = srv;
	l->internal = internal;
	l->http = evhttp_new(app->base);
	/* Each route's limit is applied before evhttp reads a body (the
	 * framing in http_conn), with a JSON 413; evhttp's own limit, the
	 * largest of them, is never the one that answers. */
	evhttp_set_max_body_size(l->http, (ev_ssize_t)app->cfg.server_max_body_bytes);
	evhttp_set_max_headers_size(l->http, HTTP_FRAMING_HEAD_MAX);
	/* Idle timeout: longer than the longest webchat poll (30 s), which
	 * holds its connection silent until it is answered. It restarts with
	 * every byte read, so the request deadline is the guard's. */
	evhttp_set_timeout(l->http, WEBCHAT_MAX_WAIT_SECONDS + 15);
	/* Health checks on the internal listener still get in when the public
	 * one is full. */
	l->guard =
	    http_conn_guard_new(l->http, app->base, internal ? 0 : app->cfg.server_max_connections,
				app->cfg.server_request_timeout_seconds, body_limit, l);
	evhttp_set_default_content_type(l->http, "application/json");
	/* Methods we do not serve get a JSON 405 from dispatch(), not evhttp's 501. */
	evhttp_set_allowed_methods(l->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(l->http, dispatch, l);

	char *host = NULL;
	unsigned short port = 0;
	if (http_parse_listen(spec, &host, &port) < 0) {
		log_error("http", "cannot parse listen address '%s'", spec);
		return -1;
	}
	int rc = 0;
	errno = 0;
	l->bound = evhttp_bind_socket_with_handle(l->http, host, port);
	if (!l->bound) {
		int e = errno;
		log_error("http", "cannot listen on %s (%s): %s", spec,
			  internal ? "server.internal_listen" : "server.listen",
			  http_listen_reason(e));
		rc = -1;
	} else {
		/* evhttp listens with a backlog of 128: a burst of new connections
		 * (Meta opening many at once) beyond it waits a whole SYN retry,
		 * a second. Listening again only raises the backlog (Linux caps it
		 * at net.core.somaxconn). */
		(void)listen(evhttp_bound_socket_get_fd(l->bound), LISTEN_BACKLOG);
		http_conn_guard_listen(l->guard, l->bound);
		log_info("http", "listening on %s%s", spec,
			 internal ? " (health and metrics)" : "");
	}
	free(host);
	return rc;
}

struct http_server *http_server_start(struct app *app)
{
	struct http_server *srv = xcalloc(1, sizeof *srv);
	srv->app = app;
	/* check-config validated the list; a failure here leaves it empty. */
	client_addr_nets_free(&trusted);
	(void)client_addr_parse_nets(app->cfg.server_trusted_proxies, &trusted, NULL, 0);
	srv->has_priv = app->cfg.server_internal_listen && *app->cfg.server_internal_listen;
	http_conn_init(app->cfg.server_max_connections);
	if (listener_start(srv, &srv->pub, app->cfg.server_listen, false) < 0 ||
	    (srv->has_priv &&
	     listener_start(srv, &srv->priv, app->cfg.server_internal_listen, true) < 0)) {
		http_server_free(srv);
		return NULL;
	}
	return srv;
}

static void stop_listener(struct listener *l)
{
	/* Closes the listening socket; connections already accepted go on. */
	if (l->http && l->bound) {
		http_conn_guard_unlisten(l->guard);
		evhttp_del_accept_socket(l->http, l->bound);
	}
	l->bound = NULL;
}

void http_server_stop_accepting(struct http_server *srv)
{
	stop_listener(&srv->pub);
	stop_listener(&srv->priv);
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->pub.http)
		evhttp_free(srv->pub.http);
	if (srv->priv.http)
		evhttp_free(srv->priv.http);
	/* After evhttp: the connections it just let go still count on them. */
	http_conn_guard_free(srv->pub.guard);
	http_conn_guard_free(srv->priv.guard);
	client_addr_nets_free(&trusted);
	free(srv);
}
