#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "http_client.h"
#include "metrics.h"
#include "../metrics_value.h"
#include "worker.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/replies/worker.c"
#include "../unit_main.h"

static void test_owner(void **state)
{
	(void)state;
	char a[96], b[96], host[64] = "host", want[80];
	worker_owner(a, sizeof a);
	worker_owner(b, sizeof b);
	gethostname(host, sizeof host - 1);
	snprintf(want, sizeof want, "%.40s:%d:", host, (int)getpid());
	assert_int_equal(strncmp(a, want, strlen(want)), 0);
	assert_int_equal(strlen(a), strlen(want) + 8);
	/* Two workers of one process hold different claims. */
	assert_string_not_equal(a, b);
	char tiny[8];
	worker_owner(tiny, sizeof tiny);
	assert_int_equal(strlen(tiny), 7);
}

static void test_lease_seconds(void **state)
{
	(void)state;
	unsetenv("PARLEY_TEST_LEASE_SECONDS");
	assert_int_equal(worker_lease_seconds(30), 30);
	setenv("PARLEY_TEST_LEASE_SECONDS", "2", 1);
	assert_int_equal(worker_lease_seconds(30), 2);
	/* Nonsense is ignored: never a lease of zero or less. */
	const char *bad[] = {"0", "-5", "abc", ""};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		setenv("PARLEY_TEST_LEASE_SECONDS", bad[i], 1);
		assert_int_equal(worker_lease_seconds(30), 30);
	}
	unsetenv("PARLEY_TEST_LEASE_SECONDS");
}

static int fired;
static void on_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	fired++;
}

/* Seconds until the wake-up goes off. */
static double due_in(struct worker_wake *wk)
{
	struct timeval tv;
	assert_true(evtimer_pending(wk->ev, &tv));
	struct timeval now;
	event_base_gettimeofday_cached(wk->base, &now);
	return (double)(tv.tv_sec - now.tv_sec) + (double)(tv.tv_usec - now.tv_usec) / 1e6;
}

static void test_wake_only_comes_sooner(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct worker_wake wk;
	worker_wake_init(&wk, base, on_fire, NULL);
	worker_wake_in(&wk, 5000);
	assert_true(due_in(&wk) > 4.0);
	/* Sooner: moved forward. */
	worker_wake_in(&wk, 50);
	assert_true(due_in(&wk) < 1.0);
	/* Later: a poll does not push a notification's wake back. */
	worker_wake_in(&wk, 5000);
	assert_true(due_in(&wk) < 1.0);
	fired = 0;
	event_base_dispatch(base);
	assert_int_equal(fired, 1);
	/* Once it went off, any time arms it again. */
	worker_wake_in(&wk, 5000);
	assert_true(due_in(&wk) > 4.0);
	worker_wake_cancel(&wk);
	assert_false(evtimer_pending(wk.ev, NULL));
	worker_wake_free(&wk);
	worker_wake_free(&wk); /* idempotent */
	event_base_free(base);
}

static void test_timer_in(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct event *timer = NULL;
	fired = 0;
	worker_timer_in(&timer, base, on_fire, NULL, 10);
	assert_non_null(timer);
	struct event *first = timer;
	event_base_dispatch(base);
	assert_int_equal(fired, 1);
	worker_timer_in(&timer, base, on_fire, NULL, 0);
	assert_ptr_equal(timer, first); /* created once, reused */
	event_base_dispatch(base);
	assert_int_equal(fired, 2);
	event_free(timer);
	event_base_free(base);
}

static void test_count_upstream(void **state)
{
	(void)state;
	metrics_reset();
	metrics_declare("parley_upstream_requests_total", METRIC_COUNTER, "h");
	metrics_declare("parley_upstream_duration_seconds", METRIC_HISTOGRAM, "h");
	struct http_resp r = {.body = ""};
	long statuses[] = {200, 204, 301, 404, 429, 500, 503, 0};
	for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
		r.status = statuses[i];
		worker_count_upstream("openai", &r, NULL, 0.01);
	}
	worker_count_upstream("graph", &r, "connection refused", 0.5);
	assert_true(metrics_value("parley_upstream_requests_total",
				  "target=\"openai\",class=\"2xx\"") == 2);
	assert_true(metrics_value("parley_upstream_requests_total",
				  "target=\"openai\",class=\"4xx\"") == 2);
	assert_true(metrics_value("parley_upstream_requests_total",
				  "target=\"openai\",class=\"5xx\"") == 2);
	assert_true(metrics_value("parley_upstream_requests_total",
				  "target=\"openai\",class=\"other\"") == 2);
	assert_true(metrics_value("parley_upstream_requests_total",
				  "target=\"graph\",class=\"error\"") == 1);
	char *text = metrics_render();
	assert_non_null(strstr(text, "parley_upstream_duration_seconds_count{target=\"graph\"} 1"));
	free(text);
	metrics_reset();
}

static void test_next_wake(void **state)
{
	(void)state;
	/* Nothing due, or the query failed: the poll. */
	assert_int_equal(worker_next_wake_ms(-1, 1000), 1000);
	/* Due now (more than one claim took): again, soon but not at once. */
	assert_int_equal(worker_next_wake_ms(0, 1000), WORKER_AGAIN_MS);
	/* Due within the poll: its due time, a little late rather than early. */
	assert_int_equal(worker_next_wake_ms(1, 1000), 1 + WORKER_DUE_MARGIN_MS);
	assert_int_equal(worker_next_wake_ms(250, 1000), 250 + WORKER_DUE_MARGIN_MS);
	assert_int_equal(worker_next_wake_ms(999, 1000), 999 + WORKER_DUE_MARGIN_MS);
	/* Later than the poll: the poll comes first. */
	assert_int_equal(worker_next_wake_ms(1000, 1000), 1000);
	assert_int_equal(worker_next_wake_ms(3600000, 1000), 1000);
	assert_int_equal(worker_next_wake_ms(30, 20), 20);
}

static void test_db_verdict(void **state)
{
	(void)state;
	const char *serialization = "could not serialize access (SQLSTATE 40001)";
	const char *check = "new row violates check constraint \"x\" (SQLSTATE 23514)";
	/* Shutting down: nothing is retried, the job is only freed. */
	assert_int_equal(worker_db_verdict(false, DB_ERR_SHUTDOWN, 1), WORKER_DB_DROP);
	assert_int_equal(worker_db_verdict(true, DB_ERR_LOST, 1), WORKER_DB_DROP);
	assert_int_equal(worker_db_verdict(true, check, 1), WORKER_DB_DROP);
	/* Transient: retried, with a bound. */
	assert_int_equal(worker_db_verdict(false, DB_ERR_LOST, 1), WORKER_DB_RETRY);
	assert_int_equal(worker_db_verdict(false, DB_ERR_UNAVAILABLE, 1), WORKER_DB_RETRY);
	assert_int_equal(worker_db_verdict(false, serialization, 1), WORKER_DB_RETRY);
	assert_int_equal(worker_db_verdict(false, serialization, WORKER_DB_MAX_TRIES - 1),
			 WORKER_DB_RETRY);
	assert_int_equal(worker_db_verdict(false, serialization, WORKER_DB_MAX_TRIES),
			 WORKER_DB_GIVE_UP);
	/* Permanent: never retried, however few tries so far. */
	assert_int_equal(worker_db_verdict(false, check, 1), WORKER_DB_REFUSED);
	assert_int_equal(worker_db_verdict(false, DB_ERR_UNEXPECTED, 1), WORKER_DB_REFUSED);
}

static void test_params(void **state)
{
	(void)state;
	struct worker_params p = {0};
	worker_param_str(&p, "owner");
	worker_param_long(&p, -42);
	worker_param_long(&p, 2147483647L);
	assert_int_equal(p.n, 3);
	assert_string_equal(p.v[0], "owner");
	assert_string_equal(p.v[1], "-42");
	assert_string_equal(p.v[2], "2147483647");
	/* Beyond the room: ignored, never written past the arrays. */
	for (int i = 0; i < 2 * WORKER_MAX_PARAMS; i++)
		worker_param_long(&p, i);
	assert_int_equal(p.n, WORKER_MAX_PARAMS);
	assert_string_equal(p.v[WORKER_MAX_PARAMS - 1], "4");
}

/* ---- jobs: what the loop keeps of them ---- */

struct test_job {
	struct worker_job job; /* first, as in the workers */
	char ctx[16];
	int ran;
};
static int jobs_freed;

static void test_run_job(struct worker_job *job)
{
	((struct test_job *)job)->ran++;
}

static void test_free_job(struct worker_job *job)
{
	jobs_freed++;
	free(job);
}

static const struct worker_ops test_ops = {
    .name = "test",
    .run_job = test_run_job,
    .free_job = test_free_job,
};

static struct test_job *new_job(struct worker *w)
{
	struct test_job *j = calloc(1, sizeof *j);
	snprintf(j->ctx, sizeof j->ctx, "job");
	worker_job_add(w, &j->job, j->ctx);
	return j;
}

static void test_jobs(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	/* The loop without a database: only its job list and timers run. */
	struct worker *w = calloc(1, sizeof *w);
	w->ops = &test_ops;
	w->base = base;
	worker_wake_init(&w->wake, base, on_fire, NULL);
	w->renew = event_new(base, -1, 0, on_fire, NULL);
	jobs_freed = 0;
	struct test_job *a = new_job(w), *b = new_job(w), *c = new_job(w);
	assert_int_equal(worker_active(w), 3);
	/* Newest first. */
	assert_ptr_equal(worker_jobs(w), &c->job);
	assert_ptr_equal(c->job.next, &b->job);
	assert_ptr_equal(b->job.next, &a->job);
	assert_ptr_equal(a->job.loop, w);
	assert_string_equal(a->job.ctx, "job");

	/* A step run again later runs from the loop, not from the call. */
	worker_job_run_later(&b->job, 0);
	assert_int_equal(b->ran, 0);
	event_base_dispatch(base);
	assert_int_equal(b->ran, 1);
	assert_int_equal(a->ran + c->ran, 0);

	/* Freed from the middle: unlisted, its timer with it. */
	worker_job_run_later(&b->job, 60000);
	worker_job_free(&b->job);
	assert_int_equal(jobs_freed, 1);
	assert_int_equal(worker_active(w), 2);
	assert_ptr_equal(c->job.next, &a->job);
	event_base_dispatch(base); /* nothing left pending */

	/* A database step: a transient failure runs it again later, a
	 * shutdown frees the job. */
	assert_int_equal(worker_job_db_failed(&a->job, "step", DB_ERR_LOST), WORKER_DB_RETRY);
	assert_int_equal(a->job.db_tries, 1);
	assert_true(evtimer_pending(a->job.timer, NULL));
	assert_int_equal(worker_job_db_failed(&c->job, "step", DB_ERR_SHUTDOWN), WORKER_DB_DROP);
	assert_int_equal(jobs_freed, 2);
	assert_ptr_equal(worker_jobs(w), &a->job);

	/* Callbacks of a closing worker only free their jobs. */
	struct test_job *d = new_job(w);
	assert_false(worker_job_closing(&d->job));
	worker_close(w);
	assert_true(worker_job_closing(&d->job));
	assert_int_equal(jobs_freed, 3);
	/* worker_free frees what is left (a, its retry timer pending). */
	worker_free(w);
	assert_int_equal(jobs_freed, 4);
	event_base_free(base);
}

static void test_job_retry(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct worker *w = calloc(1, sizeof *w);
	w->ops = &test_ops;
	w->base = base;
	worker_wake_init(&w->wake, base, on_fire, NULL);
	w->renew = event_new(base, -1, 0, on_fire, NULL);
	jobs_freed = 0;
	struct test_job *j = new_job(w);
	/* Up to max_attempts in all: attempts 1 and 2 are retried, not 3. */
	assert_true(worker_job_retry(&j->job, "openai", "bad answer", 3));
	assert_int_equal(j->job.attempt, 1);
	assert_true(worker_job_retry(&j->job, "openai", "bad answer", 3));
	assert_false(worker_job_retry(&j->job, "openai", "bad answer", 3));
	assert_int_equal(j->job.attempt, 3);
	worker_free(w);
	assert_int_equal(jobs_freed, 1);
	event_base_free(base);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_owner),
    cmocka_unit_test(test_lease_seconds),
    cmocka_unit_test(test_wake_only_comes_sooner),
    cmocka_unit_test(test_timer_in),
    cmocka_unit_test(test_count_upstream),
    cmocka_unit_test(test_next_wake),
    cmocka_unit_test(test_db_verdict),
    cmocka_unit_test(test_params),
    cmocka_unit_test(test_jobs),
    cmocka_unit_test(test_job_retry),
};
UNIT_MAIN(tests)
