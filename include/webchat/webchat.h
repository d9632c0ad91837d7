#ifndef PARLEY_WEBCHAT_H
#define PARLEY_WEBCHAT_H
/*
 * The webchat channel's HTTP API (docs/protocol.md, Webchat): widget sessions,
 * customer messages, the long poll, read receipts; CORS and rate limits for
 * all of them. Messages are stored by the same ingestion path as Meta's
 * (ingest_batch.h) and answered by the same reply worker; this module only
 * speaks HTTP to the widget and reads the session's messages back.
 *
 * webchat.c holds the module state and the request checks every endpoint
 * shares; webchat_poll.c holds the long polls and what wakes them.
 */
#include <event2/http.h>
#include <stdbool.h>

#include "webchat_token.h"

struct app;
struct webchat;

/* Module state for one server; LISTENs for stored webchat messages. */
struct webchat *webchat_new(struct app *app);
/* Shutdown: answers every open poll now (an empty page), refuses new ones. */
void webchat_close(struct webchat *wc);
void webchat_free(struct webchat *wc);

/* The NOTIFY channel whose payload is the session id of a stored message. */
#define WEBCHAT_NOTIFY_CHANNEL "parley_webchat"

/* Endpoint limits (documented in README.md). */
#define WEBCHAT_MAX_TEXT_CHARS        4096
#define WEBCHAT_MAX_BODY_BYTES        (64 * 1024)
#define WEBCHAT_MAX_WAIT_SECONDS      30
#define WEBCHAT_MAX_POLLS_PER_SESSION 2
#define WEBCHAT_PAGE_MAX              200
#define WEBCHAT_SESSION_DAYS          30

/*
 * The checks every endpoint starts with: CORS headers (a disallowed Origin
 * is answered 403), the per-address limit, and, when claims is non-NULL, the
 * bearer token and the per-session limit. Returns true when the handler may
 * go on; false when the request has been answered already.
 */
bool webchat_admit(struct app *app, struct evhttp_request *req, struct webchat_claims *claims);

/* Poll module, called by webchat.c. */
struct webchat_polls;
struct webchat_polls *webchat_polls_new(struct app *app);
void webchat_polls_close(struct webchat_polls *p);
void webchat_polls_free(struct webchat_polls *p);
struct webchat_polls *webchat_polls_of(struct app *app);

#endif
