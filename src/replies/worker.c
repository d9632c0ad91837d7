/*
 * The claim loop the reply and extraction workers share: see include/replies/worker.h.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"
#include "xalloc.h"

/* "host:pid:random", the lease owner a worker writes into its claims. */
static void worker_owner(char *buf, size_t len)
{
	char host[64] = "host";
	gethostname(host, sizeof host - 1);
	snprintf(buf, len, "%.40s:%d:%08x", host, (int)getpid(), (unsigned)rand());
}

/* dflt seconds, or PARLEY_TEST_LEASE_SECONDS when set (tests of crash
 * recovery cannot wait for a real lease). */
static long worker_lease_seconds(long dflt)
{
	const char *s = getenv("PARLEY_TEST_LEASE_SECONDS");
	return s && atol(s) > 0 ? atol(s) : dflt;
}

static void arm(struct event *ev, struct event_base *base, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_update_cache_time(base);
	evtimer_add(ev, &tv);
}

void worker_timer_in(struct event **timer, struct event_base *base, event_callback_fn cb, void *arg,
		     long ms)
{
	if (!*timer)
		*timer = evtimer_new(base, cb, arg);
	arm(*timer, base, ms);
}

/* A worker's wake-up: armed for a time that only ever comes sooner (a
 * notification's wake must not be pushed back by a poll). */
struct worker_wake {
	struct event *ev;
	struct event_base *base;
	double at;
};

static void worker_wake_init(struct worker_wake *wk, struct event_base *base, event_callback_fn cb,
			     void *arg)
{
	wk->base = base;
	wk->ev = evtimer_new(base, cb, arg);
	wk->at = 0;
}

static void worker_wake_in(struct worker_wake *wk, long ms)
{
	double at = clock_mono() + (double)ms / 1000.0;
	if (evtimer_pending(wk->ev, NULL) && wk->at <= at)
		return;
	wk->at = at;
	arm(wk->ev, wk->base, ms);
}

static void worker_wake_cancel(struct worker_wake *wk)
{
	evtimer_del(wk->ev);
}

static void worker_wake_free(struct worker_wake *wk)
{
	if (wk->ev)
		event_free(wk->ev);
	wk->ev = NULL;
}

void worker_count_upstream(const char *target, const struct http_resp *resp, const char *err,
			   double seconds)
{
	char labels[96];
	const char *class = err                                         ? "error"
			    : resp->status >= 500                       ? "5xx"
			    : resp->status >= 400                       ? "4xx"
			    : resp->status >= 200 && resp->status < 300 ? "2xx"
									: "other";
	snprintf(labels, sizeof labels, "target=\"%s\",class=\"%s\"", target, class);
	metrics_add("parley_upstream_requests_total", labels, 1);
	snprintf(labels, sizeof labels, "target=\"%s\"", target);
	metrics_observe("parley_upstream_duration_seconds", labels, seconds);
}

/* ---- the claim loop ---------------------------------------------------- */

static void worker_param_str(struct worker_params *p, const char *s)
{
	if (p->n < WORKER_MAX_PARAMS)
		p->v[p->n++] = s;
}

void worker_param_long(struct worker_params *p, long v)
{
	if (p->n >= WORKER_MAX_PARAMS)
		return;
	snprintf(p->buf[p->n], sizeof p->buf[p->n], "%ld", v);
	p->v[p->n] = p->buf[p->n];
	p->n++;
}

struct worker {
	const struct worker_ops *ops;
	void *ctx;
	struct event_base *base;
	struct db_pool *db;
	char owner[96];
	long lease_seconds;
	int active;    /* jobs claimed and not yet freed */
	bool claiming; /* a claim (or its next-due query) is in flight */
	bool again;    /* claim again as soon as the current one returns */
	/* The last claim found less than it asked for: a finishing job need
	 * not claim again (an empty claim is still a transaction). Cleared by
	 * notifications, the wake-up timer, and a job whose conversation is
	 * due again when it finishes. */
	bool dry;
	long claim_limit; /* what the claim in flight asked for */
	bool stopped;
	bool closing;
	struct worker_wake wake;
	struct event *renew; /* keeps our leases alive while jobs run */
	struct worker_job *jobs;
};

/*
 * When to look for work again after the next-due query: due_ms is what it
 * returned (-1 none, or an error). Work due now gets WORKER_AGAIN_MS (more
 * was due than a claim took); work due within poll_ms its due time plus a
 * margin (the due time is exact, the clocks of two hosts are not);
 * anything else the poll.
 */
#define WORKER_AGAIN_MS      20
#define WORKER_DUE_MARGIN_MS 5
static long worker_next_wake_ms(long due_ms, long poll_ms)
{
	if (due_ms == 0)
		return WORKER_AGAIN_MS;
	if (due_ms > 0 && due_ms < poll_ms)
		return due_ms + WORKER_DUE_MARGIN_MS;
	return poll_ms;
}

static void claim(struct worker *w);

static void on_next_due(void *arg, PGresult *res, const char *err)
{
	struct worker *w = arg;
	w->claiming = false;
	if (w->closing)
		return;
	if (w->again) {
		w->again = false;
		claim(w);
		return;
	}
	long ms = err ? -1 : atol(PQgetvalue(res, 0, 0));
	worker_wake_in(&w->wake, worker_next_wake_ms(ms, w->ops->poll_ms));
}

static void on_claimed(void *arg, PGresult *res, const char *err)
{
	struct worker *w = arg;
	const struct worker_ops *ops = w->ops;
	w->claiming = false;
	if (w->closing)
		return;
	if (err) {
		/* At start-up the pool may not be connected yet: try again soon. */
		if (err == DB_ERR_UNAVAILABLE)
			log_debug(ops->name, "claiming: %s", err);
		else
			log_warn(ops->name, "claiming failed: %s", err);
		worker_wake_in(&w->wake, err == DB_ERR_UNAVAILABLE ? 100 : ops->poll_ms);
		return;
	}
	int n = PQntuples(res);
	w->dry = n < w->claim_limit;
	for (int i = 0; i < n; i++) {
		cJSON *o = cJSON_Parse(PQgetvalue(res, i, 0));
		if (o)
			ops->start_job(w->ctx, o);
		cJSON_Delete(o);
	}
	/* A full batch: more may be due at once. */
	if (n == ops->claim_batch || w->again) {
		w->again = false;
		claim(w);
		return;
	}
	/* Only a conversation's first due message is notified (a burst moves
	 * its due time on silently), and some work is never notified: look up
	 * when the next is due. */
	struct worker_params p = {0};
	if (ops->next_due_params)
		ops->next_due_params(w->ctx, &p);
	w->claiming = true;
	db_query(w->db, ops->next_due_sql, p.n, p.v, on_next_due, w);
}

static void claim(struct worker *w)
{
	const struct worker_ops *ops = w->ops;
	if (w->stopped || w->closing)
		return;
	if (w->claiming) {
		w->again = true;
		return;
	}
	long room = ops->room(w->ctx);
	if (room <= 0)
		return; /* a finishing job claims again */
	w->claim_limit = room < ops->claim_batch ? room : ops->claim_batch;
	struct worker_params p = {0};
	worker_param_str(&p, w->owner);
	worker_param_long(&p, w->claim_limit);
	worker_param_long(&p, w->lease_seconds);
	if (ops->claim_params)
		ops->claim_params(w->ctx, &p);
	w->claiming = true;
	db_query(w->db, ops->claim_sql, p.n, p.v, on_claimed, w);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	w->dry = false;
	claim(w);
}

static void on_notify(void *ctx, const char *payload)
{
	struct worker *w = ctx;
	w->dry = false;
	if (!payload) {
		claim(w); /* (re)connected: look for what we may have missed */
		return;
	}
	worker_wake_in(&w->wake, w->ops->notify_delay_ms(w->ctx));
}

static void on_renewed(void *arg, PGresult *res, const char *err)
{
	struct worker *w = arg;
	(void)res;
	/* Shutting down: the leases run out, as they should. */
	if (err && err != DB_ERR_SHUTDOWN)
		log_warn(w->ops->name, "renewing leases failed: %s", err);
}

/* A lease is short and renewed while its job runs, so that the work of a
 * process that died is picked up within one lease, not after the slowest
 * possible job. */
static void on_renew(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker *w = arg;
	if (w->active == 0 || w->closing)
		return;
	struct worker_params p = {0};
	worker_param_str(&p, w->owner);
	worker_param_long(&p, w->lease_seconds);
	db_query(w->db, w->ops->renew_sql, p.n, p.v, on_renewed, w);
}

struct worker *worker_new(const struct worker_ops *ops, void *ctx, struct event_base *base,
			  struct db_pool *db)
{
	struct worker *w = xcalloc(1, sizeof *w);
	w->ops = ops;
	w->ctx = ctx;
	w->base = base;
	w->db = db;
	worker_owner(w->owner, sizeof w->owner);
	w->lease_seconds = worker_lease_seconds(ops->lease_seconds);
	worker_wake_init(&w->wake, base, on_wake, w);
	w->renew = event_new(base, -1, EV_PERSIST, on_renew, w);
	struct timeval every = {w->lease_seconds / 3 > 0 ? w->lease_seconds / 3 : 1, 0};
	event_add(w->renew, &every);
	if (ops->notify_channel)
		db_pool_listen(db, ops->notify_channel, on_notify, w);
	worker_wake_in(&w->wake, 0);
	return w;
}

const char *worker_owner_of(const struct worker *w)
{
	return w->owner;
}

void worker_job_add(struct worker *w, struct worker_job *job, const char *ctx)
{
	job->loop = w;
	job->ctx = ctx;
	job->next = w->jobs;
	w->jobs = job;
	w->active++;
}

struct worker_job *worker_jobs(const struct worker *w)
{
	return w->jobs;
}

int worker_active(const struct worker *w)
{
	return w->active;
}

void worker_job_free(struct worker_job *job)
{
	struct worker *w = job->loop;
	for (struct worker_job **p = &w->jobs; *p; p = &(*p)->next) {
		if (*p == job) {
			*p = job->next;
			break;
		}
	}
	w->active--;
	if (job->timer)
		event_free(job->timer);
	job->timer = NULL;
	w->ops->free_job(job);
}

void worker_job_ended(struct worker *w, bool still_due)
{
	if (still_due)
		w->dry = false;
	if (!w->closing && !w->dry)
		claim(w);
}

void worker_job_done(struct worker_job *job, bool still_due)
{
	struct worker *w = job->loop;
	worker_job_free(job);
	worker_job_ended(w, still_due);
}

static void on_job_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct worker_job *job = arg;
	job->loop->ops->run_job(job);
}

void worker_job_run_later(struct worker_job *job, long ms)
{
	worker_timer_in(&job->timer, job->loop->base, on_job_timer, job, ms);
}

bool worker_job_closing(struct worker_job *job)
{
	if (!job->loop->closing)
		return false;
	worker_job_free(job);
	return true;
}

/* ---- a job's upstream calls ---------------------------------------------- */

#define WORKER_CONNECT_TIMEOUT_MS 5000

void worker_job_post(struct worker_job *job, struct http_client *http, const char *url,
		     const char *bearer, const char *body, long timeout_ms, bool priority,
		     http_done_cb cb)
{
	char *auth = xasprintf("Authorization: Bearer %s", bearer);
	const char *headers[] = {auth, "Content-Type: application/json"};
	struct http_req req = {
	    .method = "POST",
	    .url = url,
	    .headers = headers,
	    .n_headers = 2,
	    .body = body,
	    .body_len = strlen(body),
	    .connect_timeout_ms = WORKER_CONNECT_TIMEOUT_MS,
	    .timeout_ms = timeout_ms,
	    .priority = priority,
	};
	job->call_started = clock_mono();
	http_request(http, &req, cb, job);
	/* http_request copied what it needs. */
	xfree_secret(auth);
}

enum worker_upstream worker_job_upstream(struct worker_job *job, const char *target,
					 const struct http_resp *resp, const char *err,
					 long max_attempts, char **why)
{
	worker_count_upstream(target, resp, err, clock_mono() - job->call_started);
	enum retry_verdict verdict =
	    retry_classify(resp->status, resp->err_kind, resp->body, resp->body_len);
	if (verdict == RETRY_OK)
		return WORKER_UP_OK;
	*why = retry_error_message(resp->status, err, resp->body, resp->body_len);
	if (verdict == RETRY_RETRYABLE && ++job->attempt < max_attempts) {
		long ms = retry_delay_ms(job->attempt, err ? NULL : resp->retry_after,
					 err ? NULL : resp->retry_after_ms, (unsigned)rand());
		/* A server's retry-after is a minimum: a little margin keeps timer
		 * and clock granularity from making the retry early. */
		if (!err && (resp->retry_after || resp->retry_after_ms))
			ms += 25;
		log_warn(job->ctx, "%s attempt %d failed (%s); retrying in %ld ms", target,
			 job->attempt, *why, ms);
		free(*why);
		*why = NULL;
		worker_job_run_later(job, ms);
		return WORKER_UP_RETRYING;
	}
	return WORKER_UP_FAILED;
}

bool worker_job_retry(struct worker_job *job, const char *target, const char *why,
		      long max_attempts)
{
	if (++job->attempt >= max_attempts)
		return false;
	long ms = retry_delay_ms(job->attempt, NULL, NULL, (unsigned)rand());
	log_warn(job->ctx, "%s: %s; retrying in %ld ms", target, why, ms);
	worker_job_run_later(job, ms);
	return true;
}

void worker_stop(struct worker *w)
{
	w->stopped = true;
	worker_wake_cancel(&w->wake);
	/* Claimed work that has not started is handed back at once rather
	 * than started now: another process (or this one restarted) takes it
	 * without waiting for the lease to run out. The renewal timer keeps
	 * running: jobs in flight still hold claims. */
	if (w->ops->hand_back)
		w->ops->hand_back(w->ctx);
}

void worker_close(struct worker *w)
{
	w->closing = true;
}

bool worker_closing(const struct worker *w)
{
	return w->closing;
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	w->closing = true;
	while (w->jobs)
		worker_job_free(w->jobs);
	worker_wake_free(&w->wake);
	event_free(w->renew);
	free(w);
}

/* ---- the database-step retry policy -------------------------------------- */

/* The policy alone (pure): tries counts the failures of this step so far,
 * this one included. */
static enum worker_db_verdict worker_db_verdict(bool closing, const char *err, int tries)
{
	/* Shutting down: the claim runs out, and whoever takes it over
	 * finishes the job (a reply never sends a part twice). */
	if (closing || err == DB_ERR_SHUTDOWN)
		return WORKER_DB_DROP;
	/* A constraint violation, a raised exception: it would fail the same
	 * way every time. */
	if (!db_error_retryable(err))
		return WORKER_DB_REFUSED;
	/* A lost connection, a deadlock, a serialization failure, a lock
	 * timeout, a server shutting down: it may pass, but not forever. */
	if (tries >= WORKER_DB_MAX_TRIES)
		return WORKER_DB_GIVE_UP;
	return WORKER_DB_RETRY;
}

enum worker_db_verdict worker_job_db_failed(struct worker_job *job, const char *step,
					    const char *err)
{
	struct worker *w = job->loop;
	const char *ctx = job->ctx;
	const char *prefix = w->ops->step_prefix ? w->ops->step_prefix : "";
	enum worker_db_verdict v = worker_db_verdict(w->closing, err, ++job->db_tries);
	switch (v) {
	case WORKER_DB_DROP: break;
	case WORKER_DB_REFUSED: {
		char state[6], labels[128];
		db_error_sqlstate(err, state);
		snprintf(labels, sizeof labels, "worker=\"%s\",step=\"%s\",sqlstate=\"%s\"",
			 w->ops->name, step, state);
		metrics_add("parley_db_step_failures_total", labels, 1);
		log_error(ctx, "%sstep %s failed for good: %s", prefix, step, err);
		break;
	}
	case WORKER_DB_GIVE_UP:
		log_error(ctx, "giving up on %sstep %s: %s", prefix, step, err);
		break;
	case WORKER_DB_RETRY:
		log_warn(ctx, "%sstep %s failed, retrying: %s", prefix, step, err);
		break;
	}
	if (v == WORKER_DB_DROP)
		worker_job_free(job);
	else if (v == WORKER_DB_RETRY)
		worker_job_run_later(job, WORKER_DB_RETRY_MS);
	return v;
}
