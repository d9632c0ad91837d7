#ifndef PARLEY_HTTP_CONN_H
#define PARLEY_HTTP_CONN_H
/*
 * What parley keeps per client connection under evhttp (SPEC §12): the
 * framing that holds each request to its route's body limit before the body
 * is buffered (http_framing.h), the deadline by which a request's head and
 * body must all have arrived, and the count of open connections that
 * server.max_connections caps. Plus the accept side: running out of file
 * descriptors closes the new connection instead of spinning the loop.
 *
 * A guard is attached to one evhttp (one listener). It is freed when both
 * http_conn_guard_free() was called and its last connection is gone, since
 * evhttp hands connections back only as their bufferevents are finalised.
 */
#include <event2/http.h>
#include <stdint.h>

#include "http_framing.h"

struct http_conn_guard;

/*
 * Routes every connection http accepts through a new guard. max_conns 0
 * means no cap; timeout_seconds is the whole-request deadline; limit gives
 * a request's body limit from its target.
 */
struct http_conn_guard *http_conn_guard_new(struct evhttp *http, struct event_base *base,
					    long max_conns, long timeout_seconds,
					    http_framing_limit_fn limit, void *limit_ctx);
/* Watches bound's accepts for running out of descriptors. */
void http_conn_guard_listen(struct http_conn_guard *g, struct evhttp_bound_socket *bound);
/* Before bound is deleted: forgets its listener. */
void http_conn_guard_unlisten(struct http_conn_guard *g);
void http_conn_guard_free(struct http_conn_guard *g);

/*
 * The router calls this first for every request. Returns NULL, or the
 * message of the refusal the framing decided for this request, with *status
 * its HTTP status: the caller answers it and the connection closes.
 */
const char *http_conn_request(struct evhttp_request *req, int *status);

/*
 * Once per process before listening: raises the soft open-file limit towards
 * max_conns plus room for everything else, and sets aside the descriptor
 * that lets a connection be accepted (and closed) when none is left.
 */
void http_conn_init(long max_conns);

#endif
