#ifndef PARLEY_LEAD_EXTRACT_H
#define PARLEY_LEAD_EXTRACT_H
/*
 * Lead extraction's wire format and rules (issue #8): the request that asks
 * OpenAI for a structured lead record from a transcript, and the reading of
 * its answer, validated field by field against the seed's `extractions`
 * constraints, with the scores, total and tag computed here (never taken
 * from the model). Pure: no I/O, no clock; the extraction worker does the
 * HTTP and the storage.
 *
 * Scoring, the one place it is decided:
 *   intent_level, urgency_level, fit_alignment, engagement_health:
 *     Low = 1, Medium = 2, High = 3
 *   budget_constraint (the seed's name; asked as "is the budget there?"):
 *     No = 1 (no budget, price is a blocker), Maybe = 2 (unclear, being
 *     weighed), Yes = 3 (budget available or price accepted)
 *   total_score = the sum of the five (5 to 15)
 *   lead_status_tag: Hot when total >= 12, Warm 8 to 11, Cold <= 7
 */
#include <stdbool.h>
#include <stddef.h>

/* One message of the transcript, oldest first; borrowed. */
struct lead_message {
	bool from_customer; /* false: the agent's */
	const char *text;
	/* The ad this message came from, as a line of its own for the model
	 * (referral_extraction_context()), or NULL. */
	const char *ad;
	/* An agent message written by a person at the business (a message
	 * sent with `parley conversation send`, or echoed from the business's
	 * phone app; messages.author 'human'), not by the AI. */
	bool by_person;
};

/* The transcript sent is the latest messages that fit in this many bytes;
 * one message is cut to LEAD_MESSAGE_MAX_BYTES. */
#define LEAD_TRANSCRIPT_MAX_BYTES 60000
#define LEAD_MESSAGE_MAX_BYTES    4000
/* Starts the text of an agent message by_person in the request. */
#define LEAD_PERSON_PREFIX "[written by a person at the business]"

/*
 * The body of POST {openai.url}/responses: "store": false and no
 * "conversation" (extraction stays outside the agent's OpenAI conversation),
 * "input" = the transcript as messages (customer → role "user", agent →
 * role "assistant"; a message's ad, if any, in a "developer" message just
 * before it, never inside the customer's words), "prompt": {"id"} when prompt_id is non-empty, else
 * the built-in "instructions", "model" only when model is non-empty, and "text.format" = the strict
 * JSON schema of lead_extract_schema(). Caller frees.
 */
char *lead_extract_request(const char *prompt_id, const char *model,
			   const struct lead_message *msgs, size_t n);

/* lead_extract_request with a "developer" message after the transcript
 * (handoff: lead_handoff_note()), or none when NULL. */
char *lead_extract_request_with(const char *prompt_id, const char *model,
				const struct lead_message *msgs, size_t n, const char *handoff);

/*
 * What the model reads about a handoff to a person (README, Handing over
 * to a person): whether the agent handed the conversation over (its
 * escalate_to_human tool; then cta_escalated_to_human is Yes), and the
 * pause: paused_until as parley_paused_until_text shows it ("infinity":
 * until resumed; NULL: not paused) with its reason (may be NULL). NULL when
 * there is nothing to tell. Caller frees.
 */
char *lead_handoff_note(bool escalated, const char *paused_until, const char *reason);

/* The CTA columns (lead_cta_names in lead_extract.c). */
#define LEAD_N_CTA 6

/* A validated lead; lead_free() releases the strings. */
struct lead {
	char *name, *email, *company; /* NULL when unknown; <= 255 characters */
	char *intent;                 /* NULL when unknown */
	char *notes;                  /* NULL when none */
	/* The model's values, pointing at static canonical strings. */
	const char *intent_level, *urgency_level, *budget_constraint, *fit_alignment,
	    *engagement_health;
	int intent_score, urgency_score, budget_score, fit_score, engagement_score;
	bool cta[LEAD_N_CTA]; /* Yes */
	int total_score;
	const char *tag;          /* "Hot", "Warm", "Cold" */
	char *reasoning;          /* JSON object of the model's per-field reasons */
	char *smart_notification; /* one or two sentences */
};

enum lead_outcome {
	LEAD_OK,
	LEAD_RETRYABLE,  /* status "failed" with a transient error code */
	LEAD_FAILED,     /* status "failed" for good, or not completed */
	LEAD_INCOMPLETE, /* status "incomplete": the JSON may be cut off */
	LEAD_REFUSED,    /* the model refused */
	LEAD_INVALID,    /* not the JSON the schema asks for */
};

/* The lead says the customer was handed to a person (the conversation was
 * escalated, whatever the model answered). */
void lead_mark_escalated(struct lead *l);

/* "ok", "retryable", "failed", "incomplete", "refused", "invalid". */
const char *lead_outcome_name(enum lead_outcome o);

/*
 * Reads a Response object. On LEAD_OK *out is filled (lead_free() it). On
 * anything else *out is left empty and *why says what was wrong (static
 * text, never a value from the answer, so that it can be logged), with
 * *field naming the field concerned or NULL.
 *
 * Rules: a missing field, a field of the wrong type, an enum value outside
 * the seed's CHECK list, text over its column's size (name, email, company:
 * 255 characters; intent, notes: 2000; each reason: 1000;
 * smart_notification: 600), invalid UTF-8 or a control character in a
 * one-line field make the whole answer invalid. Unknown extra fields are
 * ignored. Blank strings become NULL; an email that does not look like one
 * (one "@", no blanks, a dot in the domain) becomes NULL. The
 * smart_notification must not be blank and keeps at most its first two
 * sentences.
 */
enum lead_outcome lead_extract_parse(const char *body, size_t len, struct lead *out,
				     const char **why, const char **field);

void lead_free(struct lead *l);

/*
 * The lead as one JSON object keyed by the extractions columns (name,
 * email, …, total_score, lead_status_tag, reasoning as an object,
 * smart_notification, notes), for the storing SQL function. Caller frees.
 */
char *lead_to_json(const struct lead *l);

#endif
