#include "meeting_tools.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <openssl/rand.h>
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
#include "metrics.h"
#include "retry.h"
#include "strbuf.h"
#include "xalloc.h"

#define GOOGLE_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 5000
/* A conference still being created is looked up this often, this late. */
#define CONFERENCE_POLLS 3
#define CONFERENCE_POLL_MS 1000
/* Writing the meetings row is tried this often before the reservation is
 * left to the recovery pass. */
#define CONFIRM_TRIES 5
#define CONFIRM_RETRY_MS 1000
/* Reservations the recovery pass takes at once. */
#define RECOVER_BATCH 5
#define DEFAULT_LEASE_SECONDS 30

/* What the model reads when a tool could not do its work. */
#define MSG_DISCONNECTED                                                                            \
	"The business's calendar is not connected, so meetings cannot be checked or booked "       \
	"now. Do not promise a time; offer that someone will follow up."
#define MSG_UNAVAILABLE                                                                             \
	"The calendar could not be reached just now. Do not promise a time; offer to try again "   \
	"later or that someone will follow up."
#define MSG_BUSY                                                                                    \
	"That time is not free in the calendar. Check availability and offer the customer "        \
	"another time."
#define MSG_UNCONFIRMED                                                                             \
	"The calendar did not confirm the booking in time. Do not promise the meeting; say the "   \
	"business will confirm it by email."

struct meeting_tools {
	struct app *app;
	struct http_client *http; /* NULL: tools off */
	struct google_tokens *tokens;
	char *declarations;
	const char *zoneinfo;
	struct run *runs; /* in flight, freed by meeting_tools_free at shutdown */
	/* offers answered "no" on the next turn of the loop */
	struct offer *refused;
	struct event *pass;
	long booking_lease;
	int recovering; /* recovery runs in flight */
	bool closing;
};

/*
 * One batch of function calls (or one reservation being recovered). The
 * steps of a call chain through callbacks; each ends in exactly one of
 * output(), done() or a further step.
 */
struct run {
	struct run *next;
	struct meeting_tools *mt;
	char ctx[200];
	char *user_id, *conversation_id;
	struct openai_call *calls;
	size_t n, i;
	char **outputs;
	meeting_run_cb cb;
	void *cb_ctx;
	bool recovery; /* the recovery pass: one reservation, no outputs */
	/* the first call starts from the loop, not inside meeting_tools_run */
	struct event *start;

	/* the call in progress */
	const char *tool; /* metrics label */
	struct meeting_availability av;
	struct meeting_booking bk;
	char *meeting_id, *event_id;
	bool reserved;	/* a reservation of ours exists */
	bool inserting; /* an insert went out: the event may exist */
	char *token;	/* access token (secret) */
	bool refreshed; /* after a 401, once */
	int attempt, tries, polls;
	double started;
	char *meet_link;
	const char *fail_outcome, *fail_code, *fail_msg; /* while the reservation goes */
	/* the Google request in progress, kept for retries */
	const char *method;
	char *url, *body;
	void (*then)(struct run *r, const struct http_resp *resp, const char *err);
};

static void next_call(struct run *r);
static void send_google(struct run *r);

static void count_call(const char *tool, const char *outcome)
{
	char labels[96];
	snprintf(labels, sizeof labels, "tool=\"%s\",outcome=\"%s\"", tool, outcome);
	metrics_add("parley_meeting_tool_calls_total", labels, 1);
}

/* Forgets the call in progress (not the run). */
static void call_reset(struct run *r)
{
	meeting_booking_clear(&r->bk);
	memset(&r->av, 0, sizeof r->av);
	free(r->meeting_id);
	free(r->event_id);
	free(r->meet_link);
	free(r->url);
	free(r->body);
	r->meeting_id = r->event_id = r->meet_link = r->url = r->body = NULL;
	r->reserved = r->inserting = r->refreshed = false;
	r->attempt = r->tries = r->polls = 0;
}

static void run_free(struct run *r)
{
	struct meeting_tools *mt = r->mt;
	for (struct run **p = &mt->runs; *p; p = &(*p)->next) {
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

/* The run is over: its caller gets the outputs (NULL at shutdown). */
static void done(struct run *r)
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

/* The call in progress is answered with out (taken over). */
static void output(struct run *r, char *out)
{
	if (r->recovery) {
		free(out);
		done(r);
		return;
	}
	r->outputs[r->i++] = out;
	call_reset(r);
	next_call(r);
}

static void output_error(struct run *r, const char *outcome, const char *code, const char *msg)
{
	count_call(r->tool, outcome);
	output(r, meeting_args_error(code, msg));
}

/* ---- database steps ------------------------------------------------------ */

static void on_released(void *arg, PGresult *res, const char *err);

/*
 * A booking that will not happen: its reservation goes (unless an insert
 * may have created the event: then the recovery pass decides), and the
 * model is told why. outcome, code and msg are static texts.
 */
static void booking_failed(struct run *r, const char *outcome, const char *code,
			   const char *msg)
{
	if (r->mt->closing) {
		done(r);
		return;
	}
	if (r->inserting && !r->recovery) {
		log_warn(r->ctx, "meeting %s: booking not confirmed (%s); the recovery pass will "
				 "finish or drop it",
			 r->meeting_id, outcome);
		output_error(r, "unconfirmed", "booking_unconfirmed", MSG_UNCONFIRMED);
		return;
	}
	if (!r->reserved || r->inserting) {
		/* Nothing of ours to drop (or, recovering, nothing decided). */
		if (r->recovery)
			done(r);
		else
			output_error(r, outcome, code, msg);
		return;
	}
	r->fail_outcome = outcome;
	r->fail_code = code;
	r->fail_msg = msg;
	r->reserved = false;
	const char *p[] = {r->meeting_id};
	db_query(r->mt->app->db, "DELETE FROM meeting_bookings WHERE meeting_id = $1", 1, p,
		 on_released, r);
}

static void on_released(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct run *r = arg;
	if (err && !r->mt->closing)
		log_warn(r->ctx, "meeting %s: dropping the reservation failed (%s); the "
				 "recovery pass will",
			 r->meeting_id, err);
	if (r->mt->closing || r->recovery) {
		if (r->recovery && !err) {
			metrics_add("parley_meetings_recovered_total", "outcome=\"dropped\"", 1);
			log_info(r->ctx, "meeting %s: no event was created; reservation dropped",
				 r->meeting_id);
		}
		done(r);
		return;
	}
	output_error(r, r->fail_outcome, r->fail_code, r->fail_msg);
}

static void confirm(struct run *r);

static void on_confirm_retry(void *arg, bool cancelled)
{
	struct run *r = arg;
	if (cancelled || r->mt->closing) {
		done(r);
		return;
	}
	confirm(r);
}

static void on_confirmed(void *arg, PGresult *res, const char *err)
{
	struct run *r = arg;
	if (r->mt->closing) {
		done(r);
		return;
	}
	if (err) {
		/* Only what may pass is tried again: a refusal (a constraint,
		 * a raised exception) would be refused every time. */
		if (db_error_retryable(err) && ++r->tries < CONFIRM_TRIES) {
			http_client_after(r->mt->http, CONFIRM_RETRY_MS, on_confirm_retry, r);
			return;
		}
		/* The event exists: the customer is invited. The reservation stays
		 * for the recovery pass, which writes the row later. */
		log_error(r->ctx, "meeting %s: booked in Google but not stored (%s); the recovery "
				  "pass will store it",
			  r->meeting_id, err);
	} else {
		char when[GCAL_TIME_BUF];
		gcal_time_format(r->bk.start, 0, when);
		log_info(r->ctx, "meeting %s booked at %s for %ld min%s", r->meeting_id, when,
			 r->bk.duration, r->meet_link ? " with a Meet link" : "");
		(void)res;
	}
	if (r->recovery) {
		/* Recovered only when stored: a refused row stays for the next pass. */
		if (!err)
			metrics_add("parley_meetings_recovered_total", "outcome=\"booked\"", 1);
		done(r);
		return;
	}
	count_call(r->tool, "booked");
	output(r, meeting_args_booked(&r->bk, r->meeting_id, r->meet_link, false));
}

static void confirm(struct run *r)
{
	char when[GCAL_TIME_BUF], dur[24];
	gcal_time_format(r->bk.start, 0, when);
	snprintf(dur, sizeof dur, "%ld", r->bk.duration);
	const char *p[] = {r->meeting_id,	  r->user_id,	       r->conversation_id,
			   r->event_id,		  r->bk.title,	       r->bk.customer_name,
			   r->bk.customer_email, when,		       dur,
			   r->bk.timezone,	  r->meet_link};
	db_query(r->mt->app->db,
		 "SELECT parley_meeting_confirm($1, $2, $3, $4, $5, $6, $7,"
		 " ($8::timestamptz AT TIME ZONE 'UTC'), $9::integer, $10, $11)",
		 11, p, on_confirmed, r);
}

/* ---- Google requests -------------------------------------------------------- */

static void google(struct run *r, const char *method, char *url, char *body,
		   void (*then)(struct run *, const struct http_resp *, const char *))
{
	free(r->url);
	free(r->body);
	r->method = method;
	r->url = url;
	r->body = body;
	r->then = then;
	r->attempt = 0;
	send_google(r);
}

static void on_google_token(void *arg, const char *token, const char *err)
{
	struct run *r = arg;
	if (r->mt->closing) {
		done(r);
		return;
	}
	if (err) {
		bool off = err == GOOGLE_ERR_DISCONNECTED || err == GOOGLE_ERR_NOT_CONNECTED;
		if (off)
			log_warn(r->ctx, "calendar disconnected: %s", r->tool);
		booking_failed(r, off ? "disconnected" : "unavailable",
			       off ? "calendar_disconnected" : "calendar_unavailable",
			       off ? MSG_DISCONNECTED : MSG_UNAVAILABLE);
		return;
	}
	xfree_secret(r->token);
	r->token = xstrdup(token);
	send_google(r);
}

static void on_google_retry(void *arg, bool cancelled)
{
	struct run *r = arg;
	if (cancelled || r->mt->closing) {
		done(r);
		return;
	}
	send_google(r);
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
	struct run *r = arg;
	char labels[64];
	snprintf(labels, sizeof labels, "target=\"google\",class=\"%s\"",
		 err ? "error" : resp->status >= 500 ? "5xx" : resp->status >= 400 ? "4xx"
						    : resp->status >= 200 && resp->status < 300 ? "2xx"
											     : "other");
	metrics_add("parley_upstream_requests_total", labels, 1);
	metrics_observe("parley_upstream_duration_seconds", "target=\"google\"",
			clock_mono() - r->started);
	if (r->mt->closing) {
		done(r);
		return;
	}
	if (!err && resp->status == 401 && !r->refreshed) {
		/* The stored token was revoked or expired early: refresh once. */
		log_info(r->ctx, "Google answered 401; refreshing the access token");
		r->refreshed = true;
		google_tokens_get(r->mt->tokens, r->user_id, true, on_google_token, r);
		return;
	}
	if (google_retryable(resp, err) &&
	    ++r->attempt < r->mt->app->cfg.replies_max_attempts) {
		long ms = retry_delay_ms(r->attempt, err ? NULL : resp->retry_after, NULL,
					 (unsigned)rand());
		if (!err && resp->retry_after)
			ms += 25; /* retry-after is a minimum; timers are not exact */
		log_warn(r->ctx, "Google %s attempt %d failed (%s); retrying in %ld ms", r->method,
			 r->attempt, err ? err : "HTTP error", ms);
		http_client_after(r->mt->http, ms, on_google_retry, r);
		return;
	}
	r->then(r, resp, err);
}

static void send_google(struct run *r)
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

/* "HTTP 403 forbiddenForNonOrganizer" or the transport error, for logs. */
static void describe(const struct http_resp *resp, const char *err, char *out, size_t len)
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

static void on_availability(struct run *r, const struct http_resp *resp, const char *err)
{
	char why[160];
	if (err || resp->status < 200 || resp->status >= 300) {
		describe(resp, err, why, sizeof why);
		log_warn(r->ctx, "check_availability: freeBusy failed: %s", why);
		output_error(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	struct gcal_interval *busy;
	size_t n;
	const char *bad = gcal_freebusy_parse(resp->body, resp->body_len,
					      r->mt->app->cfg.google_calendar_id, &busy, &n);
	if (bad) {
		log_warn(r->ctx, "check_availability: unusable freeBusy answer: %s", bad);
		output_error(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	struct gcal_interval slots[MEETING_MAX_SLOTS];
	size_t total = gcal_free_slots(busy, n, r->av.from, r->av.to, r->av.duration * 60,
				       MEETING_SLOT_STEP_SECONDS, r->av.offset,
				       time(NULL) + MEETING_MIN_LEAD_SECONDS, slots,
				       MEETING_MAX_SLOTS);
	free(busy);
	count_call(r->tool, "ok");
	output(r, meeting_args_slots(&r->av, slots, total < MEETING_MAX_SLOTS ? total
									    : MEETING_MAX_SLOTS,
				     total));
}

static void check_availability(struct run *r, const struct openai_call *c)
{
	const struct config *cfg = &r->mt->app->cfg;
	char why[256];
	if (meeting_args_availability(c->arguments, strlen(c->arguments), time(NULL),
				      cfg->google_default_duration_minutes, &r->av, why,
				      sizeof why) < 0) {
		log_info(r->ctx, "check_availability: invalid arguments: %s", why);
		output_error(r, "invalid_arguments", "invalid_arguments", why);
		return;
	}
	google(r, "POST", xasprintf("%s/freeBusy", cfg->google_calendar_url),
	       gcal_freebusy_request(cfg->google_calendar_id, r->av.from, r->av.to),
	       on_availability);
}

/* ---- book_meeting ----------------------------------------------------------- */

static void get_event(struct run *r);
static void check_free(struct run *r);

static void conference_poll(void *arg, bool cancelled)
{
	struct run *r = arg;
	if (cancelled || r->mt->closing) {
		done(r);
		return;
	}
	get_event(r);
}

/* The event exists in Google (ev): record it, once its Meet link is there
 * or polling for it gave up. */
static void event_exists(struct run *r, const struct gcal_event *ev)
{
	free(r->meet_link);
	r->meet_link = ev->meet_link ? xstrdup(ev->meet_link) : NULL;
	if (!r->meet_link && strcmp(ev->conference, "pending") == 0 &&
	    r->polls++ < CONFERENCE_POLLS) {
		http_client_after(r->mt->http, CONFERENCE_POLL_MS, conference_poll, r);
		return;
	}
	r->tries = 0;
	confirm(r);
}

static void on_event(struct run *r, const struct http_resp *resp, const char *err)
{
	char why[160];
	if (!err && (resp->status == 404 || resp->status == 410)) {
		/* Never inserted (or gone): a recovery drops the reservation, a
		 * booking goes on to make it. */
		r->inserting = false;
		if (r->recovery) {
			booking_failed(r, "dropped", "", "");
			return;
		}
		check_free(r);
		return;
	}
	struct gcal_event ev;
	if (err || resp->status < 200 || resp->status >= 300 ||
	    gcal_event_parse(resp->body, resp->body_len, &ev) < 0) {
		describe(resp, err, why, sizeof why);
		log_warn(r->ctx, "meeting %s: looking up the event failed: %s", r->meeting_id, why);
		/* Whether the event exists is unknown: keep the reservation. */
		r->inserting = true;
		booking_failed(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	if (strcmp(ev.status, "cancelled") == 0) {
		/* Inserted by an earlier attempt, then cancelled in the calendar
		 * before we recorded it: the owner does not want it. */
		log_warn(r->ctx, "meeting %s: its event was cancelled in the calendar; not booked",
			 r->meeting_id);
		gcal_event_clear(&ev);
		r->inserting = false;
		booking_failed(r, "cancelled", "not_booked",
			       "The booking was cancelled in the calendar. Check availability "
			       "and offer another time.");
		return;
	}
	event_exists(r, &ev);
	gcal_event_clear(&ev);
}

static void get_event(struct run *r)
{
	const struct config *cfg = &r->mt->app->cfg;
	google(r, "GET",
	       gcal_events_url(cfg->google_calendar_url, cfg->google_calendar_id, r->event_id, NULL),
	       NULL, on_event);
}

static void on_inserted(struct run *r, const struct http_resp *resp, const char *err)
{
	char why[160];
	if (!err && resp->status == 409) {
		/* The id exists: an earlier attempt (or this one, whose answer
		 * was lost) inserted it. */
		log_info(r->ctx, "meeting %s: the event exists already (409); fetching it",
			 r->meeting_id);
		get_event(r);
		return;
	}
	struct gcal_event ev;
	if (!err && resp->status >= 200 && resp->status < 300 &&
	    gcal_event_parse(resp->body, resp->body_len, &ev) == 0) {
		event_exists(r, &ev);
		gcal_event_clear(&ev);
		return;
	}
	describe(resp, err, why, sizeof why);
	if (!err && resp->status >= 400 && resp->status < 500) {
		/* Refused for good: no event was made. */
		log_warn(r->ctx, "meeting %s: Google refused the event: %s", r->meeting_id, why);
		r->inserting = false;
		booking_failed(r, "refused", "not_booked",
			       "The calendar refused the booking. Do not promise the meeting; "
			       "offer that someone will follow up.");
		return;
	}
	log_warn(r->ctx, "meeting %s: inserting the event failed: %s", r->meeting_id, why);
	booking_failed(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
}

static void insert_event(struct run *r)
{
	const struct config *cfg = &r->mt->app->cfg;
	char *request_id = gcal_request_id(r->meeting_id);
	char *description = xasprintf("Booked by the assistant in a customer conversation "
				      "(meeting %s).",
				      r->meeting_id);
	struct gcal_event_spec spec = {
		.event_id = r->event_id,
		.request_id = request_id,
		.title = r->bk.title,
		.description = description,
		.start = r->bk.start,
		.end = r->bk.start + r->bk.duration * 60,
		.timezone = r->bk.timezone,
		.attendee_email = r->bk.customer_email,
		.attendee_name = r->bk.customer_name,
		.meeting_id = r->meeting_id,
		.conversation_id = r->conversation_id,
	};
	char *body = gcal_event_request(&spec);
	free(request_id);
	free(description);
	r->inserting = true;
	google(r, "POST",
	       gcal_events_url(cfg->google_calendar_url, cfg->google_calendar_id, NULL,
			       "conferenceDataVersion=1&sendUpdates=all"),
	       body, on_inserted);
}

static void on_slot_checked(struct run *r, const struct http_resp *resp, const char *err)
{
	char why[160];
	if (err || resp->status < 200 || resp->status >= 300) {
		describe(resp, err, why, sizeof why);
		log_warn(r->ctx, "book_meeting: freeBusy failed: %s", why);
		booking_failed(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	struct gcal_interval *busy;
	size_t n;
	const char *bad = gcal_freebusy_parse(resp->body, resp->body_len,
					      r->mt->app->cfg.google_calendar_id, &busy, &n);
	if (bad) {
		log_warn(r->ctx, "book_meeting: unusable freeBusy answer: %s", bad);
		booking_failed(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	bool taken = gcal_overlaps(busy, n, r->bk.start, r->bk.start + r->bk.duration * 60);
	free(busy);
	if (taken) {
		log_info(r->ctx, "book_meeting: the slot is busy");
		booking_failed(r, "busy", "slot_busy", MSG_BUSY);
		return;
	}
	insert_event(r);
}

/* freeBusy is advisory (another booking can land before the insert), but
 * it keeps the agent from booking over what the calendar already holds. */
static void check_free(struct run *r)
{
	const struct config *cfg = &r->mt->app->cfg;
	google(r, "POST", xasprintf("%s/freeBusy", cfg->google_calendar_url),
	       gcal_freebusy_request(cfg->google_calendar_id, r->bk.start,
				     r->bk.start + r->bk.duration * 60),
	       on_slot_checked);
}

static void on_reserved(void *arg, PGresult *res, const char *err)
{
	struct run *r = arg;
	if (r->mt->closing) {
		done(r);
		return;
	}
	if (err) {
		log_warn(r->ctx, "book_meeting: reserving failed: %s", err);
		output_error(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	cJSON *o = cJSON_Parse(PQgetvalue(res, 0, 0));
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(o, "state"));
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(o, "meeting_id"));
	const char *ev = cJSON_GetStringValue(cJSON_GetObjectItem(o, "google_event_id"));
	if (state && strcmp(state, "limit") == 0) {
		cJSON_Delete(o);
		long max = r->mt->app->cfg.google_max_bookings_per_conversation;
		log_info(r->ctx, "book_meeting: the conversation already has %ld scheduled "
				 "meeting(s) (google.max_bookings_per_conversation); not booked",
			 max);
		char msg[320];
		snprintf(msg, sizeof msg,
			 "This conversation already has %ld scheduled meeting(s), the most one "
			 "conversation may book. Do not book another and do not promise one; tell "
			 "the customer the existing booking stands and that the business can follow "
			 "up about further meetings.",
			 max);
		output_error(r, "limit", "booking_limit", msg);
		return;
	}
	if (!state || !id || !ev) {
		cJSON_Delete(o);
		output_error(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	free(r->meeting_id);
	free(r->event_id);
	r->meeting_id = xstrdup(id);
	r->event_id = xstrdup(ev);
	if (strcmp(state, "booked") == 0) {
		const char *link = cJSON_GetStringValue(cJSON_GetObjectItem(o, "meet_link"));
		log_info(r->ctx, "meeting %s: already booked at that time", r->meeting_id);
		count_call(r->tool, "already_booked");
		char *out = meeting_args_booked(&r->bk, r->meeting_id, link, true);
		cJSON_Delete(o);
		output(r, out);
		return;
	}
	r->reserved = true;
	bool resume = strcmp(state, "resume") == 0;
	cJSON_Delete(o);
	if (resume) {
		log_info(r->ctx, "meeting %s: resuming a booking an earlier attempt left",
			 r->meeting_id);
		get_event(r);
		return;
	}
	check_free(r);
}

static void new_meeting_id(char out[29])
{
	unsigned char b[12];
	if (RAND_bytes(b, sizeof b) != 1)
		abort(); /* no randomness: nothing sensible to do, as on OOM */
	memcpy(out, "mtg_", 4);
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(out + 4 + 2 * i, 3, "%02x", b[i]);
}

static void reserve(struct run *r)
{
	char id[29], when[GCAL_TIME_BUF], dur[24], lease[24], max[24];
	new_meeting_id(id);
	snprintf(max, sizeof max, "%ld", r->mt->app->cfg.google_max_bookings_per_conversation);
	r->event_id = gcal_event_id(id);
	gcal_time_format(r->bk.start, 0, when);
	snprintf(dur, sizeof dur, "%ld", r->bk.duration);
	snprintf(lease, sizeof lease, "%ld", r->mt->booking_lease);
	const char *p[] = {id,
			   r->event_id,
			   r->user_id,
			   r->conversation_id,
			   when,
			   dur,
			   r->bk.timezone,
			   r->bk.title,
			   r->bk.customer_name,
			   r->bk.customer_email,
			   lease,
			   max};
	/*
	 * google.max_bookings_per_conversation (docs/protocol.md, Meeting
	 * tools): the conversation's scheduled meetings and reservations at
	 * other times (the same time is the idempotent re-booking
	 * parley_meeting_reserve answers "booked" or resumes). Counting in the
	 * reserving statement is enough: the caller holds the conversation's
	 * reply claim and a run's calls go one after another, so no two
	 * bookings of one conversation reserve at once; the recovery pass only
	 * turns a reservation into a meeting in one transaction, which leaves
	 * the sum as it was in any snapshot.
	 */
	db_query(r->mt->app->db,
		 "SELECT CASE WHEN"
		 " (SELECT count(*) FROM meetings WHERE conversation_id = $4"
		 "     AND status = 'scheduled' AND meeting_time <> t.at)"
		 " + (SELECT count(*) FROM meeting_bookings WHERE conversation_id = $4"
		 "     AND meeting_time <> t.at) >= $12::integer"
		 " THEN jsonb_build_object('state', 'limit')"
		 " ELSE parley_meeting_reserve($1, $2, $3, $4, t.at, $6::integer, $7, $8, $9, $10,"
		 " $11::integer) END"
		 " FROM (SELECT $5::timestamptz AT TIME ZONE 'UTC' AS at) t",
		 12, p, on_reserved, r);
}

/* The token first: a disconnected calendar must not leave reservations. */
static void on_book_token(void *arg, const char *token, const char *err)
{
	struct run *r = arg;
	if (r->mt->closing) {
		done(r);
		return;
	}
	if (err) {
		on_google_token(r, token, err);
		return;
	}
	xfree_secret(r->token);
	r->token = xstrdup(token);
	reserve(r);
}

static void book_meeting(struct run *r, const struct openai_call *c)
{
	const struct config *cfg = &r->mt->app->cfg;
	char why[256];
	if (meeting_args_booking(c->arguments, strlen(c->arguments), time(NULL),
				 cfg->google_default_duration_minutes, r->mt->zoneinfo, &r->bk, why,
				 sizeof why) < 0) {
		log_info(r->ctx, "book_meeting: invalid arguments: %s", why);
		output_error(r, "invalid_arguments", "invalid_arguments", why);
		return;
	}
	google_tokens_get(r->mt->tokens, r->user_id, false, on_book_token, r);
}

/* ---- runs ----------------------------------------------------------------------- */

static void next_call(struct run *r)
{
	if (r->mt->closing || r->i == r->n) {
		done(r);
		return;
	}
	const struct openai_call *c = &r->calls[r->i];
	if (strcmp(c->name, MEETING_TOOL_AVAILABILITY) == 0) {
		r->tool = MEETING_TOOL_AVAILABILITY;
		check_availability(r, c);
	} else if (strcmp(c->name, MEETING_TOOL_BOOK) == 0) {
		r->tool = MEETING_TOOL_BOOK;
		book_meeting(r, c);
	} else {
		r->tool = "unknown";
		log_warn(r->ctx, "the model called an unknown tool");
		output_error(r, "unknown_tool", "unknown_tool",
			     "There is no such tool; use check_availability or book_meeting.");
	}
}

static struct run *run_new(struct meeting_tools *mt, const char *user_id,
			   const char *conversation_id, const char *log_ctx)
{
	struct run *r = xcalloc(1, sizeof *r);
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
	struct run *r = run_new(mt, user_id, conversation_id, log_ctx);
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
	struct offer *next; /* in mt->refused */
	meeting_offer_cb cb;
	void *ctx;
	struct meeting_tools *mt;
	struct event *ev; /* refusals only */
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

static void offer_free(struct offer *o)
{
	for (struct offer **p = &o->mt->refused; *p; p = &(*p)->next) {
		if (*p == o) {
			*p = o->next;
			break;
		}
	}
	event_free(o->ev);
	free(o);
}

static void on_offer_refused(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct offer *o = arg;
	meeting_offer_cb cb = o->cb;
	void *ctx = o->ctx;
	offer_free(o);
	cb(ctx, false);
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
		o->next = mt->refused;
		mt->refused = o;
		o->ev = evtimer_new(mt->app->base, on_offer_refused, o);
		static const struct timeval now = {0, 0};
		evtimer_add(o->ev, &now);
		return;
	}
	const char *p[] = {user_id};
	db_query(mt->app->db, "SELECT parley_calendar_state($1) = 'connected'", 1, p, on_offer, o);
}

/* ---- the periodic pass -------------------------------------------------------------- */

static void on_completed(void *arg, PGresult *res, const char *err)
{
	struct meeting_tools *mt = arg;
	if (mt->closing)
		return;
	if (err) {
		log_warn("meetings", "completing past meetings failed: %s", err);
		return;
	}
	long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0) {
		metrics_add("parley_meetings_completed_total", NULL, (double)n);
		log_info("meetings", "%ld past meeting(s) marked completed", n);
	}
}

static char *dup_field(cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return s ? xstrdup(s) : NULL;
}

/* Finishes one reservation whose process died: its event decides. */
static void recover(struct meeting_tools *mt, cJSON *o)
{
	char *user = dup_field(o, "user_id"), *conv = dup_field(o, "conversation_id");
	cJSON *epoch = cJSON_GetObjectItem(o, "start_epoch");
	cJSON *dur = cJSON_GetObjectItem(o, "duration_minutes");
	char ctx[160];
	snprintf(ctx, sizeof ctx, "conv=%s tenant=%s recovery", conv ? conv : "?",
		 user ? user : "?");
	struct run *r = run_new(mt, user ? user : "", conv ? conv : "", ctx);
	free(user);
	free(conv);
	r->recovery = true;
	r->tool = MEETING_TOOL_BOOK;
	mt->recovering++;
	r->meeting_id = dup_field(o, "meeting_id");
	r->event_id = dup_field(o, "google_event_id");
	r->bk.start = cJSON_IsNumber(epoch) ? (time_t)epoch->valuedouble : 0;
	r->bk.duration = cJSON_IsNumber(dur) ? (long)dur->valuedouble : 30;
	r->bk.timezone = dup_field(o, "timezone");
	r->bk.title = dup_field(o, "title");
	r->bk.customer_name = dup_field(o, "customer_name");
	r->bk.customer_email = dup_field(o, "customer_email");
	r->reserved = true;
	if (!r->meeting_id || !r->event_id || !r->bk.timezone || !r->bk.title ||
	    !r->bk.customer_email) {
		done(r);
		return;
	}
	log_info(r->ctx, "meeting %s: finishing a booking whose process stopped", r->meeting_id);
	get_event(r);
}

static void on_stale(void *arg, PGresult *res, const char *err)
{
	struct meeting_tools *mt = arg;
	if (mt->closing)
		return;
	if (err) {
		log_warn("meetings", "looking for interrupted bookings failed: %s", err);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		cJSON *o = cJSON_Parse(PQgetvalue(res, i, 0));
		if (o)
			recover(mt, o);
		cJSON_Delete(o);
	}
}

static void pass_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct meeting_tools *mt = arg;
	if (mt->closing || db_pool_ready(mt->app->db) == 0)
		return;
	db_query(mt->app->db, "SELECT parley_complete_meetings()", 0, NULL, on_completed, mt);
	if (!meeting_tools_enabled(mt) || mt->recovering > 0)
		return;
	char limit[16], lease[24];
	snprintf(limit, sizeof limit, "%d", RECOVER_BATCH);
	snprintf(lease, sizeof lease, "%ld", mt->booking_lease);
	const char *p[] = {limit, lease};
	db_query(mt->app->db, "SELECT parley_claim_stale_bookings($1::integer, $2::integer)", 2, p,
		 on_stale, mt);
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
	metrics_declare("parley_meeting_tool_calls_total", METRIC_COUNTER,
			"Meeting tool calls by tool and outcome (ok, booked, already_booked, limit, "
			"busy, invalid_arguments, disconnected, unavailable, unconfirmed, refused, "
			"cancelled, unknown_tool).");
	metrics_declare("parley_meetings_completed_total", METRIC_COUNTER,
			"Scheduled meetings marked completed after their end.");
	metrics_declare("parley_meetings_recovered_total", METRIC_COUNTER,
			"Interrupted bookings finished by the recovery pass (booked, dropped).");
	if (meeting_tools_enabled(mt))
		log_info("meetings", "meeting tools on (calendar %s)", app->cfg.google_calendar_id);
	mt->pass = event_new(app->base, -1, EV_PERSIST, pass_tick, mt);
	struct timeval tv = {every, 0};
	event_add(mt->pass, &tv);
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
	for (struct run *r = mt->runs; r; r = r->next)
		r->cb = NULL;
	google_tokens_free(mt->tokens);
	while (mt->runs)
		run_free(mt->runs);
	/* Refusals the loop did not get to: their callers are gone too. */
	while (mt->refused)
		offer_free(mt->refused);
	if (mt->pass)
		event_free(mt->pass);
	free(mt->declarations);
	free(mt);
}
