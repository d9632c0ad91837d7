#ifndef PARLEY_GOOGLE_CALENDAR_H
#define PARLEY_GOOGLE_CALENDAR_H
/*
 * The Google wire formats parley speaks for meeting booking (docs/protocol.md,
 * Google Calendar): the OAuth token refresh, freeBusy.query, events.insert
 * with a Meet conference request, events.get/delete, their error bodies, RFC
 * 3339 times, and the event id derived from a meeting id. Pure: no I/O, no
 * clock (callers pass "now"); google_tokens.c, meeting_tools.c and
 * meeting_booking.c do the HTTP on the loop, cmd_meeting.c blocking. Every
 * returned string is new and owned by the caller. Parsers take (body, len)
 * that need not be NUL-terminated and never trust what Google (or a
 * stand-in) sends: every field is type-checked and bounded.
 */
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* ---- times ------------------------------------------------------------- */

/*
 * Parses an RFC 3339 date-time: "2026-01-05T10:00:00+01:00", seconds and a
 * fraction optional ("2026-01-05T10:00+01:00"), 'T', 't' or a blank between
 * date and time, offset "Z"/"z" or ±HH:MM. Returns 0 with *t (unix seconds,
 * the fraction dropped) and *offset (seconds east of UTC) set; -1 when s is
 * not such a time, names an impossible date (February 30th) or lies outside
 * the years 1970-9999. When the offset is missing, returns -2 with *t read
 * as if it were UTC (callers that need the customer's offset refuse it).
 * s is at most GCAL_TIME_MAX bytes to be considered.
 */
int gcal_time_parse(const char *s, time_t *t, int *offset);
#define GCAL_TIME_MAX 64

/* "2026-01-05T09:00:00Z" (offset 0) or "2026-01-05T10:00:00+01:00": t shown
 * at that offset. out must hold GCAL_TIME_BUF bytes. */
#define GCAL_TIME_BUF 32
void gcal_time_format(time_t t, int offset, char out[GCAL_TIME_BUF]);

/* ---- ids, URLs, validation ---------------------------------------------- */

/*
 * The Google event id for a meeting: the meeting id's bytes in base32hex
 * (RFC 4648 §7, lower case, no padding), so it uses only the characters
 * Google allows in a client-chosen id (a-v, 0-9) and is the same every time
 * for the same meeting: a repeated insert after a crash is answered 409
 * instead of creating a second event. NULL when the meeting id is empty or
 * longer than 200 bytes (the event id would exceed the column).
 */
char *gcal_event_id(const char *meeting_id);

/* A Meet conference requestId for the meeting (unique per meeting, stable
 * across retries so that Google ignores a repeated request). */
char *gcal_request_id(const char *meeting_id);

/* {calendar_url}/calendars/{calendar_id}/events[/{event_id}] with the ids
 * escaped; event_id may be NULL. query (may be NULL) is appended after '?'. */
char *gcal_events_url(const char *calendar_url, const char *calendar_id, const char *event_id,
		      const char *query);

/*
 * Whether name is an IANA time zone: a pattern check ("Area/Location",
 * letters, digits, '_', '-', '+', at most 64 bytes, no "." segments) and,
 * when zoneinfo_dir is non-NULL and exists, a compiled zone of that name
 * under it. Returns NULL when fine, else why not (static text).
 */
const char *gcal_check_timezone(const char *name, const char *zoneinfo_dir);

/* An email address an invitation can go to: ASCII, one '@', a local part of
 * the usual atom characters without leading, trailing or double dots, a
 * domain of dot-separated labels with at least one dot, at most 254 bytes.
 * NULL when fine, else why not. */
const char *gcal_check_email(const char *email);

/* ---- OAuth token refresh (D.1) ---------------------------------------- */

/* grant_type=refresh_token&client_id=…&client_secret=…&refresh_token=…,
 * form-encoded. The caller wipes it after use: it holds two secrets. */
char *gcal_token_request(const char *client_id, const char *client_secret,
			 const char *refresh_token);

enum gcal_token_outcome {
	GCAL_TOKEN_OK,        /* *access_token, *expires_in (and maybe *refresh_token) */
	GCAL_TOKEN_REVOKED,   /* invalid_grant: the tenant must consent again */
	GCAL_TOKEN_RETRYABLE, /* 429, 5xx: try again later */
	GCAL_TOKEN_FINAL,     /* anything else (invalid_client: our configuration) */
};

/*
 * Reads the token endpoint's answer to a refresh (status is its HTTP
 * status). On GCAL_TOKEN_OK *access_token is set (printable ASCII, at most
 * 4096 bytes), *expires_in is the lifetime in seconds (3600 when absent,
 * clamped to 60..86400) and *refresh_token is a replacement refresh token or
 * NULL (Google rarely sends one). Otherwise *why is Google's error code and
 * description, or a reason of ours (caller frees; never NULL then).
 */
enum gcal_token_outcome gcal_token_parse(long status, const char *body, size_t len,
					 char **access_token, long *expires_in,
					 char **refresh_token, char **why);

/* ---- Calendar errors (D.5) ------------------------------------------------ */

/* The first errors[].reason of a Calendar error body ("rateLimitExceeded",
 * "duplicate", …) copied into out (truncated, printable), "" when none. */
void gcal_error_reason(const char *body, size_t len, char *out, size_t outlen);

/* True for Calendar answers worth another try beyond the usual 408/429/5xx:
 * 403 with reason rateLimitExceeded or userRateLimitExceeded (Google's
 * usage limits come as 403). */
bool gcal_retryable_403(long status, const char *body, size_t len);

/* ---- freeBusy (D.3) ------------------------------------------------------- */

struct gcal_interval {
	time_t start, end; /* [start, end) */
};

/* {"timeMin","timeMax","timeZone":"UTC","items":[{"id":calendar_id}]} */
char *gcal_freebusy_request(const char *calendar_id, time_t from, time_t to);

#define GCAL_MAX_BUSY 2000

/*
 * Reads calendars[calendar_id].busy. Returns NULL and sets *busy (caller
 * frees; NULL when none) and *n, sorted by start; else why the answer cannot
 * be used (static text): the calendar is missing or has errors (Google's
 * "treat as unknown, not free"), an interval is malformed, or there are more
 * than GCAL_MAX_BUSY.
 */
const char *gcal_freebusy_parse(const char *body, size_t len, const char *calendar_id,
				struct gcal_interval **busy, size_t *n);

/* True when [start, end) overlaps any of the n busy intervals. */
bool gcal_overlaps(const struct gcal_interval *busy, size_t n, time_t start, time_t end);

/*
 * Free slots of `duration` seconds in [from, to): candidate starts every
 * `step` seconds, aligned to the step in local time at `offset` (so 30-minute
 * slots start at :00 and :30 where the customer is), none before not_before.
 * Writes up to max slots into out and returns how many there are in all
 * (which may be more than max).
 */
size_t gcal_free_slots(const struct gcal_interval *busy, size_t n, time_t from, time_t to,
		       long duration, long step, int offset, time_t not_before,
		       struct gcal_interval *out, size_t max);

/* ---- events (D.2, D.4) ---------------------------------------------------- */

struct gcal_event_spec {
	const char *event_id;   /* gcal_event_id() */
	const char *request_id; /* gcal_request_id() */
	const char *title;
	const char *description; /* may be NULL */
	time_t start, end;
	const char *timezone; /* IANA name */
	const char *attendee_email;
	const char *attendee_name; /* may be NULL */
	const char *meeting_id;    /* kept in extendedProperties.private */
	const char *conversation_id;
};

/* The events.insert body: id, summary, start/end with timeZone, attendees,
 * default reminders, extendedProperties, conferenceData.createRequest for
 * Google Meet. Sent with ?conferenceDataVersion=1 (without it Google
 * ignores the conference request). */
char *gcal_event_request(const struct gcal_event_spec *spec);

struct gcal_event {
	char *id;
	char *status;     /* "confirmed", "cancelled", …; "" when absent */
	char *meet_link;  /* hangoutLink, else the video entry point; NULL when none */
	char *conference; /* createRequest.status.statusCode: "success", "pending", … or "" */
};

/* Reads an Event resource. 0, or -1 when the body is not an event with an id. */
int gcal_event_parse(const char *body, size_t len, struct gcal_event *ev);
void gcal_event_clear(struct gcal_event *ev);

#endif
