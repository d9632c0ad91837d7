#ifndef PARLEY_EVENT_SIGN_H
#define PARLEY_EVENT_SIGN_H
/*
 * Signing of events out per the Standard Webhooks specification
 * (standardwebhooks.com; README, Events out): the secret is "whsec_" +
 * base64 of the key; an attempt's signature is "v1," + base64 of
 * HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<raw body>"); during a
 * rotation window the header carries the signatures of both secrets,
 * space-separated. Receivers verify with the standard's libraries.
 *
 * Pure apart from event_secret_new's randomness; secrets are never logged.
 */
#include <stddef.h>

#define EVENT_SECRET_PREFIX "whsec_"
/* Bytes of key in a generated secret. */
#define EVENT_SECRET_BYTES 32
/* Keys accepted from --secret-file: the standard's libraries take 24 to 64. */
#define EVENT_SECRET_MIN_BYTES 24
#define EVENT_SECRET_MAX_BYTES 64

/* "whsec_" + base64 of 32 random bytes (OpenSSL RAND_bytes); aborts if the
 * generator fails. Caller frees with xfree_secret. */
char *event_secret_new(void);

/* The key of a "whsec_…" secret into key (EVENT_SECRET_MAX_BYTES); its
 * length, or -1 with *why set (static text) when the secret is malformed. */
int event_secret_key(const char *secret, unsigned char *key, const char **why);

/* "v1,<base64>" of one key; out holds at least EVENT_SIG_MAX bytes. */
#define EVENT_SIG_MAX 64
void event_sign(const unsigned char *key, size_t key_len, const char *id, long long ts,
		const char *body, size_t body_len, char *out);

/* The webhook-signature header value for secret and, when not NULL, the
 * previous secret still in its rotation window: "v1,…" or "v1,… v1,…".
 * NULL when a secret is malformed. Caller frees. */
char *event_signature_header(const char *secret, const char *previous, const char *id, long long ts,
			     const char *body, size_t body_len);

#endif
