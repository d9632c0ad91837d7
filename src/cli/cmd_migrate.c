#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"
#include "migrate.h"
#include "pgsync.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: parley migrate [-c FILE] [--status]\n");
}

int cmd_migrate(int argc, char **argv)
{
	const char *path = NULL;
	if (cli_take_config(&argc, argv, &path) < 0)
		return EXIT_USAGE;
	bool status = false;
	static const struct option opts[] = {
	    {"status", no_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0, 0, 0, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': status = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "parley migrate: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	char err[1024];
	struct config cfg = {0};
	if (cli_load_config(path, CONFIG_NEED_DATABASE, &cfg) < 0)
		return EXIT_USAGE;
	char *dir = migrate_find_dir();
	if (!dir) {
		fprintf(stderr, "parley migrate: no migrations directory found "
				"(set PARLEY_MIGRATIONS_DIR)\n");
		config_free(&cfg);
		return EXIT_RUNTIME;
	}
	int rc = EXIT_RUNTIME;
	/* A session of its own (its advisory lock, SET client_min_messages):
	 * database.listen_url, direct even when database.url is PgBouncer's. */
	PGconn *conn = pgsync_connect(cfg.database_listen_url, "parley migrate", err, sizeof err);
	if (conn) {
		int r = status ? migrate_status(conn, dir, stdout, err, sizeof err)
			       : migrate_apply(conn, dir, stdout, err, sizeof err);
		rc = r == 0 ? EXIT_OK : EXIT_RUNTIME;
		PQfinish(conn);
	}
	if (rc != EXIT_OK)
		fprintf(stderr, "parley migrate: %s\n", err);
	free(dir);
	config_free(&cfg);
	return rc;
}
