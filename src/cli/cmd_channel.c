/*
 * `parley channel add|list|set-token|remove`: a tenant's WhatsApp numbers,
 * Instagram accounts and webchat widgets (phone_numbers rows). A removed
 * channel keeps its row (phone_numbers.removed_at, migration 0020): its
 * conversations and messages stay; list and add leave it out.
 *
 * Access tokens come from a file or standard input, never from the command
 * line, where every user of the machine can read them (ps, /proc, shell
 * history); they are never printed either, only whether one is set. A
 * webchat channel has no token: the seed's NOT NULL column holds ''.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"
#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"
#include "xalloc.h"

#define TOKEN_REFUSED                                                                              \
	"an access token on the command line is readable by every user of the machine; "           \
	"use --token-file FILE, or --token-file - to read it from standard input"

/* Channels with their linked agent; $1 and $2 filter by tenant, channel. */
static const char CHANNEL_SQL[] =
    "SELECT p.id AS channel_id, p.user_id AS tenant_id, p.platform,"
    "       p.meta_phone_number_id AS meta_id, p.display_name AS name,"
    "       a.agent_id, a.name AS agent_name, a.prompt_id,"
    "       p.access_token <> '' AS token_set,"
    "       to_char(p.created_at, 'YYYY-MM-DD HH24:MI:SS') AS created_at"
    "  FROM phone_numbers p"
    "  LEFT JOIN agents a ON a.phone_number_id = p.id AND a.unlinked_at IS NULL"
    " WHERE ($1::text IS NULL OR p.user_id = $1) AND ($2::text IS NULL OR p.id = $2)"
    "   AND p.removed_at IS NULL"
    " ORDER BY p.user_id, p.platform, p.id";

/* Reads the token named by --token-file, reporting as the command. Returns
 * the token (caller frees) or NULL after printing why, with *rc set. */
static char *token_from(struct admin_cmd *cmd, const char *path, int *rc)
{
	const char *bad;
	char *token = admin_read_token(path, &bad);
	if (token)
		return token;
	if (bad)
		*rc = admin_usage_error(cmd, "%s: %s", strcmp(path, "-") ? path : "standard input",
					bad);
	else
		*rc = admin_fail(cmd, "cannot read the access token from %s: %s",
				 strcmp(path, "-") ? path : "standard input", strerror(errno));
	return NULL;
}

static int print_channel_json(struct admin_cmd *cmd, const char *id)
{
	struct pgsync_error e;
	const char *p[] = {NULL, id};
	PGresult *res = pgsync_exec(cmd->conn, CHANNEL_SQL, 2, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (PQntuples(res) == 1)
		admin_out_json(stdout, admin_out_object(res, 0));
	PQclear(res);
	return EXIT_OK;
}

static int channel_add(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *platform = NULL, *meta = NULL, *name = NULL, *file = NULL;
	const char *id = NULL, *bad;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},   {"platform", .value = &platform},
	    {"meta-id", .value = &meta},    {"name", .value = &name},
	    {"token-file", .value = &file}, {"token", .refused = TOKEN_REFUSED},
	    {"id", .value = &id},           {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_args(cmd, argc, argv, tenant, true)))
		return rc;
	if (!platform)
		return admin_usage_error(cmd,
					 "--platform is required (whatsapp, instagram or webchat)");
	if (!admin_platform_known(platform))
		return admin_usage_error(
		    cmd, "unknown platform '%s' (whatsapp, instagram or webchat)", platform);
	if (!meta)
		return admin_usage_error(cmd, "--meta-id ID is required (%s)",
					 strcmp(platform, "webchat") == 0
					     ? "the public widget id"
					     : "Meta's phone_number_id or Instagram account id");
	if ((bad = admin_check_meta_id(platform, meta)))
		return admin_usage_error(cmd, "--meta-id '%s' %s", meta, bad);
	if (name && (bad = admin_check_text(name, 255)))
		return admin_usage_error(cmd, "--name %s", bad);
	if (id && (bad = admin_check_id(id)))
		return admin_usage_error(cmd, "--id '%s' %s", id, bad);
	bool webchat = strcmp(platform, "webchat") == 0;
	if (webchat && file)
		return admin_usage_error(cmd, "a webchat channel has no access token: leave out "
					      "--token-file");
	if (!webchat && !file)
		return admin_usage_error(cmd,
					 "--token-file FILE is required for %s (the Graph API "
					 "access token; - reads standard input)",
					 platform);

	char *token = webchat ? xstrdup("") : token_from(cmd, file, &rc);
	if (!token)
		return rc;
	char *new_id = id ? xstrdup(id) : admin_new_id("ch_");
	struct pgsync_error e;
	const char *p[] = {new_id, tenant, platform, meta, token, name};
	const char *key[] = {platform, meta};
	PGresult *res = NULL;
	if ((rc = admin_connect(cmd)))
		goto done;
	if (pgsync_command(cmd->conn, "BEGIN", 0, NULL, &e) < 0)
		goto db_error;
	if ((rc = admin_tenant_known(cmd, tenant)))
		goto rollback;
	/* A platform id names one channel in the whole deployment: two tenants
	 * claiming it would make ingestion skip its messages as ambiguous
	 * (docs/protocol.md, Skipped events). The seed's unique key includes
	 * the tenant, so the check is ours, made under a lock per platform id
	 * so that two concurrent adds cannot both pass it. */
	if (pgsync_command(cmd->conn,
			   "SELECT pg_advisory_xact_lock(1885434477, hashtext($1 || ':' || $2))", 2,
			   key, &e) < 0)
		goto db_error;
	res =
	    pgsync_exec(cmd->conn,
			"SELECT id, user_id FROM phone_numbers"
			" WHERE platform = $1 AND meta_phone_number_id = $2 AND removed_at IS NULL",
			2, key, &e);
	if (!res)
		goto db_error;
	if (PQntuples(res) > 0) {
		rc = admin_fail(cmd, "%s id %s is already channel '%s' of tenant '%s'", platform,
				meta, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		goto rollback;
	}
	if (pgsync_command(cmd->conn,
			   "INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id,"
			   "                           access_token, display_name)"
			   " VALUES ($1, $2, $3, $4, $5, $6)",
			   6, p, &e) < 0) {
		if (strcmp(e.constraint, "phone_numbers_pkey") == 0) {
			rc = admin_fail(cmd, "channel id '%s' already exists", new_id);
			goto rollback;
		}
		goto db_error;
	}
	if (pgsync_command(cmd->conn, "COMMIT", 0, NULL, &e) < 0)
		goto db_error;
	/* Added all the same: the secret may come with the next deploy. */
	if (webchat && (!cmd->cfg.webchat_secret || !*cmd->cfg.webchat_secret))
		fprintf(stderr,
			"%s: warning: webchat.secret is not set: channel %s's widget cannot open "
			"sessions until it is (README, Webchat)\n",
			cmd->name, new_id);
	if (cmd->json)
		rc = print_channel_json(cmd, new_id);
	else
		printf("added channel %s: %s %s of tenant %s (no agent yet: parley agent link "
		       "--channel %s --prompt PROMPT_ID --name NAME)\n",
		       new_id, platform, meta, tenant, new_id);
	goto done;
db_error:
	rc = admin_db_fail(cmd, &e);
rollback:
	admin_rollback(cmd);
done:
	PQclear(res);
	free(new_id);
	xfree_secret(token);
	return rc;
}

static int channel_list(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant;
	int rc = admin_tenant_command(cmd, argc, argv, false, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	const char *p[] = {tenant, NULL};
	return admin_print_rows(cmd, CHANNEL_SQL, 2, p);
}

static int channel_set_token(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *file = NULL, *id;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"token-file", .value = &file},
	    {"token", .refused = TOKEN_REFUSED},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_operand(cmd, argc, argv, "channel", tenant, &id)))
		return rc;
	if (!file)
		return admin_usage_error(cmd,
					 "--token-file FILE is required (- reads standard input)");
	char *token = token_from(cmd, file, &rc);
	if (!token)
		return rc;
	if ((rc = admin_connect(cmd)))
		goto done;
	struct pgsync_error e;
	const char *p[] = {id, token, tenant};
	/* With --tenant, a channel of another tenant is "no channel" as much
	 * as one that does not exist: it is never touched. */
	PGresult *res = pgsync_exec(cmd->conn,
				    "UPDATE phone_numbers SET access_token = $2"
				    " WHERE id = $1 AND ($3::text IS NULL OR user_id = $3)"
				    "   AND platform <> 'webchat' AND removed_at IS NULL"
				    " RETURNING user_id, platform",
				    3, p, &e);
	if (!res) {
		rc = admin_db_fail(cmd, &e);
		goto done;
	}
	int n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		const char *q[] = {id, tenant};
		res = pgsync_exec(cmd->conn,
				  "SELECT platform FROM phone_numbers"
				  " WHERE id = $1 AND ($2::text IS NULL OR user_id = $2)"
				  "   AND removed_at IS NULL",
				  2, q, &e);
		if (!res) {
			rc = admin_db_fail(cmd, &e);
		} else if (PQntuples(res) > 0) {
			rc = admin_fail(cmd,
					"channel '%s' is a webchat channel, which has no access "
					"token",
					id);
		} else if (tenant) {
			rc = admin_fail(cmd, "no channel '%s' for tenant '%s'", id, tenant);
		} else {
			rc = admin_fail(cmd, "no channel '%s'", id);
		}
		PQclear(res);
		goto done;
	}
	if (cmd->json)
		rc = print_channel_json(cmd, id);
	else
		printf("replaced the access token of channel %s\n", id);
done:
	xfree_secret(token);
	return rc;
}

/*
 * `channel remove ID --tenant T [--force]`: refused while an agent is linked
 * unless --force, which unlinks it first and archives its active
 * conversations (parley_remove_channel, sql/functions/admin.sql). Nothing is
 * deleted: conversations and messages stay readable.
 */
static int channel_remove(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *id;
	bool force = false;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"force", .flag = &force},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_operand(cmd, argc, argv, "channel", tenant, &id)))
		return rc;
	if (!tenant)
		return admin_usage_error(cmd, "--tenant ID is required (the channel's tenant)");
	if ((rc = admin_connect(cmd)) || (rc = admin_tenant_known(cmd, tenant)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {id, tenant, force ? "true" : "false"};
	PGresult *res = pgsync_exec(cmd->conn,
				    "SELECT r_status, r_agent, r_archived"
				    "  FROM parley_remove_channel($1, $2, $3::boolean)",
				    3, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return admin_fail(cmd, "no channel '%s' for tenant '%s'", id, tenant);
	}
	const char *status = PQgetvalue(res, 0, 0);
	const char *agent = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	long archived = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	if (strcmp(status, "has_agent") == 0) {
		rc = admin_fail(cmd,
				"channel '%s' has agent '%s' linked: remove it with --force, which "
				"unlinks the agent first (its conversations and messages stay)",
				id, agent);
	} else if (strcmp(status, "already_removed") == 0) {
		rc = admin_fail(cmd, "channel '%s' was already removed", id);
	} else if (cmd->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "channel_id", id);
		cJSON_AddStringToObject(o, "tenant_id", tenant);
		cJSON_AddBoolToObject(o, "removed", true);
		if (agent)
			cJSON_AddStringToObject(o, "unlinked_agent_id", agent);
		else
			cJSON_AddNullToObject(o, "unlinked_agent_id");
		cJSON_AddNumberToObject(o, "archived_conversations", (double)archived);
		admin_out_json(stdout, o);
	} else if (agent) {
		printf("removed channel %s of tenant %s: agent %s unlinked, %ld active "
		       "conversation(s) archived; conversations and messages kept\n",
		       id, tenant, agent, archived);
	} else {
		printf("removed channel %s of tenant %s; conversations and messages kept\n", id,
		       tenant);
	}
	PQclear(res);
	return rc;
}

static const struct admin_sub subs[] = {
    {"add", channel_add,
     "--tenant ID --platform whatsapp|instagram|webchat --meta-id ID [--name NAME] "
     "[--token-file FILE|-] [--id ID]"},
    {"list", channel_list, "[--tenant ID]"},
    {"set-token", channel_set_token, "ID --token-file FILE|- [--tenant ID]"},
    {"remove", channel_remove, "ID --tenant ID [--force]"},
};

int cmd_channel(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
