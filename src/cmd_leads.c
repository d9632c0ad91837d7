/*
 * `parley leads list` and `parley leads show`: what lead extraction stored
 * (issue #8), for a person or, with --json, for a program.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "config.h"
#include "pgerr.h"
#include "pgsync.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: parley leads list --tenant ID [--tag Hot|Warm|Cold] [--json] [-c FILE]\n"
		   "       parley leads show CONVERSATION_ID [--json] [-c FILE]\n");
}

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

/* Runs a query with text parameters; prints the error and returns NULL
 * when it fails. */
static PGresult *run(PGconn *conn, const char *cmd, const char *sql, int n,
		     const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	char *why = pgerr_result_text(res);
	fprintf(stderr, "parley leads %s: %s\n", cmd, why);
	free(why);
	PQclear(res);
	return NULL;
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

static int list(PGconn *conn, const char *tenant, const char *tag, bool json)
{
	const char *p[] = {tenant, tag};
	PGresult *res = run(conn, "list", "SELECT 1 FROM users WHERE user_id = $1", 1, p);
	if (!res)
		return EXIT_RUNTIME;
	bool known = PQntuples(res) > 0;
	PQclear(res);
	if (!known) {
		fprintf(stderr, "parley leads list: no tenant '%s'\n", tenant);
		return EXIT_RUNTIME;
	}
	res = run(conn, "list", json ? LIST_JSON_SQL : LIST_TEXT_SQL, 2, p);
	if (!res)
		return EXIT_RUNTIME;
	if (json) {
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

static int show(PGconn *conn, const char *conversation, bool json)
{
	const char *p[] = {conversation};
	PGresult *res = run(conn, "show", json ? SHOW_JSON_SQL : SHOW_HEAD_SQL, 1, p);
	if (!res)
		return EXIT_RUNTIME;
	if (PQntuples(res) == 0) {
		fprintf(stderr, "parley leads show: no conversation '%s'\n", conversation);
		PQclear(res);
		return EXIT_RUNTIME;
	}
	if (json) {
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

	if (!(res = run(conn, "show", SHOW_TEXT_SQL, 1, p)))
		return EXIT_RUNTIME;
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

/* "hot" → "Hot"; NULL when not a tag. */
static const char *parse_tag(const char *s)
{
	static const char *const tags[] = {"Hot", "Warm", "Cold"};
	for (size_t i = 0; i < 3; i++)
		if (strcasecmp(s, tags[i]) == 0)
			return tags[i];
	return NULL;
}

int cmd_leads(int argc, char **argv)
{
	const char *path = NULL;
	if (cli_take_config(&argc, argv, &path) < 0)
		return EXIT_USAGE;
	if (argc < 2) {
		fprintf(stderr, "parley leads: which one, list or show?\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	bool is_list = strcmp(sub, "list") == 0;
	if (!is_list && strcmp(sub, "show") != 0) {
		fprintf(stderr, "parley leads: unknown sub-command '%s'\n", sub);
		usage(stderr);
		return EXIT_USAGE;
	}

	const char *tenant = NULL, *tag = NULL;
	bool json = false;
	static const struct option opts[] = {
	    {"tenant", required_argument, NULL, 't'},
	    {"tag", required_argument, NULL, 'g'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0, 0, 0, 0},
	};
	int c;
	optind = 1;
	opterr = 0; /* our own messages, naming the command */
	/* The sub-command's arguments, its name in the place of the program's. */
	char **args = argv + 1;
	while ((c = getopt_long(argc - 1, args, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!is_list)
				goto only_list;
			tenant = optarg;
			break;
		case 'g':
			if (!is_list)
				goto only_list;
			if (!(tag = parse_tag(optarg))) {
				fprintf(stderr,
					"parley leads list: --tag must be Hot, Warm or Cold, not "
					"'%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case ':':
			fprintf(stderr, "parley leads %s: %s needs a value\n", sub,
				args[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "parley leads %s: unknown option '%s'\n", sub,
				args[optind - 1]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	int rest = argc - 1 - optind;
	const char *conversation = NULL;
	if (is_list) {
		if (rest > 0) {
			fprintf(stderr, "parley leads list: unexpected argument '%s'\n",
				args[optind]);
			usage(stderr);
			return EXIT_USAGE;
		}
		if (!tenant || !*tenant) {
			fprintf(stderr, "parley leads list: --tenant ID is required\n");
			usage(stderr);
			return EXIT_USAGE;
		}
	} else {
		if (rest != 1 || !*args[optind]) {
			fprintf(stderr, "parley leads show: %s\n",
				rest == 0 ? "CONVERSATION_ID is required"
					  : "one CONVERSATION_ID only");
			usage(stderr);
			return EXIT_USAGE;
		}
		conversation = args[optind];
	}

	struct config cfg = {0};
	if (cli_load_config(path, CONFIG_NEED_DATABASE, &cfg) < 0)
		return EXIT_USAGE;
	char err[1024];
	int rc = EXIT_RUNTIME;
	PGconn *conn = pgsync_connect(cfg.database_url, "parley leads", err, sizeof err);
	if (!conn)
		fprintf(stderr, "parley leads %s: %s\n", sub, err);
	else
		rc = is_list ? list(conn, tenant, tag, json) : show(conn, conversation, json);
	PQfinish(conn);
	config_free(&cfg);
	return rc;

only_list:
	fprintf(stderr, "parley leads show: --tenant and --tag are for 'leads list'\n");
	usage(stderr);
	return EXIT_USAGE;
}
