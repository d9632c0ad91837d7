#include "pgsync.h"

#include <stdio.h>
#include <string.h>

PGconn *pgsync_connect(const char *url, const char *application_name, char *err, size_t errlen)
{
	/* expand_dbname lets url be a conninfo string or a URI; later keys
	 * override it, so application_name and the timeout can be ours. */
	const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
	const char *vals[] = {url, application_name, "10", NULL};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(conn) == CONNECTION_OK)
		return conn;
	/* libpq's messages name host and port but never the password. */
	snprintf(err, errlen, "cannot connect to the database: %s", PQerrorMessage(conn));
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = (p[1] ? ' ' : '\0');
	PQfinish(conn);
	return NULL;
}
