#ifndef PARLEY_WEBCHAT_TOKEN_H
#define PARLEY_WEBCHAT_TOKEN_H
/*
 * Webchat session tokens (docs/protocol.md, Webchat). A session has no table
 * of its own: the token is its only record, so it must be unforgeable and say
 * which session of which widget it authorises, and until when.
 *
 *   "v1." base64url(session_id ":" expires ":" widget_id) "." base64url(mac)
 *
 * where mac = HMAC-SHA256(webchat.secret, "v1." + the encoded payload). The
 * widget id goes last because it is the only part that may contain ':'.
 * Pure functions: no I/O, no clock (callers pass "now").
 */
#include <stddef.h>
#include <time.h>

/* Limits on what a token may carry (and so on what is accepted back). */
#define WEBCHAT_SESSION_ID_MAX 48
#define WEBCHAT_WIDGET_ID_MAX  100
#define WEBCHAT_TOKEN_MAX      512

extern const char WEBCHAT_TOKEN_ERR_MALFORMED[];
extern const char WEBCHAT_TOKEN_ERR_FORGED[];
extern const char WEBCHAT_TOKEN_ERR_EXPIRED[];

struct webchat_claims {
	char session_id[WEBCHAT_SESSION_ID_MAX + 1];
	char widget_id[WEBCHAT_WIDGET_ID_MAX + 1];
	long long expires; /* unix seconds */
};

/*
 * A token for the session; NULL when an id is empty, too long or (for the
 * session id) contains ':'. The caller frees the string.
 */
char *webchat_token_issue(const char *secret, const char *session_id, const char *widget_id,
			  long long expires);

/*
 * Checks token (len bytes, not necessarily NUL-terminated) under secret at
 * time now. Returns NULL and fills *out when valid, else one of the
 * WEBCHAT_TOKEN_* errors (compared by identity). The signature is checked
 * in constant time before anything in the payload is believed. An empty
 * secret never validates anything.
 */
const char *webchat_token_verify(const char *secret, const char *token, size_t len, long long now,
				 struct webchat_claims *out);

/* A new random session id: "ws_" and 32 hex digits; out must hold 36 bytes. */
void webchat_session_id_new(char out[36]);

#endif
