#ifndef PARLEY_OPENAI_H
#define PARLEY_OPENAI_H
/*
 * The OpenAI wire format parley speaks (SPEC §5.3): request bodies for
 * POST /conversations and POST /responses, and reading their answers. Pure:
 * no I/O; the reply worker does the HTTP. Every returned string is new and
 * owned by the caller.
 */
#include <stddef.h>

/* {} — a conversation with no items; its id is stored on our row. */
char *openai_conversation_request(void);

/*
 * {"prompt":{"id":prompt_id},"conversation":conv,"input":[{"role":"user",
 * "content":text}, …]} plus "model" only when model is non-empty.
 */
char *openai_response_request(const char *prompt_id, const char *conversation_id,
			      const char *model, const char *const *inputs, size_t n_inputs);

/* The "id" of a created conversation, or NULL when the body has none. */
char *openai_conversation_id(const char *body, size_t len);

enum openai_outcome {
	OPENAI_TEXT,	  /* *text holds the reply */
	OPENAI_RETRYABLE, /* status failed with a transient error code */
	OPENAI_FINAL,	  /* incomplete, refused, failed for good, empty, malformed */
};

/*
 * Reads a Response object: the reply is the concatenation of the
 * output_text parts of the message output items. On OPENAI_TEXT *text is set
 * (caller frees); otherwise *why says what was wrong (static string).
 */
enum openai_outcome openai_response_text(const char *body, size_t len, char **text,
					 const char **why);

#endif
