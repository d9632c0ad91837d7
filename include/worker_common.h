#ifndef PARLEY_WORKER_COMMON_H
#define PARLEY_WORKER_COMMON_H
/*
 * What the workers that claim conversations from the database (replies,
 * lead extraction) share: who they are to a lease, how long a lease lasts,
 * the timers on the loop, and the upstream-request metrics.
 */
#include <event2/event.h>
#include <stddef.h>

struct http_resp;

/* "host:pid:random", the lease owner a worker writes into its claims. */
void worker_owner(char *buf, size_t len);

/* dflt seconds, or PARLEY_TEST_LEASE_SECONDS when set (tests of crash
 * recovery cannot wait for a real lease). */
long worker_lease_seconds(long dflt);

/*
 * Arms *timer (created on first use with cb and arg) to go off ms from now.
 * The loop's cached clock can lag; it is refreshed first so that a
 * retry-after never ends early. Like every callback here, cb runs from the
 * loop, never from inside the call that armed it (the rule of include/db.h).
 */
void worker_timer_in(struct event **timer, struct event_base *base, event_callback_fn cb,
		     void *arg, long ms);

/* A worker's wake-up: armed for a time that only ever comes sooner (a
 * notification's wake must not be pushed back by a poll). */
struct worker_wake {
	struct event *ev;
	struct event_base *base;
	double at;
};
void worker_wake_init(struct worker_wake *wk, struct event_base *base, event_callback_fn cb,
		      void *arg);
void worker_wake_in(struct worker_wake *wk, long ms);
void worker_wake_cancel(struct worker_wake *wk);
void worker_wake_free(struct worker_wake *wk);

/* Counts one request to target ("openai", "graph") by status class and
 * observes its duration (parley_upstream_requests_total and
 * parley_upstream_duration_seconds, declared by the caller). */
void worker_count_upstream(const char *target, const struct http_resp *resp, const char *err,
			   double seconds);

#endif
