#ifndef PARLEY_MEETING_TOOLS_H
#define PARLEY_MEETING_TOOLS_H
/*
 * Meeting booking on the event loop (issue #9): runs the function calls
 * the model makes in a reply (check_availability, book_meeting; see
 * meeting_args.h) against the tenant's Google Calendar, and keeps the
 * meetings table tidy in a periodic pass.
 *
 * The reply worker asks meeting_tools_offer() whether a tenant's replies
 * get the tools (a connected calendar and Google configured), declares
 * meeting_tools_declarations() in its Responses requests, and hands each
 * response's function calls to meeting_tools_run(), which answers every
 * call with a function_call_output item, in order. A tool never fails the
 * reply: bad arguments, a busy slot, a disconnected calendar or an
 * unreachable Google become an output the model reads ({"ok": false,
 * "error": …, "message": …}) and explains to the customer.
 *
 * Booking, exactly once per meeting (the guarantee the tests check):
 *   1. the arguments are checked (meeting_args.h) and an access token is
 *      obtained (google_tokens.h);
 *   2. parley_meeting_reserve commits a reservation with a new meeting id
 *      and the event id derived from it (gcal_event_id), unless the
 *      conversation already has a scheduled meeting at that time (then the
 *      answer is that meeting) or a reservation left by an attempt that
 *      died (then that one is resumed, same ids);
 *   3. a resumed reservation first looks its event up (events.get): if it
 *      exists, the booking happened and only step 6 is left;
 *   4. freeBusy over the meeting's time: busy means no booking (the
 *      reservation is dropped and the model told so);
 *   5. events.insert with that event id, conferenceDataVersion=1 and a Meet
 *      createRequest; Google's 409 for an id that exists means an earlier
 *      attempt inserted it: the event is fetched instead. A conference still
 *      "pending" is looked up again a few times for its link;
 *   6. parley_meeting_confirm writes the meetings row (status scheduled,
 *      once, whoever gets there) and drops the reservation.
 * A crash anywhere leaves either nothing, or a reservation that the next
 * reply asking for the same time or the recovery pass below finishes via
 * step 3; Google never gets a second event for one meeting. The steps are
 * meeting_booking.c's state machine (meeting_booking.h).
 *
 * Both meeting_tools_offer and meeting_tools_run call back from the loop
 * only, never from inside themselves (the rule of include/db/db.h).
 *
 * The periodic pass (meeting_completion.h; every MEETING_PASS_SECONDS,
 * first soon after start): scheduled meetings whose end has passed become
 * completed, and reservations whose lease ran out while no reply held their
 * conversation are finished (event found: confirmed) or dropped (no event).
 * Only that answer ends one: a reservation whose event cannot be looked up
 * (no token, a disconnected calendar, no answer) stays for a later pass.
 */
#include <stdbool.h>
#include <stddef.h>

#include "openai.h"

struct app;
struct http_client;
struct meeting_tools;

#define MEETING_PASS_SECONDS 60

/* http may be NULL (no upstream client): then only the completion pass
 * runs and the tools are never offered. */
struct meeting_tools *meeting_tools_start(struct app *app, struct http_client *http);
/* Shutdown: work in flight ends at its next callback (its caller's callback
 * gets NULL); call before freeing the HTTP client and the pool. */
void meeting_tools_close(struct meeting_tools *mt);
/* Frees runs and offers whose callback the loop has not delivered yet
 * without calling it: their callers (reply jobs) are freed by their own
 * module first (reply_worker_free). */
void meeting_tools_free(struct meeting_tools *mt);

/* Google is configured (client id and secret) and an HTTP client exists. */
bool meeting_tools_enabled(const struct meeting_tools *mt);

/* The Responses "tools" array (JSON text, owned by mt). */
const char *meeting_tools_declarations(const struct meeting_tools *mt);

/*
 * Whether user_id's replies get the tools: enabled and the tenant's
 * calendar connected. cb runs once, from the loop, never from inside this
 * call (the rule of include/db/db.h): "no" for tools off or closing comes on
 * the next turn. A database failure counts as "no" (the reply goes out
 * without tools).
 */
typedef void (*meeting_offer_cb)(void *ctx, bool offer);
void meeting_tools_offer(struct meeting_tools *mt, const char *user_id, meeting_offer_cb cb,
			 void *ctx);

/*
 * Runs calls (copied) one after another for the tenant's conversation and
 * calls cb with the JSON array of function_call_output items answering them
 * (the callee owns it), or with NULL when shutdown cut the run short. cb
 * runs once, from the loop, never from inside this call (the rule of
 * include/db/db.h): even calls answered without any I/O (invalid arguments, an
 * unknown tool, closing) start on the next turn. log_ctx prefixes the log
 * lines.
 */
typedef void (*meeting_run_cb)(void *ctx, char *items);
void meeting_tools_run(struct meeting_tools *mt, const char *user_id, const char *conversation_id,
		       const char *log_ctx, const struct openai_call *calls, size_t n,
		       meeting_run_cb cb, void *ctx);

#endif
