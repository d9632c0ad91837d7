#ifndef PARLEY_PGSYNC_H
#define PARLEY_PGSYNC_H
/*
 * Blocking database access for the command-line tools (migrate, admin
 * commands). Never used by `parley serve`, whose database work goes through
 * the asynchronous pool on the event loop.
 */
#include <libpq-fe.h>
#include <stddef.h>

/* Connects to url; returns the connection (caller PQfinish-es) or NULL with a
 * one-line reason (no password in it) in err. */
PGconn *pgsync_connect(const char *url, const char *application_name, char *err, size_t errlen);

/* What a failed statement reported, for callers that turn known failures
 * (a unique or foreign key violation) into messages of their own. */
struct pgsync_error {
	char state[6];       /* SQLSTATE, "" when the server sent none (connection lost) */
	char constraint[64]; /* the constraint it names, "" when none */
	char message[512];   /* primary message on one line */
};

/*
 * Runs sql with n text parameters (a NULL one is SQL NULL). Returns the
 * result when the statement succeeded (the caller PQclear-s it), else NULL
 * with *e filled in.
 */
PGresult *pgsync_exec(PGconn *conn, const char *sql, int n, const char *const *params,
		      struct pgsync_error *e);

/* pgsync_exec for a statement whose result is not wanted (BEGIN, COMMIT, an
 * UPDATE): 0, or -1 with *e filled in. */
int pgsync_command(PGconn *conn, const char *sql, int n, const char *const *params,
		   struct pgsync_error *e);

#endif
