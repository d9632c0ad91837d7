#ifndef PARLEY_DB_BATCH_H
#define PARLEY_DB_BATCH_H
/*
 * Group commit for one kind of statement. Each item queued with
 * db_batch_add() is one row of values; a statement takes the items waiting
 * (up to a count and a size) and sends them together as one call: the SQL
 * gets the batch's fixed text parameters first, then one binary
 * one-dimensional array per column, and must return exactly one row per
 * item, in the order of the arrays. At most max_in_flight statements of a
 * batch run at once, so an idle database answers the first item at once,
 * alone, and a busy one gets fewer, larger transactions: most of a small
 * write's cost is per statement (start-up, commit, the wait for the disk).
 * With linger_us, a statement that would run beside another one already in
 * flight first waits up to that long for a full batch (max_items): under a
 * steady moderate load, items then go out in a few larger statements
 * rather than one small statement each (db_batch_next_step).
 *
 * Exactly one callback follows per item: row is the item's row of res
 * (borrowed, valid during the callback), or err is set (as db.h's callbacks
 * get it) and nothing of the item was committed — or, for DB_ERR_LOST, maybe
 * committed. When a statement of several items fails with an error from the
 * server (a deadlock, one item the SQL refuses), its items are sent again one
 * by one, ahead of the queue, so that one item cannot fail the others; pool
 * errors fail every item of the statement at once.
 *
 * The callback always runs from the loop, never from inside db_batch_add()
 * (the rule of include/db/db.h): a refusal known at once (queue full, shutting
 * down) is delivered by a zero-delay event, as db.h does for its own. Only
 * db_batch_free() runs callbacks from inside itself. The config's
 * on_statement and on_split hooks are not callbacks of an item: they count
 * and log, and on_statement may run inside db_batch_add (a free slot sends
 * at once), so they must not call into the batch.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct db_pool;
struct strbuf;

/* A column's element type: text as is, JSON text stored as jsonb, bytes. */
enum db_batch_type { DB_BATCH_TEXT, DB_BATCH_JSONB, DB_BATCH_BYTEA };

struct db_batch_config {
	const char *sql;
	const char *const *fixed; /* nfixed text parameters, copied */
	int nfixed;
	const enum db_batch_type *columns; /* ncols, copied */
	int ncols;
	int max_in_flight; /* statements at once, at least 1 */
	int max_items;     /* items per statement, at least 1 */
	size_t max_bytes;  /* a statement stops growing past this; 0: no limit */
	int max_queued;    /* items waiting before DB_ERR_QUEUE_FULL; 0: no limit */
	long linger_us;    /* beside a statement in flight, wait this long for a
			    * full batch; 0: send at once */
	/* Optional, for metrics and logs: a statement of n items goes out; a
	 * statement of n items failed with err and is retried one by one. */
	void (*on_statement)(int n);
	void (*on_split)(int n, const char *err);
};

typedef void (*db_batch_cb)(void *ctx, PGresult *res, int row, const char *err);

struct db_batch *db_batch_new(struct db_pool *pool, const struct db_batch_config *cfg);

/*
 * Queues one item: ncols values, copied; NULL is SQL NULL. lens gives their
 * sizes (needed for bytes that may hold NUL); NULL means strlen of each.
 */
void db_batch_add(struct db_batch *b, const char *const *values, const size_t *lens, db_batch_cb cb,
		  void *ctx);

/*
 * Runs every callback still owed, from inside this call (refusals not yet
 * delivered with their own error, queued items with DB_ERR_SHUTDOWN, items
 * those callbacks add with DB_ERR_SHUTDOWN) and frees the batch. Call it
 * after db_pool_free() (statements in flight were failed by the pool then)
 * and before event_base_free().
 */
void db_batch_free(struct db_batch *b);

/* Items waiting for a statement (for metrics). */
int db_batch_queued(const struct db_batch *b);

/*
 * What a batch does next with queued items, in_flight statements running
 * and lingered set when the queue's linger time has run out since the
 * last statement went: IDLE (nothing queued, or no free slot: a statement's
 * end asks again), SEND (one statement now: nothing else in flight, a full
 * batch waiting, no linger configured, or the linger over) or WAIT (a
 * timer of cfg->linger_us asks again). Pure: the policy, unit-tested.
 */
enum db_batch_step { DB_BATCH_IDLE, DB_BATCH_SEND, DB_BATCH_WAIT };
enum db_batch_step db_batch_next_step(const struct db_batch_config *cfg, int queued, int in_flight,
				      bool lingered);

#endif
