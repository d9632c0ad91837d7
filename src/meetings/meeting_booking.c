#include "meeting_booking.h"

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "db.h"
#include "google_calendar.h"
#include "google_tokens.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "meeting_args.h"
#include "meeting_internal.h"
#include "metrics.h"
#include "xalloc.h"

/* A conference still being created is looked up this often, this late. */
#define CONFERENCE_POLLS   3
#define CONFERENCE_POLL_MS 1000
/* Writing the meetings row is tried this often before the reservation is
 * left to the recovery pass. */
#define CONFIRM_TRIES    5
#define CONFIRM_RETRY_MS 1000

#define MSG_BUSY                                                                                   \
	"That time is not free in the calendar. Check availability and offer the customer "        \
	"another time."
#define MSG_UNCONFIRMED                                                                            \
	"The calendar did not confirm the booking in time. Do not promise the meeting; say the "   \
	"business will confirm it by email."

static void run(struct meeting_run *r);

static void go(struct meeting_run *r, enum meeting_step s)
{
	r->step = s;
	r->tries = 0;
	run(r);
}

static void on_wait(void *arg, bool cancelled)
{
	if (meeting_run_woke(arg, cancelled))
		run(arg);
}

/* The current step runs again in ms. */
static void again_in(struct meeting_run *r, long ms)
{
	http_client_after(r->mt->http, ms, on_wait, r);
}

/*
 * A recovery that could not look the event up: the reservation stays. A
 * disconnected calendar cannot be looked up until it is connected again, and
 * its event may well exist (the customer invited): dropping the reservation
 * would lose that meeting, so it stays, reported every pass, for as long as
 * it takes.
 */
static void recovery_deferred(struct meeting_run *r, const char *outcome)
{
	bool off = strcmp(outcome, "disconnected") == 0;
	char labels[48];
	snprintf(labels, sizeof labels, "reason=\"%s\"", off ? "disconnected" : "unavailable");
	metrics_add("parley_meeting_recoveries_deferred_total", labels, 1);
	if (off)
		log_warn(r->ctx,
			 "meeting %s: the event could not be looked up (disconnected); the "
			 "reservation stays until the calendar is connected again (parley "
			 "google connect)",
			 r->meeting_id);
	else
		log_warn(r->ctx,
			 "meeting %s: the event could not be looked up (%s); the reservation "
			 "stays for the next pass",
			 r->meeting_id, outcome);
}

/*
 * A booking that will not happen: its reservation goes (unless its event
 * may exist: an insert was sent, or a resumed or recovered reservation was
 * not looked up; then only the recovery pass's lookup decides), and the
 * model is told why. outcome, code and msg are static texts.
 */
void meeting_booking_failed(struct meeting_run *r, const char *outcome, const char *code,
			    const char *msg)
{
	if (r->mt->closing) {
		meeting_run_done(r);
		return;
	}
	if (r->hold == HOLD_MAYBE_EVENT && !r->recovery) {
		log_warn(r->ctx,
			 "meeting %s: booking not confirmed (%s); the recovery pass will "
			 "finish or drop it",
			 r->meeting_id, outcome);
		meeting_run_error(r, "unconfirmed", "booking_unconfirmed", MSG_UNCONFIRMED);
		return;
	}
	if (r->hold == HOLD_MAYBE_EVENT) {
		/* Recovering, and Google never said whether the event exists (no
		 * token, no answer): only that answer may end the reservation.
		 * Its lease (taken by the claim) holds it until a later pass. */
		recovery_deferred(r, outcome);
		meeting_run_done(r);
		return;
	}
	if (r->hold != HOLD_RESERVED) {
		/* Nothing of ours to drop. */
		if (r->recovery)
			meeting_run_done(r);
		else
			meeting_run_error(r, outcome, code, msg);
		return;
	}
	r->fail_outcome = outcome;
	r->fail_code = code;
	r->fail_msg = msg;
	r->hold = HOLD_NONE;
	go(r, STEP_RELEASE);
}

/* ---- step callbacks, in the order of the steps ------------------------------ */

/* The token first: a disconnected calendar must not leave reservations. */
static void on_token(void *arg, const char *token, const char *err)
{
	struct meeting_run *r = arg;
	if (meeting_run_took_token(r, token, err))
		go(r, STEP_RESERVE);
}

static void on_reserved(void *arg, PGresult *res, const char *err)
{
	struct meeting_run *r = arg;
	if (r->mt->closing) {
		meeting_run_done(r);
		return;
	}
	if (err) {
		log_warn(r->ctx, "book_meeting: reserving failed: %s", err);
		meeting_run_error(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	cJSON *o = cJSON_Parse(PQgetvalue(res, 0, 0));
	const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(o, "state"));
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(o, "meeting_id"));
	const char *ev = cJSON_GetStringValue(cJSON_GetObjectItem(o, "google_event_id"));
	if (state && strcmp(state, "limit") == 0) {
		cJSON_Delete(o);
		long max = r->mt->app->cfg.google_max_bookings_per_conversation;
		log_info(r->ctx,
			 "book_meeting: the conversation already has %ld scheduled "
			 "meeting(s) (google.max_bookings_per_conversation); not booked",
			 max);
		char msg[320];
		snprintf(
		    msg, sizeof msg,
		    "This conversation already has %ld scheduled meeting(s), the most one "
		    "conversation may book. Do not book another and do not promise one; tell "
		    "the customer the existing booking stands and that the business can follow "
		    "up about further meetings.",
		    max);
		meeting_run_error(r, "limit", "booking_limit", msg);
		return;
	}
	if (!state || !id || !ev) {
		cJSON_Delete(o);
		meeting_run_error(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	free(r->meeting_id);
	free(r->event_id);
	r->meeting_id = xstrdup(id);
	r->event_id = xstrdup(ev);
	if (strcmp(state, "booked") == 0) {
		const char *link = cJSON_GetStringValue(cJSON_GetObjectItem(o, "meet_link"));
		log_info(r->ctx, "meeting %s: already booked at that time", r->meeting_id);
		meeting_count_call(r->tool, "already_booked");
		char *out = meeting_args_booked(&r->bk, r->meeting_id, link, true);
		cJSON_Delete(o);
		meeting_run_output(r, out);
		return;
	}
	bool resume = strcmp(state, "resume") == 0;
	/* A resumed reservation's event may exist until the lookup says. */
	r->hold = resume ? HOLD_MAYBE_EVENT : HOLD_RESERVED;
	cJSON_Delete(o);
	if (resume)
		log_info(r->ctx, "meeting %s: resuming a booking an earlier attempt left",
			 r->meeting_id);
	go(r, resume ? STEP_LOOKUP : STEP_CHECK_FREE);
}

/* The event exists in Google (ev): record it, once its Meet link is there
 * or polling for it gave up. */
static void event_exists(struct meeting_run *r, const struct gcal_event *ev)
{
	free(r->meet_link);
	r->meet_link = ev->meet_link ? xstrdup(ev->meet_link) : NULL;
	if (!r->meet_link && strcmp(ev->conference, "pending") == 0 &&
	    r->polls++ < CONFERENCE_POLLS) {
		r->step = STEP_LOOKUP;
		again_in(r, CONFERENCE_POLL_MS);
		return;
	}
	go(r, STEP_CONFIRM);
}

static void looked_up(struct meeting_run *r, const struct http_resp *resp, const char *err)
{
	char why[160];
	if (!err && (resp->status == 404 || resp->status == 410)) {
		/* Never inserted (or gone): a recovery drops the reservation, a
		 * booking goes on to make it. */
		r->hold = HOLD_RESERVED;
		if (r->recovery) {
			meeting_booking_failed(r, "dropped", "", "");
			return;
		}
		go(r, STEP_CHECK_FREE);
		return;
	}
	struct gcal_event ev;
	if (err || resp->status < 200 || resp->status >= 300 ||
	    gcal_event_parse(resp->body, resp->body_len, &ev) < 0) {
		meeting_describe(resp, err, why, sizeof why);
		log_warn(r->ctx, "meeting %s: looking up the event failed: %s", r->meeting_id, why);
		/* Whether the event exists is unknown: keep the reservation. */
		r->hold = HOLD_MAYBE_EVENT;
		meeting_booking_failed(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	if (strcmp(ev.status, "cancelled") == 0) {
		/* Inserted by an earlier attempt, then cancelled in the calendar
		 * before we recorded it: the owner does not want it. */
		log_warn(r->ctx, "meeting %s: its event was cancelled in the calendar; not booked",
			 r->meeting_id);
		gcal_event_clear(&ev);
		r->hold = HOLD_RESERVED;
		meeting_booking_failed(r, "cancelled", "not_booked",
				       "The booking was cancelled in the calendar. Check "
				       "availability and offer another time.");
		return;
	}
	event_exists(r, &ev);
	gcal_event_clear(&ev);
}

static void slot_checked(struct meeting_run *r, const struct http_resp *resp, const char *err)
{
	struct gcal_interval *busy;
	size_t n;
	if (!meeting_freebusy_busy(r, resp, err, &busy, &n)) {
		meeting_booking_failed(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
		return;
	}
	bool taken = gcal_overlaps(busy, n, r->bk.start, r->bk.start + r->bk.duration * 60);
	free(busy);
	if (taken) {
		log_info(r->ctx, "book_meeting: the slot is busy");
		meeting_booking_failed(r, "busy", "slot_busy", MSG_BUSY);
		return;
	}
	go(r, STEP_INSERT);
}

static void inserted(struct meeting_run *r, const struct http_resp *resp, const char *err)
{
	char why[160];
	if (!err && resp->status == 409) {
		/* The id exists: an earlier attempt (or this one, whose answer
		 * was lost) inserted it. */
		log_info(r->ctx, "meeting %s: the event exists already (409); fetching it",
			 r->meeting_id);
		go(r, STEP_LOOKUP);
		return;
	}
	struct gcal_event ev;
	if (!err && resp->status >= 200 && resp->status < 300 &&
	    gcal_event_parse(resp->body, resp->body_len, &ev) == 0) {
		event_exists(r, &ev);
		gcal_event_clear(&ev);
		return;
	}
	meeting_describe(resp, err, why, sizeof why);
	if (!err && resp->status >= 400 && resp->status < 500) {
		/* Refused for good: no event was made. */
		log_warn(r->ctx, "meeting %s: Google refused the event: %s", r->meeting_id, why);
		r->hold = HOLD_RESERVED;
		meeting_booking_failed(r, "refused", "not_booked",
				       "The calendar refused the booking. Do not promise the "
				       "meeting; offer that someone will follow up.");
		return;
	}
	log_warn(r->ctx, "meeting %s: inserting the event failed: %s", r->meeting_id, why);
	meeting_booking_failed(r, "unavailable", "calendar_unavailable", MSG_UNAVAILABLE);
}

void meeting_booking_answered(struct meeting_run *r, const struct http_resp *resp, const char *err)
{
	switch (r->step) {
	case STEP_LOOKUP: looked_up(r, resp, err); return;
	case STEP_CHECK_FREE: slot_checked(r, resp, err); return;
	case STEP_INSERT: inserted(r, resp, err); return;
	case STEP_AVAILABILITY:
	case STEP_TOKEN:
	case STEP_RESERVE:
	case STEP_CONFIRM:
	case STEP_RELEASE: break; /* no Google request: cannot happen */
	}
	abort();
}

static void on_confirmed(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct meeting_run *r = arg;
	if (r->mt->closing) {
		meeting_run_done(r);
		return;
	}
	if (err) {
		/* Only what may pass is tried again: a refusal (a constraint,
		 * a raised exception) would be refused every time. */
		if (db_error_retryable(err) && ++r->tries < CONFIRM_TRIES) {
			again_in(r, CONFIRM_RETRY_MS);
			return;
		}
		/* The event exists: the customer is invited. The reservation stays
		 * for the recovery pass, which writes the row later. */
		log_error(r->ctx,
			  "meeting %s: booked in Google but not stored (%s); the recovery "
			  "pass will store it",
			  r->meeting_id, err);
	} else {
		char when[GCAL_TIME_BUF];
		gcal_time_format(r->bk.start, 0, when);
		log_info(r->ctx, "meeting %s booked at %s for %ld min%s", r->meeting_id, when,
			 r->bk.duration, r->meet_link ? " with a Meet link" : "");
	}
	if (r->recovery) {
		/* Recovered only when stored: a refused row stays for the next pass. */
		if (!err)
			metrics_add("parley_meetings_recovered_total", "outcome=\"booked\"", 1);
		meeting_run_done(r);
		return;
	}
	meeting_count_call(r->tool, "booked");
	meeting_run_output(r, meeting_args_booked(&r->bk, r->meeting_id, r->meet_link, false));
}

static void on_released(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct meeting_run *r = arg;
	if (err && !r->mt->closing)
		log_warn(r->ctx,
			 "meeting %s: dropping the reservation failed (%s); the "
			 "recovery pass will",
			 r->meeting_id, err);
	if (r->mt->closing || r->recovery) {
		if (r->recovery && !err) {
			metrics_add("parley_meetings_recovered_total", "outcome=\"dropped\"", 1);
			log_info(r->ctx, "meeting %s: no event was created; reservation dropped",
				 r->meeting_id);
		}
		meeting_run_done(r);
		return;
	}
	meeting_run_error(r, r->fail_outcome, r->fail_code, r->fail_msg);
}

/* ---- the steps ------------------------------------------------------------- */

static void new_meeting_id(char out[29])
{
	unsigned char b[12];
	if (RAND_bytes(b, sizeof b) != 1)
		abort(); /* no randomness: nothing sensible to do, as on OOM */
	memcpy(out, "mtg_", 4);
	for (size_t i = 0; i < sizeof b; i++)
		snprintf(out + 4 + 2 * i, 3, "%02x", b[i]);
}

static void reserve(struct meeting_run *r)
{
	char id[29], when[GCAL_TIME_BUF], dur[24], lease[24], max[24];
	new_meeting_id(id);
	snprintf(max, sizeof max, "%ld", r->mt->app->cfg.google_max_bookings_per_conversation);
	free(r->event_id);
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

static void insert_event(struct meeting_run *r)
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
	r->hold = HOLD_MAYBE_EVENT;
	meeting_google(r, "POST",
		       gcal_events_url(cfg->google_calendar_url, cfg->google_calendar_id, NULL,
				       "conferenceDataVersion=1&sendUpdates=all"),
		       body);
}

static void confirm(struct meeting_run *r)
{
	char when[GCAL_TIME_BUF], dur[24];
	gcal_time_format(r->bk.start, 0, when);
	snprintf(dur, sizeof dur, "%ld", r->bk.duration);
	const char *p[] = {r->meeting_id, r->user_id,          r->conversation_id,   r->event_id,
			   r->bk.title,   r->bk.customer_name, r->bk.customer_email, when,
			   dur,           r->bk.timezone,      r->meet_link};
	db_query(r->mt->app->db,
		 "SELECT parley_meeting_confirm($1, $2, $3, $4, $5, $6, $7,"
		 " ($8::timestamptz AT TIME ZONE 'UTC'), $9::integer, $10, $11)",
		 11, p, on_confirmed, r);
}

/* Runs the current step; every step ends in exactly one callback. */
static void run(struct meeting_run *r)
{
	const struct config *cfg = &r->mt->app->cfg;
	switch (r->step) {
	case STEP_TOKEN: google_tokens_get(r->mt->tokens, r->user_id, false, on_token, r); return;
	case STEP_RESERVE: reserve(r); return;
	case STEP_LOOKUP:
		meeting_google(r, "GET",
			       gcal_events_url(cfg->google_calendar_url, cfg->google_calendar_id,
					       r->event_id, NULL),
			       NULL);
		return;
	case STEP_CHECK_FREE:
		/* freeBusy is advisory (another booking can land before the
		 * insert), but it keeps the agent from booking over what the
		 * calendar already holds. */
		meeting_google(r, "POST", xasprintf("%s/freeBusy", cfg->google_calendar_url),
			       gcal_freebusy_request(cfg->google_calendar_id, r->bk.start,
						     r->bk.start + r->bk.duration * 60));
		return;
	case STEP_INSERT: insert_event(r); return;
	case STEP_CONFIRM: confirm(r); return;
	case STEP_RELEASE: {
		const char *p[] = {r->meeting_id};
		db_query(r->mt->app->db, "DELETE FROM meeting_bookings WHERE meeting_id = $1", 1, p,
			 on_released, r);
		return;
	}
	case STEP_AVAILABILITY: break; /* meeting_tools.c's, never here */
	}
	abort();
}

/* ---- entry points ----------------------------------------------------------- */

void meeting_booking_start(struct meeting_run *r, const char *arguments)
{
	const struct config *cfg = &r->mt->app->cfg;
	char why[256];
	if (meeting_args_booking(arguments, strlen(arguments), time(NULL),
				 cfg->google_default_duration_minutes, r->mt->zoneinfo, &r->bk, why,
				 sizeof why) < 0) {
		log_info(r->ctx, "book_meeting: invalid arguments: %s", why);
		meeting_run_error(r, "invalid_arguments", "invalid_arguments", why);
		return;
	}
	go(r, STEP_TOKEN);
}

void meeting_booking_recover(struct meeting_tools *mt, const char *reservation)
{
	cJSON *o = cJSON_Parse(reservation);
	if (!o)
		return;
	char *user = json_dup_string(o, "user_id"), *conv = json_dup_string(o, "conversation_id");
	cJSON *epoch = cJSON_GetObjectItem(o, "start_epoch");
	cJSON *dur = cJSON_GetObjectItem(o, "duration_minutes");
	char ctx[160];
	snprintf(ctx, sizeof ctx, "conv=%s tenant=%s recovery", conv ? conv : "?",
		 user ? user : "?");
	struct meeting_run *r = meeting_run_new(mt, user ? user : "", conv ? conv : "", ctx);
	free(user);
	free(conv);
	r->recovery = true;
	r->tool = MEETING_TOOL_BOOK;
	mt->recovering++;
	r->meeting_id = json_dup_string(o, "meeting_id");
	r->event_id = json_dup_string(o, "google_event_id");
	r->bk.start = cJSON_IsNumber(epoch) ? (time_t)epoch->valuedouble : 0;
	r->bk.duration = cJSON_IsNumber(dur) ? (long)dur->valuedouble : 30;
	r->bk.timezone = json_dup_string(o, "timezone");
	r->bk.title = json_dup_string(o, "title");
	r->bk.customer_name = json_dup_string(o, "customer_name");
	r->bk.customer_email = json_dup_string(o, "customer_email");
	cJSON_Delete(o);
	/* Its process died after reserving, maybe after inserting: whether the
	 * event exists is what the lookup is for. */
	r->hold = HOLD_MAYBE_EVENT;
	if (!r->meeting_id || !r->event_id || !r->bk.timezone || !r->bk.title ||
	    !r->bk.customer_email) {
		meeting_run_done(r);
		return;
	}
	log_info(r->ctx, "meeting %s: finishing a booking whose process stopped", r->meeting_id);
	go(r, STEP_LOOKUP);
}
