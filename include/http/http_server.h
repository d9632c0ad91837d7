#ifndef PARLEY_HTTP_SERVER_H
#define PARLEY_HTTP_SERVER_H
/*
 * The HTTP front: evhttp listeners, routing by path and method (404 and 405
 * as JSON), and the reply helpers every handler uses. A handler must answer
 * its request exactly once, now or later, through http_reply_*; the
 * in-flight count that graceful shutdown waits for is kept here.
 */
#include <event2/http.h>
#include <stddef.h>

#include "client_addr.h"

struct app;
struct http_server;

/* Answers the request; req must not be used afterwards. */
void http_reply(struct evhttp_request *req, int code, const char *content_type, const char *body,
		size_t len);
void http_reply_json(struct evhttp_request *req, int code, const char *json);
/* {"error": msg} */
void http_reply_error(struct evhttp_request *req, int code, const char *msg);

/* Binds server.listen (and server.internal_listen when set). Returns NULL after
 * logging why when an address cannot be bound. */
struct http_server *http_server_start(struct app *app);
/* Stops accepting new connections; requests in flight still get answers. */
void http_server_stop_accepting(struct http_server *srv);
void http_server_free(struct http_server *srv);
/* Requests routed and not yet answered, across all listeners. */
int http_server_in_flight(void);

/*
 * The key rate limits count the request's client under (client_addr.h): the
 * TCP peer's address, or when the peer is in server.trusted_proxies the
 * client its X-Forwarded-For names; IPv6 per /64.
 */
void http_client_key(struct evhttp_request *req, char out[CLIENT_ADDR_KEY_MAX]);

/* Why listening failed, from bind's errno, in words that say what to do
 * (0: the name did not resolve). */
const char *http_listen_reason(int err);

#endif
