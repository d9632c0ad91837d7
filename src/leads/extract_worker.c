#include "extract_worker.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "http_client.h"
#include "json.h"
#include "lead_extract.h"
#include "log.h"
#include "metrics.h"
#include "referral.h"
#include "worker.h"
#include "xalloc.h"

/* Without anything due sooner, look for due work this often: new messages
 * arrive without a notification (extraction is not latency critical, and a
 * NOTIFY per message would cost the ingest path), and leases run out. */
#define POLL_MS 1000
/* How many conversations one claim takes at most (the slots bound it
 * first). */
#define CLAIM_BATCH 64
/* How long a claim holds without renewal; renewed every third of it. */
#define LEASE_SECONDS 30
/* Failed attempts in a row wait BACKOFF_SECONDS, doubled each time (at
 * most an hour, in SQL); after MAX_FAILURES the messages are passed over. */
#define BACKOFF_SECONDS 30
#define MAX_FAILURES    8

enum step { STEP_REQUEST, STEP_STORE, STEP_FAIL };

/* One conversation's extraction in progress; listed by the loop. */
struct job {
	struct worker_job job; /* first: the loop's part (worker.h) */
	struct extract_worker *w;
	char ctx[160]; /* log context */
	enum step step;
	char *conversation_id, *user_id;
	int through;      /* last sequence_no the transcript covers */
	int new_messages; /* customer messages since the last extraction */
	char *body;       /* the request, built once from the transcript */
	/* The agent handed the conversation to a person (conversations.
	 * escalated_at): the lead says so whatever the model answered. */
	bool escalated;
	char *lead; /* the validated lead as JSON, until stored */
	char tag[8];
	int total;
	const char *reason; /* why the attempt failed: a failures label */
	const char *detail; /* and what exactly (static text) */
	const char *field;
};

struct extract_worker {
	struct app *app;
	struct http_client *http;
	struct worker *loop; /* claims, wakes, leases (worker.h) */
	const char *owner;   /* the loop's */
	int slots;           /* most jobs at once: our share of openai.max_in_flight */
	long backoff_seconds;
};

static void run(struct job *j);

static void count_outcome(const char *outcome)
{
	char labels[64];
	snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
	metrics_add("parley_extractions_total", labels, 1);
}

static void count_failure(const char *reason)
{
	char labels[64];
	snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
	metrics_add("parley_extraction_failures_total", labels, 1);
}

static void set_gauge(struct extract_worker *w)
{
	metrics_set("parley_extractions_in_progress", NULL, worker_active(w->loop));
}

/* ops->free_job (worker_job_free). */
static void free_job(struct worker_job *job)
{
	struct job *j = (struct job *)job;
	struct extract_worker *w = j->w;
	if (!worker_closing(w->loop))
		set_gauge(w);
	free(j->conversation_id);
	free(j->user_id);
	free(j->body);
	free(j->lead);
	free(j);
}

/* The job is over (done, failed or abandoned): make room and look for more
 * (no notification tells of new work, so every end claims). */
static void job_done(struct job *j)
{
	worker_job_done(&j->job, true);
}

static void go(struct job *j, enum step s)
{
	j->step = s;
	j->job.db_tries = 0;
	run(j);
}

static void attempt_failed(struct job *j, const char *reason, const char *detail,
			   const char *field);

static const char *step_name(enum step s)
{
	static const char *const names[] = {"request", "store", "fail"};
	return names[s];
}

/*
 * A database step failed (worker_db_failed decides and logs): a transient
 * error is tried again a little later, and after too many tries the job is
 * given up to lease expiry. A refusal fails the attempt at once — a refused
 * store is a failed attempt (its credits back, the next one later, as for
 * any failure); a refused failure record gives the job up.
 */
static void db_failed(struct job *j, const char *err)
{
	switch (worker_job_db_failed(&j->job, step_name(j->step), err)) {
	case WORKER_DB_DROP:
	case WORKER_DB_RETRY: return;
	case WORKER_DB_REFUSED:
		if (j->step == STEP_STORE) {
			attempt_failed(j, "database", "the database refused the lead", NULL);
			return;
		}
		break;
	case WORKER_DB_GIVE_UP: break;
	}
	count_outcome("abandoned");
	job_done(j);
}

/* The attempt failed: store nothing, count it, and let SQL schedule the
 * next one (and give the credits back). */
static void attempt_failed(struct job *j, const char *reason, const char *detail, const char *field)
{
	j->reason = reason;
	j->detail = detail;
	j->field = field;
	count_failure(reason);
	go(j, STEP_FAIL);
}

/* ---- steps ------------------------------------------------------------ */

/* A database step answered: true to go on with its row. Otherwise the job
 * went on or ended here: a failed step (db_failed), or a claim lost
 * meanwhile (SQL NULL: our lease ran out and someone else has the
 * conversation now; theirs is the extraction of these messages). */
static bool step_answered(struct job *j, PGresult *res, const char *err)
{
	if (err) {
		db_failed(j, err);
		return false;
	}
	if (!PQgetisnull(res, 0, 0))
		return true;
	if (j->step == STEP_STORE)
		log_warn(j->ctx, "claim lost before the extraction was stored; dropping it");
	else
		log_warn(j->ctx, "extraction %s (%s); the claim was lost meanwhile", j->reason,
			 j->detail);
	count_outcome("lost_claim");
	job_done(j);
	return false;
}

static void on_failed_recorded(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;
	if (!step_answered(j, res, err))
		return;
	cJSON *r = cJSON_Parse(PQgetvalue(res, 0, 0));
	int failures =
	    cJSON_GetObjectItem(r, "failures") ? cJSON_GetObjectItem(r, "failures")->valueint : 0;
	double retry_in = cJSON_GetNumberValue(cJSON_GetObjectItem(r, "retry_in"));
	bool gave_up = cJSON_IsTrue(cJSON_GetObjectItem(r, "gave_up"));
	cJSON_Delete(r);
	if (gave_up) {
		log_error(
		    j->ctx,
		    "extraction %s (%s%s%s); %d failures in a row: giving up on these messages",
		    j->reason, j->field ? j->field : "", j->field ? ": " : "", j->detail, failures);
		count_outcome("gave_up");
	} else {
		log_warn(j->ctx, "extraction %s (%s%s%s); failure %d, next attempt in %.0f s",
			 j->reason, j->field ? j->field : "", j->field ? ": " : "", j->detail,
			 failures, retry_in);
	}
	job_done(j);
}

static void on_stored(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;
	if (!step_answered(j, res, err))
		return;
	char labels[32];
	snprintf(labels, sizeof labels, "tag=\"%s\"", j->tag);
	metrics_add("parley_extraction_tags_total", labels, 1);
	count_outcome("stored");
	log_info(j->ctx, "lead extracted: %s (%d/15) after %d new customer message(s)", j->tag,
		 j->total, j->new_messages);
	job_done(j);
}

static void on_response(void *arg, const struct http_resp *resp, const char *err)
{
	struct job *j = arg;
	struct extract_worker *w = j->w;
	if (worker_job_closing(&j->job))
		return;
	long max_attempts = w->app->cfg.replies_max_attempts;
	char *failure = NULL;
	switch (worker_job_upstream(&j->job, "openai", resp, err, max_attempts, &failure)) {
	case WORKER_UP_RETRYING: return;
	case WORKER_UP_FAILED:
		log_warn(j->ctx, "openai failed after %d attempt(s): %s", j->job.attempt + 1,
			 failure);
		free(failure);
		attempt_failed(j, "upstream", "the OpenAI request failed", NULL);
		return;
	case WORKER_UP_OK: break;
	}

	struct lead lead;
	const char *why, *field;
	enum lead_outcome o = lead_extract_parse(resp->body, resp->body_len, &lead, &why, &field);
	if (o == LEAD_RETRYABLE && worker_job_retry(&j->job, "openai", why, max_attempts))
		return;
	if (o != LEAD_OK) {
		attempt_failed(j, o == LEAD_RETRYABLE ? "failed" : lead_outcome_name(o), why,
			       field);
		return;
	}
	if (j->escalated)
		lead_mark_escalated(&lead);
	j->lead = lead_to_json(&lead);
	snprintf(j->tag, sizeof j->tag, "%s", lead.tag);
	j->total = lead.total_score;
	lead_free(&lead);
	go(j, STEP_STORE);
}

static void post(struct job *j)
{
	const struct config *cfg = &j->w->app->cfg;
	char *url = xasprintf("%s/responses", cfg->openai_url);
	worker_job_post(&j->job, j->w->http, url, cfg->openai_api_key, j->body,
			cfg->openai_timeout_seconds * 1000, false, on_response);
	free(url);
}

/* Runs the job's current step; every step ends in exactly one callback. */
static void run(struct job *j)
{
	struct extract_worker *w = j->w;
	char through[24];
	snprintf(through, sizeof through, "%d", j->through);
	switch (j->step) {
	case STEP_REQUEST: post(j); return;
	case STEP_STORE: {
		const char *p[] = {j->conversation_id, w->owner, through, j->lead};
		db_query(w->app->db,
			 "SELECT parley_store_extraction($1, $2, $3::integer, $4::jsonb)", 4, p,
			 on_stored, j);
		return;
	}
	case STEP_FAIL: {
		char credits[24], backoff[24], max[24];
		snprintf(credits, sizeof credits, "%ld", w->app->cfg.extraction_credits);
		snprintf(backoff, sizeof backoff, "%ld", w->backoff_seconds);
		snprintf(max, sizeof max, "%d", MAX_FAILURES);
		const char *p[] = {j->conversation_id, w->owner, through, credits, backoff, max};
		db_query(w->app->db,
			 "SELECT parley_fail_extraction($1, $2, $3::integer, $4::integer,"
			 " $5::integer, $6::integer)",
			 6, p, on_failed_recorded, j);
		return;
	}
	}
}

/* ---- claiming --------------------------------------------------------- */

static int int_field(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valueint : 0;
}

static void start_job(void *ctx, const cJSON *o)
{
	struct extract_worker *w = ctx;
	struct job *j = xcalloc(1, sizeof *j);
	j->w = w;
	worker_job_add(w->loop, &j->job, j->ctx);
	set_gauge(w);
	j->conversation_id = json_dup_string(o, "conversation_id");
	j->user_id = json_dup_string(o, "user_id");
	j->through = int_field(o, "through");
	j->new_messages = int_field(o, "new_messages");
	snprintf(j->ctx, sizeof j->ctx, "conv=%s tenant=%s", j->conversation_id,
		 j->user_id ? j->user_id : "?");

	if (cJSON_IsTrue(cJSON_GetObjectItem(o, "no_credits"))) {
		/* The claim passed these messages over already. */
		log_warn(j->ctx, "tenant has too few credits: no lead extraction");
		count_outcome("no_credits");
		worker_job_free(&j->job);
		return;
	}

	const cJSON *transcript = cJSON_GetObjectItem(o, "transcript");
	size_t n = (size_t)cJSON_GetArraySize(transcript);
	struct lead_message *msgs = xcalloc(n ? n : 1, sizeof *msgs);
	char **ads = xcalloc(n ? n : 1, sizeof *ads);
	size_t i = 0;
	const cJSON *it;
	cJSON_ArrayForEach(it, transcript)
	{
		msgs[i].from_customer = cJSON_IsTrue(cJSON_GetObjectItem(it, "customer"));
		msgs[i].by_person =
		    strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(it, "author"))
			       ? cJSON_GetStringValue(cJSON_GetObjectItem(it, "author"))
			       : "",
			   "human") == 0;
		msgs[i].text = cJSON_GetStringValue(cJSON_GetObjectItem(it, "text"));
		/* Where the lead came from (parley_claim_extractions, 0014). */
		msgs[i].ad = ads[i] =
		    referral_extraction_context(cJSON_GetObjectItem(it, "referral"));
		i++;
	}
	const struct config *cfg = &w->app->cfg;
	/* The handoff state (parley_claim_extractions; handoff.sql). */
	const cJSON *h = cJSON_GetObjectItem(o, "handoff");
	j->escalated = cJSON_IsTrue(cJSON_GetObjectItem(h, "escalated"));
	char *note = lead_handoff_note(j->escalated,
				       cJSON_GetStringValue(cJSON_GetObjectItem(h, "paused_until")),
				       cJSON_GetStringValue(cJSON_GetObjectItem(h, "reason")));
	j->body =
	    lead_extract_request_with(cfg->extraction_prompt_id, cfg->openai_model, msgs, n, note);
	free(note);
	for (i = 0; i < n; i++)
		free(ads[i]);
	free(ads);
	free(msgs);
	log_debug(j->ctx, "extracting a lead from %zu message(s)%s", n,
		  cJSON_IsTrue(cJSON_GetObjectItem(o, "active")) ? "" : " (archived)");
	go(j, STEP_REQUEST);
}

static void run_job(struct worker_job *job)
{
	run((struct job *)job);
}

static void claim_params(void *ctx, struct worker_params *p)
{
	const struct config *cfg = &((struct extract_worker *)ctx)->app->cfg;
	worker_param_long(p, cfg->extraction_every_messages);
	worker_param_long(p, cfg->extraction_idle_seconds);
	worker_param_long(p, cfg->extraction_credits);
}

static void next_due_params(void *ctx, struct worker_params *p)
{
	worker_param_long(p, ((struct extract_worker *)ctx)->app->cfg.extraction_idle_seconds);
}

static long room(void *ctx)
{
	struct extract_worker *w = ctx;
	return w->slots - worker_active(w->loop);
}

static const struct worker_ops ops = {
    .name = "extraction",
    .step_prefix = "extraction ",
    /* Started at once, within the slots: nothing to hand back at a stop. */
    .claim_sql = "SELECT parley_claim_extractions($1, $2::integer, $3::integer, $4::integer,"
		 " $5::integer, $6::integer)",
    .claim_params = claim_params,
    .room = room,
    .claim_batch = CLAIM_BATCH,
    .start_job = start_job,
    /* No notification channel: new messages are found by polling. */
    .next_due_sql = "SELECT parley_next_extraction_ms($1::integer)",
    .next_due_params = next_due_params,
    .poll_ms = POLL_MS,
    .renew_sql = "SELECT parley_renew_extraction_leases($1, $2::integer)",
    .lease_seconds = LEASE_SECONDS,
    .run_job = run_job,
    .free_job = free_job,
};

static void declare_metrics(void)
{
	metrics_declare("parley_extractions_total", METRIC_COUNTER,
			"Lead extractions by outcome (stored, no_credits, gave_up, lost_claim, "
			"abandoned).");
	metrics_declare("parley_extraction_failures_total", METRIC_COUNTER,
			"Failed extraction attempts by reason (invalid, refused, incomplete, "
			"failed, upstream, database); each is retried later.");
	metrics_declare("parley_db_step_failures_total", METRIC_COUNTER,
			"Reply and extraction database steps that failed with an error retrying "
			"cannot fix, by worker, step and SQLSTATE; each ended its job as failed.");
	metrics_declare("parley_extraction_tags_total", METRIC_COUNTER,
			"Stored extractions by lead_status_tag.");
	metrics_declare("parley_extractions_in_progress", METRIC_GAUGE,
			"Lead extractions this process is producing.");
	/* Shared with the reply worker; declaring twice is harmless. */
	metrics_declare("parley_upstream_requests_total", METRIC_COUNTER,
			"Requests to OpenAI and the Graph API by target and status class.");
	metrics_declare("parley_upstream_duration_seconds", METRIC_HISTOGRAM,
			"Time on the wire of requests to OpenAI and the Graph API.");
}

struct extract_worker *extract_worker_start(struct app *app, struct http_client *http)
{
	const struct config *cfg = &app->cfg;
	/* Extraction is on by default (README, Lead extraction), with built-in instructions, and
	 * openai.model is sent only when set. OpenAI refuses a response without
	 * a model (a stored prompt would carry one), so say so once; a stand-in
	 * or a compatible server may not need one. */
	if (!*cfg->openai_model && !*cfg->extraction_prompt_id)
		log_warn("extraction",
			 "lead extraction has no model: OpenAI refuses its "
			 "requests until openai.model or extraction.prompt_id is set");
	declare_metrics();
	struct extract_worker *w = xcalloc(1, sizeof *w);
	w->app = app;
	w->http = http;
	w->slots = (int)(cfg->openai_max_in_flight / 4);
	if (w->slots < 1)
		w->slots = 1;
	w->backoff_seconds = BACKOFF_SECONDS;
	/* Tests of retries cannot wait that long. */
	const char *s = getenv("PARLEY_TEST_EXTRACTION_BACKOFF_SECONDS");
	if (s && atol(s) > 0)
		w->backoff_seconds = atol(s);
	w->loop = worker_new(&ops, w, app->base, app->db);
	w->owner = worker_owner_of(w->loop);
	set_gauge(w);
	log_info("extraction",
		 "lead extraction on: every %ld customer messages after %ld s quiet, "
		 "up to %d at once",
		 cfg->extraction_every_messages, cfg->extraction_idle_seconds, w->slots);
	return w;
}

struct worker *extract_worker_loop(const struct extract_worker *w)
{
	return w->loop;
}

void extract_worker_free(struct extract_worker *w)
{
	if (!w)
		return;
	worker_close(w->loop);
	worker_free(w->loop);
	free(w);
}
