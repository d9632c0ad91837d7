#ifndef PARLEY_MEETING_INTERNAL_H
#define PARLEY_MEETING_INTERNAL_H
/*
 * What the three meeting modules share and nobody else may see: the tool
 * context, one run of function calls, and the run's plumbing (answers,
 * Google requests). It lives in src/, not include/, because include/ is
 * the surface other modules use (meeting_tools.h, meeting_booking.h,
 * meeting_completion.h); a struct layout here is a detail of
 * meeting_tools.c (runs, tools, Google requests), meeting_booking.c (the
 * booking state machine) and meeting_completion.c (the periodic pass).
 */
#include <stdbool.h>
#include <stddef.h>

#include "defer.h"
#include "google_calendar.h"
#include "meeting_args.h"
#include "meeting_tools.h"
#include "openai.h"

struct app;
struct event;
struct google_tokens;
struct http_client;
struct http_resp;

/* What the model reads when a tool could not do its work. */
#define MSG_DISCONNECTED                                                                           \
	"The business's calendar is not connected, so meetings cannot be checked or booked "       \
	"now. Do not promise a time; offer that someone will follow up."
#define MSG_UNAVAILABLE                                                                            \
	"The calendar could not be reached just now. Do not promise a time; offer to try again "   \
	"later or that someone will follow up."

struct meeting_tools {
	struct app *app;
	struct http_client *http; /* NULL: tools off */
	struct google_tokens *tokens;
	char *declarations;
	const char *zoneinfo;
	struct meeting_run *runs; /* in flight, freed by meeting_tools_free at shutdown */
	/* offers answered "no" on the next turn of the loop */
	struct defer refused;
	struct event *pass; /* the periodic pass (meeting_completion.c) */
	long booking_lease;
	int recovering; /* recovery runs in flight */
	bool closing;
};

/*
 * Where the call in progress is. check_availability is one Google request;
 * book_meeting walks the rest in order (meeting_booking.c), each step
 * ending in exactly one callback that picks the next step or answers.
 */
enum meeting_step {
	STEP_AVAILABILITY, /* check_availability: freeBusy over the asked range */
	STEP_TOKEN,        /* an access token before anything is reserved */
	STEP_RESERVE,      /* parley_meeting_reserve commits the meeting's ids */
	STEP_LOOKUP,       /* events.get: did an earlier attempt insert the event? */
	STEP_CHECK_FREE,   /* freeBusy over the meeting's time */
	STEP_INSERT,       /* events.insert with the id derived from the meeting's */
	STEP_CONFIRM,      /* parley_meeting_confirm writes the meetings row */
	STEP_RELEASE,      /* the booking will not happen: its reservation goes */
};

/* What of the booking exists outside this process, which decides what a
 * failure may drop. */
enum meeting_hold {
	HOLD_NONE,        /* nothing of ours */
	HOLD_RESERVED,    /* a reservation, and certainly no event */
	HOLD_MAYBE_EVENT, /* a reservation whose event may exist: recovery decides */
};

/*
 * One batch of function calls (or one reservation being recovered). Each
 * step ends in exactly one of meeting_run_output(), meeting_run_done() or
 * a further step.
 */
struct meeting_run {
	struct meeting_run *next;
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
	enum meeting_step step;
	enum meeting_hold hold;
	struct meeting_availability av;
	struct meeting_booking bk;
	char *meeting_id, *event_id;
	char *token;    /* access token (secret) */
	bool refreshed; /* after a 401, once */
	int attempt, tries, polls;
	double started;
	char *meet_link;
	const char *fail_outcome, *fail_code, *fail_msg; /* while the reservation goes */
	/* the Google request in progress, kept for retries */
	const char *method;
	char *url, *body;
};

/* A run for user_id's conversation, in mt->runs; the caller sets what it
 * runs. */
struct meeting_run *meeting_run_new(struct meeting_tools *mt, const char *user_id,
				    const char *conversation_id, const char *log_ctx);
/* The run is over: its caller gets the outputs (NULL at shutdown); r is
 * freed. */
void meeting_run_done(struct meeting_run *r);
/* The call in progress is answered with out (taken over); the next starts. */
void meeting_run_output(struct meeting_run *r, char *out);
/* The call in progress is answered with an error the model reads. */
void meeting_run_error(struct meeting_run *r, const char *outcome, const char *code,
		       const char *msg);
void meeting_count_call(const char *tool, const char *outcome);
/* A timer of the run's (http_client_after) fired: true to go on; false
 * when the run ended (cancelled, closing). */
bool meeting_run_woke(struct meeting_run *r, bool cancelled);
/* The answer of google_tokens_get: true with the token kept in r; false
 * when the run ended (closing) or the call failed (as above). */
bool meeting_run_took_token(struct meeting_run *r, const char *token, const char *err);

/*
 * Sends a Google request (url and body taken over; body may be NULL) with
 * the run's token, refreshing it once after a 401 and retrying what may
 * pass; the final answer goes to the step that asked (the booking's steps:
 * meeting_booking_answered).
 */
void meeting_google(struct meeting_run *r, const char *method, char *url, char *body);
/* "HTTP 403 forbiddenForNonOrganizer" or the transport error, for logs. */
void meeting_describe(const struct http_resp *resp, const char *err, char *out, size_t len);
/* The busy intervals of a freeBusy answer (the caller frees *busy), or
 * false after logging why there are none. */
bool meeting_freebusy_busy(struct meeting_run *r, const struct http_resp *resp, const char *err,
			   struct gcal_interval **busy, size_t *n);

#endif
