/* GET /healthz, /readyz and /metrics (docs/protocol.md). */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "handlers.h"
#include "http_client.h"
#include "http_server.h"
#include "metrics.h"
#include "reply_worker.h"
#include "worker.h"

void health_handle_healthz(struct app *app, struct evhttp_request *req)
{
	(void)app;
	/* Answering at all proves the loop runs. */
	http_reply_json(req, 200, "{\"status\":\"ok\"}\n");
}

static void on_ready(void *arg, PGresult *res, const char *err)
{
	struct evhttp_request *req = arg;
	(void)res;
	if (err)
		http_reply_error(req, 503, "database unavailable");
	else
		http_reply_json(req, 200, "{\"status\":\"ready\"}\n");
}

void health_handle_readyz(struct app *app, struct evhttp_request *req)
{
	if (app->stopping) {
		http_reply_error(req, 503, "shutting down");
		return;
	}
	/* A real round trip: a pool that believes itself connected to a
	 * server that went away finds out here. */
	db_query(app->db, "SELECT 1", 0, NULL, on_ready, req);
}

void health_handle_metrics(struct app *app, struct evhttp_request *req)
{
	metrics_set("parley_db_connections", "state=\"ready\"", db_pool_ready(app->db));
	metrics_set("parley_db_connections", "state=\"busy\"", db_pool_busy(app->db));
	metrics_set("parley_db_connections", "state=\"configured\"", db_pool_size(app->db));
	metrics_set("parley_db_queries_queued", NULL, db_pool_queued(app->db));
	metrics_set("parley_http_requests_in_flight", NULL, http_server_in_flight());
	if (app->replies) {
		metrics_set("parley_replies_in_progress", NULL,
			    worker_active(reply_worker_loop(app->replies)));
		metrics_set("parley_upstream_in_flight", "state=\"on_wire\"",
			    http_client_in_flight(app->upstream));
		metrics_set("parley_upstream_in_flight", "state=\"queued\"",
			    http_client_queued(app->upstream));
	}
	char *text = metrics_render();
	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
	free(text);
}
