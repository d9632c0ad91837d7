#ifndef PARLEY_WEBHOOK_SIG_H
#define PARLEY_WEBHOOK_SIG_H
/*
 * Meta's X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw request
 * body under the app secret. Pure functions: no I/O, no globals.
 *
 * The HMAC is always taken over the bytes exactly as received; Meta signs its
 * own escaped form of the JSON, so anything that parses and re-serialises
 * before checking breaks on non-ASCII text, '/' or '@'.
 */
#include <stdbool.h>
#include <stddef.h>

/*
 * True when header is exactly "sha256=" followed by 64 hex digits (either
 * case) and that digest equals HMAC-SHA256(secret, body[0..len)) for at least
 * one secret of the NULL-terminated list (key rotation). Every secret is tried
 * and each comparison runs over the full digest in constant time. Empty
 * secrets are ignored: an empty entry in a comma-separated config list must
 * never make a signature forgeable. header, secrets may be NULL (→ false);
 * body may be NULL when len is 0.
 */
bool webhook_sig_verify(const char *header, const void *body, size_t len, char *const *secrets);

/* "sha256=<64 lowercase hex>" for body under secret; new string, caller frees. */
char *webhook_sig_header(const char *secret, const void *body, size_t len);

#endif
