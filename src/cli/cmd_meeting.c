/*
 * `parley meeting list|cancel`: the meetings the agent booked (issue #9).
 *
 * cancel deletes the Google Calendar event (blocking libcurl: a command,
 * not the daemon), with the tenant's access token, refreshed first when it
 * is about to expire or Google answers 401, and then marks the meeting
 * cancelled. Google's 404 or 410 means the event is gone already (deleted
 * in the calendar): the meeting is cancelled all the same. Google's
 * invalid_grant marks the calendar disconnected, as `parley serve` does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_cli.h"
#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"
#include "google_calendar.h"
#include "http_sync.h"
#include "xalloc.h"

#define ATTEMPTS 3

/* Columns shown in the table come first; --json has them all. */
static const char LIST_SQL[] =
    "SELECT meeting_id, to_char(meeting_time, 'YYYY-MM-DD HH24:MI') AS start_utc,"
    "       duration_minutes AS minutes, status, title, customer_name AS customer,"
    "       customer_email AS email, meet_link, timezone, conversation_id, google_event_id,"
    "       to_jsonb(participants) AS participants,"
    "       to_char(created_at, 'YYYY-MM-DD HH24:MI:SS') AS created_at"
    "  FROM meetings"
    " WHERE user_id = $1"
    "   AND ($2::boolean IS NOT TRUE OR (status = 'scheduled' AND"
    "        meeting_time + make_interval(mins => coalesce(duration_minutes, 30))"
    "        > now() AT TIME ZONE 'UTC'))"
    " ORDER BY meeting_time, meeting_id";
#define LIST_TABLE_COLUMNS 8

static int meeting_list(struct admin_cmd *cmd, int argc, char **argv)
{
	const char *tenant = NULL;
	bool upcoming = false;
	const struct admin_opt opts[] = {
	    {"tenant", .value = &tenant},
	    {"upcoming", .flag = &upcoming},
	    {0},
	};
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO)
		return rc;
	if ((rc = admin_check_args(cmd, argc, argv, tenant, true)) || (rc = admin_connect(cmd)) ||
	    (rc = admin_tenant_known(cmd, tenant)))
		return rc;
	struct pgsync_error e;
	const char *p[] = {tenant, upcoming ? "true" : "false"};
	PGresult *res = pgsync_exec(cmd->conn, LIST_SQL, 2, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	if (cmd->json)
		admin_out_json(stdout, admin_out_array(res));
	else if (PQntuples(res) == 0)
		printf("no %smeetings for tenant %s\n", upcoming ? "upcoming " : "", tenant);
	else
		admin_out_table(stdout, res, LIST_TABLE_COLUMNS);
	PQclear(res);
	return EXIT_OK;
}

/* ---- cancel ------------------------------------------------------------------- */

struct cancel {
	struct admin_cmd *cmd;
	const char *meeting_id;
	char *user_id, *event_id, *status;
	char *access_token, *refresh_token; /* secrets */
	long token_left;                    /* seconds */
	bool has_tokens, disconnected;
	char *reason;
};

/* A fresh access token from Google (blocking); 0, or the exit status. */
static int refresh(struct cancel *k)
{
	const struct config *cfg = &k->cmd->cfg;
	if (!*cfg->google_client_id || !*cfg->google_client_secret)
		return admin_fail(k->cmd,
				  "google.client_id and google.client_secret must be set to "
				  "refresh the tenant's access token");
	char *body =
	    gcal_token_request(cfg->google_client_id, cfg->google_client_secret, k->refresh_token);
	const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
				 "Accept: application/json"};
	struct http_sync_resp resp;
	enum gcal_token_outcome o = GCAL_TOKEN_RETRYABLE;
	char *access = NULL, *new_refresh = NULL, *why = NULL;
	long expires = 0;
	for (int attempt = 0; attempt < ATTEMPTS && o == GCAL_TOKEN_RETRYABLE; attempt++) {
		if (attempt)
			sleep((unsigned)attempt);
		free(why);
		why = NULL;
		if (http_sync("POST", cfg->google_token_url, headers, 2, body, &resp) < 0) {
			why = xstrdup(resp.err);
		} else {
			o = gcal_token_parse(resp.status, resp.body, resp.len, &access, &expires,
					     &new_refresh, &why);
		}
		free(resp.body);
	}
	xfree_secret(body);
	int rc = 0;
	struct pgsync_error e;
	if (o == GCAL_TOKEN_OK) {
		char secs[24];
		snprintf(secs, sizeof secs, "%ld", expires);
		const char *p[] = {k->user_id, k->refresh_token, access, secs, new_refresh};
		/* Stored like parley serve does; a failure only costs a refresh. */
		pgsync_command(
		    k->cmd->conn,
		    "UPDATE google_calendar_tokens SET access_token = $3,"
		    "       token_expiry = now() AT TIME ZONE 'UTC'"
		    "                      + make_interval(secs => $4::integer),"
		    "       refresh_token = coalesce($5, refresh_token), refreshed_at = now()"
		    " WHERE user_id = $1 AND refresh_token = $2",
		    5, p, &e);
		xfree_secret(k->access_token);
		k->access_token = access;
		access = NULL;
	} else if (o == GCAL_TOKEN_REVOKED) {
		const char *p[] = {k->user_id, k->refresh_token, why};
		pgsync_command(
		    k->cmd->conn,
		    "UPDATE google_calendar_tokens SET disconnected_at = now(),"
		    "       disconnect_reason = $3, access_token = ''"
		    " WHERE user_id = $1 AND refresh_token = $2 AND disconnected_at IS NULL",
		    3, p, &e);
		rc = admin_fail(k->cmd,
				"Google refused tenant %s's refresh token (%s); the calendar "
				"is now disconnected: connect it again with 'parley google "
				"connect'",
				k->user_id, why);
	} else {
		rc = admin_fail(k->cmd, "refreshing the access token failed: %s",
				why ? why : "no answer");
	}
	xfree_secret(access);
	xfree_secret(new_refresh);
	free(why);
	return rc;
}

/* DELETE the event; 0 (with *gone when it was not there any more) or the
 * exit status. */
static int delete_event(struct cancel *k, bool *gone)
{
	const struct config *cfg = &k->cmd->cfg;
	char *url = gcal_events_url(cfg->google_calendar_url, cfg->google_calendar_id, k->event_id,
				    "sendUpdates=all");
	bool refreshed = false;
	int rc = -1;
	struct http_sync_resp resp = {0};
	for (int attempt = 0; attempt < ATTEMPTS && rc < 0; attempt++) {
		if (!k->access_token || !*k->access_token || k->token_left < 60) {
			if ((rc = refresh(k)))
				break;
			rc = -1;
			refreshed = true;
			k->token_left = 3600;
		}
		char *auth = xasprintf("Authorization: Bearer %s", k->access_token);
		const char *headers[] = {auth};
		int got = http_sync("DELETE", url, headers, 1, NULL, &resp);
		xfree_secret(auth);
		if (got == 0 && resp.status == 401 && !refreshed) {
			/* The stored token was revoked early: once more, fresh. */
			k->token_left = 0;
			attempt--;
			refreshed = true;
		} else if (got == 0 && ((resp.status >= 200 && resp.status < 300) ||
					resp.status == 404 || resp.status == 410)) {
			*gone = resp.status == 404 || resp.status == 410;
			rc = 0;
		} else if (got == 0 && resp.status != 429 && resp.status < 500 &&
			   !gcal_retryable_403(resp.status, resp.body, resp.len)) {
			char reason[64];
			gcal_error_reason(resp.body, resp.len, reason, sizeof reason);
			rc = admin_fail(k->cmd, "Google refused to delete the event: HTTP %ld %s",
					resp.status, reason);
		} else if (attempt + 1 == ATTEMPTS) {
			rc = admin_fail(k->cmd, "deleting the event failed: %s",
					got ? resp.err : "Google kept answering with errors");
		} else {
			sleep((unsigned)attempt + 1);
		}
		free(resp.body);
		resp.body = NULL;
	}
	free(url);
	return rc;
}

static int load(struct cancel *k)
{
	struct pgsync_error e;
	const char *p[] = {k->meeting_id};
	PGresult *res = pgsync_exec(
	    k->cmd->conn,
	    "SELECT m.user_id, m.google_event_id, coalesce(m.status, ''), g.access_token,"
	    "       g.refresh_token,"
	    "       extract(epoch FROM g.token_expiry - now() AT TIME ZONE 'UTC')::bigint,"
	    "       g.user_id IS NOT NULL, g.disconnected_at IS NOT NULL,"
	    "       coalesce(g.disconnect_reason, '')"
	    "  FROM meetings m LEFT JOIN google_calendar_tokens g USING (user_id)"
	    " WHERE m.meeting_id = $1",
	    1, p, &e);
	if (!res)
		return admin_db_fail(k->cmd, &e);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return admin_fail(k->cmd, "no meeting '%s'", k->meeting_id);
	}
	k->user_id = xstrdup(PQgetvalue(res, 0, 0));
	k->event_id = xstrdup(PQgetvalue(res, 0, 1));
	k->status = xstrdup(PQgetvalue(res, 0, 2));
	k->access_token = xstrdup(PQgetvalue(res, 0, 3));
	k->refresh_token = xstrdup(PQgetvalue(res, 0, 4));
	k->token_left = strtol(PQgetvalue(res, 0, 5), NULL, 10);
	k->has_tokens = PQgetvalue(res, 0, 6)[0] == 't';
	k->disconnected = PQgetvalue(res, 0, 7)[0] == 't';
	k->reason = xstrdup(PQgetvalue(res, 0, 8));
	PQclear(res);
	return 0;
}

static int meeting_cancel(struct admin_cmd *cmd, int argc, char **argv)
{
	int rc = admin_options(cmd, argc, argv, NULL);
	if (rc != ADMIN_GO)
		return rc;
	if (optind >= argc)
		return admin_usage_error(cmd, "which meeting? give its MEETING_ID");
	if (optind + 1 < argc)
		return admin_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
	const char *id = argv[optind], *bad;
	if ((bad = admin_check_id(id)))
		return admin_usage_error(cmd, "meeting id '%s' %s", id, bad);
	if ((rc = admin_connect(cmd)))
		return rc;
	struct cancel k = {.cmd = cmd, .meeting_id = id};
	bool gone = false;
	if ((rc = load(&k)))
		goto out;
	if (strcmp(k.status, "cancelled") == 0) {
		if (!cmd->json)
			printf("meeting %s was cancelled already\n", id);
		goto show;
	}
	if (strcmp(k.status, "completed") == 0) {
		rc = admin_fail(cmd, "meeting %s is completed: it is over and cannot be cancelled",
				id);
		goto out;
	}
	if (!k.has_tokens || k.disconnected) {
		rc = admin_fail(cmd,
				"tenant %s's Google Calendar is %s%s%s: connect it again "
				"('parley google connect') to cancel the event",
				k.user_id, k.has_tokens ? "disconnected" : "not connected",
				*k.reason ? " — " : "", k.reason);
		goto out;
	}
	if ((rc = delete_event(&k, &gone)))
		goto out;
	struct pgsync_error e;
	const char *p[] = {id};
	if (pgsync_command(
		cmd->conn,
		"WITH c AS (UPDATE meetings SET status = 'cancelled'"
		" WHERE meeting_id = $1 AND status IS DISTINCT FROM 'cancelled'"
		" RETURNING meeting_id)" /* events out (events.sql) */
		" SELECT parley_emit_meeting_event('meeting.cancelled', meeting_id) FROM c",
		1, p, &e) < 0) {
		rc = admin_db_fail(cmd, &e);
		goto out;
	}
	if (!cmd->json)
		printf("cancelled meeting %s (%s)\n", id,
		       gone ? "its event was already gone from the calendar"
			    : "event deleted; Google tells the attendees");
show:
	if (cmd->json) {
		const char *q[] = {k.user_id, "false"};
		PGresult *res = pgsync_exec(cmd->conn, LIST_SQL, 2, q, &e);
		if (!res) {
			rc = admin_db_fail(cmd, &e);
			goto out;
		}
		for (int r = 0; r < PQntuples(res); r++)
			if (strcmp(PQgetvalue(res, r, 0), id) == 0)
				admin_out_json(stdout, admin_out_object(res, r));
		PQclear(res);
	}
out:
	free(k.user_id);
	free(k.event_id);
	free(k.status);
	xfree_secret(k.access_token);
	xfree_secret(k.refresh_token);
	free(k.reason);
	return rc;
}

static const struct admin_sub subs[] = {
    {"list", meeting_list, "--tenant ID [--upcoming]"},
    {"cancel", meeting_cancel, "MEETING_ID"},
};

int cmd_meeting(int argc, char **argv)
{
	return admin_dispatch(subs, sizeof subs / sizeof subs[0], argc, argv);
}
