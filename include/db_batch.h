#ifndef PARLEY_DB_BATCH_H
#define PARLEY_DB_BATCH_H
/*
 * Group commit for one kind of statement. Each item queued with
 * db_batch_add() is one row of text values; a statement takes every item
 * waiting (up to a limit) and sends them together as one call: the SQL gets
 * the batch's fixed parameters first, then one text[] per column, and must
 * return exactly one row per item, in the order of the arrays. At most
 * max_in_flight statements of a batch run at once, so an idle database
 * answers the first item at once, alone, and a busy one gets fewer, larger
 * transactions — every durable commit waits for the disk.
 *
 * Exactly one callback follows per item: row is the item's row of res
 * (borrowed, valid during the callback), or err is set (as db.h's callbacks
 * get it) and nothing of the item was committed — or, for DB_ERR_LOST, maybe
 * committed. When a statement of several items fails with an error from the
 * server (a deadlock, say), its items are sent again one by one, ahead of
 * the queue, so that one item cannot fail the others; pool errors fail every
 * item of the statement at once.
 *
 * The callback may run before db_batch_add returns (database unavailable).
 */
#include <libpq-fe.h>
#include <stddef.h>

struct db_pool;
struct strbuf;

typedef void (*db_batch_cb)(void *ctx, PGresult *res, int row, const char *err);

/*
 * sql takes nfixed fixed parameters (fixed is copied) and then ncols text[]
 * parameters; a statement carries at most max_items items.
 */
struct db_batch *db_batch_new(struct db_pool *pool, const char *sql, const char *const *fixed,
			      int nfixed, int ncols, int max_in_flight, int max_items);

/* Queues one item: ncols values, copied; NULL means SQL NULL. */
void db_batch_add(struct db_batch *b, const char *const *values, db_batch_cb cb, void *ctx);

/*
 * Fails every queued item with DB_ERR_SHUTDOWN and frees the batch. Call it
 * after db_pool_free(): statements in flight were failed by the pool then.
 */
void db_batch_free(struct db_batch *b);

/* Items waiting for a statement, and statements running (for metrics). */
int db_batch_queued(const struct db_batch *b);
int db_batch_in_flight(const struct db_batch *b);

/*
 * Appends PostgreSQL's text form of a one-dimensional text array:
 * {"a","b\"c",NULL}. Every element is quoted (so that NULL, spaces, braces,
 * commas and the empty string survive) with '"' and '\' escaped; a NULL
 * pointer is SQL NULL.
 */
void db_text_array(struct strbuf *out, const char *const *elems, size_t n);

#endif
