/*
 * `parley google connect|status|disconnect`: a tenant's Google Calendar
 * for meeting booking (issue #9). The OAuth consent happens elsewhere (the
 * tenant's dashboard); connect stores the refresh token it produced. The
 * access token is fetched by `parley serve` when first needed, so connect
 * needs no network.
 *
 * A calendar is in one of three states (parley_calendar_state(),
 * sql/functions/meetings.sql):
 *   not connected  no google_calendar_tokens row: no meeting tools
 *   connected      tools offered in the tenant's replies
 *   disconnected   Google refused the refresh token (invalid_grant) or an
 *                  operator disconnected it; disconnected_at and
 *                  disconnect_reason say when and why. No tools until the
 *                  tenant is connected again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"
#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"
#include "xalloc.h"

#define DEFAULT_SCOPE "https://www.googleapis.com/auth/calendar"

#define TS(col) "to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"

/* The calendar state of one tenant ($1) or all ($1 NULL); the session is
 * in UTC (admin_connect), so the times read as UTC. */
static const char STATE_SQL[] =
    "SELECT u.user_id AS tenant_id, parley_calendar_state(u.user_id) AS calendar, g.scope,"
    "       " TS(
	"g.connected_at") " AS connected_at,"
			  "       " TS(
			      "g.refreshed_at") " AS token_refreshed_at,"
						"       " TS(
						    "g.disconnected_at") " AS disconnected_at,"
									 "       "
									 "g.disconnect_reason"
									 "  FROM users u LEFT JOIN "
									 "google_calendar_tokens g "
									 "USING (user_id)"
									 " WHERE $1::text IS NULL "
									 "OR u.user_id = $1"
									 " ORDER BY u.user_id";

/* Prints the Google state of tenant (of every tenant when NULL): an object
 * (an array) with --json; for a person, said, or without it the state
 * itself (its fields, or a table). */
static int show_state(struct admin_cmd *cmd, const char *tenant, const char *said)
{
	struct pgsync_error e;
	const char *p[] = {tenant};
	PGresult *res = pgsync_exec(cmd->conn, STATE_SQL, 1, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (cmd->json)
		admin_out_json(stdout, tenant ? admin_out_object(res, 0) : admin_out_array(res));
	else if (said)
		printf("%s\n", said);
	else if (tenant)
		admin_out_fields(stdout, res, 0, 0);
	else
		admin_out_table(stdout, res, 0);
	PQclear(res);
	return EXIT_OK;
}

/* The refresh token, from a file or standard input, never from argv
 * (which other users can read in ps). */
static char *read_refresh_token(struct admin_cmd *cmd, const char *path, int *rc)
{
	const char *bad;
	const char *where = strcmp(path, "-") ? path : "standard input";
	char *token = admin_read_token(path, &bad);
	if (token)
		return token;
	if (bad) {
		/* admin_read_token speaks of access tokens; this is a refresh token. */
		const char *rest = strncmp(bad, "the access token", 16) == 0 ? bad + 16 : NULL;
		if (rest)
			*rc = admin_usage_error(cmd, "%s: the refresh token%s", where, rest);
		else
			*rc = admin_usage_error(cmd, "%s: %s", where, bad);
	} else {
		*rc = admin_fail(cmd, "cannot read the refresh token from %s: %s", where,
				 strerror(errno));
	}
	return NULL;
}

static int google_connect(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *file = NULL, *scope = DEFAULT_SCOPE, *bad;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"refresh-token-file", .value = &file},
	    {"scope", .value = &scope},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if (optind < argc)
		return admin_usage_error(cmd,
					 "unexpected argument '%s' (the refresh token is read "
					 "from --refresh-token-file, never the command line)",
					 argv[optind]);
	if (!tenant)
		return admin_usage_error(cmd, "--tenant ID is required");
	if ((bad = admin_check_id(tenant)))
		return admin_usage_error(cmd, "--tenant '%s' %s", tenant, bad);
	if (!file)
		return admin_usage_error(cmd, "--refresh-token-file FILE is required ('-' reads "
					      "standard input)");
	if ((bad = admin_check_text(scope, 1000)))
		return admin_usage_error(cmd, "--scope %s", bad);
	rc = EXIT_OK;
	char *token = read_refresh_token(cmd, file, &rc);
	if (!token)
		return rc;
	if ((rc = admin_connect(cmd)) || (rc = admin_tenant_known(cmd, tenant)))
		goto out;
	struct pgsync_error e;
	const char *p[] = {tenant, token, scope};
	/* The access token is fetched when first needed: an empty one with an
	 * expiry in the past makes `parley serve` refresh before any use. */
	if (pgsync_command(cmd->conn,
			   "INSERT INTO google_calendar_tokens AS g (user_id, access_token,"
			   "       refresh_token, token_expiry, scope, connected_at)"
			   " VALUES ($1, '', $2, '1970-01-01', $3, now())"
			   " ON CONFLICT (user_id) DO UPDATE"
			   "    SET access_token = '', refresh_token = EXCLUDED.refresh_token,"
			   "        token_expiry = EXCLUDED.token_expiry, scope = EXCLUDED.scope,"
			   "        connected_at = now(), refreshed_at = NULL,"
			   "        disconnected_at = NULL, disconnect_reason = NULL",
			   3, p, &e) < 0) {
		rc = admin_db_fail(cmd, &e);
		goto out;
	}
	char *said = xasprintf("connected tenant %s's Google Calendar (scope %s); meeting tools "
			       "are offered in its replies from now on",
			       tenant, scope);
	rc = show_state(cmd, tenant, said);
	free(said);
out:
	xfree_secret(token);
	return rc;
}

static int google_status(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant;
	int rc = admin_tenant_command(cmd, argc, argv, false, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	return show_state(cmd, tenant, NULL);
}

static int google_disconnect(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant;
	int rc = admin_tenant_command(cmd, argc, argv, true, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	struct pgsync_error e;
	const char *p[] = {tenant};
	PGresult *res =
	    pgsync_exec(cmd->conn,
			"UPDATE google_calendar_tokens"
			"   SET disconnected_at = coalesce(disconnected_at, now()),"
			"       disconnect_reason = coalesce(disconnect_reason,"
			"                                    'disconnected by an operator'),"
			"       access_token = ''"
			" WHERE user_id = $1",
			1, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	bool had = strtol(PQcmdTuples(res), NULL, 10) > 0;
	PQclear(res);
	if (!had)
		return admin_fail(cmd, "tenant '%s' has no Google Calendar connected", tenant);
	char *said = xasprintf("disconnected tenant %s's Google Calendar; its replies no longer "
			       "offer meeting tools",
			       tenant);
	rc = show_state(cmd, tenant, said);
	free(said);
	return rc;
}

static const struct admin_sub subs[] = {
    {"connect", google_connect, "--tenant ID --refresh-token-file FILE|- [--scope S]"},
    {"status", google_status, "[--tenant ID]"},
    {"disconnect", google_disconnect, "--tenant ID"},
};

int cmd_google(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
