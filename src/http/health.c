/* GET /healthz, /readyz and /metrics (docs/protocol.md). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "handlers.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "metrics_catalog.h"
#include "reply_worker.h"
#include "worker.h"
#include "xalloc.h"

void health_handle_healthz(struct app *app, struct evhttp_request *req)
{
	(void)app;
	/* Answering at all proves the loop runs. */
	http_reply_json(req, 200, "{\"status\":\"ok\"}\n");
}

/*
 * Every load balancer in front of every process polls /readyz, often several
 * times a second; a query per poll would put their combined rate on the
 * database. The answer comes from the pool's state and the last probe, and a
 * probe (a real round trip: a pool that believes itself connected to a
 * server that went away finds out here) starts at most once a second.
 * Requests that arrive while a probe is due wait for its outcome.
 */
#define PROBE_EVERY_SECONDS 1.0

static struct {
	bool running;
	bool ok;        /* the last probe's outcome */
	bool done_once; /* ok means something */
	double started; /* monotonic seconds */
	struct evhttp_request **waiting;
	size_t nwaiting, cap;
} probe;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void answer_ready(struct evhttp_request *req, bool ready)
{
	if (ready)
		http_reply_json(req, 200, "{\"status\":\"ready\"}\n");
	else
		http_reply_error(req, 503, "database unavailable");
}

static void on_probe(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	(void)res;
	probe.running = false;
	probe.ok = err == NULL;
	probe.done_once = true;
	if (err)
		log_warn("health", "readiness probe failed: %s", err);
	/* Answers go out after the state is final: http_reply only queues. */
	for (size_t i = 0; i < probe.nwaiting; i++)
		answer_ready(probe.waiting[i], probe.ok);
	probe.nwaiting = 0;
}

void health_handle_readyz(struct app *app, struct evhttp_request *req)
{
	if (app->stopping) {
		http_reply_error(req, 503, "shutting down");
		return;
	}
	/* No connection up: not ready, and nothing to ask. Connections held
	 * by the schema check say why ("database has 11 of 13 migrations: run
	 * parley migrate"). */
	if (db_pool_ready(app->db) == 0) {
		const char *why = db_pool_held_why(app->db);
		if (why)
			http_reply_error(req, 503, why);
		else
			answer_ready(req, false);
		return;
	}
	/* Ready once serve has said so (the "ready" log line and READY=1), so
	 * that /readyz, the log and systemd never disagree. */
	if (!app->announced_ready) {
		http_reply_error(req, 503, "starting");
		return;
	}
	double now = now_seconds();
	bool fresh = probe.done_once && now - probe.started < PROBE_EVERY_SECONDS;
	if (fresh && !probe.running) {
		answer_ready(req, probe.ok);
		return;
	}
	if (probe.nwaiting == probe.cap) {
		probe.cap = probe.cap ? probe.cap * 2 : 16;
		probe.waiting = xrealloc(probe.waiting, probe.cap * sizeof *probe.waiting);
	}
	probe.waiting[probe.nwaiting++] = req;
	if (probe.running)
		return;
	probe.running = true;
	probe.started = now;
	log_debug("health", "readiness probe");
	db_query(app->db, "SELECT 1", 0, NULL, on_probe, NULL);
}

void health_handle_metrics(struct app *app, struct evhttp_request *req)
{
	/* What /readyz would answer now, without a probe of its own: the last
	 * probe's outcome (docs/alerts.yml, ParleyNotReady). */
	bool ready = !app->stopping && app->announced_ready && db_pool_ready(app->db) > 0 &&
		     (!probe.done_once || probe.ok);
	metrics_set("parley_ready", NULL, ready ? 1 : 0);
	metrics_set("parley_db_connections", "state=\"ready\"", db_pool_ready(app->db));
	metrics_set("parley_db_connections", "state=\"busy\"", db_pool_busy(app->db));
	metrics_set("parley_db_pool_size", NULL, db_pool_size(app->db));
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
	process_metrics_update();
	char *text = metrics_render();
	http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
	free(text);
}
