#ifndef PARLEY_REFERRAL_H
#define PARLEY_REFERRAL_H
/*
 * The ad (or link) a customer came from, as people and the model read it.
 * messages.referral (migration 0014; the keys of struct meta_referral in
 * meta_parse.h) is shown in transcripts, given to the agent as context for the
 * turn it belongs to, and to lead extraction beside the message it came with
 * (docs/protocol.md, OpenAI). It is never mixed into the customer's text:
 * these lines go into separate input items.
 *
 * Pure: no I/O. Every returned string is new, owned by the caller, valid
 * UTF-8 (as stored), on one line, at most REFERRAL_LINE_MAX bytes.
 */
#include <cjson/cJSON.h>

#define REFERRAL_LINE_MAX 2000

/* The same for the JSON text of a referral (a messages.referral cell). */
char *referral_describe_text(const char *json);

/*
 * The developer message that gives the agent the ads of one turn:
 * referrals is the claim's JSON array of referral objects, oldest first.
 * Each ad once, however many of the customer's messages carry it. NULL when
 * there is none to tell (no array, empty, nothing describable).
 */
char *referral_agent_context(const cJSON *referrals);

/* The same for one message in a lead-extraction transcript: the line that
 * goes in its own input item just before that message. NULL as above. */
char *referral_extraction_context(const cJSON *ref);

#endif
