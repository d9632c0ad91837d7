#include "pgsync.h"

#include <stdio.h>
#include <string.h>

#include "pgerr.h"

PGconn *pgsync_connect(const char *url, const char *application_name, char *err, size_t errlen)
{
	/* expand_dbname lets url be a conninfo string or a URI; later keys
	 * override it, so application_name and the timeout can be ours. */
	const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
	const char *vals[] = {url, application_name, "10", NULL};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) == CONNECTION_OK) {
		/* A server notice (a migration's "skipping") or its shutdown
		 * message goes through the log, not raw to stderr. */
		pgerr_log_notices(conn);
		return conn;
	}
	/* libpq's messages name host and port but never the password; with
	 * several hosts it has a line for each: the first says enough. */
	char why[512];
	pgerr_first_line(why, sizeof why, PQerrorMessage(conn));
	snprintf(err, errlen, "cannot connect to the database: %s", why);
	PQfinish(conn);
	return NULL;
}

PGresult *pgsync_exec(PGconn *conn, const char *sql, int n, const char *const *params,
		      struct pgsync_error *e)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(e->state, sizeof e->state, "%s", state ? state : "");
	snprintf(e->constraint, sizeof e->constraint, "%s", constraint ? constraint : "");
	/* The primary message alone: a DETAIL can quote row values
	 * (docs/operations.md, Logs). Without one (libpq's own error), the
	 * first line of libpq's. */
	if (primary)
		pgerr_format(e->message, sizeof e->message, primary, NULL);
	else
		pgerr_first_line(e->message, sizeof e->message,
				 res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQclear(res);
	return NULL;
}

int pgsync_command(PGconn *conn, const char *sql, int n, const char *const *params,
		   struct pgsync_error *e)
{
	PGresult *res = pgsync_exec(conn, sql, n, params, e);
	if (!res)
		return -1;
	PQclear(res);
	return 0;
}
