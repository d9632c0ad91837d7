#ifndef PARLEY_GOOGLE_TOKENS_H
#define PARLEY_GOOGLE_TOKENS_H
/*
 * Google access tokens of the tenants, on the event loop (issue #9). A
 * tenant's row in google_calendar_tokens holds a refresh token (stored by
 * `parley google connect`) and the current access token with its expiry.
 * google_tokens_get() hands out the stored access token while it has more
 * than GOOGLE_TOKEN_MARGIN_SECONDS left, and otherwise refreshes it:
 * POST {google.token_url} (form-encoded grant_type=refresh_token,
 * client_id, client_secret, refresh_token) through the shared HTTP client,
 * retried like any upstream call, and stores the new token and expiry back.
 * Refreshes of one tenant in flight at the same time are shared.
 *
 * Google's invalid_grant (the tenant revoked access, or the refresh token
 * expired) marks the tenant's calendar disconnected (disconnected_at,
 * disconnect_reason), logs it and counts it in
 * parley_calendar_disconnects_total: from then on the tenant's replies go
 * out without the meeting tools until the tenant is connected again.
 *
 * Tokens and secrets are never logged; request bodies holding them are
 * wiped after use.
 *
 * google_tokens_get calls back from the loop only, never from inside itself
 * (the rule of include/db/db.h); google_tokens_free runs what is still owed.
 */
#include <stdbool.h>

struct app;
struct http_client;
struct google_tokens;

/* The tenant has no calendar connected (no row). */
extern const char GOOGLE_ERR_NOT_CONNECTED[];
/* The tenant's calendar is disconnected (invalid_grant, now or earlier). */
extern const char GOOGLE_ERR_DISCONNECTED[];
/* The database or the token endpoint failed, or refused our OAuth client
 * (google.client_id/client_secret): try again later. */
extern const char GOOGLE_ERR_UNAVAILABLE[];

#define GOOGLE_TOKEN_MARGIN_SECONDS 120

struct google_tokens *google_tokens_new(struct app *app, struct http_client *http);
/* Shutdown: from now on nothing new is started; pending work fails with
 * GOOGLE_ERR_UNAVAILABLE as the client and pool fail it. Call before freeing
 * them, then free this (before event_base_free). google_tokens_free runs the
 * callbacks of requests refused since the close that the loop has not
 * delivered yet, so their callers' contexts must still be alive then. */
void google_tokens_close(struct google_tokens *gt);
void google_tokens_free(struct google_tokens *gt);

/*
 * err NULL: access_token is a usable token (valid only during the
 * callback; copy it). Otherwise err is one of the GOOGLE_ERR_* constants.
 */
typedef void (*google_token_cb)(void *ctx, const char *access_token, const char *err);

/*
 * A usable access token for user_id; refresh = true refreshes even if the
 * stored one looks valid (Google answered 401 to it). cb runs exactly once,
 * from the loop, never from inside this call: a refusal known at once
 * (closing, the database unavailable) comes on a later turn of the loop.
 */
void google_tokens_get(struct google_tokens *gt, const char *user_id, bool refresh,
		       google_token_cb cb, void *ctx);

#endif
