/*
 * `parley conversation list|show`: a tenant's conversations, and one
 * conversation as a transcript (every message in sequence order with its
 * status and latest delivery status) for support staff.
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
#include "referral.h"

#define TS(col) "to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"

static int conversation_list(struct admin_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    ADMIN_COMMON_OPTIONS,
	    {"tenant", required_argument, NULL, 't'},
	    {"active", no_argument, NULL, 'a'},
	    {"limit", required_argument, NULL, 'l'},
	    {0, 0, 0, 0},
	};
	const char *tenant = NULL, *limit = "50";
	const char *active = "false";
	int c;
	while ((c = admin_getopt(cmd, argc, argv, opts)) != -1) {
		switch (c) {
		case 't': tenant = optarg; break;
		case 'a': active = "true"; break;
		case 'l': limit = optarg; break;
		case 'h': return EXIT_OK;
		default: return EXIT_USAGE;
		}
	}
	int rc = admin_check_args(cmd, argc, argv, tenant, true);
	if (rc)
		return rc;
	long n;
	if (admin_parse_count(limit, 1, 100000, &n) < 0)
		return admin_usage_error(cmd,
					 "--limit must be a whole number from 1 to 100000, not "
					 "'%s'",
					 limit);
	if ((rc = admin_connect(cmd)) || (rc = admin_tenant_known(cmd, tenant)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {tenant, active, limit};
	PGresult *res = pgsync_exec(
	    cmd->conn,
	    "SELECT c.conversation_id, p.platform, a.phone_number_id AS channel_id, c.agent_id,"
	    "       c.customer_phone AS customer, c.customer_name, c.is_active AS active,"
	    "       c.last_sequence_no AS messages,"
	    "       " TS(
		"c.last_message_at") " AS last_message_at,"
				     "       " TS(
					 "c.created_at") " AS created_at"
							 "  FROM conversations c JOIN agents a "
							 "USING (agent_id)"
							 "  JOIN phone_numbers p ON p.id = "
							 "a.phone_number_id"
							 " WHERE a.user_id = $1 AND (NOT "
							 "$2::boolean OR c.is_active)"
							 " ORDER BY c.last_message_at DESC NULLS "
							 "LAST, c.conversation_id"
							 " LIMIT $3::integer",
	    3, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (cmd->json)
		admin_out_json(stdout, admin_out_array(res));
	else
		admin_out_table(stdout, res, 0);
	PQclear(res);
	return EXIT_OK;
}

/* The transcript: the first TRANSCRIPT_TABLE_COLUMNS columns are the table
 * people read; the rest are in --json only (referral as the stored object;
 * the table is followed by one line per message that came from an ad). */
#define TRANSCRIPT_TABLE_COLUMNS 6
static const char TRANSCRIPT_SQL[] = "SELECT m.sequence_no AS seq, " TS(
    "m.\"timestamp\"") " AS time,"
		       "       CASE m.sender WHEN 'user' THEN 'customer' ELSE m.sender END AS "
		       "sender,"
		       "       m.status, d.status AS delivery, m.text,"
		       "       d.error_message AS delivery_error, m.kind, m.message_id, "
		       "m.platform_message_id,"
		       "       m.referral"
		       "  FROM messages m LEFT JOIN message_delivery_status d USING (message_id)"
		       " WHERE m.conversation_id = $1"
		       " ORDER BY m.sequence_no";

/* Below the table: where the customer came from, next to the message that
 * brought it (the text column holds only what the customer sent). */
static void print_referrals(const PGresult *msgs)
{
	int col = PQfnumber(msgs, "referral"), seq = PQfnumber(msgs, "seq");
	bool header = false;
	for (int r = 0; r < PQntuples(msgs); r++) {
		if (PQgetisnull(msgs, r, col))
			continue;
		char *line = referral_describe_text(PQgetvalue(msgs, r, col));
		if (!line)
			continue;
		if (!header)
			printf("\nreferrals\n");
		header = true;
		printf("  seq %s  %s\n", PQgetvalue(msgs, r, seq), line);
		free(line);
	}
}

static int conversation_show(struct admin_cmd *cmd, int argc, char **argv)
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
	/* Conversation ids are parley's UUIDs (or a seed's ids): same rule. */
	if ((bad = admin_check_id(id)))
		return admin_usage_error(cmd, "conversation id '%s' %s", id, bad);
	if (tenant && (bad = admin_check_id(tenant)))
		return admin_usage_error(cmd, "--tenant '%s' %s", tenant, bad);
	int rc = admin_connect(cmd);
	if (rc)
		return rc;
	struct pgsync_error e;
	const char *p[] = {id, tenant};
	PGresult *head = NULL, *msgs = NULL;
	/* With --tenant, another tenant's conversation is "no conversation". */
	head = pgsync_exec(
	    cmd->conn,
	    "SELECT c.conversation_id, a.user_id AS tenant_id, p.platform,"
	    "       a.phone_number_id AS channel_id, c.agent_id, a.name AS agent_name,"
	    "       a.unlinked_at IS NULL AS agent_linked, c.customer_phone AS customer,"
	    "       c.customer_name, c.is_active AS active, c.last_sequence_no AS messages,"
	    "       " TS(
		"c.created_at") " AS created_at,"
				"       " TS(
				    "c.last_message_at") " AS last_message_at"
							 "  FROM conversations c JOIN agents a "
							 "USING (agent_id)"
							 "  JOIN phone_numbers p ON p.id = "
							 "a.phone_number_id"
							 " WHERE c.conversation_id = $1 AND "
							 "($2::text IS NULL OR a.user_id = $2)",
	    2, p, &e);
	if (!head) {
		rc = admin_db_fail(cmd, &e);
		goto done;
	}
	if (PQntuples(head) == 0) {
		if (tenant)
			rc = admin_fail(cmd, "no conversation '%s' for tenant '%s'", id, tenant);
		else
			rc = admin_fail(cmd, "no conversation '%s'", id);
		goto done;
	}
	if (!(msgs = pgsync_exec(cmd->conn, TRANSCRIPT_SQL, 1, p, &e))) {
		rc = admin_db_fail(cmd, &e);
		goto done;
	}
	if (cmd->json) {
		cJSON *o = admin_out_object(head, 0);
		cJSON_AddItemToObject(o, "transcript", admin_out_array(msgs));
		admin_out_json(stdout, o);
	} else {
		admin_out_fields(stdout, head, 0, 0);
		printf("\n");
		admin_out_table(stdout, msgs, TRANSCRIPT_TABLE_COLUMNS);
		print_referrals(msgs);
	}
done:
	PQclear(head);
	PQclear(msgs);
	return rc;
}

static const struct admin_sub subs[] = {
    {"list", conversation_list, "--tenant ID [--active] [--limit N]"},
    {"show", conversation_show, "ID [--tenant ID]"},
    {"archive", conversation_archive, "ID [--tenant ID]"},
};

int cmd_conversation(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
