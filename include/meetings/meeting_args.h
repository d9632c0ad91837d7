#ifndef PARLEY_MEETING_ARGS_H
#define PARLEY_MEETING_ARGS_H
/*
 * The two function tools the agent gets for a tenant with a connected
 * calendar (issue #9), as the model sees them: their declarations in the
 * Responses request, the checking of the arguments the model sends (which
 * are untrusted input: a bad one is answered as a tool error, never acted
 * on), and the outputs that go back as function_call_output. Pure: no I/O
 * but an optional stat of the zoneinfo database; "now" is passed in.
 *
 *   check_availability {start, end, duration_minutes|null}
 *       → free slots of that length between start and end (RFC 3339 with
 *         UTC offsets), listed at start's offset
 *   book_meeting {start, duration_minutes|null, timezone, customer_name,
 *                 customer_email, title|null}
 *       → the confirmed meeting with its Google Meet link, or why not
 */
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "google_calendar.h"

#define MEETING_TOOL_AVAILABILITY "check_availability"
#define MEETING_TOOL_BOOK         "book_meeting"

/* Bounds on what the model may ask for. */
#define MEETING_ARGS_MAX_BYTES    (16 * 1024) /* of one call's arguments */
#define MEETING_MIN_DURATION      5           /* minutes */
#define MEETING_MAX_DURATION      480
#define MEETING_MAX_RANGE_DAYS    14   /* check_availability */
#define MEETING_MAX_AHEAD_DAYS    366  /* book_meeting */
#define MEETING_MIN_LEAD_SECONDS  300  /* a booking starts at least this late */
#define MEETING_SLOT_STEP_SECONDS 1800 /* free slots start on :00 and :30 */
#define MEETING_MAX_SLOTS         24   /* listed in one answer */
#define MEETING_NAME_MAX          200  /* characters */
#define MEETING_TITLE_MAX         255

/* The "tools" array of a Responses request (strict function tools). */
char *meeting_args_tools(long default_duration_minutes);

struct meeting_availability {
	time_t from, to; /* from is not before now */
	int offset;      /* of the model's start, for showing the slots */
	long duration;   /* minutes */
};

/*
 * Checks check_availability's arguments (a JSON text of len bytes). Returns
 * 0 and fills *out, or -1 with a message for the model in why ("start: …").
 */
int meeting_args_availability(const char *json, size_t len, time_t now, long default_duration,
			      struct meeting_availability *out, char *why, size_t whylen);

/* book_meeting's arguments, checked; the strings are owned. */
struct meeting_booking {
	time_t start;
	int offset;    /* the model's UTC offset, for answering in its terms */
	long duration; /* minutes */
	char *timezone, *customer_name, *customer_email, *title;
};

/*
 * Checks book_meeting's arguments: start parses and has a UTC offset, is at
 * least MEETING_MIN_LEAD_SECONDS after now and at most
 * MEETING_MAX_AHEAD_DAYS ahead; duration in bounds (default when null);
 * timezone an IANA name (gcal_check_timezone against zoneinfo_dir, which
 * may be NULL); a name and a deliverable email; a title (default "Meeting
 * with NAME"). Texts must be valid UTF-8 without control characters.
 * Returns 0 (caller calls meeting_booking_clear) or -1 with why.
 */
int meeting_args_booking(const char *json, size_t len, time_t now, long default_duration,
			 const char *zoneinfo_dir, struct meeting_booking *out, char *why,
			 size_t whylen);
void meeting_booking_clear(struct meeting_booking *b);

/* Tool outputs (JSON texts, caller frees). */

/* {"ok":false,"error":code,"message":message} */
char *meeting_args_error(const char *code, const char *message);

/* The free slots (n listed of total) of a checked range. */
char *meeting_args_slots(const struct meeting_availability *a, const struct gcal_interval *slots,
			 size_t n, size_t total);

/* A confirmed booking; meet_link may be NULL (Google still creating it). */
char *meeting_args_booked(const struct meeting_booking *b, const char *meeting_id,
			  const char *meet_link, bool already);

#endif
