#ifndef PARLEY_INGEST_BATCH_H
#define PARLEY_INGEST_BATCH_H
/*
 * Group commit for webhook ingestion. Verified, parsed webhooks are handed to
 * ingest_batch_submit(); at most ingest_batch_statements() ingest statements
 * are in flight at once — a quarter of database.connections, at least one.
 * A webhook that finds no ingest statement running is stored at once, alone
 * (no added latency). Beside a statement already running, a free slot
 * waits up to INGEST_BATCH_LINGER_US for a full batch (db_batch.h,
 * linger_us). Webhooks that arrive while every slot is
 * busy wait; whenever a statement finishes, the next one takes up to
 * INGEST_BATCH_MAX of them (in arrival order) and stores them all with one
 * call of parley_ingest_batch() (sql/functions/ingest.sql), in one
 * transaction.
 *
 * Exactly one callback follows per webhook accepted (ingest_batch_submit
 * returned NULL): outcome is that webhook's JSON outcome (as parley_ingest
 * returns it; borrowed, valid during the callback) after the transaction
 * holding it committed, or err is set (static or owned by the pool, valid
 * during the callback) and nothing of it was committed — or, for
 * DB_ERR_LOST, maybe committed: every write is idempotent.
 *
 * When a batch of several webhooks fails with an error from the server
 * (deadlock, serialization failure, a webhook the SQL refuses), nothing of it
 * was committed; its webhooks are stored again one by one, ahead of the
 * queue, so that one bad webhook cannot take the others down with it. Pool
 * errors (database unavailable, connection lost, queue full, shutting down)
 * fail every webhook of the batch at once.
 *
 * The callback runs from the loop, never from inside ingest_batch_submit (the
 * rule of include/db/db.h: database unavailable and queue full come a turn of
 * the loop later). After ingest_batch_close() the loop has stopped for good
 * (serve closes the batcher after event_base_dispatch returned) and a
 * deferred callback would never run: ingest_batch_submit then returns
 * DB_ERR_SHUTDOWN instead of calling back, and the caller answers the
 * request itself. Single-threaded, like the rest of the daemon.
 */
#include <stddef.h>

struct app;

#define INGEST_BATCH_MAX 32
/* A batch stops growing past this many bytes of events and raw bodies. */
#define INGEST_BATCH_MAX_BYTES (1024 * 1024)
/* With an ingest statement in flight, how long webhooks wait for a full
 * batch before a second statement takes them (db_batch.h, linger_us).
 * make bench, same session, 64 senders: PostgreSQL CPU per webhook in the
 * closed loop 284 and 234 us without, 254 and 195 with 1 ms, 238 and 238
 * with 3 ms; at half rate 541 and 456, 387 and 330, 350 and 382. 1 ms keeps
 * most of the saving for a third of the added wait. */
#define INGEST_BATCH_LINGER_US 1000
/* Webhooks that may wait for a statement slot before new ones are refused. */
#define INGEST_QUEUE_MAX 20000

typedef void (*ingest_done_cb)(void *ctx, const char *outcome, const char *err);

/*
 * Queues one webhook: object (copied; NULL is stored as ""), events (the JSON
 * array from ingest_events_json; ownership passes to the batcher), raw body
 * (copied; NULL when raw bodies are not kept) of raw_len bytes. Returns NULL
 * when queued: cb follows, once, from the loop. Returns DB_ERR_SHUTDOWN after
 * ingest_batch_close: nothing was queued, cb is never called, and the caller
 * answers its request itself.
 */
const char *ingest_batch_submit(struct app *app, const char *object, char *events, const char *raw,
				size_t raw_len, ingest_done_cb cb, void *ctx);

/* Shutdown of app's serve: answers every webhook still waiting with
 * "shutting down" (503), from inside this call, and refuses new ones
 * (ingest_batch_submit returns the refusal). Call after db_pool_free, while
 * their HTTP requests are still alive. */
void ingest_batch_close(struct app *app);

#endif
