/*
 * `parley leads list` and `parley leads show`: what lead extraction stored
 * (issue #8), for a person or, with --json, for a program.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_cli.h"
#include "commands.h"
#include "strbuf.h"
#include "utf8.h"

/* Printable on one line of a terminal: control characters become spaces,
 * and at most max characters (UTF-8 aware) are kept, "…" marking a cut. */
static char *cell(const char *s, size_t max)
{
	struct strbuf sb = STRBUF_INIT;
	size_t len = strlen(s), keep = utf8_cut_chars(s, len, max);
	for (size_t i = 0; i < keep; i++) {
		unsigned char c = (unsigned char)s[i];
		strbuf_putc(&sb, c < 0x20 || c == 0x7F ? ' ' : (char)c);
	}
	if (keep < len)
		strbuf_puts(&sb, "…");
	return strbuf_detach(&sb);
}

/* printf's %-*s counts bytes; pad by characters instead. */
static void print_padded(const char *s, size_t width)
{
	size_t chars = utf8_count(s, strlen(s));
	fputs(s, stdout);
	for (; chars < width; chars++)
		putchar(' ');
}

static void print_cell(PGresult *res, int row, int col, size_t width)
{
	char *c = cell(PQgetisnull(res, row, col) ? "-" : PQgetvalue(res, row, col), width);
	print_padded(c, width + 2);
	free(c);
}

static const char LIST_TEXT_SQL[] =
    "SELECT e.lead_status_tag, e.total_score || '/15', e.conversation_id, e.customer_phone,"
    "       e.name, e.company, e.email,"
    "       to_char(e.extracted_at, 'YYYY-MM-DD HH24:MI'), e.smart_notification,"
    "       CASE WHEN c.is_active THEN '' ELSE ' (archived)' END"
    "  FROM extractions e JOIN conversations c USING (conversation_id)"
    " WHERE e.user_id = $1 AND e.is_latest AND ($2::text IS NULL OR e.lead_status_tag = $2)"
    " ORDER BY e.total_score DESC NULLS LAST, e.extracted_at DESC, e.conversation_id";

static const char LIST_JSON_SQL[] =
    "SELECT jsonb_pretty(coalesce(jsonb_agg(to_jsonb(e) - 'is_latest' - 'created_at'"
    "         - 'updated_at' || jsonb_build_object('conversation_active', c.is_active)"
    "         ORDER BY e.total_score DESC NULLS LAST, e.extracted_at DESC, e.conversation_id),"
    "       '[]'))"
    "  FROM extractions e JOIN conversations c USING (conversation_id)"
    " WHERE e.user_id = $1 AND e.is_latest AND ($2::text IS NULL OR e.lead_status_tag = $2)";

/* "hot" → "Hot"; NULL when not a tag. */
static const char *parse_tag(const char *s)
{
	static const char *const tags[] = {"Hot", "Warm", "Cold"};
	for (size_t i = 0; i < 3; i++)
		if (strcasecmp(s, tags[i]) == 0)
			return tags[i];
	return NULL;
}

static int leads_list(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *given_tag = NULL, *tag = NULL;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"tag", .value = &given_tag},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if (given_tag && !(tag = parse_tag(given_tag)))
		return admin_usage_error(cmd, "--tag must be Hot, Warm or Cold, not '%s'",
					 given_tag);
	if ((rc = admin_check_args(cmd, argc, argv, tenant, true)) || (rc = admin_connect(cmd)) ||
	    (rc = admin_tenant_known(cmd, tenant)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {tenant, tag};
	PGresult *res = pgsync_exec(cmd->conn, cmd->json ? LIST_JSON_SQL : LIST_TEXT_SQL, 2, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (cmd->json) {
		printf("%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
		return EXIT_OK;
	}
	int n = PQntuples(res);
	if (n == 0) {
		printf("no leads for tenant %s%s%s\n", tenant, tag ? " tagged " : "",
		       tag ? tag : "");
		PQclear(res);
		return EXIT_OK;
	}
	static const struct {
		const char *title;
		size_t width;
	} cols[] = {{"TAG", 4},   {"SCORE", 5},    {"CONVERSATION", 36}, {"CUSTOMER", 16},
		    {"NAME", 20}, {"COMPANY", 20}, {"EMAIL", 28},        {"EXTRACTED (UTC)", 16}};
	const size_t last = sizeof cols / sizeof cols[0] - 1;
	for (size_t c = 0; c < last; c++)
		print_padded(cols[c].title, cols[c].width + 2);
	printf("%s\n", cols[last].title);
	for (int r = 0; r < n; r++) {
		for (size_t c = 0; c < last; c++)
			print_cell(res, r, (int)c, cols[c].width);
		printf("%s%s\n", PQgetvalue(res, r, (int)last), PQgetvalue(res, r, 9));
		if (!PQgetisnull(res, r, 8)) {
			char *note = cell(PQgetvalue(res, r, 8), 600);
			printf("      %s\n", note);
			free(note);
		}
	}
	printf("%d lead%s\n", n, n == 1 ? "" : "s");
	PQclear(res);
	return EXIT_OK;
}

static const char SHOW_HEAD_SQL[] =
    "SELECT c.customer_phone, a.user_id, c.is_active, coalesce(c.customer_name, '')"
    "  FROM conversations c JOIN agents a USING (agent_id) WHERE c.conversation_id = $1";

static const char SHOW_TEXT_SQL[] =
    "SELECT to_char(extracted_at, 'YYYY-MM-DD HH24:MI:SS'), lead_status_tag,"
    "       total_score, message_count_at_extraction, is_latest,"
    "       coalesce(name, '-'), coalesce(email, '-'), coalesce(company, '-'),"
    "       coalesce(intent, '-'),"
    "       format('intent %s (%s) · urgency %s (%s) · budget %s (%s) · fit %s (%s)"
    " · engagement %s (%s)', intent_level, intent_score, urgency_level, urgency_score,"
    "              budget_constraint, budget_score, fit_alignment, fit_score,"
    "              engagement_health, engagement_score),"
    "       coalesce(nullif(concat_ws(', ',"
    "           CASE WHEN cta_pricing_clicked = 'Yes' THEN 'pricing' END,"
    "           CASE WHEN cta_demo_clicked = 'Yes' THEN 'demo' END,"
    "           CASE WHEN cta_followup_clicked = 'Yes' THEN 'follow-up' END,"
    "           CASE WHEN cta_sample_clicked = 'Yes' THEN 'sample' END,"
    "           CASE WHEN cta_website_clicked = 'Yes' THEN 'website' END,"
    "           CASE WHEN cta_escalated_to_human = 'Yes' THEN 'escalated to a person' END),"
    "         ''), 'none'),"
    "       to_char(demo_book_datetime, 'YYYY-MM-DD HH24:MI'),"
    "       coalesce(smart_notification, '-'),"
    "       (SELECT string_agg(key || ': ' || value, ' | ' ORDER BY key)"
    "          FROM jsonb_each_text(CASE jsonb_typeof(reasoning) WHEN 'object'"
    "                               THEN reasoning ELSE '{}' END)),"
    "       notes"
    "  FROM extractions WHERE conversation_id = $1"
    " ORDER BY extracted_at, created_at, extraction_id";

static const char SHOW_JSON_SQL[] =
    "SELECT jsonb_pretty(jsonb_build_object("
    "         'conversation_id', c.conversation_id, 'user_id', a.user_id,"
    "         'customer_phone', c.customer_phone, 'conversation_active', c.is_active,"
    "         'last_extraction_at', c.last_extraction_at,"
    "         'extractions', coalesce((SELECT jsonb_agg(to_jsonb(e) - 'created_at'"
    "                                     - 'updated_at' ORDER BY e.extracted_at,"
    "                                     e.created_at, e.extraction_id)"
    "                                    FROM extractions e"
    "                                   WHERE e.conversation_id = c.conversation_id),"
    "                                 '[]')))"
    "  FROM conversations c JOIN agents a USING (agent_id) WHERE c.conversation_id = $1";

static void show_line(const char *label, const char *value)
{
	char *v = cell(value, 2000);
	printf("    %-13s %s\n", label, v);
	free(v);
}

static int leads_show(struct admin_cmd *cmd, int argc, char **argv)
{
	int rc = admin_options(cmd, argc, argv, NULL);
	if (rc != ADMIN_GO)
		return rc;
	if (optind >= argc || !*argv[optind])
		return admin_usage_error(cmd, "CONVERSATION_ID is required");
	if (optind + 1 < argc)
		return admin_usage_error(cmd, "one CONVERSATION_ID only");
	const char *conversation = argv[optind];
	if ((rc = admin_connect(cmd)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {conversation};
	PGresult *res = pgsync_exec(cmd->conn, cmd->json ? SHOW_JSON_SQL : SHOW_HEAD_SQL, 1, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return admin_fail(cmd, "no conversation '%s'", conversation);
	}
	if (cmd->json) {
		printf("%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
		return EXIT_OK;
	}
	char *customer = cell(PQgetvalue(res, 0, 0), 60);
	char *name = cell(PQgetvalue(res, 0, 3), 60);
	printf("conversation %s: customer %s%s%s%s, tenant %s%s\n", conversation, customer,
	       *name ? " (" : "", name, *name ? ")" : "", PQgetvalue(res, 0, 1),
	       strcmp(PQgetvalue(res, 0, 2), "t") == 0 ? "" : ", archived");
	free(customer);
	free(name);
	PQclear(res);

	if (!(res = pgsync_exec(cmd->conn, SHOW_TEXT_SQL, 1, p, &e)))
		return admin_db_fail(cmd, &e);
	int n = PQntuples(res);
	if (n == 0)
		printf("no extractions yet\n");
	for (int r = 0; r < n; r++) {
		printf("\n#%d  %s UTC  %s %s/15  after %s messages%s\n", r + 1,
		       PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
		       PQgetvalue(res, r, 3),
		       strcmp(PQgetvalue(res, r, 4), "t") == 0 ? "  (latest)" : "");
		show_line("name", PQgetvalue(res, r, 5));
		show_line("email", PQgetvalue(res, r, 6));
		show_line("company", PQgetvalue(res, r, 7));
		show_line("intent", PQgetvalue(res, r, 8));
		show_line("levels", PQgetvalue(res, r, 9));
		show_line("actions", PQgetvalue(res, r, 10));
		if (!PQgetisnull(res, r, 11))
			show_line("demo booked", PQgetvalue(res, r, 11));
		show_line("notification", PQgetvalue(res, r, 12));
		if (!PQgetisnull(res, r, 13))
			show_line("reasoning", PQgetvalue(res, r, 13));
		if (!PQgetisnull(res, r, 14))
			show_line("notes", PQgetvalue(res, r, 14));
	}
	PQclear(res);
	return EXIT_OK;
}

int cmd_leads(int argc, char **argv)
{
	static const struct admin_sub subs[] = {
	    {"list", leads_list, "--tenant ID [--tag Hot|Warm|Cold]"},
	    {"show", leads_show, "CONVERSATION_ID"},
	};
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
