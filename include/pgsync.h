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

#endif
