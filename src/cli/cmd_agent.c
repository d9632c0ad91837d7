/*
 * `parley agent link|list`: which agent (OpenAI stored prompt) answers a
 * channel, and the relink that replaces it.
 *
 * A relink is one call of parley_relink_agent() (sql/functions/admin.sql
 * says what it locks, in which order, and why): the channel's link lock
 * taken exclusively makes webhooks in flight finish first and later ones
 * see the new agent; the old agent's active conversations are archived.
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

/* One statement, one transaction. Returns 0 or the exit status after
 * printing why. */
static int relink(struct admin_cmd *cmd, const char *channel, const char *tenant,
		  const char *agent_id, const char *prompt, const char *name,
		  struct link_result *out)
{
	struct pgsync_error e;
	int rc = EXIT_RUNTIME;
	char *archive_id = admin_new_id("ar_");
	const char *params[] = {channel, tenant, agent_id, prompt, name, archive_id};
	PGresult *res = pgsync_exec(cmd->conn,
				    "SELECT r_tenant, r_old_agent, r_archived, r_archive"
				    " FROM parley_relink_agent($1, $2, $3, $4, $5, $6)",
				    6, params, &e);
	if (!res) {
		if (strcmp(e.constraint, "agents_pkey") == 0)
			admin_fail(cmd, "agent id '%s' already exists", agent_id);
		else
			admin_db_fail(cmd, &e);
		goto done;
	}
	if (PQntuples(res) == 0) {
		if (tenant)
			admin_fail(cmd, "no channel '%s' for tenant '%s'", channel, tenant);
		else
			admin_fail(cmd, "no channel '%s'", channel);
		goto done;
	}
	snprintf(out->tenant, sizeof out->tenant, "%s", PQgetvalue(res, 0, 0));
	/* NULL reads as "": the channel had no agent, nothing was archived. */
	snprintf(out->old_agent, sizeof out->old_agent, "%s", PQgetvalue(res, 0, 1));
	out->archived = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	snprintf(out->archive, sizeof out->archive, "%s", PQgetvalue(res, 0, 3));
	rc = EXIT_OK;
done:
	PQclear(res);
	free(archive_id);
	return rc;
}

static int agent_link(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *channel = NULL, *prompt = NULL, *name = NULL, *tenant = NULL, *id = NULL;
	const char *bad;
	const struct admin_opt opts[] = {
	    {"channel", .value = &channel}, {"prompt", .value = &prompt}, {"name", .value = &name},
	    {"tenant", .value = &tenant},   {"id", .value = &id},         {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
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
	if ((rc = admin_connect(cmd)))
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
		printf("linked agent %s (%s, prompt %s) to channel %s of tenant %s\n", agent_id,
		       name, prompt, channel, r.tenant);
		if (r.old_agent[0])
			printf(
			    "unlinked agent %s; archived %ld active conversation%s (archive %s)\n",
			    r.old_agent, r.archived, r.archived == 1 ? "" : "s", r.archive);
	}
	free(agent_id);
	return rc;
}

static int agent_list(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *channel = NULL, *bad;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"channel", .value = &channel},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_args(cmd, argc, argv, tenant, false)))
		return rc;
	if (channel && (bad = admin_check_id(channel)))
		return admin_usage_error(cmd, "--channel '%s' %s", channel, bad);
	if ((rc = admin_connect(cmd)))
		return rc;
	const char *p[] = {tenant, channel};
	return admin_print_rows(
	    cmd,
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
	    2, p);
}

static const struct admin_sub subs[] = {
    {"link", agent_link, "--channel ID --prompt PROMPT_ID --name NAME [--tenant ID] [--id ID]"},
    {"list", agent_list, "[--tenant ID] [--channel ID]"},
};

int cmd_agent(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
