/*
 * `parley conversation list|show`: a tenant's conversations, and one
 * conversation as a transcript (every message in sequence order with its
 * status and latest delivery status) for support staff.
 * `parley conversation pause|resume`: the AI stops and starts answering in
 * one conversation (a person takes over; sql/functions/handoff.sql).
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
#include "conversation_send.h"
#include "referral.h"
#include "utf8.h"
#include "xalloc.h"

#define TS(col) "to_char(" col ", 'YYYY-MM-DD HH24:MI:SS')"
/* Who paused it: the operator's reason when none is given. */
#define OPERATOR_REASON "paused by operator"
/* --minutes: at most a year, as handoff.pause_minutes. */
#define PAUSE_MAX_MINUTES 525600

/* The 24-hour window (SPEC 9.2), as the last columns of list and show (c is
 * the conversation, p its channel). People read "open until … UTC",
 * "closed", "unknown" (a WhatsApp or Instagram conversation with no customer
 * message stored by a webhook), or "-" for webchat, which has none. --json
 * has window_expires_at (RFC 3339 or null) and window_open (true for
 * webchat: nothing limits its replies). */
#define WINDOW_APPLIES "p.platform IN ('whatsapp', 'instagram')"
static const char WINDOW_TEXT[] =
    ", CASE WHEN NOT " WINDOW_APPLIES " THEN NULL"
    "       WHEN c.window_expires_at IS NULL THEN 'unknown'"
    "       WHEN c.window_expires_at > now() THEN 'open until '"
    "            || to_char(c.window_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
    "            || ' UTC'"
    "       ELSE 'closed' END AS window";
static const char WINDOW_JSON[] =
    ", CASE WHEN " WINDOW_APPLIES " THEN to_char(c.window_expires_at AT TIME ZONE 'UTC',"
    "                                            'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END"
    "   AS window_expires_at,"
    "  (NOT " WINDOW_APPLIES " OR coalesce(c.window_expires_at > now(), false)) AS window_open";

static int conversation_list(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *limit = "50";
	bool active = false;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"active", .flag = &active},
	    {"limit", .value = &limit},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_args(cmd, argc, argv, tenant, true)))
		return rc;
	long n;
	if (admin_parse_count(limit, 1, 100000, &n) < 0)
		return admin_usage_error(cmd,
					 "--limit must be a whole number from 1 to 100000, not "
					 "'%s'",
					 limit);
	if ((rc = admin_connect(cmd)) || (rc = admin_tenant_known(cmd, tenant)))
		return rc;
	const char *p[] = {tenant, active ? "true" : "false", limit};
	/* Per agent of the tenant, its first LIMIT conversations in the order
	 * printed, then merged: the work is LIMIT x agents, not the tenant's or
	 * the table's size. Those with a time through conversations_agent_recent,
	 * then any without one (imported rows) through
	 * conversations_agent_undated: both partial (migration 0026), so that
	 * ingestion's lookup by agent and customer can never use them. */
	/* clang-format off */
	char *sql = xasprintf(
	    "SELECT c.conversation_id, p.platform, a.phone_number_id AS channel_id, c.agent_id,"
	    "       c.customer_phone AS customer, c.customer_name, c.is_active AS active,"
	    "       c.last_sequence_no AS messages,"
	    "       " TS("c.last_message_at") " AS last_message_at,"
	    "       " TS("c.created_at") " AS created_at,"
	    /* while paused: its end */
	    "       parley_paused_until_text(c.ai_paused_until) AS ai_paused_until%s"
	    "  FROM agents a JOIN phone_numbers p ON p.id = a.phone_number_id"
	    "  CROSS JOIN LATERAL ((SELECT * FROM conversations c"
	    "                        WHERE c.agent_id = a.agent_id AND (NOT $2::boolean OR c.is_active)"
	    "                          AND c.last_message_at IS NOT NULL"
	    "                        ORDER BY c.last_message_at DESC, c.conversation_id"
	    "                        LIMIT $3::integer)"
	    "                      UNION ALL"
	    "                      (SELECT * FROM conversations c"
	    "                        WHERE c.agent_id = a.agent_id AND (NOT $2::boolean OR c.is_active)"
	    "                          AND c.last_message_at IS NULL"
	    "                        ORDER BY c.conversation_id"
	    "                        LIMIT $3::integer)) c"
	    " WHERE a.user_id = $1"
	    " ORDER BY c.last_message_at DESC NULLS LAST, c.conversation_id"
	    " LIMIT $3::integer",
	    cmd->json ? WINDOW_JSON : WINDOW_TEXT);
	/* clang-format on */
	rc = admin_print_rows(cmd, sql, 3, p);
	free(sql);
	return rc;
}

/* The transcript: the first TRANSCRIPT_TABLE_COLUMNS columns are the table
 * people read; the rest are in --json only (referral as the stored object;
 * the table is followed by one line per message that came from an ad). */
#define TRANSCRIPT_TABLE_COLUMNS 7
static const char TRANSCRIPT_SQL[] = "SELECT m.sequence_no AS seq, " TS(
    "m.\"timestamp\"") " AS time,"
		       "       CASE m.sender WHEN 'user' THEN 'customer' ELSE m.sender END AS "
		       "sender,"
		       /* who wrote it: customer, ai or human (a person's message) */
		       "       m.author,"
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
	/* Conversation ids are parley's UUIDs (or a seed's ids): the id rule. */
	const char *tenant, *id;
	int rc = admin_id_command(cmd, argc, argv, "conversation", &id, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	rc = EXIT_OK;
	struct pgsync_error e;
	const char *p[] = {id, tenant};
	PGresult *head = NULL, *msgs = NULL;
	/* With --tenant, another tenant's conversation is "no conversation". */
	char *sql = xasprintf(
	    "SELECT c.conversation_id, a.user_id AS tenant_id, p.platform,"
	    "       a.phone_number_id AS channel_id, c.agent_id, a.name AS agent_name,"
	    "       a.unlinked_at IS NULL AS agent_linked, c.customer_phone AS customer,"
	    "       c.customer_name, c.is_active AS active, c.last_sequence_no AS messages,"
	    "       " TS(
		"c.created_at") " AS created_at,"
				"       " TS(
				    "c.last_message_at") " AS last_message_at,"
							 /* while paused: its end and reason */
							 "       parley_paused_until_text("
							 "c.ai_paused_until) AS ai_paused_until,"
							 "       CASE WHEN parley_ai_paused("
							 "c.ai_paused_until) THEN "
							 "c.ai_paused_reason"
							 " END AS ai_paused_reason%s"
							 "  FROM conversations c JOIN agents a "
							 "USING (agent_id)"
							 "  JOIN phone_numbers p ON p.id = "
							 "a.phone_number_id"
							 " WHERE c.conversation_id = $1 AND "
							 "($2::text IS NULL OR a.user_id = $2)",
	    cmd->json ? WINDOW_JSON : WINDOW_TEXT);
	head = pgsync_exec(cmd->conn, sql, 2, p, &e);
	free(sql);
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

/*
 * `pause ID [--minutes N] [--reason TEXT]`: no reply is produced or charged
 * in the conversation until resumed, or for N minutes; a reply in
 * production is dropped (parley_store_reply). Replaces a pause already
 * running (the operator decides; parley_pause_ai with replace).
 */
static int conversation_pause(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *minutes = NULL, *reason = OPERATOR_REASON, *id, *bad;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"minutes", .value = &minutes},
	    {"reason", .value = &reason},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_operand(cmd, argc, argv, "conversation", tenant, &id)))
		return rc;
	long n;
	if (minutes && admin_parse_count(minutes, 1, PAUSE_MAX_MINUTES, &n) < 0)
		return admin_usage_error(cmd,
					 "--minutes must be a whole number from 1 to %d, not "
					 "'%s'",
					 PAUSE_MAX_MINUTES, minutes);
	/* ai_paused_reason is varchar(500): characters. */
	if ((bad = admin_check_text(reason, 2000)) || utf8_valid_chars(reason) > 500)
		return admin_usage_error(cmd, "--reason %s",
					 bad ? bad : "is longer than 500 characters");
	if ((rc = admin_connect(cmd)))
		return rc;
	const char *p[] = {id, tenant, minutes, reason};
	PGresult *res = admin_object_exec(
	    cmd, "conversation",
	    "WITH k AS ("
	    "  SELECT c.conversation_id, parley_pause_ai(c.conversation_id, $3::integer, $4, true)"
	    "         AS until"
	    "    FROM conversations c JOIN agents a USING (agent_id)"
	    "   WHERE c.conversation_id = $1 AND ($2::text IS NULL OR a.user_id = $2))"
	    /* The function's UPDATE is not in this statement's snapshot: the
	     * values come from its answer and the arguments. */
	    "SELECT conversation_id, parley_paused_until_text(until) AS ai_paused_until,"
	    "       left($4, 500) AS ai_paused_reason"
	    "  FROM k",
	    4, p, &rc);
	if (!res)
		return rc;
	if (cmd->json)
		admin_out_json(stdout, admin_out_object(res, 0));
	else if (minutes)
		printf("conversation %s: AI paused until %s UTC\n", id, PQgetvalue(res, 0, 1));
	else
		printf("conversation %s: AI paused until resumed ('parley conversation resume "
		       "%s')\n",
		       id, id);
	PQclear(res);
	return EXIT_OK;
}

/*
 * `resume ID`: the pause ends; customer messages waiting for an answer
 * are answered now (parley_resume_ai makes the conversation due and
 * notifies every parley serve). Resuming a conversation that is not paused
 * changes nothing and succeeds.
 */
static int conversation_resume(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *id;
	PGresult *res;
	int rc = admin_id_exec(
	    cmd, argc, argv, "conversation",
	    "WITH k AS ("
	    "  SELECT c.conversation_id, parley_resume_ai(c.conversation_id) AS r"
	    "    FROM conversations c JOIN agents a USING (agent_id)"
	    "   WHERE c.conversation_id = $1 AND ($2::text IS NULL OR a.user_id = $2))"
	    "SELECT conversation_id, (r->>'was_paused')::boolean AS was_paused,"
	    "       (r->>'due')::boolean AS answering"
	    "  FROM k",
	    &id, &res);
	if (rc != ADMIN_GO)
		return rc;
	if (cmd->json)
		admin_out_json(stdout, admin_out_object(res, 0));
	else
		printf("conversation %s: %s%s\n", id,
		       strcmp(PQgetvalue(res, 0, 1), "t") == 0
			   ? "AI resumed"
			   : "AI was not paused; nothing changed",
		       strcmp(PQgetvalue(res, 0, 2), "t") == 0
			   ? "; answering the customer's waiting messages"
			   : "");
	PQclear(res);
	return EXIT_OK;
}

static const struct admin_sub subs[] = {
    {"list", conversation_list, "--tenant ID [--active] [--limit N]"},
    {"show", conversation_show, "ID [--tenant ID]"},
    {"pause", conversation_pause, "ID [--minutes N] [--reason TEXT] [--tenant ID]"},
    {"resume", conversation_resume, "ID [--tenant ID]"},
    {"send", conversation_send,
     "ID [--tenant ID] (--text-file FILE|- [--keep-ai] | --template NAME --language CODE "
     "[--param TEXT]... [--keep-ai])"},
    {"archive", conversation_archive, "ID [--tenant ID]"},
};

int cmd_conversation(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
