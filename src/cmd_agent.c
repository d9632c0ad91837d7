/*
 * `parley agent link|list`: which agent (OpenAI stored prompt) answers a
 * channel, and the relink that replaces it.
 *
 * A relink is one transaction (sql/migrations/0008_admin_relink.sql says
 * why each step is there):
 *   1. the channel row FOR UPDATE: relinks of one channel queue, and the
 *      channel's tenant is the one the new agent belongs to;
 *   2. the channel's link lock, exclusive: webhooks storing messages for
 *      this channel finish first, later ones wait for our commit and then
 *      see the new agent;
 *   3. the linked agent is read only now, and unlinked (unlinked_at);
 *   4. the new agent is inserted, linked;
 *   5. the old agent's active conversations become inactive, with no reply
 *      due any more: the customer's next message opens a new conversation,
 *      and with it a new OpenAI conversation, under the new agent. A reply
 *      already in production for an old conversation finishes (its rows
 *      stay as they were); messages not yet answered stay unanswered;
 *   6. a conversation_archives row: old agent, new agent, channel, count.
 * The old agent, its conversations and messages stay readable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"
#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"
#include "xalloc.h"

/* What the relink found and made, for the output. */
struct link_result {
	char tenant[64];
	char old_agent[64]; /* "" when the channel had none */
	char archive[64];   /* "" when nothing was archived */
	long archived;
};

/* Steps 1 to 6 in one transaction. Returns 0 or the exit status after
 * printing why. */
static int relink(struct admin_cmd *cmd, const char *channel, const char *tenant,
		  const char *agent_id, const char *prompt, const char *name, struct link_result *out)
{
	struct pgsync_error e;
	PGresult *res = NULL;
	int rc = EXIT_RUNTIME;
	char *archive_id = admin_new_id("ar_");
	const char *pc[] = {channel, tenant};

	if (pgsync_command(cmd->conn, "BEGIN", 0, NULL, &e) < 0)
		goto db_error;
	/* 1 */
	res = pgsync_exec(cmd->conn,
			  "SELECT user_id FROM phone_numbers"
			  " WHERE id = $1 AND ($2::text IS NULL OR user_id = $2) FOR UPDATE",
			  2, pc, &e);
	if (!res)
		goto db_error;
	if (PQntuples(res) == 0) {
		if (tenant)
			admin_fail(cmd, "no channel '%s' for tenant '%s'", channel, tenant);
		else
			admin_fail(cmd, "no channel '%s'", channel);
		goto rollback;
	}
	snprintf(out->tenant, sizeof out->tenant, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;
	/* 2 */
	if (pgsync_command(cmd->conn, "SELECT parley_lock_channel_link($1, true)", 1, pc, &e) < 0)
		goto db_error;
	/* 3: a statement after the lock, so it sees what committed before. */
	res = pgsync_exec(cmd->conn,
			  "UPDATE agents SET unlinked_at = now()"
			  " WHERE phone_number_id = $1 AND unlinked_at IS NULL RETURNING agent_id",
			  1, pc, &e);
	if (!res)
		goto db_error;
	snprintf(out->old_agent, sizeof out->old_agent, "%s",
		 PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	res = NULL;
	/* 4 */
	const char *pa[] = {agent_id, out->tenant, channel, prompt, name};
	if (pgsync_command(cmd->conn,
			   "INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)"
			   " VALUES ($1, $2, $3, $4, $5)",
			   5, pa, &e) < 0) {
		if (strcmp(e.constraint, "agents_pkey") == 0) {
			admin_fail(cmd, "agent id '%s' already exists", agent_id);
			goto rollback;
		}
		goto db_error;
	}
	out->archived = 0;
	out->archive[0] = '\0';
	if (out->old_agent[0]) {
		/* 5 */
		const char *po[] = {out->old_agent};
		res = pgsync_exec(cmd->conn,
				  /* A reply in production (leased) keeps its due time:
				   * if its process dies, the claim finishes it
				   * (0012_reply_batches.sql). */
				  "UPDATE conversations SET is_active = false, reply_due_at ="
				  " CASE WHEN reply_lease_owner IS NULL THEN NULL ELSE reply_due_at END"
				  " WHERE agent_id = $1 AND is_active",
				  1, po, &e);
		if (!res)
			goto db_error;
		out->archived = strtol(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		res = NULL;
		/* 6 */
		char count[24];
		snprintf(count, sizeof count, "%ld", out->archived);
		const char *pr[] = {archive_id, out->old_agent, agent_id, channel, count};
		if (pgsync_command(cmd->conn,
				   "INSERT INTO conversation_archives (archive_id, old_agent_id,"
				   "    new_agent_id, phone_number_id, archived_conversations_count)"
				   " VALUES ($1, $2, $3, $4, $5::integer)",
				   5, pr, &e) < 0)
			goto db_error;
		snprintf(out->archive, sizeof out->archive, "%s", archive_id);
	}
	if (pgsync_command(cmd->conn, "COMMIT", 0, NULL, &e) < 0)
		goto db_error;
	rc = EXIT_OK;
	goto done;
db_error:
	admin_db_fail(cmd, &e);
rollback:
	admin_rollback(cmd);
done:
	PQclear(res);
	free(archive_id);
	return rc;
}

static int agent_link(struct admin_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		ADMIN_COMMON_OPTIONS,
		{"channel", required_argument, NULL, 'C'},
		{"prompt", required_argument, NULL, 'p'},
		{"name", required_argument, NULL, 'n'},
		{"tenant", required_argument, NULL, 't'},
		{"id", required_argument, NULL, 'i'},
		{0, 0, 0, 0},
	};
	const char *channel = NULL, *prompt = NULL, *name = NULL, *tenant = NULL, *id = NULL;
	const char *bad;
	int c;
	while ((c = admin_getopt(cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case 'C': channel = optarg; break;
		case 'p': prompt = optarg; break;
		case 'n': name = optarg; break;
		case 't': tenant = optarg; break;
		case 'i': id = optarg; break;
		case 'h': return EXIT_OK;
		default: return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return admin_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!channel)
		return admin_usage_error(cmd, "--channel ID is required");
	if ((bad = admin_check_id(channel)))
		return admin_usage_error(cmd, "--channel '%s' %s", channel, bad);
	if (!prompt)
		return admin_usage_error(cmd, "--prompt PROMPT_ID is required (the OpenAI stored "
					      "prompt's id)");
	if ((bad = admin_check_text(prompt, 100)))
		return admin_usage_error(cmd, "--prompt %s", bad);
	if (!name)
		return admin_usage_error(cmd, "--name NAME is required");
	if ((bad = admin_check_text(name, 255)))
		return admin_usage_error(cmd, "--name %s", bad);
	if (tenant && (bad = admin_check_id(tenant)))
		return admin_usage_error(cmd, "--tenant '%s' %s", tenant, bad);
	if (id && (bad = admin_check_id(id)))
		return admin_usage_error(cmd, "--id '%s' %s", id, bad);
	int rc = admin_connect(cmd);
	if (rc)
		return rc;

	char *agent_id = id ? xstrdup(id) : admin_new_id("ag_");
	struct link_result r;
	rc = relink(cmd, channel, tenant, agent_id, prompt, name, &r);
	if (rc == EXIT_OK && cmd->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "agent_id", agent_id);
		cJSON_AddStringToObject(o, "channel_id", channel);
		cJSON_AddStringToObject(o, "tenant_id", r.tenant);
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddStringToObject(o, "prompt_id", prompt);
		if (r.old_agent[0])
			cJSON_AddStringToObject(o, "old_agent_id", r.old_agent);
		else
			cJSON_AddNullToObject(o, "old_agent_id");
		if (r.archive[0])
			cJSON_AddStringToObject(o, "archive_id", r.archive);
		else
			cJSON_AddNullToObject(o, "archive_id");
		cJSON_AddNumberToObject(o, "archived_conversations", (double)r.archived);
		admin_out_json(stdout, o);
	} else if (rc == EXIT_OK) {
		printf("linked agent %s (%s, prompt %s) to channel %s of tenant %s\n", agent_id, name,
		       prompt, channel, r.tenant);
		if (r.old_agent[0])
			printf("unlinked agent %s; archived %ld active conversation%s (archive %s)\n",
			       r.old_agent, r.archived, r.archived == 1 ? "" : "s", r.archive);
	}
	free(agent_id);
	return rc;
}

static int agent_list(struct admin_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		ADMIN_COMMON_OPTIONS,
		{"tenant", required_argument, NULL, 't'},
		{"channel", required_argument, NULL, 'C'},
		{0, 0, 0, 0},
	};
	const char *tenant = NULL, *channel = NULL, *bad;
	int c;
	while ((c = admin_getopt(cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case 't': tenant = optarg; break;
		case 'C': channel = optarg; break;
		case 'h': return EXIT_OK;
		default: return EXIT_USAGE;
		}
	}
	int rc = admin_check_args(cmd, argc, argv, tenant, false);
	if (rc)
		return rc;
	if (channel && (bad = admin_check_id(channel)))
		return admin_usage_error(cmd, "--channel '%s' %s", channel, bad);
	if ((rc = admin_connect(cmd)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {tenant, channel};
	PGresult *res = pgsync_exec(
	    cmd->conn,
	    "SELECT a.agent_id, a.user_id AS tenant_id, a.phone_number_id AS channel_id,"
	    "       p.platform, a.name, a.prompt_id, a.unlinked_at IS NULL AS linked,"
	    "       coalesce(k.n, 0) AS conversations,"
	    "       to_char(a.created_at, 'YYYY-MM-DD HH24:MI:SS') AS created_at,"
	    "       to_char(a.unlinked_at, 'YYYY-MM-DD HH24:MI:SS') AS unlinked_at"
	    "  FROM agents a JOIN phone_numbers p ON p.id = a.phone_number_id"
	    "  LEFT JOIN (SELECT agent_id, count(*) AS n FROM conversations GROUP BY agent_id) k"
	    "         USING (agent_id)"
	    " WHERE ($1::text IS NULL OR a.user_id = $1)"
	    "   AND ($2::text IS NULL OR a.phone_number_id = $2)"
	    " ORDER BY a.user_id, a.phone_number_id, a.unlinked_at DESC NULLS FIRST, a.agent_id",
	    2, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (cmd->json)
		admin_out_json(stdout, admin_out_array(res));
	else
		admin_out_table(stdout, res, 0);
	PQclear(res);
	return EXIT_OK;
}

static const struct admin_sub subs[] = {
	{"link", agent_link, "--channel ID --prompt PROMPT_ID --name NAME [--tenant ID] [--id ID]"},
	{"list", agent_list, "[--tenant ID] [--channel ID]"},
};

int cmd_agent(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
