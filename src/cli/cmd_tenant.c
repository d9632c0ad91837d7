/*
 * `parley tenant add|list|show|disable|enable`: the businesses (users rows)
 * sharing this deployment. A disabled tenant (users.disabled_at, migration
 * 0020) has its webhooks stored, but no reply, extraction or event produced
 * (parley_disabled_agents, sql/functions/common.sql). A tenant is created
 * with its credits row, so that credits and replies never meet a tenant
 * without one.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"
#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"

#define TS(col) "to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"

/* One row per tenant; $1 NULL lists all. */
#define TENANT_SELECT                                                                              \
	"SELECT u.user_id AS tenant_id, u.email, u.company_name AS company,"                       \
	"       coalesce(c.remaining_credits, 0) AS credits_remaining,"                            \
	"       coalesce(c.total_used, 0) AS credits_used,"                                        \
	"       (SELECT count(*) FROM phone_numbers p WHERE p.user_id = u.user_id"                 \
	"           AND p.removed_at IS NULL) AS "                                                 \
	"channel_count,"                                                                           \
	"       " TS("u.created_at") " AS created_at,"                                             \
				     "       u.disabled_at IS NOT NULL AS disabled"
#define TENANT_FROM  "  FROM users u LEFT JOIN credits c USING (user_id)"
#define TENANT_WHERE " WHERE $1::text IS NULL OR u.user_id = $1"

static const char TENANT_SQL[] = TENANT_SELECT TENANT_FROM TENANT_WHERE " ORDER BY u.user_id";

/* tenant show: the same, what its conversations amount to, and whether its
 * Google Calendar is connected (parley_calendar_state(): connected,
 * disconnected after an invalid_grant, or not connected). */
static const char TENANT_SHOW_SQL[] = TENANT_SELECT
    ", k.active_conversations, k.archived_conversations, k.messages,"
    " parley_calendar_state(u.user_id) AS calendar" TENANT_FROM " CROSS JOIN LATERAL ("
    "   SELECT count(*) FILTER (WHERE v.is_active) AS active_conversations,"
    "          count(*) FILTER (WHERE NOT v.is_active) AS archived_conversations,"
    "          coalesce(sum(v.last_sequence_no), 0) AS messages"
    "     FROM conversations v JOIN agents a USING (agent_id)"
    "    WHERE a.user_id = u.user_id) k" TENANT_WHERE;

static int tenant_add(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *id = NULL, *email = NULL, *company = NULL, *credits = "0", *bad;
	const struct admin_opt opts[] = {
	    {"id", .value = &id},
	    {"email", .value = &email},
	    {"company", .value = &company},
	    {"credits", .value = &credits},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if (optind < argc)
		return admin_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!id)
		return admin_usage_error(cmd,
					 "--id ID is required (the tenant's id, chosen by you)");
	if ((bad = admin_check_id(id)))
		return admin_usage_error(cmd, "--id '%s' %s", id, bad);
	if (!email)
		return admin_usage_error(cmd, "--email EMAIL is required");
	if ((bad = admin_check_email(email)))
		return admin_usage_error(cmd, "--email '%s' %s", email, bad);
	if (company && (bad = admin_check_text(company, 255)))
		return admin_usage_error(cmd, "--company %s", bad);
	long n;
	if (admin_parse_count(credits, 0, INT_MAX, &n) < 0)
		return admin_usage_error(cmd,
					 "--credits must be a whole number from 0 to %d, not '%s'",
					 INT_MAX, credits);

	if ((rc = admin_connect(cmd)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {id, email, company};
	const char *pc[] = {id, credits};
	if (pgsync_command(cmd->conn, "BEGIN", 0, NULL, &e) < 0 ||
	    pgsync_command(cmd->conn,
			   "INSERT INTO users (user_id, email, company_name) VALUES ($1, $2, $3)",
			   3, p, &e) < 0 ||
	    pgsync_command(
		cmd->conn,
		"INSERT INTO credits (user_id, remaining_credits) VALUES ($1, $2::integer)"
		" ON CONFLICT (user_id) DO NOTHING",
		2, pc, &e) < 0 ||
	    pgsync_command(cmd->conn, "COMMIT", 0, NULL, &e) < 0) {
		admin_rollback(cmd);
		if (strcmp(e.constraint, "users_pkey") == 0)
			return admin_fail(cmd, "tenant '%s' already exists", id);
		if (strcmp(e.constraint, "users_email_key") == 0)
			return admin_fail(cmd, "another tenant already has the email '%s'", email);
		return admin_db_fail(cmd, &e);
	}
	PGresult *res = pgsync_exec(cmd->conn, TENANT_SQL, 1, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (cmd->json)
		admin_out_json(stdout, admin_out_object(res, 0));
	else
		printf("added tenant %s (%s) with %s credits\n", id, email, credits);
	PQclear(res);
	return EXIT_OK;
}

static int tenant_list(struct admin_cmd *cmd, int argc, char **argv)
{
	int rc = admin_options(cmd, argc, argv, NULL);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_args(cmd, argc, argv, NULL, false)) || (rc = admin_connect(cmd)))
		return rc;
	const char *p[] = {NULL};
	return admin_print_rows(cmd, TENANT_SQL, 1, p);
}

static int tenant_show(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *id;
	int rc = admin_options(cmd, argc, argv, NULL);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_operand(cmd, argc, argv, "tenant", NULL, &id)) ||
	    (rc = admin_connect(cmd)))
		return rc;

	struct pgsync_error e;
	const char *p[] = {id};
	PGresult *tenant = NULL, *channels = NULL;
	rc = EXIT_OK;
	if (!(tenant = pgsync_exec(cmd->conn, TENANT_SHOW_SQL, 1, p, &e))) {
		rc = admin_db_fail(cmd, &e);
		goto done;
	}
	if (PQntuples(tenant) == 0) {
		rc = admin_fail(cmd, "no tenant '%s'", id);
		goto done;
	}
	channels = pgsync_exec(
	    cmd->conn,
	    "SELECT p.id AS channel_id, p.platform, p.meta_phone_number_id AS meta_id,"
	    "       p.display_name AS name, a.agent_id, a.name AS agent_name, a.prompt_id,"
	    "       (SELECT count(*) FROM agents o WHERE o.phone_number_id = p.id"
	    "           AND o.unlinked_at IS NOT NULL) AS previous_agents"
	    "  FROM phone_numbers p"
	    "  LEFT JOIN agents a ON a.phone_number_id = p.id AND a.unlinked_at IS NULL"
	    " WHERE p.user_id = $1 AND p.removed_at IS NULL ORDER BY p.platform, p.id",
	    1, p, &e);
	if (!channels) {
		rc = admin_db_fail(cmd, &e);
		goto done;
	}
	if (cmd->json) {
		cJSON *o = admin_out_object(tenant, 0);
		cJSON_AddItemToObject(o, "channels", admin_out_array(channels));
		admin_out_json(stdout, o);
	} else {
		admin_out_fields(stdout, tenant, 0, 0);
		if (PQntuples(channels) > 0) {
			printf("\n");
			admin_out_table(stdout, channels, 0);
		}
	}
done:
	PQclear(tenant);
	PQclear(channels);
	return rc;
}

/* `tenant disable|enable ID`: sets or clears users.disabled_at. Saying it
 * twice is not an error: the second says so and changes nothing. */
static int tenant_set_disabled(struct admin_cmd *cmd, int argc, char **argv, bool disable)
{
	const char *id;
	int rc = admin_options(cmd, argc, argv, NULL);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_operand(cmd, argc, argv, "tenant", NULL, &id)) ||
	    (rc = admin_connect(cmd)) || (rc = admin_tenant_known(cmd, id)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {id};
	/* The row lock orders concurrent disables and enables; the RETURNING
	 * says whether this one changed anything. */
	PGresult *res = pgsync_exec(
	    cmd->conn,
	    disable
		? "UPDATE users SET disabled_at = now() WHERE user_id = $1 AND disabled_at IS NULL"
		  " RETURNING user_id"
		: "UPDATE users SET disabled_at = NULL WHERE user_id = $1 AND disabled_at IS NOT "
		  "NULL"
		  " RETURNING user_id",
	    1, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	bool changed = PQntuples(res) > 0;
	PQclear(res);
	if (cmd->json) {
		if (!(res = pgsync_exec(cmd->conn, TENANT_SQL, 1, p, &e)))
			return admin_db_fail(cmd, &e);
		cJSON *o = admin_out_object(res, 0);
		cJSON_AddBoolToObject(o, "changed", changed);
		admin_out_json(stdout, o);
		PQclear(res);
	} else if (!changed) {
		printf("tenant %s was already %s\n", id, disable ? "disabled" : "enabled");
	} else if (disable) {
		printf("disabled tenant %s: its webhooks are stored, but no reply, extraction or "
		       "event is produced until parley tenant enable %s\n",
		       id, id);
	} else {
		printf("enabled tenant %s: replies and extractions due are produced again\n", id);
	}
	return EXIT_OK;
}

static int tenant_disable(struct admin_cmd *cmd, int argc, char **argv)
{
	return tenant_set_disabled(cmd, argc, argv, true);
}

static int tenant_enable(struct admin_cmd *cmd, int argc, char **argv)
{
	return tenant_set_disabled(cmd, argc, argv, false);
}

static const struct admin_sub subs[] = {
    {"add", tenant_add, "--id ID --email EMAIL [--company NAME] [--credits N]"},
    {"list", tenant_list, ""},
    {"show", tenant_show, "ID"},
    {"disable", tenant_disable, "ID"},
    {"enable", tenant_enable, "ID"},
};

int cmd_tenant(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
