/*
 * `parley endpoint add|list|remove|enable|disable|test|deliveries|rotate-secret`:
 * a tenant's signed event webhooks (SPEC 10, README "Events out").
 *
 * Secrets: a given one comes from --secret-file FILE|- only (argv is
 * readable by every user of the machine); a generated one ("whsec_" +
 * base64 of 32 random bytes) is printed once, by add and rotate-secret, and
 * never again by anything (list and --json show whether one is set, not
 * what it is).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"
#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"
#include "event_sign.h"
#include "event_target.h"
#include "xalloc.h"

/* The rotation window of SPEC 10: the old secret signs too for this long. */
#define ROTATION_HOURS 24

static const char *const TYPES[] = {
    "message.received",
    "message.sent",
    "message.failed",
    "message.status",
    "lead.extracted",
    "lead.hot",
    "meeting.booked",
    "meeting.cancelled",
    "conversation.handoff",
    "conversation.archived",
    "ping",
};

/* Endpoints with their state and backlog; $1 tenant, $2 endpoint filter.
 * Never the secret. */
static const char ENDPOINT_SQL[] =
    "SELECT e.endpoint_id, e.user_id AS tenant_id, e.url,"
    "       array_to_string(e.event_types, ',') AS events,"
    "       CASE WHEN e.disabled_at IS NULL THEN 'enabled' ELSE 'disabled' END AS state,"
    "       e.disabled_reason,"
    "       to_char(e.disabled_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS disabled_at,"
    "       (SELECT count(*) FROM event_deliveries d"
    "         WHERE d.endpoint_id = e.endpoint_id AND d.state = 'pending') AS pending,"
    "       to_char(e.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
    "           AS failing_since,"
    "       e.previous_secret_until > now() AS rotating,"
    "       to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS created_at"
    "  FROM event_endpoints e"
    " WHERE ($1::text IS NULL OR e.user_id = $1) AND ($2::text IS NULL OR e.endpoint_id = $2)"
    " ORDER BY e.user_id, e.created_at, e.endpoint_id";

static bool type_known(const char *t, size_t len)
{
	for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
		if (strlen(TYPES[i]) == len && strncmp(TYPES[i], t, len) == 0)
			return true;
	return len == 1 && *t == '*';
}

/* --events LIST as a PostgreSQL array literal ("{a,b}"); NULL after a
 * usage error (*rc set). */
static char *types_array(struct admin_cmd *cmd, const char *list, int *rc)
{
	struct {
		char *s;
		size_t len, cap;
	} b = {xstrdup("{"), 1, 2};
	const char *p = list;
	int n = 0;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && *p == ' ')
			p++, len--;
		while (len && p[len - 1] == ' ')
			len--;
		if (len == 0 || !type_known(p, len)) {
			*rc = admin_usage_error(
			    cmd,
			    "--events: unknown event type '%.*s' (one of "
			    "message.received, message.sent, message.failed, "
			    "message.status, lead.extracted, lead.hot, "
			    "meeting.booked, meeting.cancelled, conversation.handoff, "
			    "conversation.archived, ping, or *)",
			    (int)len, p);
			free(b.s);
			return NULL;
		}
		char *grown = xasprintf("%s%s%.*s", b.s, n++ ? "," : "", (int)len, p);
		free(b.s);
		b.s = grown;
		if (!e)
			break;
		p = e + 1;
	}
	if (n == 0) {
		*rc = admin_usage_error(cmd, "--events: give at least one type, or *");
		free(b.s);
		return NULL;
	}
	char *out = xasprintf("%s}", b.s);
	free(b.s);
	return out;
}

/* The endpoint's id operand, checked; NULL after a usage error. */
static int print_endpoint(struct admin_cmd *cmd, const char *id, const char *secret)
{
	struct pgsync_error e;
	const char *p[] = {NULL, id};
	PGresult *res = pgsync_exec(cmd->conn, ENDPOINT_SQL, 2, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (PQntuples(res) == 1) {
		cJSON *o = admin_out_object(res, 0);
		if (secret)
			cJSON_AddStringToObject(o, "secret", secret);
		admin_out_json(stdout, o);
	}
	PQclear(res);
	return EXIT_OK;
}

/* Target checks that need the configuration (after admin_connect). */
static int check_target(struct admin_cmd *cmd, const char *url)
{
	char host[512], addr[INET6_ADDRSTRLEN + 1];
	const char *why = event_url_check(url, cmd->cfg.events_allow_http, host, sizeof host);
	if (why)
		return admin_usage_error(cmd, "--url %s", why);
	if (cmd->cfg.events_allow_private_targets)
		return 0;
	if ((why = event_target_resolve(host, addr, sizeof addr)))
		return admin_fail(cmd, "--url: %s %s%s%s", host, why, *addr ? ": " : "", addr);
	return 0;
}

static char *secret_from(struct admin_cmd *cmd, const char *path, int *rc)
{
	const char *bad;
	char *s = admin_read_token(path, &bad);
	const char *from = strcmp(path, "-") ? path : "standard input";
	if (!s) {
		if (bad)
			*rc = admin_usage_error(cmd, "%s: %s", from, bad);
		else
			*rc = admin_fail(cmd, "cannot read the secret from %s: %s", from,
					 strerror(errno));
		return NULL;
	}
	unsigned char key[EVENT_SECRET_MAX_BYTES];
	if (event_secret_key(s, key, &bad) < 0) {
		*rc = admin_usage_error(cmd, "the secret in %s %s", from, bad);
		xfree_secret(s);
		return NULL;
	}
	return s;
}

static int endpoint_add(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *url = NULL, *events = "*", *file = NULL, *id = NULL, *bad;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"url", .value = &url},
	    {"events", .value = &events},
	    {"secret-file", .value = &file},
	    {"secret", .refused =
			   "a secret on the command line is readable by every user of the "
			   "machine; use --secret-file FILE, or --secret-file - for standard "
			   "input"},
	    {"id", .value = &id},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_args(cmd, argc, argv, tenant, true)))
		return rc;
	if (!url)
		return admin_usage_error(cmd, "--url URL is required");
	char host[512];
	/* Syntax first (http allowed here: the configuration decides below). */
	if ((bad = event_url_check(url, true, host, sizeof host)))
		return admin_usage_error(cmd, "--url %s", bad);
	if (id && (bad = admin_check_id(id)))
		return admin_usage_error(cmd, "--id '%s' %s", id, bad);
	char *types = types_array(cmd, events, &rc);
	if (!types)
		return rc;
	char *secret = file ? secret_from(cmd, file, &rc) : event_secret_new();
	char *new_id = NULL;
	if (!secret)
		goto done;
	new_id = id ? xstrdup(id) : admin_new_id("ep_");
	if ((rc = admin_connect(cmd)) || (rc = check_target(cmd, url)) ||
	    (rc = admin_tenant_known(cmd, tenant)))
		goto done;
	struct pgsync_error e;
	const char *p[] = {new_id, tenant, url, secret, types};
	if (pgsync_command(
		cmd->conn,
		"INSERT INTO event_endpoints (endpoint_id, user_id, url, secret, event_types)"
		" VALUES ($1, $2, $3, $4, $5::text[])",
		5, p, &e) < 0) {
		if (strcmp(e.constraint, "event_endpoints_pkey") == 0)
			rc = admin_fail(cmd, "endpoint id '%s' already exists", new_id);
		else
			rc = admin_db_fail(cmd, &e);
		goto done;
	}
	if (cmd->json) {
		rc = print_endpoint(cmd, new_id, file ? NULL : secret);
	} else {
		printf("added endpoint %s for tenant %s: %s (events %s)\n", new_id, tenant, url,
		       events);
		if (!file)
			printf("signing secret (shown only now; keep it): %s\n", secret);
	}
done:
	free(types);
	free(new_id);
	if (secret)
		xfree_secret(secret);
	return rc;
}

static int endpoint_list(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant;
	int rc = admin_tenant_command(cmd, argc, argv, false, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	const char *p[] = {tenant, NULL};
	return admin_print_rows(cmd, ENDPOINT_SQL, 2, p);
}

/* remove, enable, disable, test, rotate-secret: ID [--tenant T]. */
static int endpoint_remove(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *id;
	PGresult *res;
	/* Its pending deliveries go with it (ON DELETE CASCADE); the events
	 * stay for other endpoints and are pruned as usual. */
	int rc = admin_id_exec(cmd, argc, argv, "endpoint",
			       "DELETE FROM event_endpoints"
			       " WHERE endpoint_id = $1 AND ($2::text IS NULL OR user_id = $2)"
			       " RETURNING endpoint_id",
			       &id, &res);
	if (rc != ADMIN_GO)
		return rc;
	PQclear(res);
	if (cmd->json)
		printf("{\"endpoint_id\":\"%s\",\"removed\":true}\n", id);
	else
		printf("removed endpoint %s\n", id);
	return EXIT_OK;
}

static int endpoint_enable(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *id, *tenant;
	int rc = admin_id_command(cmd, argc, argv, "endpoint", &id, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	struct pgsync_error e;
	const char *p[] = {id, tenant};
	PGresult *res = pgsync_exec(cmd->conn, "SELECT parley_enable_endpoint($1, $2)", 2, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	bool found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!found)
		return admin_no_object(cmd, "endpoint", id, tenant);
	if (cmd->json)
		return print_endpoint(cmd, id, NULL);
	printf("enabled endpoint %s; its pending deliveries resume now\n", id);
	return EXIT_OK;
}

static int endpoint_disable(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *id;
	PGresult *res;
	int rc = admin_id_exec(cmd, argc, argv, "endpoint",
			       "UPDATE event_endpoints"
			       "   SET disabled_at = coalesce(disabled_at, now()),"
			       "       disabled_reason = CASE WHEN disabled_at IS NULL"
			       "           THEN 'disabled by an operator' ELSE disabled_reason END"
			       " WHERE endpoint_id = $1 AND ($2::text IS NULL OR user_id = $2)"
			       " RETURNING endpoint_id",
			       &id, &res);
	if (rc != ADMIN_GO)
		return rc;
	PQclear(res);
	if (cmd->json)
		return print_endpoint(cmd, id, NULL);
	printf("disabled endpoint %s: no new events are queued for it, and queued ones wait "
	       "for 'parley endpoint enable %s'\n",
	       id, id);
	return EXIT_OK;
}

static int endpoint_test(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *id;
	PGresult *res;
	int rc = admin_id_exec(cmd, argc, argv, "endpoint",
			       "SELECT parley_emit_ping(endpoint_id),"
			       "       disabled_at IS NOT NULL FROM event_endpoints"
			       " WHERE endpoint_id = $1 AND ($2::text IS NULL OR user_id = $2)",
			       &id, &res);
	if (rc != ADMIN_GO)
		return rc;
	bool disabled = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	if (cmd->json)
		printf("{\"endpoint_id\":\"%s\",\"event_id\":\"%s\"}\n", id, PQgetvalue(res, 0, 0));
	else
		printf("queued ping %s for endpoint %s%s\n", PQgetvalue(res, 0, 0), id,
		       disabled ? " (the endpoint is disabled: it is sent after "
				  "'parley endpoint enable')"
				: "");
	PQclear(res);
	return EXIT_OK;
}

static int endpoint_rotate(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *id, *tenant;
	int rc = admin_id_command(cmd, argc, argv, "endpoint", &id, &tenant);
	if (rc != ADMIN_GO)
		return rc;
	char *secret = event_secret_new();
	char hours[16];
	snprintf(hours, sizeof hours, "%d", ROTATION_HOURS);
	const char *p[] = {id, tenant, secret, hours};
	PGresult *res = admin_object_exec(
	    cmd, "endpoint",
	    "UPDATE event_endpoints"
	    "   SET previous_secret = secret, secret = $3,"
	    "       previous_secret_until = now() + make_interval(hours => $4::int)"
	    " WHERE endpoint_id = $1 AND ($2::text IS NULL OR user_id = $2)"
	    " RETURNING endpoint_id",
	    4, p, &rc);
	if (!res) {
		xfree_secret(secret);
		return rc;
	}
	PQclear(res);
	if (cmd->json) {
		rc = print_endpoint(cmd, id, secret);
	} else {
		printf("new signing secret of endpoint %s (shown only now; the old one keeps "
		       "signing too for %d hours): %s\n",
		       id, ROTATION_HOURS, secret);
	}
	xfree_secret(secret);
	return rc;
}

static int endpoint_deliveries(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL, *limit = "50", *id;
	bool failed = false;
	long n;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"failed", .flag = &failed},
	    {"limit", .value = &limit},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_operand(cmd, argc, argv, "endpoint", tenant, &id)))
		return rc;
	if (admin_parse_count(limit, 1, 100000, &n) < 0)
		return admin_usage_error(cmd, "--limit must be a whole number from 1 to 100000");
	if ((rc = admin_connect(cmd)))
		return rc;
	const char *q[] = {id, tenant};
	PGresult *res =
	    admin_object_exec(cmd, "endpoint",
			      "SELECT 1 FROM event_endpoints"
			      " WHERE endpoint_id = $1 AND ($2::text IS NULL OR user_id = $2)",
			      2, q, &rc);
	if (!res)
		return rc;
	PQclear(res);
	/* Newest first; --json also carries each delivery's attempts. */
	char *sql = xasprintf(
	    "SELECT d.delivery_id, o.event_id, o.type, d.conversation_id, d.state, d.attempts,"
	    "       d.last_status, d.last_error,"
	    "       to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS "
	    "created_at,"
	    "       to_char(CASE WHEN d.state = 'pending' THEN d.next_attempt_at END"
	    "               AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS next_attempt_at,"
	    "       to_char(d.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
	    "           AS finished_at%s"
	    "  FROM event_deliveries d JOIN event_outbox o ON o.seq = d.event_seq"
	    " WHERE d.endpoint_id = $1 AND ($2::boolean IS NOT TRUE OR d.state = 'failed')"
	    " ORDER BY d.delivery_id DESC LIMIT $3::integer",
	    cmd->json ? ", (SELECT coalesce(jsonb_agg(jsonb_build_object("
			"'at', to_char(a.attempted_at AT TIME ZONE 'UTC',"
			" 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'http_status', a.http_status,"
			" 'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.attempt_id),"
			" '[]') FROM event_attempts a WHERE a.delivery_id = d.delivery_id)"
			" AS attempts_log"
		      : "");
	const char *p[] = {id, failed ? "true" : "false", limit};
	rc = admin_print_rows(cmd, sql, 3, p);
	free(sql);
	return rc;
}

static const struct admin_sub subs[] = {
    {"add", endpoint_add, "--tenant ID --url URL [--events LIST] [--secret-file FILE|-] [--id ID]"},
    {"list", endpoint_list, "[--tenant ID]"},
    {"remove", endpoint_remove, "ID [--tenant ID]"},
    {"enable", endpoint_enable, "ID [--tenant ID]"},
    {"disable", endpoint_disable, "ID [--tenant ID]"},
    {"test", endpoint_test, "ID [--tenant ID]"},
    {"deliveries", endpoint_deliveries, "ID [--failed] [--limit N] [--tenant ID]"},
    {"rotate-secret", endpoint_rotate, "ID [--tenant ID]"},
};

int cmd_endpoint(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
