#ifndef PARLEY_PGERR_H
#define PARLEY_PGERR_H
/*
 * What parley says about a PostgreSQL error, and whether retrying it can
 * help. Used by the asynchronous pool (db.c) and the command-line tools
 * (pgsync.c, migrate.c, the commands) alike.
 *
 * A server error is told by its primary message and its SQLSTATE only
 * (docs/operations.md, Logs): its DETAIL, HINT, CONTEXT and the rest of
 * libpq's full message can carry row values — a failing row with a customer's
 * text, a key with an access token — which must not reach a log or a terminal.
 * libpq's own messages (a connection that failed) can span several lines, one
 * per host tried: only the first is kept.
 */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "log.h"

/* A SQLSTATE and its NUL. */
#define PGERR_STATE_LEN 6

/*
 * "primary (SQLSTATE xxxxx)" into out, on one line (newlines in primary
 * become spaces); "primary" alone when state is NULL or empty. A NULL
 * primary reads "unknown error".
 */
void pgerr_format(char *out, size_t len, const char *primary, const char *state);

/* pgerr_format of a failed result's fields, allocated (xmalloc family; the
 * caller frees). Without a primary message (an error libpq made itself:
 * the connection broke), the first line of its message. */
char *pgerr_result_text(const PGresult *res);

/* The first line of a libpq message such as PQerrorMessage(conn), without
 * its trailing blanks; "unknown error" when there is none. */
void pgerr_first_line(char *out, size_t len, const char *msg);

/* The SQLSTATE at the end of a text made by pgerr_format: true and out
 * filled, or false (no SQLSTATE in it). */
bool pgerr_text_state(const char *text, char out[PGERR_STATE_LEN]);

/*
 * True when a statement that failed with state may succeed if sent again
 * later, unchanged: the connection (class 08, but not 08P01, a protocol
 * violation), a serialization failure or deadlock (40001, 40P01, 40003),
 * a lock not available (55P03), a statement or lock timeout or a cancel
 * (57014), the server shutting down or starting (57P01, 57P02, 57P03,
 * 57P05), insufficient resources (class 53: disk full, out of memory, too
 * many connections) and a read-only standby after a failover (25006).
 * Everything else — constraint violations, a bad value, a raised
 * exception, an undefined function — fails the same way every time.
 */
bool pgerr_state_retryable(const char *state);

/*
 * Routes conn's notices through log.h, one line each (severity, primary
 * message and SQLSTATE: pgerr_format), at pgerr_notice_level, in context
 * "db". Without it libpq writes them raw
 * to stderr, outside parley's log format, DETAIL and all. Set on every
 * connection parley opens.
 */
void pgerr_log_notices(PGconn *conn);

#endif
