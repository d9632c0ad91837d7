#ifndef PARLEY_HTTP_CLIENT_H
#define PARLEY_HTTP_CLIENT_H
/*
 * Outbound HTTP on the event loop: libcurl's multi interface driven by
 * libevent (curl's hiperfifo pattern), for OpenAI, the Graph API and Google.
 *
 * http_request() copies everything it is given and returns at once; exactly
 * one callback follows, always from the loop (never from inside
 * http_request, so a caller may hold locks or half-built state around the
 * call: the rule of include/db/db.h; http_client_after likewise). At most max_in_flight requests
 * are on the wire; later ones wait in a FIFO queue. Retries are not done here: callers persist
 * their attempt state between tries and use retry.h to decide and http_client_after() to wait.
 *
 * DNS: libcurl is used only when built with an asynchronous resolver
 * (threaded or c-ares, CURL_VERSION_ASYNCHDNS); http_client_new() logs an
 * error when it is not, because every lookup would then block the loop. The
 * libcurl 7.88.1 this was written against uses the threaded resolver.
 *
 * SIGPIPE must be ignored process-wide (main does): CURLOPT_NOSIGNAL is set,
 * and TLS writes on a closed socket would otherwise kill the process.
 */
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct http_client;

/* Why a request got no HTTP response; resp->err_kind. */
enum http_err_kind {
	HTTP_ERR_NONE = 0,        /* a response arrived (any status) */
	HTTP_ERR_DNS,             /* host name did not resolve */
	HTTP_ERR_CONNECT,         /* refused or unreachable: nothing was sent */
	HTTP_ERR_CONNECT_TIMEOUT, /* timed out before the request was sent */
	HTTP_ERR_TIMEOUT,         /* timed out after sending: the server may have acted */
	HTTP_ERR_NETWORK,         /* reset, closed without answer, TLS handshake broke */
	HTTP_ERR_TLS,             /* certificate or TLS configuration problem */
	HTTP_ERR_TOO_LARGE,       /* response body over max_response_bytes */
	HTTP_ERR_USAGE,           /* bad URL, unsupported scheme: a bug, not a condition */
	HTTP_ERR_SHUTDOWN,        /* the client was freed first */
	HTTP_ERR_OTHER,           /* any other libcurl failure */
};

/* Our own error strings (the others are libcurl's); compare by identity. */
extern const char HTTP_CLIENT_ERR_SHUTDOWN[];
extern const char HTTP_CLIENT_ERR_TOO_LARGE[];
extern const char HTTP_CLIENT_ERR_PRIVATE[];

/* "dns", "connect", "timeout", …: a short label for logs and metrics. */
const char *http_err_kind_name(int kind);

#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 5000
#define HTTP_DEFAULT_TIMEOUT_MS         60000
#define HTTP_DEFAULT_MAX_RESPONSE       (8u * 1024 * 1024)

/* A request as the caller describes it; borrowed for the duration of the
 * http_request() call only (everything is copied). */
struct http_req {
	const char *method;         /* NULL: GET, or POST when body is set */
	const char *url;            /* http:// or https:// only */
	const char *const *headers; /* "Name: value" each; may be NULL */
	size_t n_headers;
	const char *body; /* may be NULL; need not be NUL-terminated */
	size_t body_len;
	long connect_timeout_ms;   /* 0: HTTP_DEFAULT_CONNECT_TIMEOUT_MS */
	long timeout_ms;           /* whole transfer; 0: HTTP_DEFAULT_TIMEOUT_MS */
	size_t max_response_bytes; /* 0: HTTP_DEFAULT_MAX_RESPONSE */
	/* Waits ahead of the non-priority requests (FIFO among its kind): work
	 * that completes something already paid for, such as sending a reply
	 * the model has produced, goes before work that starts something new. */
	bool priority;
	/* Events out (README, Events out, Safety): connect only to public
	 * addresses (public_addr.h). The address checked is the one libcurl is
	 * about to connect to, after resolving, so a DNS answer that changes
	 * between a check and the connection (rebinding) cannot slip past it;
	 * proxies are not used. A refused address fails as HTTP_ERR_CONNECT
	 * with HTTP_CLIENT_ERR_PRIVATE. */
	bool public_only;
	/* Keep the status of a response whose body is over max_response_bytes
	 * instead of failing with HTTP_ERR_TOO_LARGE: the body is cut there and
	 * the rest is not read. */
	bool truncate_response;
};

/* The outcome; owned by the client and valid only during the callback. */
struct http_resp {
	long status;      /* 0 when no response arrived */
	const char *body; /* NUL-terminated copy, never NULL ("" if none) */
	size_t body_len;
	const char *retry_after; /* header values (trimmed), NULL when absent */
	const char *retry_after_ms;
	const char *request_id; /* x-request-id, for logs; NULL when absent */
	int err_kind;           /* enum http_err_kind; HTTP_ERR_NONE with a status */
	long elapsed_ms;        /* on the wire, not counting the queue */
	/* internal: the final response's header lines, for http_resp_header() */
	char **lines;
	size_t n_lines;
};

/*
 * err is NULL when a response arrived (whatever its status), else a short
 * reason (ours or libcurl's, valid only during the callback) and
 * resp->err_kind says which kind. resp is never NULL.
 */
typedef void (*http_done_cb)(void *ctx, const struct http_resp *resp, const char *err);

/* max_in_flight < 1 counts as 1. */
struct http_client *http_client_new(struct event_base *base, int max_in_flight);

/*
 * Completes every request in flight or queued with HTTP_CLIENT_ERR_SHUTDOWN and
 * every pending http_client_after() with cancelled = true, then tears libcurl
 * down. Call it before event_base_free(): libcurl's callbacks still run
 * during its cleanup. Requests made from those callbacks fail the same way.
 * Not from inside one of this client's callbacks.
 */
void http_client_free(struct http_client *c);

/* Copies req and queues it; cb(ctx, …) runs exactly once, later, from the loop. */
void http_request(struct http_client *c, const struct http_req *req, http_done_cb cb, void *ctx);

/* Requests on the wire, and waiting behind max_in_flight (for metrics). */
int http_client_in_flight(const struct http_client *c);
int http_client_queued(const struct http_client *c);

/*
 * Runs cb(ctx, false) once, ms milliseconds from now, from the loop: the wait
 * between retries. If the client is freed first, cb(ctx, true) runs from
 * http_client_free() instead, so that the owner of ctx can release it.
 */
typedef void (*http_timer_cb)(void *ctx, bool cancelled);
void http_client_after(struct http_client *c, long ms, http_timer_cb cb, void *ctx);

#endif
