/*
 * `parley credits add|show`: a tenant's reply credits (the credits row).
 * Replies take them (docs/architecture.md, A reply's path); operators add them
 * here. Adding is one statement, so it never loses a concurrent reply's
 * charge.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "admin_cli.h"
#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"

#define CREDITS_COLUMNS                                                                            \
	"u.user_id AS tenant_id, coalesce(c.remaining_credits, 0) AS credits_remaining,"           \
	" coalesce(c.total_used, 0) AS credits_used,"                                              \
	" to_char(c.last_updated, 'YYYY-MM-DD HH24:MI:SS') AS last_updated"

/* Parses --tenant (required) and the common options; returns ADMIN_GO to go
 * on, else the exit status. */
static int tenant_option(struct admin_cmd *cmd, int argc, char **argv, const char **tenant)
{
	const struct admin_opt opts[] = {{"tenant", .value = tenant}, {0}};
	const char *bad;
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if (!*tenant)
		return admin_usage_error(cmd, "--tenant ID is required");
	if ((bad = admin_check_id(*tenant)))
		return admin_usage_error(cmd, "--tenant '%s' %s", *tenant, bad);
	return ADMIN_GO;
}

static void print_credits(struct admin_cmd *cmd, PGresult *res)
{
	if (cmd->json)
		admin_out_json(stdout, admin_out_object(res, 0));
	else
		admin_out_fields(stdout, res, 0, 0);
}

static int credits_add(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL;
	int rc = tenant_option(cmd, argc, argv, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	if (optind >= argc)
		return admin_usage_error(cmd, "how many? give N, the credits to add");
	if (optind + 1 < argc)
		return admin_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	const char *amount = argv[optind];
	long n;
	if (admin_parse_count(amount, 1, INT_MAX, &n) < 0)
		return admin_usage_error(cmd, "N must be a whole number from 1 to %d, not '%s'",
					 INT_MAX, amount);
	if ((rc = admin_connect(cmd)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {tenant, amount};
	/* Creates the row when the tenant has none (tenants made with SQL). */
	PGresult *res = pgsync_exec(
	    cmd->conn,
	    "WITH k AS ("
	    "  INSERT INTO credits AS c (user_id, remaining_credits) VALUES ($1, $2::integer)"
	    "  ON CONFLICT (user_id) DO UPDATE"
	    "     SET remaining_credits = c.remaining_credits + EXCLUDED.remaining_credits,"
	    "         last_updated = CURRENT_TIMESTAMP"
	    "  RETURNING *)"
	    "SELECT " CREDITS_COLUMNS " FROM k c JOIN users u USING (user_id)",
	    2, p, &e);
	if (!res) {
		if (strcmp(e.constraint, "credits_user_id_fkey") == 0)
			return admin_fail(cmd, "no tenant '%s'", tenant);
		if (strcmp(e.state, "22003") == 0) /* integer out of range */
			return admin_fail(cmd, "tenant '%s' would have more than %d credits",
					  tenant, INT_MAX);
		return admin_db_fail(cmd, &e);
	}
	if (cmd->json)
		print_credits(cmd, res);
	else
		printf("added %s credits to tenant %s: %s remaining, %s used\n", amount, tenant,
		       PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	PQclear(res);
	return EXIT_OK;
}

static int credits_show(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL;
	int rc = tenant_option(cmd, argc, argv, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	if (optind < argc)
		return admin_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if ((rc = admin_connect(cmd)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {tenant};
	PGresult *res = pgsync_exec(cmd->conn,
				    "SELECT " CREDITS_COLUMNS
				    " FROM users u LEFT JOIN credits c USING (user_id)"
				    " WHERE u.user_id = $1",
				    1, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (PQntuples(res) == 0)
		rc = admin_fail(cmd, "no tenant '%s'", tenant);
	else
		print_credits(cmd, res);
	PQclear(res);
	return rc;
}

static const struct admin_sub subs[] = {
    {"add", credits_add, "--tenant ID N"},
    {"show", credits_show, "--tenant ID"},
};

int cmd_credits(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
