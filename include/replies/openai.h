#ifndef PARLEY_OPENAI_H
#define PARLEY_OPENAI_H
/*
 * The OpenAI wire format parley speaks (docs/protocol.md, OpenAI): request
 * bodies for POST /conversations and POST /responses, and reading their
 * answers. Pure: no I/O; the reply worker does the HTTP. Every returned string is new and
 * owned by the caller.
 */
#include <stdbool.h>
#include <stddef.h>

/* {} — a conversation with no items; its id is stored on our row. */
char *openai_conversation_request(void);

/*
 * One request of a reply that may use function tools (meeting booking).
 * The first request of a reply carries the customer's messages (inputs);
 * the ones after a round of function calls carry only the
 * function_call_output items (items, a JSON array), because in a
 * conversation the function_call items are already stored and re-sending
 * them is a duplicate-item error (docs/protocol.md, Meeting tools).
 * {"prompt":{"id":prompt_id},"conversation":conv,"input":[…]} plus "model"
 * only when model is non-empty.
 */
struct openai_turn {
	const char *prompt_id, *conversation_id, *model;
	const char *items;         /* JSON array of input items first, or NULL */
	const char *const *inputs; /* then these messages, in this order */
	size_t n_inputs;
	/* Per input, true when it is a person's message on the agent's side
	 * (`parley conversation send`, an echo): sent as {"role":"assistant"}
	 * so that the agent knows what was said for it; NULL: all "user". */
	const bool *assistant;
	/* Context for the turn that is not the customer's words (the ad they
	 * came from, referral.h): a "developer" message just before the user
	 * messages, sent only with them; NULL for none. */
	const char *context;
	const char *tools;       /* JSON array of tool declarations, or NULL */
	const char *tool_choice; /* "auto", "none", … or NULL (not sent) */
};
char *openai_turn_request(const struct openai_turn *t);

/*
 * The turn's input messages from a claim (parley_claim_replies): inputs, the
 * unanswered customer messages, and human, what a person wrote since the
 * agent's last turn (`parley conversation send`, echoes), each an array of
 * {"seq","text"} in sequence order (either may be NULL or not an array).
 * Merged by seq into *texts (new strings) with *assistant true for the
 * person's; items without a string text are left out. Returns how many;
 * free *texts' strings, *texts and *assistant.
 */
struct cJSON;
size_t openai_merge_inputs(const struct cJSON *inputs, const struct cJSON *human, char ***texts,
			   bool **assistant);

/* The "id" of a created conversation, or NULL when the body has none. */
char *openai_conversation_id(const char *body, size_t len);

enum openai_outcome {
	OPENAI_TEXT,      /* *text holds the reply */
	OPENAI_CALLS,     /* the model asks for function calls first */
	OPENAI_RETRYABLE, /* status failed with a transient error code */
	OPENAI_FINAL,     /* incomplete, refused, failed for good, empty, malformed */
};

/* A function call the model asked for; every field owned, never NULL. */
struct openai_call {
	char *call_id; /* to answer with (call_…) */
	char *name;
	char *arguments; /* a JSON text, untrusted; "" when the model sent none */
};

#define OPENAI_MAX_CALLS     16          /* in one response */
#define OPENAI_MAX_ARGUMENTS (64 * 1024) /* bytes of one call's arguments */

/*
 * Reads a Response object: the reply is the concatenation of the
 * output_text parts of the message output items. On OPENAI_TEXT *text is set
 * (caller frees); otherwise *why says what was wrong (static string). A
 * completed response with function_call
 * output items is OPENAI_CALLS with *calls (n_calls of them, in order;
 * free with openai_calls_free). Function calls win over text in the same
 * response: the text beside them is the model thinking aloud, not the
 * answer. A function_call without call_id or name, or more than
 * OPENAI_MAX_CALLS of them, makes the response OPENAI_FINAL (each call must
 * be answered, and one we cannot name cannot be). Arguments longer than
 * OPENAI_MAX_ARGUMENTS are replaced by "" (the tool then refuses them).
 */
enum openai_outcome openai_response_read(const char *body, size_t len, char **text,
					 struct openai_call **calls, size_t *n_calls,
					 const char **why);
void openai_calls_free(struct openai_call *calls, size_t n);

/* What reading a reply and reading an extraction share (docs/protocol.md):
 * whether an in-band error object is worth another try (Retries of upstream
 * calls), and the output_text of a response's message items, "" when none
 * (caller frees), with *refused set when a refusal came. */
bool openai_transient_error(const struct cJSON *error);
char *openai_output_text(const struct cJSON *root, bool *refused);

/* [{"type":"function_call_output","call_id":…,"output":…}, …] for the calls
 * and their outputs (outputs[i] answers calls[i]). */
char *openai_call_outputs(const struct openai_call *calls, char *const *outputs, size_t n);

/* items (a JSON array, or NULL for none) with one more function_call_output
 * item appended; a new string. */
char *openai_items_add_output(const char *items, const char *call_id, const char *output);

/*
 * The call id in OpenAI's 400 "No tool output found for function call
 * call_…." (a conversation holds a function call that no request answered:
 * its reply was interrupted, e.g. by a crash, in the middle of a tool
 * round), or NULL for any other answer. Caller frees.
 */
char *openai_unanswered_call(const char *body, size_t len);

#endif
