#ifndef PARLEY_REPLY_WORKER_H
#define PARLEY_REPLY_WORKER_H
/*
 * The reply path (docs/architecture.md, A reply's path): claims conversations
 * whose reply is due through the database (parley_claim_replies, with a
 * lease), takes the tenant's credits, asks OpenAI, stores the answer as
 * pending agent messages and sends them through the Graph API one after
 * another, recording each outcome. Everything that must survive a crash or be
 * shared between processes lives in the database; this module holds only the
 * jobs in flight.
 */
struct app;
struct http_client;
struct reply_worker;

struct worker;

/* Starts listening for due replies and claiming them. */
struct reply_worker *reply_worker_start(struct app *app, struct http_client *http);
/* Its claim loop (worker.h), for shutdown: worker_stop stops claiming (claimed
 * replies waiting for a slot are handed back, jobs in flight carry on),
 * worker_active counts the jobs in flight, and worker_close makes the
 * callbacks of pending queries and requests only free their jobs — call it
 * before freeing the HTTP client and the database pool (which fail their
 * pending work), then free the worker. */
struct worker *reply_worker_loop(const struct reply_worker *w);
/* Frees everything; jobs still in flight are abandoned (their leases expire
 * and another process, or this one after a restart, picks them up). */
void reply_worker_free(struct reply_worker *w);

#endif
