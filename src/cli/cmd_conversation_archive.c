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
	const char *tenant, *id;
	int rc = admin_id_command(cmd, argc, argv, "conversation", &id, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	if (tenant && (rc = admin_tenant_known(cmd, tenant)))
		return rc;
	const char *p[] = {id, tenant};
	PGresult *res = admin_object_exec(
	    cmd, "conversation", "SELECT r_status FROM parley_archive_conversation($1, $2)", 2, p,
	    &rc);
	if (!res)
		return rc;
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
