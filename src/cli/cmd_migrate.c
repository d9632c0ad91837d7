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
	bool status = false;
	const struct cli_opt opts[] = {
	    {"status", .flag = &status},
	    {0},
	};
	int rc = cli_options(&argc, argv, opts, usage, &path);
	if (rc != CLI_GO)
		return rc;
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
	rc = EXIT_RUNTIME;
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
