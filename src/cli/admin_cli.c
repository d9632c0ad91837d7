/*
 * The shared frame of the administration commands: see include/cli/admin_cli.h.
 */
#include "admin_cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"
#include "migrate.h"
#include "xalloc.h"

static void group_usage(FILE *f, const char *group, const struct admin_sub *subs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s parley %s %s [-c FILE] [--json]%s%s\n", i == 0 ? "usage:" : "      ",
			group, subs[i].name, *subs[i].usage ? " " : "", subs[i].usage);
}

static void sub_names(FILE *f, const struct admin_sub *subs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i == 0 ? "" : (i + 1 == n ? " or " : ", "), subs[i].name);
}

int admin_dispatch(const struct admin_sub *subs, size_t n, int argc, char **argv)
{
	const char *group = argv[0];
	struct admin_cmd cmd = {0};
	/* -c may come before the sub-command too: parley tenant -c FILE list */
	if (cli_take_config(&argc, argv, &cmd.config_path) < 0)
		return EXIT_USAGE;
	if (argc < 2) {
		fprintf(stderr, "parley %s: which one? ", group);
		sub_names(stderr, subs, n);
		fprintf(stderr, " (try 'parley %s help')\n", group);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		group_usage(stdout, group, subs, n);
		return EXIT_OK;
	}
	const struct admin_sub *sub = NULL;
	for (size_t i = 0; i < n && !sub; i++)
		if (strcmp(name, subs[i].name) == 0)
			sub = &subs[i];
	if (!sub) {
		fprintf(stderr, "parley %s: unknown subcommand '%s' (", group, name);
		sub_names(stderr, subs, n);
		fprintf(stderr, ")\n");
		return EXIT_USAGE;
	}
	cmd.name = xasprintf("parley %s %s", group, sub->name);
	cmd.usage = sub->usage;
	int rc = sub->run(&cmd, argc - 1, argv + 1);
	/* A failed write of the output (a full disk, a closed pipe) is a failure. */
	if (fflush(stdout) != 0 && rc == EXIT_OK) {
		fprintf(stderr, "%s: cannot write the output\n", cmd.name);
		rc = EXIT_RUNTIME;
	}
	PQfinish(cmd.conn);
	if (cmd.cfg_loaded)
		config_free(&cmd.cfg);
	free(cmd.name);
	return rc;
}

/* getopt_long with --json taken here: the next option of the caller's, -1
 * at the end, 'h' after printing the usage for --help, or '?' after
 * printing a usage error. */
static int admin_getopt(struct admin_cmd *cmd, int argc, char **argv, const struct option *opts)
{
	opterr = 0; /* our own one-line messages */
	for (;;) {
		int c = getopt_long(argc, argv, ":h", opts, NULL);
		switch (c) {
		case 'J': cmd->json = true; continue;
		case 'h':
			printf("usage: %s [-c FILE] [--json]%s%s\n", cmd->name,
			       *cmd->usage ? " " : "", cmd->usage);
			return 'h';
		case ':':
			admin_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
			return '?';
		case '?':
			/* optopt is set for short options only (and for a long one
			 * given a value it does not take). */
			if (strncmp(argv[optind - 1], "--", 2) == 0)
				admin_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
			else
				admin_usage_error(cmd, "unknown option '-%c'", optopt);
			return '?';
		default: return c;
		}
	}
}

/* The getopt_long value of opts[i]: above every character. */
#define OPTION_VAL(i) (256 + (int)(i))

int admin_options(struct admin_cmd *cmd, int argc, char **argv, const struct admin_opt *opts)
{
	size_t n = 0;
	while (opts && opts[n].name)
		n++;
	struct option *lo = xcalloc(n + 3, sizeof *lo);
	lo[0] = (struct option){"json", no_argument, NULL, 'J'};
	lo[1] = (struct option){"help", no_argument, NULL, 'h'};
	for (size_t i = 0; i < n; i++) {
		/* A refused option is refused with a value or without one. */
		int has_arg = opts[i].flag      ? no_argument
			      : opts[i].refused ? optional_argument
						: required_argument;
		lo[i + 2] = (struct option){opts[i].name, has_arg, NULL, OPTION_VAL(i)};
	}
	int c, rc = ADMIN_GO;
	while (rc == ADMIN_GO && (c = admin_getopt(cmd, argc, argv, lo)) != -1) {
		if (c == 'h') {
			rc = EXIT_OK;
		} else if (c < OPTION_VAL(0)) {
			rc = EXIT_USAGE;
		} else {
			const struct admin_opt *o = &opts[c - OPTION_VAL(0)];
			if (o->refused)
				rc = admin_usage_error(cmd, "%s", o->refused);
			else if (o->flag)
				*o->flag = true;
			else if (o->values)
				o->values[(*o->count)++] = optarg;
			else
				*o->value = optarg;
		}
	}
	free(lo);
	return rc;
}

__attribute__((format(printf, 2, 0))) static void vreport(struct admin_cmd *cmd, const char *fmt,
							  va_list ap)
{
	fprintf(stderr, "%s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
}

int admin_usage_error(struct admin_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try '%s --help')\n", cmd->name);
	return EXIT_USAGE;
}

int admin_fail(struct admin_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_RUNTIME;
}

int admin_db_fail(struct admin_cmd *cmd, const struct pgsync_error *e)
{
	return admin_fail(cmd, "database error: %s%s%s", e->message,
			  e->state[0] ? " SQLSTATE " : "", e->state);
}

int admin_connect(struct admin_cmd *cmd)
{
	if (cli_load_config(cmd->config_path, CONFIG_NEED_DATABASE, &cmd->cfg) < 0)
		return EXIT_USAGE;
	cmd->cfg_loaded = true;
	char err[1024];
	/* Times print in UTC. libpq sends PGTZ as the session's TimeZone in
	 * the startup packet, which PgBouncer keeps for every transaction it
	 * pools; a SET would hold only on the server connection it ran on
	 * (SPEC 11: no SET outside a transaction). */
	setenv("PGTZ", "UTC", 1);
	cmd->conn =
	    pgsync_connect(cmd->cfg.database_url, cmd->name + strlen("parley "), err, sizeof err);
	if (!cmd->conn)
		return admin_fail(cmd, "%s", err);
	/* The schema this parley expects, as serve checks it (README,
	 * Commands): a half-migrated database fails here in words, not later
	 * with 'relation "users" does not exist'. */
	if (migrate_check_conn(cmd->conn, err, sizeof err) < 0)
		return admin_fail(cmd, "%s", err);
	return 0;
}

int admin_no_object(struct admin_cmd *cmd, const char *what, const char *id, const char *tenant)
{
	if (tenant)
		return admin_fail(cmd, "no %s '%s' for tenant '%s'", what, id, tenant);
	return admin_fail(cmd, "no %s '%s'", what, id);
}

PGresult *admin_object_exec(struct admin_cmd *cmd, const char *what, const char *sql, int n,
			    const char *const *params, int *rc)
{
	struct pgsync_error e;
	PGresult *res = pgsync_exec(cmd->conn, sql, n, params, &e);
	if (!res) {
		*rc = admin_db_fail(cmd, &e);
		return NULL;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		*rc = admin_no_object(cmd, what, params[0], params[1]);
		return NULL;
	}
	return res;
}

int admin_id_exec(struct admin_cmd *cmd, int argc, char **argv, const char *what, const char *sql,
		  const char **id, PGresult **res)
{
	const char *tenant;
	int rc = admin_id_command(cmd, argc, argv, what, id, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	const char *p[] = {*id, tenant};
	*res = admin_object_exec(cmd, what, sql, 2, p, &rc);
	return *res ? ADMIN_GO : rc;
}

int admin_print_rows(struct admin_cmd *cmd, const char *sql, int n, const char *const *params)
{
	struct pgsync_error e;
	PGresult *res = pgsync_exec(cmd->conn, sql, n, params, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (cmd->json)
		admin_out_json(stdout, admin_out_array(res));
	else
		admin_out_table(stdout, res, 0);
	PQclear(res);
	return EXIT_OK;
}

void admin_rollback(struct admin_cmd *cmd)
{
	struct pgsync_error ignored;
	if (cmd->conn && PQtransactionStatus(cmd->conn) != PQTRANS_IDLE)
		pgsync_command(cmd->conn, "ROLLBACK", 0, NULL, &ignored);
}

int admin_check_args(struct admin_cmd *cmd, int argc, char **argv, const char *tenant,
		     bool tenant_required)
{
	const char *bad;
	if (optind < argc)
		return admin_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!tenant)
		return tenant_required ? admin_usage_error(cmd, "--tenant ID is required") : 0;
	if ((bad = admin_check_id(tenant)))
		return admin_usage_error(cmd, "--tenant '%s' %s", tenant, bad);
	return 0;
}

int admin_tenant_known(struct admin_cmd *cmd, const char *tenant)
{
	struct pgsync_error e;
	const char *p[] = {tenant};
	PGresult *res = pgsync_exec(cmd->conn, "SELECT 1 FROM users WHERE user_id = $1", 1, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	int n = PQntuples(res);
	PQclear(res);
	return n ? 0 : admin_fail(cmd, "no tenant '%s'", tenant);
}

int admin_check_operand(struct admin_cmd *cmd, int argc, char **argv, const char *what,
			const char *tenant, const char **id)
{
	const char *bad;
	if (optind >= argc)
		return admin_usage_error(cmd, "which %s? give its ID", what);
	if (optind + 1 < argc)
		return admin_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	if ((bad = admin_check_id(argv[optind])))
		return admin_usage_error(cmd, "%s id '%s' %s", what, argv[optind], bad);
	if (tenant && (bad = admin_check_id(tenant)))
		return admin_usage_error(cmd, "--tenant '%s' %s", tenant, bad);
	*id = argv[optind];
	return 0;
}

/* Parses the common options and --tenant alone: ADMIN_GO with *tenant set
 * (NULL when not given), else the exit status (EXIT_OK after --help). */
static int tenant_option(struct admin_cmd *cmd, int argc, char **argv, const char **tenant)
{
	*tenant = NULL;
	const struct admin_opt opts[] = {{"tenant", .value = tenant}, {0}};
	return admin_options(cmd, argc, argv, opts);
}

int admin_id_command(struct admin_cmd *cmd, int argc, char **argv, const char *what,
		     const char **id, const char **tenant)
{
	int rc = tenant_option(cmd, argc, argv, tenant);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_operand(cmd, argc, argv, what, *tenant, id)) ||
	    (rc = admin_connect(cmd)))
		return rc;
	return ADMIN_GO;
}

int admin_tenant_command(struct admin_cmd *cmd, int argc, char **argv, bool tenant_required,
			 const char **tenant)
{
	int rc = tenant_option(cmd, argc, argv, tenant);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_args(cmd, argc, argv, *tenant, tenant_required)) ||
	    (rc = admin_connect(cmd)) || (*tenant && (rc = admin_tenant_known(cmd, *tenant))))
		return rc;
	return ADMIN_GO;
}
