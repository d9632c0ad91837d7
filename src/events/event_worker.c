/*
 * Delivering events out: see include/events/event_worker.h.
 *
 * A job is one attempt of one delivery: claimed (the claim numbered the
 * attempt), POSTed, recorded. Nothing about an attempt lives only in this
 * process: a crash leaves the lease to run out and the delivery is claimed
 * again as a new attempt (at least once; receivers dedupe on webhook-id).
 */
#include "event_worker.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "db.h"
#include "event_sign.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"
#include "worker.h"
#include "xalloc.h"

/* Look for due work at least this often (another process's in-flight
 * deliveries end without a notification to us). */
#define POLL_MS       1000
#define CLAIM_BATCH   64
#define LEASE_SECONDS 60
#define CONNECT_MS    5000
/* SPEC 10: at most 64 KiB of a response is read. */
#define MAX_RESPONSE (64 * 1024)

/* Backoff between attempts: full jitter, 1 s floor, 5 s doubling to an
 * hour; a Retry-After is honoured up to an hour. */
static const struct retry_schedule schedule = {
    .base_ms = 5000,
    .cap_ms = 3600L * 1000,
    .floor_ms = 1000,
    .max_hint_ms = 3600L * 1000,
};

enum step { STEP_POST, STEP_RECORD };

/* One attempt in progress; listed by the loop. */
struct job {
	struct worker_job job; /* first: the loop's part (worker.h) */
	struct event_worker *w;
	char ctx[128];
	enum step step;
	char *delivery_id, *endpoint_id, *url, *secret, *previous, *event_id, *type, *body;
	int attempt;
	double created; /* the event's, Unix seconds */
	double started;
	/* the outcome, until recorded */
	long status;
	char *error;
	long duration_ms;
	const char *verdict; /* "ok", "retry", "final" */
	long retry_ms;
};

struct event_worker {
	struct app *app;
	struct http_client *http;
	struct worker *loop;
	const char *owner;
	struct event *janitor; /* pruning and gauges */
	long long counted_seq; /* events up to this outbox seq are in events_written_total */
	/* "An hour" of events.max_age_hours and disable_after_hours and a
	 * 24th of a keep day, in seconds: 3600, or PARLEY_TEST_EVENTS_HOUR_SECONDS
	 * so that tests of auto-disable and pruning fit in seconds. */
	long hour_seconds;
};

static void run(struct job *j);

static void count(const char *name, const char *label, const char *value)
{
	char labels[96];
	snprintf(labels, sizeof labels, "%s=\"%s\"", label, value);
	metrics_add(name, labels, 1);
}

/* ops->free_job (worker_job_free). */
static void free_job(struct worker_job *job)
{
	struct job *j = (struct job *)job;
	free(j->delivery_id);
	free(j->endpoint_id);
	free(j->url);
	if (j->secret)
		xfree_secret(j->secret);
	if (j->previous)
		xfree_secret(j->previous);
	free(j->event_id);
	free(j->type);
	free(j->body);
	free(j->error);
	free(j);
}

static void job_done(struct job *j, bool still_due)
{
	worker_job_done(&j->job, still_due);
}

static void db_failed(struct job *j, const char *err)
{
	switch (worker_job_db_failed(&j->job, "record", err)) {
	case WORKER_DB_DROP:
	case WORKER_DB_RETRY: return;
	case WORKER_DB_REFUSED:
	case WORKER_DB_GIVE_UP: break;
	}
	/* The lease runs out and the delivery is attempted again. */
	count("parley_event_deliveries_total", "outcome", "abandoned");
	job_done(j, false);
}

static void on_recorded(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;
	if (err) {
		db_failed(j, err);
		return;
	}
	if (PQgetisnull(res, 0, 0)) {
		log_warn(j->ctx,
			 "attempt %d: the lease ran out before it was recorded; "
			 "the delivery is attempted again",
			 j->attempt);
		count("parley_event_deliveries_total", "outcome", "lost_claim");
		job_done(j, true);
		return;
	}
	cJSON *r = cJSON_Parse(PQgetvalue(res, 0, 0));
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(r, "state"));
	state = state ? state : "?";
	bool disabled = cJSON_IsTrue(cJSON_GetObjectItem(r, "disabled"));
	double latency = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "latency"));
	if (strcmp(state, "delivered") == 0) {
		count("parley_event_deliveries_total", "outcome", "delivered");
		metrics_observe("parley_event_delivery_latency_seconds", NULL, latency);
		log_debug(j->ctx, "delivered (attempt %d, HTTP %ld)", j->attempt, j->status);
	} else if (strcmp(state, "failed") == 0) {
		count("parley_event_deliveries_total", "outcome", "failed");
		log_warn(j->ctx, "delivery failed for good after %d attempt(s): %s", j->attempt,
			 j->error ? j->error : "?");
	} else {
		count("parley_event_deliveries_total", "outcome", "retry");
		log_info(j->ctx, "attempt %d failed (%s); next in %ld ms", j->attempt,
			 j->error ? j->error : "?", j->retry_ms);
	}
	if (disabled)
		log_warn(j->ctx, "endpoint %s disabled: every delivery failed for %ld hour(s)",
			 j->endpoint_id, j->w->app->cfg.events_disable_after_hours);
	cJSON_Delete(r);
	/* Whatever ended, a later event of this conversation may be claimable. */
	job_done(j, true);
}

static void on_response(void *arg, const struct http_resp *resp, const char *err)
{
	struct job *j = arg;
	if (worker_job_closing(&j->job))
		return;
	j->duration_ms = (long)((clock_mono() - j->started) * 1000);
	j->status = err ? 0 : resp->status;
	worker_count_upstream("events", resp, err, clock_mono() - j->started);
	if (err) {
		j->verdict = "retry";
		j->error = xasprintf("%s: %s", http_err_kind_name(resp->err_kind), err);
	} else if (resp->status >= 200 && resp->status < 300) {
		j->verdict = "ok";
	} else if (resp->status == 408 || resp->status == 429 || resp->status >= 500) {
		j->verdict = "retry";
		j->error = xasprintf("HTTP %ld", resp->status);
	} else {
		/* Other 4xx (and 1xx/3xx: redirects are not followed) are final. */
		j->verdict = "final";
		j->error = xasprintf("HTTP %ld", resp->status);
	}
	if (strcmp(j->verdict, "retry") == 0)
		j->retry_ms =
		    retry_schedule_delay_ms(&schedule, j->attempt, err ? NULL : resp->retry_after,
					    err ? NULL : resp->retry_after_ms, (unsigned)rand());
	j->step = STEP_RECORD;
	j->job.db_tries = 0;
	run(j);
}

static void post(struct job *j)
{
	struct event_worker *w = j->w;
	const struct config *cfg = &w->app->cfg;
	long long ts = (long long)time(NULL);
	size_t len = strlen(j->body);
	/* An endpoint added while events.allow_http was on keeps its URL; the
	 * setting is what counts now. */
	if (!cfg->events_allow_http && strncasecmp(j->url, "https://", 8) != 0) {
		j->verdict = "final";
		j->error = xstrdup("the URL is not https (events.allow_http is off)");
		j->step = STEP_RECORD;
		run(j);
		return;
	}
	char *sig = event_signature_header(j->secret, j->previous, j->event_id, ts, j->body, len);
	if (!sig) {
		/* A secret that does not decode (edited by hand): final. */
		j->verdict = "final";
		j->error = xstrdup("the endpoint's secret is malformed");
		j->step = STEP_RECORD;
		run(j);
		return;
	}
	char *h_id = xasprintf("webhook-id: %s", j->event_id);
	char *h_ts = xasprintf("webhook-timestamp: %lld", ts);
	char *h_sig = xasprintf("webhook-signature: %s", sig);
	char *h_type = xasprintf("parley-event-type: %s", j->type);
	const char *headers[] = {"Content-Type: application/json", h_id, h_ts, h_sig, h_type};
	struct http_req req = {
	    .method = "POST",
	    .url = j->url,
	    .headers = headers,
	    .n_headers = sizeof headers / sizeof headers[0],
	    .body = j->body,
	    .body_len = len,
	    .connect_timeout_ms = CONNECT_MS,
	    .timeout_ms = cfg->events_timeout_seconds * 1000,
	    .max_response_bytes = MAX_RESPONSE,
	    .truncate_response = true,
	    .public_only = !cfg->events_allow_private_targets,
	};
	j->started = clock_mono();
	http_request(w->http, &req, on_response, j);
	xfree_secret(h_sig);
	xfree_secret(sig);
	free(h_id);
	free(h_ts);
	free(h_type);
}

static void run(struct job *j)
{
	struct event_worker *w = j->w;
	const struct config *cfg = &w->app->cfg;
	switch (j->step) {
	case STEP_POST: post(j); return;
	case STEP_RECORD: {
		char attempt[24], status[24], dur[24], retry[24], age[32], disable[32];
		snprintf(attempt, sizeof attempt, "%d", j->attempt);
		snprintf(status, sizeof status, "%ld", j->status);
		snprintf(dur, sizeof dur, "%ld", j->duration_ms);
		snprintf(retry, sizeof retry, "%ld", j->retry_ms);
		snprintf(age, sizeof age, "%ld", cfg->events_max_age_hours * w->hour_seconds);
		snprintf(disable, sizeof disable, "%ld",
			 cfg->events_disable_after_hours * w->hour_seconds);
		const char *p[] = {j->delivery_id, w->owner, attempt, status, j->error, dur,
				   j->verdict,     retry,    age,     disable};
		db_query(
		    w->app->db,
		    "SELECT parley_record_event_attempt($1::bigint, $2, $3::integer, $4::integer,"
		    " $5, $6::integer, $7, $8::bigint, $9::bigint, $10::bigint)",
		    10, p, on_recorded, j);
		return;
	}
	}
}

/* ---- claiming --------------------------------------------------------- */

static void start_job(void *ctx, const cJSON *o)
{
	struct event_worker *w = ctx;
	struct job *j = xcalloc(1, sizeof *j);
	j->w = w;
	worker_job_add(w->loop, &j->job, j->ctx);
	const cJSON *id = cJSON_GetObjectItem(o, "delivery_id");
	j->delivery_id = xasprintf("%.0f", cJSON_GetNumberValue(id));
	j->attempt = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "attempt"));
	j->created = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "created"));
	j->endpoint_id = json_dup_string(o, "endpoint_id");
	j->url = json_dup_string(o, "url");
	j->secret = json_dup_string(o, "secret");
	j->previous = json_dup_string(o, "previous_secret");
	j->event_id = json_dup_string(o, "event_id");
	j->type = json_dup_string(o, "type");
	j->body = json_dup_string(o, "body");
	snprintf(j->ctx, sizeof j->ctx, "events endpoint=%s event=%s",
		 j->endpoint_id ? j->endpoint_id : "?", j->event_id ? j->event_id : "?");
	if (!j->url || !j->secret || !j->event_id || !j->type || !j->body) {
		log_error(j->ctx, "claimed delivery %s is incomplete; leaving it to its lease",
			  j->delivery_id);
		job_done(j, false);
		return;
	}
	j->step = STEP_POST;
	run(j);
}

static void run_job(struct worker_job *job)
{
	run((struct job *)job);
}

static void claim_params(void *ctx, struct worker_params *p)
{
	struct event_worker *w = ctx;
	worker_param_long(p, w->app->cfg.events_max_in_flight_per_endpoint);
}

static long room(void *ctx)
{
	struct event_worker *w = ctx;
	return EVENT_WORKER_SLOTS - worker_active(w->loop);
}

static long notify_delay_ms(void *ctx)
{
	(void)ctx;
	return 0;
}

static const struct worker_ops ops = {
    .name = "events",
    .step_prefix = "event delivery ",
    .claim_sql = "SELECT parley_claim_event_deliveries($1, $2::integer, $3::integer, $4::integer)",
    .claim_params = claim_params,
    .room = room,
    .claim_batch = CLAIM_BATCH,
    .start_job = start_job,
    .next_due_sql = "SELECT parley_next_event_delivery_ms()",
    .poll_ms = POLL_MS,
    .renew_sql = "SELECT parley_renew_event_leases($1, $2::integer)",
    .notify_channel = "parley_event_due",
    .notify_delay_ms = notify_delay_ms,
    .lease_seconds = LEASE_SECONDS,
    .run_job = run_job,
    .free_job = free_job,
};

static void declare_metrics(void)
{
	metrics_declare("parley_event_deliveries_total", METRIC_COUNTER,
			"Event delivery attempts by outcome (delivered, retry, failed, lost_claim, "
			"abandoned).");
	metrics_declare("parley_event_delivery_latency_seconds", METRIC_HISTOGRAM,
			"Time from an event to its 2xx, retries included.");
	metrics_declare("parley_event_backlog", METRIC_GAUGE,
			"Pending deliveries per endpoint that failed at least once.");
	metrics_declare("parley_event_endpoints_disabled", METRIC_GAUGE,
			"Endpoints disabled (by an operator or after "
			"events.disable_after_hours of failures).");
	metrics_declare("parley_events_written_total", METRIC_COUNTER,
			"Events written to the outbox by type (by any process), counted "
			"from the outbox every minute.");
	metrics_declare("parley_events_pruned_total", METRIC_COUNTER,
			"Events deleted after events.keep_days, with their deliveries and "
			"attempts.");
}

static void on_pruned(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	if (err) {
		log_warn("events", "pruning events failed: %s", err);
		return;
	}
	long n = atol(PQgetvalue(res, 0, 0));
	if (n > 0) {
		metrics_add("parley_events_pruned_total", NULL, (double)n);
		log_info("events", "pruned %ld events", n);
	}
}

static void on_backlog(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	if (err) {
		log_warn("events", "reading the backlog failed: %s", err);
		return;
	}
	long disabled = 0;
	for (int i = 0; i < PQntuples(res); i++) {
		char labels[96];
		snprintf(labels, sizeof labels, "endpoint=\"%.60s\"", PQgetvalue(res, i, 0));
		metrics_set("parley_event_backlog", labels, atof(PQgetvalue(res, i, 2)));
		if (strcmp(PQgetvalue(res, i, 1), "t") == 0)
			disabled++;
	}
	metrics_set("parley_event_endpoints_disabled", NULL, (double)disabled);
}

/* Events are written by other transactions (any process, the command
 * line): they are counted from the outbox, those older than 10 s past the
 * last seq counted. The first pass only finds where to start. An event
 * whose transaction committed more than 10 s after it was written, behind
 * a later one already counted, is missed: the counter is close, not exact
 * (README, Events out, Metrics). Every process counts every event. */
static void on_written(void *arg, PGresult *res, const char *err)
{
	struct event_worker *w = arg;
	if (err)
		return;
	for (int i = 0; i < PQntuples(res); i++) {
		long long seq = atoll(PQgetvalue(res, i, 2));
		if (seq > w->counted_seq)
			w->counted_seq = seq;
		if (PQgetisnull(res, i, 0))
			continue;
		char labels[96];
		snprintf(labels, sizeof labels, "type=\"%.40s\"", PQgetvalue(res, i, 0));
		metrics_add("parley_events_written_total", labels, atof(PQgetvalue(res, i, 1)));
	}
}

static void count_written(struct event_worker *w)
{
	char last[32];
	snprintf(last, sizeof last, "%lld", w->counted_seq);
	const char *p[] = {last};
	if (w->counted_seq < 0)
		db_query(w->app->db,
			 "SELECT NULL, 0, coalesce(max(seq), 0) FROM event_outbox"
			 " WHERE created_at < now() - interval '10 seconds'",
			 0, NULL, on_written, w);
	else
		db_query(w->app->db,
			 "SELECT type, count(*), max(seq) FROM event_outbox"
			 " WHERE seq > $1::bigint AND created_at < now() - interval '10 seconds'"
			 " GROUP BY type",
			 1, p, on_written, w);
}

static void janitor_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct event_worker *w = arg;
	if (worker_closing(w->loop) || db_pool_ready(w->app->db) == 0)
		return;
	char keep[32];
	snprintf(keep, sizeof keep, "%ld", w->app->cfg.events_keep_days * 24 * w->hour_seconds);
	const char *p[] = {keep};
	db_query(w->app->db, "SELECT parley_prune_events($1::bigint, 10000)", 1, p, on_pruned, w);
	db_query(w->app->db, "SELECT * FROM parley_event_backlog()", 0, NULL, on_backlog, w);
	count_written(w);
}

struct event_worker *event_worker_start(struct app *app)
{
	declare_metrics();
	struct event_worker *w = xcalloc(1, sizeof *w);
	w->app = app;
	w->hour_seconds = 3600;
	w->counted_seq = -1;
	const char *s = getenv("PARLEY_TEST_EVENTS_HOUR_SECONDS");
	if (s && atol(s) > 0)
		w->hour_seconds = atol(s);
	w->http = http_client_new(app->base, EVENT_WORKER_SLOTS);
	w->loop = worker_new(&ops, w, app->base, app->db);
	w->owner = worker_owner_of(w->loop);
	/* Every minute, like serve.c's janitor (sooner when tests shorten
	 * the hour). */
	long every = w->hour_seconds < 60 ? w->hour_seconds : 60;
	w->janitor = event_new(app->base, -1, EV_PERSIST, janitor_tick, w);
	struct timeval tv = {every, 0};
	event_add(w->janitor, &tv);
	log_info("events", "event delivery on: up to %d at once, %ld per endpoint",
		 EVENT_WORKER_SLOTS, app->cfg.events_max_in_flight_per_endpoint);
	return w;
}

struct worker *event_worker_loop(const struct event_worker *w)
{
	return w->loop;
}

void event_worker_free(struct event_worker *w)
{
	if (!w)
		return;
	worker_close(w->loop);
	event_free(w->janitor);
	/* Requests in flight complete with "shutting down" (on_response frees
	 * their jobs: the worker is closing); their leases run out. */
	http_client_free(w->http);
	worker_free(w->loop);
	free(w);
}
