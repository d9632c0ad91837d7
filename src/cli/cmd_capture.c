/*
 * `parley capture`: writes stored raw webhook bodies (webhook_raw,
 * docs/architecture.md) as files that `parley replay` accepts, named so that
 * name order is arrival order.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "config.h"
#include "pgerr.h"
#include "migrate.h"
#include "pgsync.h"
#include "xalloc.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: parley capture [-c FILE] [--since TIME] [--until TIME] --out DIR\n"
		   "TIME is anything PostgreSQL reads as a timestamp with time zone,\n"
		   "e.g. '2026-11-28 10:00+00' or 'yesterday'.\n");
}

static int write_body(const char *path, const char *body, size_t len)
{
	FILE *f = fopen(path, "wbx"); /* never overwrite an earlier capture */
	if (!f)
		return -1;
	size_t n = fwrite(body, 1, len, f);
	int rc = fclose(f);
	return n == len && rc == 0 ? 0 : -1;
}

int cmd_capture(int argc, char **argv)
{
	const char *path = NULL, *since = NULL, *until = NULL, *out = NULL;
	const struct cli_opt opts[] = {
	    {"since", .value = &since},
	    {"until", .value = &until},
	    {"out", .value = &out},
	    {0},
	};
	int rc = cli_options(&argc, argv, opts, usage, &path);
	if (rc != CLI_GO)
		return rc;
	if (!out || optind != argc) {
		fprintf(stderr, "parley capture: %s\n",
			out ? "unexpected argument" : "--out DIR is required");
		usage(stderr);
		return EXIT_USAGE;
	}
	char err[1024];
	struct config cfg = {0};
	if (cli_load_config(path, CONFIG_NEED_DATABASE, &cfg) < 0)
		return EXIT_USAGE;
	rc = EXIT_RUNTIME;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "parley capture: cannot create %s: %s\n", out, strerror(errno));
		goto done;
	}
	if (!(conn = pgsync_connect(cfg.database_url, "parley capture", err, sizeof err))) {
		fprintf(stderr, "parley capture: %s\n", err);
		goto done;
	}
	if (migrate_check_conn(conn, err, sizeof err) < 0) {
		fprintf(stderr, "parley capture: %s\n", err);
		goto done;
	}
	const char *params[2] = {since, until};
	/* Binary results: the body comes back byte for byte. */
	res = PQexecParams(conn,
			   "SELECT raw_id, coalesce(object, ''), body FROM webhook_raw"
			   " WHERE ($1::timestamptz IS NULL OR received_at >= $1::timestamptz)"
			   "   AND ($2::timestamptz IS NULL OR received_at < $2::timestamptz)"
			   " ORDER BY raw_id",
			   2, NULL, params, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char *why = pgerr_result_text(res);
		fprintf(stderr, "parley capture: %s\n", why);
		free(why);
		/* A time PostgreSQL cannot read is the user's input, not a failure. */
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state && strncmp(state, "22", 2) == 0)
			rc = EXIT_USAGE;
		goto done;
	}
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		const char *object = PQgetvalue(res, i, 1);
		char *file = xasprintf("%s/%06d-%s.json", out, i + 1,
				       strcmp(object, "instagram") == 0 ? "instagram" : "whatsapp");
		if (write_body(file, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2)) < 0) {
			fprintf(stderr, "parley capture: cannot write %s: %s\n", file,
				strerror(errno));
			free(file);
			goto done;
		}
		free(file);
	}
	printf("captured %d webhook bodies into %s\n", n, out);
	rc = EXIT_OK;
done:
	PQclear(res);
	PQfinish(conn);
	config_free(&cfg);
	return rc;
}
