#ifndef PARLEY_HANDLERS_H
#define PARLEY_HANDLERS_H
/* The request handlers the router in http_server.c dispatches to. */
#include <event2/http.h>

struct app;

void webhook_handle_get(struct app *app, struct evhttp_request *req);
void webhook_handle_post(struct app *app, struct evhttp_request *req);
void webchat_handle_sessions(struct app *app, struct evhttp_request *req);
void webchat_handle_messages_post(struct app *app, struct evhttp_request *req);
void webchat_handle_messages_get(struct app *app, struct evhttp_request *req);
void webchat_handle_read(struct app *app, struct evhttp_request *req);
void webchat_handle_options(struct app *app, struct evhttp_request *req);
void health_handle_healthz(struct app *app, struct evhttp_request *req);
void health_handle_readyz(struct app *app, struct evhttp_request *req);
void health_handle_metrics(struct app *app, struct evhttp_request *req);

#endif
