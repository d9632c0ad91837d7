#include "google_tokens.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "defer.h"
#include "google_calendar.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"
#include "worker.h"
#include "xalloc.h"

const char GOOGLE_ERR_NOT_CONNECTED[] = "the tenant has no Google Calendar connected";
const char GOOGLE_ERR_DISCONNECTED[] = "the tenant's Google Calendar is disconnected";
const char GOOGLE_ERR_UNAVAILABLE[] = "Google or the database is unavailable";

#define TOKEN_TIMEOUT_MS   15000
#define CONNECT_TIMEOUT_MS 5000

/* One caller waiting for a token; owned until its callback has run. */
struct waiter {
	struct waiter *next;
	struct defer_item refused; /* in gt->refused while its refusal is due */
	struct google_tokens *gt;
	char *user_id;
	bool refresh;
	google_token_cb cb;
	void *ctx;
};

/* One tenant's refresh in flight; its waiters share the outcome. */
struct flight {
	struct flight *next;
	struct google_tokens *gt;
	char *user_id;
	char *refresh_token; /* secret: wiped when freed */
	struct waiter *waiters;
	int attempt;
	double started;
	/* the answer, kept while it is stored */
	char *access_token; /* secret */
	long expires_in;
	char *new_refresh_token; /* secret; NULL when Google sent none */
	char *why;
};

struct google_tokens {
	struct app *app;
	struct http_client *http;
	struct flight *flights;
	bool closing;
	/* Callers refused while closing, answered from the loop: never from
	 * inside google_tokens_get. */
	struct defer refused;
};

static void count_refresh(const char *outcome)
{
	char labels[48];
	snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
	metrics_add("parley_google_token_refreshes_total", labels, 1);
}

static void waiter_done(struct waiter *w, const char *token, const char *err)
{
	google_token_cb cb = w->cb;
	void *ctx = w->ctx;
	free(w->user_id);
	free(w);
	cb(ctx, token, err);
}

static void flight_free(struct flight *f)
{
	free(f->user_id);
	xfree_secret(f->refresh_token);
	xfree_secret(f->access_token);
	xfree_secret(f->new_refresh_token);
	free(f->why);
	free(f);
}

/* Ends a refresh: every waiter gets the token or the error. */
static void flight_done(struct flight *f, const char *token, const char *err)
{
	struct google_tokens *gt = f->gt;
	for (struct flight **p = &gt->flights; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			break;
		}
	}
	struct waiter *w = f->waiters;
	f->waiters = NULL;
	while (w) {
		struct waiter *next = w->next;
		waiter_done(w, token, err);
		w = next;
	}
	flight_free(f);
}

static void refuse_later(struct waiter *w)
{
	defer_push(&w->gt->refused, &w->refused);
}

static void on_refused(struct defer_item *item, void *ctx)
{
	(void)ctx;
	waiter_done(DEFER_CONTAINER(item, struct waiter, refused), NULL, GOOGLE_ERR_UNAVAILABLE);
}

static void send_refresh(struct flight *f);

static void on_retry_timer(void *arg, bool cancelled)
{
	struct flight *f = arg;
	if (cancelled || f->gt->closing) {
		flight_done(f, NULL, GOOGLE_ERR_UNAVAILABLE);
		return;
	}
	send_refresh(f);
}

static void on_stored(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct flight *f = arg;
	/* The token is good whether or not it was stored: a failed store only
	 * means the next use refreshes again. */
	if (err)
		log_warn("google", "tenant=%s: storing the refreshed access token failed: %s",
			 f->user_id, err);
	flight_done(f, f->access_token, NULL);
}

static void on_disconnected(void *arg, PGresult *res, const char *err)
{
	struct flight *f = arg;
	if (err)
		log_warn("google", "tenant=%s: marking the calendar disconnected failed: %s",
			 f->user_id, err);
	else if (strtol(PQcmdTuples(res), NULL, 10) > 0)
		metrics_add("parley_calendar_disconnects_total", NULL, 1);
	flight_done(f, NULL, GOOGLE_ERR_DISCONNECTED);
}

static void on_token(void *arg, const struct http_resp *resp, const char *err)
{
	struct flight *f = arg;
	struct google_tokens *gt = f->gt;
	const struct config *cfg = &gt->app->cfg;
	worker_count_upstream("google", resp, err, clock_mono() - f->started);
	if (gt->closing) {
		flight_done(f, NULL, GOOGLE_ERR_UNAVAILABLE);
		return;
	}
	enum gcal_token_outcome o;
	if (err) {
		o = retry_classify(0, resp->err_kind, NULL, 0) == RETRY_RETRYABLE
			? GCAL_TOKEN_RETRYABLE
			: GCAL_TOKEN_FINAL;
		f->why = xstrdup(err);
	} else {
		o = gcal_token_parse(resp->status, resp->body, resp->body_len, &f->access_token,
				     &f->expires_in, &f->new_refresh_token, &f->why);
	}
	switch (o) {
	case GCAL_TOKEN_OK: {
		count_refresh("ok");
		log_info("google", "tenant=%s: access token refreshed, valid %ld s", f->user_id,
			 f->expires_in);
		char secs[24];
		snprintf(secs, sizeof secs, "%ld", f->expires_in);
		const char *p[] = {f->user_id, f->refresh_token, f->access_token, secs,
				   f->new_refresh_token};
		/* Only the grant we refreshed: a tenant connected again meanwhile
		 * keeps its new refresh token. */
		db_query(gt->app->db,
			 "UPDATE google_calendar_tokens"
			 "   SET access_token = $3,"
			 "       token_expiry = now() AT TIME ZONE 'UTC'"
			 "                      + make_interval(secs => $4::integer),"
			 "       refresh_token = coalesce($5, refresh_token),"
			 "       refreshed_at = now()"
			 " WHERE user_id = $1 AND refresh_token = $2 AND disconnected_at IS NULL",
			 5, p, on_stored, f);
		return;
	}
	case GCAL_TOKEN_REVOKED: {
		count_refresh("revoked");
		log_warn("google",
			 "tenant=%s: Google refused the refresh token (%s); the calendar is "
			 "disconnected until the tenant connects it again",
			 f->user_id, f->why);
		const char *p[] = {f->user_id, f->refresh_token, f->why};
		db_query(gt->app->db,
			 "UPDATE google_calendar_tokens"
			 "   SET disconnected_at = now(), disconnect_reason = $3, access_token = ''"
			 " WHERE user_id = $1 AND refresh_token = $2 AND disconnected_at IS NULL",
			 3, p, on_disconnected, f);
		return;
	}
	case GCAL_TOKEN_RETRYABLE:
		if (++f->attempt < cfg->replies_max_attempts) {
			long ms = retry_delay_ms(f->attempt, err ? NULL : resp->retry_after, NULL,
						 (unsigned)rand());
			log_warn("google",
				 "tenant=%s: token refresh attempt %d failed (%s); "
				 "retrying in %ld ms",
				 f->user_id, f->attempt, f->why, ms);
			free(f->why);
			f->why = NULL;
			http_client_after(gt->http, ms, on_retry_timer, f);
			return;
		}
		break;
	case GCAL_TOKEN_FINAL: break;
	}
	count_refresh("failed");
	log_error("google", "tenant=%s: token refresh failed: %s", f->user_id, f->why);
	flight_done(f, NULL, GOOGLE_ERR_UNAVAILABLE);
}

static void send_refresh(struct flight *f)
{
	const struct config *cfg = &f->gt->app->cfg;
	char *body =
	    gcal_token_request(cfg->google_client_id, cfg->google_client_secret, f->refresh_token);
	const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
				 "Accept: application/json"};
	struct http_req req = {
	    .method = "POST",
	    .url = cfg->google_token_url,
	    .headers = headers,
	    .n_headers = 2,
	    .body = body,
	    .body_len = strlen(body),
	    .connect_timeout_ms = CONNECT_TIMEOUT_MS,
	    .timeout_ms = TOKEN_TIMEOUT_MS,
	    /* A reply in production waits for it. */
	    .priority = true,
	};
	f->started = clock_mono();
	http_request(f->gt->http, &req, on_token, f);
	xfree_secret(body);
}

/* Joins the tenant's refresh in flight, or starts one. */
static void refresh(struct waiter *w, const char *refresh_token)
{
	struct google_tokens *gt = w->gt;
	for (struct flight *f = gt->flights; f; f = f->next) {
		if (strcmp(f->user_id, w->user_id) == 0) {
			w->next = f->waiters;
			f->waiters = w;
			return;
		}
	}
	struct flight *f = xcalloc(1, sizeof *f);
	f->gt = gt;
	f->user_id = xstrdup(w->user_id);
	f->refresh_token = xstrdup(refresh_token);
	f->waiters = w;
	f->next = gt->flights;
	gt->flights = f;
	send_refresh(f);
}

static void on_row(void *arg, PGresult *res, const char *err)
{
	struct waiter *w = arg;
	if (err || w->gt->closing) {
		if (err && !w->gt->closing)
			log_warn("google", "tenant=%s: reading the calendar tokens failed: %s",
				 w->user_id, err);
		waiter_done(w, NULL, GOOGLE_ERR_UNAVAILABLE);
		return;
	}
	if (PQntuples(res) == 0) {
		waiter_done(w, NULL, GOOGLE_ERR_NOT_CONNECTED);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "t") == 0) {
		waiter_done(w, NULL, GOOGLE_ERR_DISCONNECTED);
		return;
	}
	const char *access = PQgetvalue(res, 0, 0);
	long left = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	if (!w->refresh && *access && left > GOOGLE_TOKEN_MARGIN_SECONDS) {
		waiter_done(w, access, NULL);
		return;
	}
	refresh(w, PQgetvalue(res, 0, 1));
}

void google_tokens_get(struct google_tokens *gt, const char *user_id, bool refresh,
		       google_token_cb cb, void *ctx)
{
	struct waiter *w = xcalloc(1, sizeof *w);
	w->gt = gt;
	w->user_id = xstrdup(user_id);
	w->refresh = refresh;
	w->cb = cb;
	w->ctx = ctx;
	if (gt->closing) {
		refuse_later(w);
		return;
	}
	const char *p[] = {user_id};
	db_query(gt->app->db,
		 "SELECT access_token, refresh_token,"
		 "       extract(epoch FROM token_expiry - now() AT TIME ZONE 'UTC')::bigint,"
		 "       disconnected_at IS NOT NULL"
		 "  FROM google_calendar_tokens WHERE user_id = $1",
		 1, p, on_row, w);
}

struct google_tokens *google_tokens_new(struct app *app, struct http_client *http)
{
	struct google_tokens *gt = xcalloc(1, sizeof *gt);
	gt->app = app;
	gt->http = http;
	defer_init(&gt->refused, app->base, on_refused, gt);
	metrics_declare("parley_google_token_refreshes_total", METRIC_COUNTER,
			"Google access token refreshes by outcome (ok, revoked, failed).");
	metrics_declare("parley_calendar_disconnects_total", METRIC_COUNTER,
			"Tenants' calendars marked disconnected because Google refused the "
			"refresh token (invalid_grant).");
	return gt;
}

void google_tokens_close(struct google_tokens *gt)
{
	if (gt)
		gt->closing = true;
}

void google_tokens_free(struct google_tokens *gt)
{
	if (!gt)
		return;
	/* Refusals not yet delivered are owed their callback; those callbacks
	 * may ask again (closing: refused, into the list): loop until none. */
	defer_flush(&gt->refused);
	defer_fini(&gt->refused);
	/* Flights still here wait for a client or pool that is gone: their
	 * waiters belong to freed work too. */
	while (gt->flights) {
		struct flight *f = gt->flights;
		gt->flights = f->next;
		while (f->waiters) {
			struct waiter *w = f->waiters;
			f->waiters = w->next;
			free(w->user_id);
			free(w);
		}
		flight_free(f);
	}
	free(gt);
}
