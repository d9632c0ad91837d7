#ifndef PARLEY_EVENT_WORKER_H
#define PARLEY_EVENT_WORKER_H
/*
 * The delivery worker of events out (SPEC 10, README "Events out"): claims
 * due deliveries from the outbox through the shared claim loop (worker.h:
 * leases, LISTEN parley_event_due, polling), POSTs each signed (event_sign.h)
 * on its own http_client, and records the attempt and the delivery's next
 * state in the database (sql/functions/events.sql).
 *
 * Its own HTTP client and bound, not openai.max_in_flight's pool: a slow
 * or hanging receiver must never take the slots that customers' replies
 * need, nor replies delay a tenant's events. At most EVENT_WORKER_SLOTS
 * deliveries per process; per endpoint events.max_in_flight_per_endpoint
 * across all processes (the claim counts live leases under the endpoint's
 * row lock).
 */
struct app;
struct worker;
struct event_worker;

#define EVENT_WORKER_SLOTS 64

/* Starts claiming, and a janitor timer of its own (every minute): pruning
 * after events.keep_days, and the backlog and disabled-endpoint gauges. */
struct event_worker *event_worker_start(struct app *app);
struct worker *event_worker_loop(const struct event_worker *w);
/* Frees the jobs (their leases run out) and the HTTP client. */
void event_worker_free(struct event_worker *w);

#endif
