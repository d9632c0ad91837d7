/*
 * `parley conversation archive ID [--tenant T]`: the conversation becomes
 * inactive with no reply due (parley_archive_conversation,
 * sql/functions/admin.sql); the customer's next message starts a new
 * conversation. Its messages stay readable with `conversation show`. Kept
 * apart from cmd_conversation.c (list, show and the conversation control
 * commands) so that each file stays about one thing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"
#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"

int conversation_archive(struct admin_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    ADMIN_COMMON_OPTIONS,
	    {"tenant", required_argument, NULL, 't'},
	    {0, 0, 0, 0},
	};
	const char *tenant = NULL, *bad;
	int c;
	while ((c = admin_getopt(cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case 't': tenant = optarg; break;
		case 'h': return EXIT_OK;
		default: return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return admin_usage_error(cmd, "which conversation? give its ID");
	if (optind + 1 < argc)
		return admin_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	const char *id = argv[optind];
	if ((bad = admin_check_id(id)))
		return admin_usage_error(cmd, "conversation id '%s' %s", id, bad);
	if (tenant && (bad = admin_check_id(tenant)))
		return admin_usage_error(cmd, "--tenant '%s' %s", tenant, bad);
	int rc = admin_connect(cmd);
	if (rc || (tenant && (rc = admin_tenant_known(cmd, tenant))))
		return rc;
	struct pgsync_error e;
	const char *p[] = {id, tenant};
	PGresult *res = pgsync_exec(
	    cmd->conn, "SELECT r_status FROM parley_archive_conversation($1, $2)", 2, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (PQntuples(res) == 0) {
		PQclear(res);
		if (tenant)
			return admin_fail(cmd, "no conversation '%s' for tenant '%s'", id, tenant);
		return admin_fail(cmd, "no conversation '%s'", id);
	}
	bool archived = strcmp(PQgetvalue(res, 0, 0), "archived") == 0;
	PQclear(res);
	if (cmd->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "conversation_id", id);
		cJSON_AddBoolToObject(o, "active", false);
		cJSON_AddBoolToObject(o, "changed", archived);
		admin_out_json(stdout, o);
	} else if (archived) {
		printf("archived conversation %s: the customer's next message starts a new one\n",
		       id);
	} else {
		printf("conversation %s was already archived\n", id);
	}
	return EXIT_OK;
}
