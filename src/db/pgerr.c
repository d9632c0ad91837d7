/*
 * PostgreSQL errors as parley tells them: see include/db/pgerr.h.
 */
#include "pgerr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static const char SUFFIX[] = " (SQLSTATE ";

void pgerr_format(char *out, size_t len, const char *primary, const char *state)
{
	if (!len)
		return;
	if (!primary)
		primary = "unknown error";
	/* A long message is cut, never the SQLSTATE that classifies it. */
	size_t tail = state && *state ? sizeof SUFFIX - 1 + 6 : 0;
	if (tail >= len - 1)
		tail = 0; /* no room for the suffix: the message, cut */
	size_t room = len - 1 - tail;
	snprintf(out, len, "%.*s", (int)(room < 65536 ? room : 65536), primary);
	if (tail) {
		size_t n = strlen(out);
		snprintf(out + n, len - n, "%s%.5s)", SUFFIX, state);
	}
	/* A raised exception's message may hold newlines: a log line is one line. */
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

void pgerr_first_line(char *out, size_t len, const char *msg)
{
	if (!len)
		return;
	if (!msg || !*msg)
		msg = "unknown error";
	size_t n = strcspn(msg, "\r\n");
	while (n && (msg[n - 1] == ' ' || msg[n - 1] == '\t'))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(out, msg, n);
	out[n] = '\0';
}

char *pgerr_result_text(const PGresult *res)
{
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char buf[1024];
	if (primary)
		pgerr_format(buf, sizeof buf, primary, state);
	else
		pgerr_first_line(buf, sizeof buf, res ? PQresultErrorMessage(res) : NULL);
	return xstrdup(buf);
}

bool pgerr_text_state(const char *text, char out[PGERR_STATE_LEN])
{
	size_t n = text ? strlen(text) : 0, k = sizeof SUFFIX - 1;
	/* "… (SQLSTATE " + five characters + ")" */
	if (n < k + 6 || text[n - 1] != ')' || memcmp(text + n - 6 - k, SUFFIX, k) != 0)
		return false;
	for (size_t i = 0; i < 5; i++) {
		char c = text[n - 6 + i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')))
			return false;
		out[i] = c;
	}
	out[5] = '\0';
	return true;
}

bool pgerr_state_retryable(const char *state)
{
	if (!state || strlen(state) != 5)
		return false;
	static const char *const states[] = {
	    "40001", /* serialization_failure */
	    "40P01", /* deadlock_detected */
	    "40003", /* statement_completion_unknown */
	    "55P03", /* lock_not_available (lock_timeout, NOWAIT) */
	    "57014", /* query_canceled (statement_timeout) */
	    "57P01", /* admin_shutdown */
	    "57P02", /* crash_shutdown */
	    "57P03", /* cannot_connect_now (starting up, recovering) */
	    "57P05", /* idle_session_timeout */
	    "25006", /* read_only_sql_transaction: a standby, before a failover completes */
	};
	for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
		if (strcmp(state, states[i]) == 0)
			return true;
	/* A malformed message will be as malformed next time. */
	if (strcmp(state, "08P01") == 0)
		return false;
	return strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0;
}

/*
 * The level at which parley logs a message of severity (libpq's
 * PG_DIAG_SEVERITY_NONLOCALIZED) that the server or libpq sent outside any
 * statement's result: NOTICE and below (a migration's "already exists,
 * skipping") at debug; WARNING, and ERROR, FATAL or PANIC (the server
 * ending the session: "terminating connection due to administrator
 * command" at a restart) at warn; an unknown or missing one at warn.
 */
static enum log_level pgerr_notice_level(const char *severity)
{
	static const char *const quiet[] = {"DEBUG", "LOG", "INFO", "NOTICE"};
	if (severity)
		for (size_t i = 0; i < sizeof quiet / sizeof *quiet; i++)
			if (strcmp(severity, quiet[i]) == 0)
				return LOG_LEVEL_DEBUG;
	return LOG_LEVEL_WARN;
}

static void log_notice(void *arg, const PGresult *res)
{
	(void)arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	enum log_level level = pgerr_notice_level(severity);
	if (!log_enabled(level))
		return;
	/* Primary message only: a notice's DETAIL can quote row values. */
	char *text = pgerr_result_text(res);
	log_write(level, "db", "postgres %s: %s", severity ? severity : "notice", text);
	free(text);
}

void pgerr_log_notices(PGconn *conn)
{
	if (conn)
		PQsetNoticeReceiver(conn, log_notice, NULL);
}
