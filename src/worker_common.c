/*
 * What the claiming workers share: see include/worker_common.h.
 */
#include "worker_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http_client.h"
#include "metrics.h"

void worker_owner(char *buf, size_t len)
{
	char host[64] = "host";
	gethostname(host, sizeof host - 1);
	snprintf(buf, len, "%.40s:%d:%08x", host, (int)getpid(), (unsigned)rand());
}

long worker_lease_seconds(long dflt)
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

void worker_timer_in(struct event **timer, struct event_base *base, event_callback_fn cb,
		     void *arg, long ms)
{
	if (!*timer)
		*timer = evtimer_new(base, cb, arg);
	arm(*timer, base, ms);
}

void worker_wake_init(struct worker_wake *wk, struct event_base *base, event_callback_fn cb,
		      void *arg)
{
	wk->base = base;
	wk->ev = evtimer_new(base, cb, arg);
	wk->at = 0;
}

void worker_wake_in(struct worker_wake *wk, long ms)
{
	double at = clock_mono() + (double)ms / 1000.0;
	if (evtimer_pending(wk->ev, NULL) && wk->at <= at)
		return;
	wk->at = at;
	arm(wk->ev, wk->base, ms);
}

void worker_wake_cancel(struct worker_wake *wk)
{
	evtimer_del(wk->ev);
}

void worker_wake_free(struct worker_wake *wk)
{
	if (wk->ev)
		event_free(wk->ev);
	wk->ev = NULL;
}

void worker_count_upstream(const char *target, const struct http_resp *resp, const char *err,
			   double seconds)
{
	char labels[96];
	const char *class = err ? "error"
			    : resp->status >= 500 ? "5xx"
			    : resp->status >= 400 ? "4xx"
			    : resp->status >= 200 && resp->status < 300 ? "2xx"
								      : "other";
	snprintf(labels, sizeof labels, "target=\"%s\",class=\"%s\"", target, class);
	metrics_add("parley_upstream_requests_total", labels, 1);
	snprintf(labels, sizeof labels, "target=\"%s\"", target);
	metrics_observe("parley_upstream_duration_seconds", labels, seconds);
}
