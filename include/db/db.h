#ifndef PARLEY_DB_H
#define PARLEY_DB_H
/*
 * The asynchronous PostgreSQL pool that `parley serve` uses on its event
 * loop. Each connection is a small state machine (connecting → idle → busy)
 * driven by socket events; nothing here ever blocks the loop.
 *
 * A query is queued with db_query(); exactly one callback follows, with the
 * last result of the command (borrowed: valid only during the callback) or an
 * error string (static or owned by the pool, also valid only during the
 * callback). When the connection carrying a query breaks, the query's outcome
 * is unknown: the callback gets DB_ERR_LOST and the caller must treat the
 * write as maybe-applied (every parley write is idempotent for this reason).
 * When no connection is up, queries are refused with DB_ERR_UNAVAILABLE on
 * the next turn of the loop, so that webhooks get their 503 promptly.
 *
 * The rule every asynchronous API of parley follows (this is its statement;
 * the other headers point here): the callback always runs from the loop,
 * never from inside the call that started the work. Here: never from inside
 * db_query() or db_query_params(): not even for a failure known at once (no connection,
 * queue full, shutting down), which is delivered by a zero-delay event, and
 * no other query's callback runs inside them either. A caller may therefore
 * submit while walking its own lists or holding half-built state (the
 * webchat polls woken on a reconnect did, and were freed under the walk when
 * the refusal came back synchronously). The only callbacks that run inside a
 * call of ours are those db_pool_free() runs.
 *
 * An error from the server reads "primary message (SQLSTATE xxxxx)", and
 * nothing more (pgerr.h): safe to log. db_error_retryable() tells a caller
 * whether the same statement may succeed later.
 */
#include <event2/event.h>
#include <libpq-fe.h>
#include <stdbool.h>

extern const char DB_ERR_UNAVAILABLE[];
extern const char DB_ERR_LOST[];
extern const char DB_ERR_QUEUE_FULL[];
extern const char DB_ERR_SHUTDOWN[];
/* A statement answered with rows its caller cannot use (a programming
 * error, never retried). */
extern const char DB_ERR_UNEXPECTED[];

struct db_pool;

typedef void (*db_cb)(void *ctx, PGresult *res, const char *err);

/* Starts n connections to url on base; they connect in the background. A
 * multi-host url (target_session_attrs=read-write) is libpq's to walk; after
 * a connect attempt timed out, the next starts at the next host. */
struct db_pool *db_pool_new(struct event_base *base, const char *url, int n);
/*
 * Runs every callback still owed, from inside this call: failures not yet
 * delivered with their own error, queued and running queries with
 * DB_ERR_SHUTDOWN; queries those callbacks make get DB_ERR_SHUTDOWN too.
 * Then frees the pool. Call it before event_base_free().
 */
void db_pool_free(struct db_pool *pool);

/*
 * Queues sql with nparams text parameters (copied; NULL means SQL NULL).
 * cb(ctx, …) runs exactly once, later, from the loop (see above).
 */
void db_query(struct db_pool *pool, const char *sql, int nparams, const char *const *params,
	      db_cb cb, void *ctx);

/*
 * Like db_query, with per-parameter lengths and formats (1 = binary, for
 * BYTEA); lengths may be NULL when every parameter is text.
 */
void db_query_params(struct db_pool *pool, const char *sql, int nparams, const char *const *params,
		     const int *lengths, const int *formats, db_cb cb, void *ctx);

/* The loop the pool runs on (for modules that defer their own callbacks). */
struct event_base *db_pool_base(const struct db_pool *pool);

/* Connections currently usable, and the total configured. */
int db_pool_ready(const struct db_pool *pool);
int db_pool_size(const struct db_pool *pool);
/* Queries waiting for a connection, and running. */
int db_pool_queued(const struct db_pool *pool);
int db_pool_busy(const struct db_pool *pool);

/*
 * The schema check (src/db/migrate.c provides serve's): every connection that
 * comes up while no pool connection is, runs sql first and is usable only
 * when gate(ctx, result, error, why, whylen) returns 0. Until then it is held
 * (not counted by db_pool_ready: queries are refused with
 * DB_ERR_UNAVAILABLE) and asks again every 2 s; the first to pass releases
 * the others. why is logged when it changes (an error while held, info once
 * passed). The listener waits the same way, so LISTEN's "look for work"
 * comes once the schema is right. Set it before the loop first runs.
 */
typedef int (*db_gate_fn)(void *ctx, const PGresult *res, const char *err, char *why,
			  size_t whylen);
void db_pool_set_gate(struct db_pool *pool, const char *sql, db_gate_fn gate, void *ctx);
/* The check's last verdict while a connection is held by it, else NULL. */
const char *db_pool_held_why(const struct db_pool *pool);

/*
 * LISTENs on channel over one extra connection of its own (re-issued after
 * every reconnect). cb gets each notification's payload, and payload NULL
 * whenever the LISTEN has just been (re-)established — notifications sent
 * while it was down are lost, so the caller should look for work then.
 * Up to DB_MAX_CHANNELS channels per pool, all on the same connection;
 * channel must be a plain identifier.
 */
#define DB_MAX_CHANNELS 4
/* The LISTEN connection connects to url instead of the pool's (a direct
 * one when the pool's goes through PgBouncer: SPEC 11). Call it before the
 * first db_pool_listen. */
void db_pool_set_listen_url(struct db_pool *pool, const char *url);
typedef void (*db_notify_cb)(void *ctx, const char *payload);
void db_pool_listen(struct db_pool *pool, const char *channel, db_notify_cb cb, void *ctx);

/*
 * True when the query that failed with err may succeed if sent again later:
 * DB_ERR_LOST, DB_ERR_UNAVAILABLE, DB_ERR_QUEUE_FULL, an error libpq made
 * itself (a broken connection), and the server's transient SQLSTATEs
 * (pgerr_state_retryable: connection, serialization failure, deadlock, lock
 * timeout, shutdown, insufficient resources). False for DB_ERR_SHUTDOWN,
 * DB_ERR_UNEXPECTED and every other SQLSTATE (a constraint violation, a
 * raised exception), which would fail the same way every time.
 */
bool db_error_retryable(const char *err);

/* err's SQLSTATE into out, or "none" for the pool's own errors and libpq's;
 * returns out (for logs and metric labels). */
const char *db_error_sqlstate(const char *err, char out[6]);

#endif
