#include "meeting_tools.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "db.h"
#include "google_calendar.h"
#include "google_tokens.h"
#include "http_client.h"
#include "log.h"
#include "meeting_args.h"
#include "meeting_booking.h"
#include "meeting_completion.h"
#include "meeting_internal.h"
#include "metrics.h"
#include "retry.h"
#include "strbuf.h"
#include "worker.h"
#include "xalloc.h"

#define GOOGLE_TIMEOUT_MS     30000
#define CONNECT_TIMEOUT_MS    5000
#define DEFAULT_LEASE_SECONDS 30

static void next_call(struct meeting_run *r);
static void send_google(struct meeting_run *r);
static void availability_answered(struct meeting_run *r, const struct http_resp *resp,
				  const char *err);

void meeting_count_call(const char *tool, const char *outcome)
{
	char labels[96];
	snprintf(labels, sizeof labels, "tool=\"%s\",outcome=\"%s\"", tool, outcome);
	metrics_add("parley_meeting_tool_calls_total", labels, 1);
}

/* Forgets the call in progress (not the run). */
static void call_reset(struct meeting_run *r)
{
	meeting_booking_clear(&r->bk);
	memset(&r->av, 0, sizeof r->av);
	free(r->meeting_id);
	free(r->event_id);
	free(r->meet_link);
	free(r->url);
	free(r->body);
	r->meeting_id = r->event_id = r->meet_link = r->url = r->body = NULL;
	r->hold = HOLD_NONE;
	r->refreshed = false;
	r->attempt = r->tries = r->polls = 0;
}

static void run_free(struct meeting_run *r)
{
	struct meeting_tools *mt = r->mt;
	for (struct meeting_run **p = &mt->runs; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	if (r->recovery)
		mt->recovering--;
	if (r->start)
		event_free(r->start);
	call_reset(r);
	xfree_secret(r->token);
	for (size_t i = 0; i < r->n; i++)
		free(r->outputs[i]);
	free(r->outputs);
	openai_calls_free(r->calls, r->n);
	free(r->user_id);
	free(r->conversation_id);
	free(r);
}

void meeting_run_done(struct meeting_run *r)
{
	meeting_run_cb cb = r->cb;
	void *ctx = r->cb_ctx;
	char *items = NULL;
	if (!r->mt->closing && !r->recovery)
		items = openai_call_outputs(r->calls, r->outputs, r->n);
	bool shutdown = r->mt->closing;
	run_free(r);
	if (cb && (items || shutdown))
		cb(ctx, items);
}

void meeting_run_output(struct meeting_run *r, char *out)
{
	if (r->recovery) {
		free(out);
		meeting_run_done(r);
		return;
	}
	r->outputs[r->i++] = out;
	call_reset(r);
	next_call(r);
}

void meeting_run_error(struct meeting_run *r, const char *outcome, const char *code,
		       const char *msg)
{
	meeting_count_call(r->tool, outcome);
	meeting_run_output(r, meeting_args_error(code, msg));
}

/* ---- Google requests -------------------------------------------------------- */

void meeting_google(struct meeting_run *r, const char *method, char *url, char *body)
{
	free(r->url);
	free(r->body);
	r->method = method;
	r->url = url;
	r->body = body;
	r->attempt = 0;
	send_google(r);
}

/* Getting an access token failed with err (google_tokens.h): the call
 * fails as disconnected or unavailable. */
static void meeting_run_token_failed(struct meeting_run *r, const char *err)
{
	bool off = err == GOOGLE_ERR_DISCONNECTED || err == GOOGLE_ERR_NOT_CONNECTED;
	if (off)
		log_warn(r->ctx, "calendar disconnected: %s", r->tool);
	const char *outcome = off ? "disconnected" : "unavailable";
	const char *code = off ? "calendar_disconnected" : "calendar_unavailable";
	const char *msg = off ? MSG_DISCONNECTED : MSG_UNAVAILABLE;
	/* A booking may hold a reservation that has to go. */
	if (r->step == STEP_AVAILABILITY)
		meeting_run_error(r, outcome, code, msg);
	else
		meeting_booking_failed(r, outcome, code, msg);
}

bool meeting_run_took_token(struct meeting_run *r, const char *token, const char *err)
{
	if (r->mt->closing) {
		meeting_run_done(r);
		return false;
	}
	if (err) {
		meeting_run_token_failed(r, err);
		return false;
	}
	xfree_secret(r->token);
	r->token = xstrdup(token);
	return true;
}

static void on_google_token(void *arg, const char *token, const char *err)
{
	struct meeting_run *r = arg;
	if (meeting_run_took_token(r, token, err))
		send_google(r);
}

bool meeting_run_woke(struct meeting_run *r, bool cancelled)
{
	if (!cancelled && !r->mt->closing)
		return true;
	meeting_run_done(r);
	return false;
}

static void on_google_retry(void *arg, bool cancelled)
{
	if (meeting_run_woke(arg, cancelled))
		send_google(arg);
}

static bool google_retryable(const struct http_resp *resp, const char *err)
{
	if (err)
		return retry_classify(0, resp->err_kind, NULL, 0) == RETRY_RETRYABLE;
	long s = resp->status;
	return s == 408 || s == 429 || s >= 500 ||
	       gcal_retryable_403(s, resp->body, resp->body_len);
}

static void on_google(void *arg, const struct http_resp *resp, const char *err)
{
	struct meeting_run *r = arg;
	worker_count_upstream("google", resp, err, clock_mono() - r->started);
	if (r->mt->closing) {
		meeting_run_done(r);
		return;
	}
	if (!err && resp->status == 401 && !r->refreshed) {
		/* The stored token was revoked or expired early: refresh once. */
		log_info(r->ctx, "Google answered 401; refreshing the access token");
		r->refreshed = true;
		google_tokens_get(r->mt->tokens, r->user_id, true, on_google_token, r);
		return;
	}
	if (google_retryable(resp, err) && ++r->attempt < r->mt->app->cfg.replies_max_attempts) {
		long ms = retry_delay_ms(r->attempt, err ? NULL : resp->retry_after, NULL,
					 (unsigned)rand());
		if (!err && resp->retry_after)
			ms += 25; /* retry-after is a minimum; timers are not exact */
		log_warn(r->ctx, "Google %s attempt %d failed (%s); retrying in %ld ms", r->method,
			 r->attempt, err ? err : "HTTP error", ms);
		http_client_after(r->mt->http, ms, on_google_retry, r);
		return;
	}
	if (r->step == STEP_AVAILABILITY)
		availability_answered(r, resp, err);
	else
		meeting_booking_answered(r, resp, err);
}

static void send_google(struct meeting_run *r)
{
	if (!r->token) {
		google_tokens_get(r->mt->tokens, r->user_id, false, on_google_token, r);
		return;
	}
	char *auth = xasprintf("Authorization: Bearer %s", r->token);
	const char *headers[] = {auth, "Content-Type: application/json"};
	struct http_req req = {
	    .method = r->method,
	    .url = r->url,
	    .headers = headers,
	    .n_headers = r->body ? 2 : 1,
	    .body = r->body,
	    .body_len = r->body ? strlen(r->body) : 0,
	    .connect_timeout_ms = CONNECT_TIMEOUT_MS,
	    .timeout_ms = GOOGLE_TIMEOUT_MS,
	    .priority = true, /* a reply in production waits for it */
	};
	r->started = clock_mono();
	http_request(r->mt->http, &req, on_google, r);
	xfree_secret(auth);
}

void meeting_describe(const struct http_resp *resp, const char *err, char *out, size_t len)
{
	if (err) {
		snprintf(out, len, "%s", err);
		return;
	}
	char reason[64];
	gcal_error_reason(resp->body, resp->body_len, reason, sizeof reason);
	snprintf(out, len, "HTTP %ld%s%s", resp->status, *reason ? " " : "", reason);
}

/* ---- check_availability ----------------------------------------------------- */

bool meeting_freebusy_busy(struct meeting_run *r, const struct http_resp *resp, const char *err,
			   struct gcal_interval **busy, size_t *n)
{
	char why[160];
	if (err || resp->status < 200 || resp->status >= 300) {
		meeting_describe(resp, err, why, sizeof why);
		log_warn(r->ctx, "%s: freeBusy failed: %s", r->tool, why);
		return false;
	}
	const char *bad = gcal_freebusy_parse(resp->body, resp->body_len,
					      r->mt->app->cfg.google_calendar_id, busy, n);
	if (bad) {
		log_warn(r->ctx, "%s: unusable freeBusy answer: %s", r->tool, bad);
		return false;
	}
	return true;
}

static void availability_answered(struct meeting_run *r, const struct http_resp *resp,
				  const char *err)
{
	struct gcal_interval *busy;
	size_t n;
	if (!meeting_freebusy_busy(r, resp, err, &busy, &n)) {
		meeting_run_error(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	struct gcal_interval slots[MEETING_MAX_SLOTS];
	size_t total = gcal_free_slots(
	    busy, n, r->av.from, r->av.to, r->av.duration * 60, MEETING_SLOT_STEP_SECONDS,
	    r->av.offset, time(NULL) + MEETING_MIN_LEAD_SECONDS, slots, MEETING_MAX_SLOTS);
	free(busy);
	meeting_count_call(r->tool, "ok");
	meeting_run_output(
	    r, meeting_args_slots(&r->av, slots,
				  total < MEETING_MAX_SLOTS ? total : MEETING_MAX_SLOTS, total));
}

static void check_availability(struct meeting_run *r, const struct openai_call *c)
{
	const struct config *cfg = &r->mt->app->cfg;
	char why[256];
	if (meeting_args_availability(c->arguments, strlen(c->arguments), time(NULL),
				      cfg->google_default_duration_minutes, &r->av, why,
				      sizeof why) < 0) {
		log_info(r->ctx, "check_availability: invalid arguments: %s", why);
		meeting_run_error(r, "invalid_arguments", "invalid_arguments", why);
		return;
	}
	r->step = STEP_AVAILABILITY;
	meeting_google(r, "POST", xasprintf("%s/freeBusy", cfg->google_calendar_url),
		       gcal_freebusy_request(cfg->google_calendar_id, r->av.from, r->av.to));
}

/* ---- runs ----------------------------------------------------------------------- */

static void next_call(struct meeting_run *r)
{
	if (r->mt->closing || r->i == r->n) {
		meeting_run_done(r);
		return;
	}
	const struct openai_call *c = &r->calls[r->i];
	if (strcmp(c->name, MEETING_TOOL_AVAILABILITY) == 0) {
		r->tool = MEETING_TOOL_AVAILABILITY;
		check_availability(r, c);
	} else if (strcmp(c->name, MEETING_TOOL_BOOK) == 0) {
		r->tool = MEETING_TOOL_BOOK;
		meeting_booking_start(r, c->arguments);
	} else {
		r->tool = "unknown";
		log_warn(r->ctx, "the model called an unknown tool");
		meeting_run_error(r, "unknown_tool", "unknown_tool",
				  "There is no such tool; use check_availability or book_meeting.");
	}
}

struct meeting_run *meeting_run_new(struct meeting_tools *mt, const char *user_id,
				    const char *conversation_id, const char *log_ctx)
{
	struct meeting_run *r = xcalloc(1, sizeof *r);
	r->mt = mt;
	r->user_id = xstrdup(user_id);
	r->conversation_id = xstrdup(conversation_id);
	snprintf(r->ctx, sizeof r->ctx, "%s", log_ctx);
	r->next = mt->runs;
	mt->runs = r;
	return r;
}

static void on_run_start(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	next_call(arg);
}

void meeting_tools_run(struct meeting_tools *mt, const char *user_id, const char *conversation_id,
		       const char *log_ctx, const struct openai_call *calls, size_t n,
		       meeting_run_cb cb, void *ctx)
{
	struct meeting_run *r = meeting_run_new(mt, user_id, conversation_id, log_ctx);
	r->cb = cb;
	r->cb_ctx = ctx;
	r->n = n;
	r->calls = xcalloc(n ? n : 1, sizeof *r->calls);
	r->outputs = xcalloc(n ? n : 1, sizeof *r->outputs);
	for (size_t i = 0; i < n; i++) {
		r->calls[i].call_id = xstrdup(calls[i].call_id);
		r->calls[i].name = xstrdup(calls[i].name);
		r->calls[i].arguments = xstrdup(calls[i].arguments);
	}
	/* Invalid arguments, an unknown tool or a close answer without waiting
	 * for anything; the caller still hears it from the loop (db.h). */
	r->start = evtimer_new(mt->app->base, on_run_start, r);
	static const struct timeval now = {0, 0};
	evtimer_add(r->start, &now);
}

/* A pending meeting_tools_offer(). */
struct offer {
	struct defer_item refused; /* in mt->refused */
	meeting_offer_cb cb;
	void *ctx;
	struct meeting_tools *mt;
};

static void on_offer(void *arg, PGresult *res, const char *err)
{
	struct offer *o = arg;
	bool offer = !err && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (err && !o->mt->closing)
		log_warn("meetings", "reading a calendar's state failed (%s): no tools this time",
			 err);
	meeting_offer_cb cb = o->cb;
	void *ctx = o->ctx;
	free(o);
	cb(ctx, offer);
}

static void on_offer_refused(struct defer_item *item, void *ctx)
{
	(void)ctx;
	struct offer *o = DEFER_CONTAINER(item, struct offer, refused);
	meeting_offer_cb cb = o->cb;
	void *cb_ctx = o->ctx;
	free(o);
	cb(cb_ctx, false);
}

void meeting_tools_offer(struct meeting_tools *mt, const char *user_id, meeting_offer_cb cb,
			 void *ctx)
{
	struct offer *o = xcalloc(1, sizeof *o);
	o->cb = cb;
	o->ctx = ctx;
	o->mt = mt;
	if (!meeting_tools_enabled(mt) || mt->closing) {
		/* Known at once, told from the loop (db.h). */
		defer_push(&mt->refused, &o->refused);
		return;
	}
	const char *p[] = {user_id};
	db_query(mt->app->db, "SELECT parley_calendar_state($1) = 'connected'", 1, p, on_offer, o);
}

/* ---- life cycle ---------------------------------------------------------------------- */

bool meeting_tools_enabled(const struct meeting_tools *mt)
{
	return mt && mt->http && *mt->app->cfg.google_client_id &&
	       *mt->app->cfg.google_client_secret;
}

const char *meeting_tools_declarations(const struct meeting_tools *mt)
{
	return mt->declarations;
}

struct meeting_tools *meeting_tools_start(struct app *app, struct http_client *http)
{
	struct meeting_tools *mt = xcalloc(1, sizeof *mt);
	mt->app = app;
	mt->http = http;
	defer_init(&mt->refused, app->base, on_offer_refused, mt);
	mt->tokens = http ? google_tokens_new(app, http) : NULL;
	mt->declarations = meeting_args_tools(app->cfg.google_default_duration_minutes);
	const char *tzdir = getenv("TZDIR");
	mt->zoneinfo = tzdir && *tzdir ? tzdir : "/usr/share/zoneinfo";
	/* A reservation outlives a reply's lease by a margin: the recovery
	 * pass must not race a booking that is merely slow. */
	long lease = DEFAULT_LEASE_SECONDS;
	const char *test_lease = getenv("PARLEY_TEST_LEASE_SECONDS");
	if (test_lease && atol(test_lease) > 0)
		lease = atol(test_lease);
	mt->booking_lease = 4 * lease;
	long every = MEETING_PASS_SECONDS;
	const char *test_pass = getenv("PARLEY_TEST_MEETING_PASS_SECONDS");
	if (test_pass && atol(test_pass) > 0)
		every = atol(test_pass);
	metrics_declare(
	    "parley_meeting_tool_calls_total", METRIC_COUNTER,
	    "Meeting tool calls by tool and outcome (ok, booked, already_booked, limit, "
	    "busy, invalid_arguments, disconnected, unavailable, unconfirmed, refused, "
	    "cancelled, unknown_tool).");
	metrics_declare("parley_meetings_completed_total", METRIC_COUNTER,
			"Scheduled meetings marked completed after their end.");
	metrics_declare("parley_meetings_recovered_total", METRIC_COUNTER,
			"Interrupted bookings finished by the recovery pass (booked, dropped).");
	metrics_declare("parley_meeting_recoveries_deferred_total", METRIC_COUNTER,
			"Recovery attempts that could not look the event up and kept the "
			"reservation (disconnected, unavailable).");
	if (meeting_tools_enabled(mt))
		log_info("meetings", "meeting tools on (calendar %s)", app->cfg.google_calendar_id);
	meeting_completion_start(mt, every);
	return mt;
}

void meeting_tools_close(struct meeting_tools *mt)
{
	if (!mt)
		return;
	mt->closing = true;
	google_tokens_close(mt->tokens);
}

void meeting_tools_free(struct meeting_tools *mt)
{
	if (!mt)
		return;
	mt->closing = true;
	/* Runs still here wait for a client or pool that is gone; their
	 * callers (reply jobs) are freed by their own module, so nobody is
	 * told. The token cache goes first, while the runs are alive: it
	 * still owes a refused request its callback, which ends that run. */
	for (struct meeting_run *r = mt->runs; r; r = r->next)
		r->cb = NULL;
	google_tokens_free(mt->tokens);
	while (mt->runs)
		run_free(mt->runs);
	/* Refusals the loop did not get to: their callers are gone too. */
	struct defer_item *refused;
	while ((refused = defer_pop(&mt->refused)))
		free(DEFER_CONTAINER(refused, struct offer, refused));
	defer_fini(&mt->refused);
	if (mt->pass)
		event_free(mt->pass);
	free(mt->declarations);
	free(mt);
}
