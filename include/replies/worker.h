#ifndef PARLEY_WORKER_H
#define PARLEY_WORKER_H
/*
 * The claim loop of the workers that take conversations from the database
 * (replies, lead extraction): wake-ups (a notification, a timer set to the
 * next due time, a poll), claiming while there is room, renewing the leases
 * of the jobs in flight, the retry policy of their database steps, and
 * shutdown. What differs between workers is data in a struct worker_ops:
 * the SQL, its parameters and what to do with a claimed row. Each worker
 * keeps only its jobs and their step machines.
 *
 * Also what they share besides: who they are to a lease, the timers on the
 * loop, and the upstream-request metrics.
 */
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#include "http_client.h"

struct db_pool;

/*
 * Arms *timer (created on first use with cb and arg) to go off ms from now.
 * The loop's cached clock can lag; it is refreshed first so that a
 * retry-after never ends early. Like every callback here, cb runs from the
 * loop, never from inside the call that armed it (the rule of include/db/db.h).
 */
void worker_timer_in(struct event **timer, struct event_base *base, event_callback_fn cb, void *arg,
		     long ms);

/* Counts one request to target ("openai", "graph", "google") by status class and
 * observes its duration (parley_upstream_requests_total and
 * parley_upstream_duration_seconds, declared by the caller). */
void worker_count_upstream(const char *target, const struct http_resp *resp, const char *err,
			   double seconds);

/* ---- the claim loop ---------------------------------------------------- */

/* Text parameters of a query; values point into buf or at the caller's
 * strings, which must outlive the db_query call only. */
#define WORKER_MAX_PARAMS 8
struct worker_params {
	const char *v[WORKER_MAX_PARAMS];
	char buf[WORKER_MAX_PARAMS][24];
	int n;
};
void worker_param_long(struct worker_params *p, long v);

struct worker;

/*
 * What the loop knows of a job: the first member of each worker's struct
 * job (so that a struct worker_job * is the job's address, and the arg of
 * its callbacks). The loop keeps the list of jobs; the worker, the rest.
 */
struct worker_job {
	struct worker_job *next;
	struct worker *loop;
	const char *ctx;     /* log context: the job's own buffer */
	int attempt;         /* of the current upstream call */
	double call_started; /* of the current upstream call (clock_mono) */
	int db_tries;        /* of the current database step */
	struct event *timer; /* worker_job_run_later's */
};

/* What one worker claims and how; a static table in the worker's module.
 * Every callback gets the ctx given to worker_new. */
struct worker_ops {
	const char *name;        /* log context, and the worker="" metrics label */
	const char *step_prefix; /* before "step …" in a database step's log lines */
	/* Claims up to limit conversations, one JSON object per row;
	 * claim_params adds its parameters after $1 owner, $2 limit and
	 * $3 lease seconds. */
	const char *claim_sql;
	void (*claim_params)(void *ctx, struct worker_params *p);
	/* One bigint: milliseconds until the next work is due (0: due now),
	 * -1 for none. next_due_params may be NULL (no parameters). */
	const char *next_due_sql;
	void (*next_due_params)(void *ctx, struct worker_params *p);
	/* $1 owner, $2 lease seconds: extends every lease of ours. */
	const char *renew_sql;
	/* LISTENed to, or NULL; a notification means work is due after
	 * notify_delay_ms(ctx). */
	const char *notify_channel;
	long (*notify_delay_ms)(void *ctx);
	/* How many more jobs may be claimed now (<= 0: none). */
	long (*room)(void *ctx);
	long claim_batch;   /* most rows per claim */
	long poll_ms;       /* look for due work at least this often */
	long lease_seconds; /* unless PARLEY_TEST_LEASE_SECONDS */
	/* A claimed row: the worker starts (or queues) its job, calling
	 * worker_job_added. */
	void (*start_job)(void *ctx, const cJSON *row);
	/* Shutdown began: hand back claimed work not started yet (or NULL). */
	void (*hand_back)(void *ctx);
	/* A job's current step, run again (worker_job_run_later). */
	void (*run_job)(struct worker_job *job);
	/* Frees what the worker holds of a job, its struct included; the loop
	 * has let go of it already (worker_job_free). */
	void (*free_job)(struct worker_job *job);
};

/* Starts the loop on db: LISTEN, lease renewal, and a claim at once. The
 * ops table must outlive the worker. Freed with worker_free. */
struct worker *worker_new(const struct worker_ops *ops, void *ctx, struct event_base *base,
			  struct db_pool *db);
const char *worker_owner_of(const struct worker *w);

/* Jobs: a claimed row became a job (started or waiting), its context in
 * ctx; the loop counts it and lists it (newest first, worker_jobs). */
void worker_job_add(struct worker *w, struct worker_job *job, const char *ctx);
struct worker_job *worker_jobs(const struct worker *w);
int worker_active(const struct worker *w);
/* The job is freed (done, dropped or abandoned): unlisted, its timer freed,
 * then ops->free_job. */
void worker_job_free(struct worker_job *job);
/* A job ended: claim again (the room it made), unless the last claim came
 * back short and nothing says more is due. still_due: the job's
 * conversation may have work left. */
void worker_job_ended(struct worker *w, bool still_due);
/* worker_job_free, then worker_job_ended. */
void worker_job_done(struct worker_job *job, bool still_due);
/* Runs the job's step again (ops->run_job) ms from now. */
void worker_job_run_later(struct worker_job *job, long ms);
/* A callback of the job's: when the worker is closing, frees the job and
 * returns true (the callback does nothing more). */
bool worker_job_closing(struct worker_job *job);

/* ---- a job's upstream calls ---------------------------------------------- */

/* POSTs body to url with a bearer token (JSON; the worker's connect
 * timeout), noting when the call started; cb gets the job. */
void worker_job_post(struct worker_job *job, struct http_client *http, const char *url,
		     const char *bearer, const char *body, long timeout_ms, bool priority,
		     http_done_cb cb);

enum worker_upstream {
	WORKER_UP_OK,       /* go on with the answer */
	WORKER_UP_RETRYING, /* the step runs again later (worker_job_run_later) */
	WORKER_UP_FAILED,   /* failed for good: why says so (the caller frees it) */
};

/* A job's call to target finished: counted (worker_count_upstream) and
 * classified (retry.h); a retryable failure is tried again, up to
 * max_attempts in all, after the retry delay (a server's retry-after plus
 * a margin), logged under the job's context. */
enum worker_upstream worker_job_upstream(struct worker_job *job, const char *target,
					 const struct http_resp *resp, const char *err,
					 long max_attempts, char **why);

/* The answer could not be used but may be next time (why): true when another
 * attempt is scheduled (within max_attempts), logged as "target: why". */
bool worker_job_retry(struct worker_job *job, const char *target, const char *why,
		      long max_attempts);

/* Shutdown, in order: stop claiming (claimed work not started is handed
 * back, jobs in flight carry on and keep their leases); closing (from now
 * on callbacks only free their jobs); free. */
void worker_stop(struct worker *w);
void worker_close(struct worker *w);
bool worker_closing(const struct worker *w);
void worker_free(struct worker *w);

/* ---- the database-step retry policy -------------------------------------- */

/* A database step that fails transiently is tried again after this long, at
 * most this often. */
#define WORKER_DB_RETRY_MS  1000
#define WORKER_DB_MAX_TRIES 30

enum worker_db_verdict {
	WORKER_DB_DROP,    /* shutting down: free the job, its lease runs out */
	WORKER_DB_RETRY,   /* transient: run the step again WORKER_DB_RETRY_MS later */
	WORKER_DB_GIVE_UP, /* transient, too often: leave the job to lease expiry */
	WORKER_DB_REFUSED, /* retrying cannot fix it: the job ends the way its step says */
};

/*
 * A job's database step failed with err: counts its tries, logs (under its
 * context, naming step) and counts the verdict (a refusal in
 * parley_db_step_failures_total by worker, step and SQLSTATE), and acts on
 * WORKER_DB_DROP (the job is freed) and WORKER_DB_RETRY (the step runs
 * again later). Returns the verdict: the other two are the caller's.
 */
enum worker_db_verdict worker_job_db_failed(struct worker_job *job, const char *step,
					    const char *err);

#endif
