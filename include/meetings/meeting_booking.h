#ifndef PARLEY_MEETING_BOOKING_H
#define PARLEY_MEETING_BOOKING_H
/*
 * book_meeting, exactly once per meeting: the state machine of
 * meeting_tools.h's steps 1-6 (enum meeting_step in src/meetings/meeting_internal.h),
 * for a model's call and for a reservation the recovery pass finishes.
 *
 *   TOKEN → RESERVE → CHECK_FREE → INSERT → CONFIRM
 *                  ↘ LOOKUP (a resumed reservation; after a 409) ↗
 *   any step that ends the booking early → RELEASE (the reservation goes
 *   unless the event may exist; then the recovery pass decides)
 *
 * A step starts its database query or Google request; the one callback
 * that ends it picks the next step (go) or answers the call. Waiting (for
 * a conference link, before retrying the confirmation) runs the same step
 * again later. Every callback is delivered by the loop.
 */
struct http_resp;
struct meeting_run;
struct meeting_tools;

/* Books what arguments (the model's JSON) ask for, answering r's call in
 * progress. */
void meeting_booking_start(struct meeting_run *r, const char *arguments);
/* Finishes one reservation whose process died (a row of
 * parley_claim_stale_bookings, JSON text): its event decides. */
void meeting_booking_recover(struct meeting_tools *mt, const char *reservation);

/* For meeting_tools.c's Google plumbing: the final answer to the request
 * of r's current step, and a failure before any answer. */
void meeting_booking_answered(struct meeting_run *r, const struct http_resp *resp, const char *err);
void meeting_booking_failed(struct meeting_run *r, const char *outcome, const char *code,
			    const char *msg);

#endif
