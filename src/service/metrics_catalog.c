/*
 * The metric families of `parley serve`, their known label values, the build
 * information and the standard process metrics (include/service/metrics_catalog.h).
 * docs/operations.md ("Metrics") lists the same families; docs/alerts.yml and
 * docs/grafana-dashboard.json use them (tests/integration/test_metrics_docs.sh).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"
#include "metrics_catalog.h"

#ifndef PARLEY_COMMIT
#define PARLEY_COMMIT "unknown"
#endif

const char *build_commit(void)
{
	return PARLEY_COMMIT;
}

struct family {
	const char *name;
	enum metric_type type;
	const char *help;
	/* Known label values, each a whole label string ("" for no labels),
	 * ending with NULL; touched at 0 at start. */
	const char *labels[24];
};

#define NOLABELS                                                                                   \
	{                                                                                          \
		"", NULL                                                                           \
	}

static const struct family families[] = {
    /* Ingestion */
    {"parley_webhooks_total",
     METRIC_COUNTER,
     "Webhook POSTs by object and result.",
     {"object=\"whatsapp_business_account\",result=\"ok\"", "object=\"instagram\",result=\"ok\"",
      "object=\"other\",result=\"ok\"", "object=\"whatsapp_business_account\",result=\"db_error\"",
      "object=\"instagram\",result=\"db_error\"", "object=\"other\",result=\"db_error\"",
      "object=\"unknown\",result=\"bad_signature\"", "object=\"unknown\",result=\"bad_request\"",
      "object=\"unknown\",result=\"too_large\"", NULL}},
    {"parley_webhook_events_total",
     METRIC_COUNTER,
     "Events in stored webhooks by outcome (stored, duplicates, statuses, early_statuses).",
     {"object=\"whatsapp_business_account\",outcome=\"stored\"",
      "object=\"whatsapp_business_account\",outcome=\"duplicates\"",
      "object=\"whatsapp_business_account\",outcome=\"statuses\"",
      "object=\"whatsapp_business_account\",outcome=\"early_statuses\"",
      "object=\"instagram\",outcome=\"stored\"", "object=\"instagram\",outcome=\"duplicates\"",
      "object=\"instagram\",outcome=\"statuses\"",
      "object=\"instagram\",outcome=\"early_statuses\"", NULL}},
    {"parley_messages_skipped_total",
     METRIC_COUNTER,
     "Inbound messages (and statuses) not stored, by reason: their channel is unknown, "
     "ambiguous or has no agent, or an id is longer than its column (id_too_long).",
     {"reason=\"unknown_channel\"", "reason=\"ambiguous_channel\"", "reason=\"no_agent\"",
      "reason=\"id_too_long\"", NULL}},
    {"parley_signature_failures_total", METRIC_COUNTER,
     "Webhook POSTs with a missing or invalid X-Hub-Signature-256.", NOLABELS},
    {"parley_webhook_duration_seconds", METRIC_HISTOGRAM,
     "Time from a verified webhook to its answer.", NOLABELS},
    {"parley_messages_total",
     METRIC_COUNTER,
     "Messages stored (inbound, from webhooks) and sent (outbound, agent replies) by "
     "platform.",
     {"platform=\"whatsapp\",direction=\"inbound\"", "platform=\"instagram\",direction=\"inbound\"",
      "platform=\"webchat\",direction=\"inbound\"", "platform=\"whatsapp\",direction=\"outbound\"",
      "platform=\"instagram\",direction=\"outbound\"",
      "platform=\"webchat\",direction=\"outbound\"", NULL}},
    {"parley_raw_webhooks_pruned_total", METRIC_COUNTER,
     "Raw webhook bodies deleted after server.keep_raw_days.", NOLABELS},
    {"parley_ingest_batch_size", METRIC_HISTOGRAM,
     "Webhooks stored per ingest transaction (parley_ingest_batch call).", NOLABELS},
    {"parley_ingest_batch_splits_total", METRIC_COUNTER,
     "Batches that failed with a database error and were stored again one webhook at a time.",
     NOLABELS},
    {"parley_ingest_queued", METRIC_GAUGE,
     "Verified webhooks waiting for an ingest statement slot.", NOLABELS},
    /* Replies */
    {"parley_replies_total",
     METRIC_COUNTER,
     "Replies by outcome (sent, failed, no_credits, window_closed, paused, lost_claim, "
     "abandoned).",
     {"outcome=\"sent\"", "outcome=\"failed\"", "outcome=\"no_credits\"",
      "outcome=\"window_closed\"", "outcome=\"paused\"", "outcome=\"lost_claim\"",
      "outcome=\"abandoned\"", NULL}},
    /* Counted by conversation control (#17; on main after this catalog was
     * written): declared here so that it is there from the first scrape. */
    {"parley_replies_skipped_total",
     METRIC_COUNTER,
     "Replies not produced, by reason: no_credits, window_closed (the 24-hour window had "
     "closed), paused (the AI is paused).",
     {"reason=\"no_credits\"", "reason=\"window_closed\"", "reason=\"paused\"", NULL}},
    {"parley_credit_refusals_total", METRIC_COUNTER,
     "Replies not produced because the tenant had too few credits.", NOLABELS},
    {"parley_send_failures_total",
     METRIC_COUNTER,
     "Replies the Graph API finally refused, by Meta error code.",
     /* The codes docs/operations.md's alerts name; others appear when seen. */
     {"code=\"190\"", "code=\"131047\"", "code=\"invalid_channel_id\"", NULL}},
    {"parley_db_step_failures_total",
     METRIC_COUNTER,
     "Reply and extraction database steps that failed with an error retrying cannot fix, "
     "by worker, step and SQLSTATE; each ended its job as failed.",
     {NULL}},
    {"parley_platform_id_collisions_total", METRIC_COUNTER,
     "Sends the Graph API answered with a platform message id already recorded for another "
     "message (recorded as sent without it).",
     NOLABELS},
    {"parley_replies_in_progress", METRIC_GAUGE, "Replies being produced or sent by this process.",
     NOLABELS},
    /* Upstreams */
    {"parley_upstream_requests_total",
     METRIC_COUNTER,
     "Requests to OpenAI, the Graph API and Google by target and status class.",
     {"target=\"openai\",class=\"2xx\"", "target=\"openai\",class=\"4xx\"",
      "target=\"openai\",class=\"5xx\"", "target=\"openai\",class=\"error\"",
      "target=\"graph\",class=\"2xx\"", "target=\"graph\",class=\"4xx\"",
      "target=\"graph\",class=\"5xx\"", "target=\"graph\",class=\"error\"",
      "target=\"google\",class=\"2xx\"", "target=\"google\",class=\"4xx\"",
      "target=\"google\",class=\"5xx\"", "target=\"google\",class=\"error\"", NULL}},
    {"parley_upstream_duration_seconds",
     METRIC_HISTOGRAM,
     "Time on the wire of requests to OpenAI, the Graph API and Google.",
     {"target=\"openai\"", "target=\"graph\"", "target=\"google\"", NULL}},
    {"parley_upstream_in_flight",
     METRIC_GAUGE,
     "Requests to upstreams on the wire, and queued behind openai.max_in_flight.",
     {"state=\"on_wire\"", "state=\"queued\"", NULL}},
    /* Lead extraction (present when extraction is off, at 0) */
    {"parley_extractions_total",
     METRIC_COUNTER,
     "Lead extractions by outcome (stored, no_credits, gave_up, lost_claim, abandoned).",
     {"outcome=\"stored\"", "outcome=\"no_credits\"", "outcome=\"gave_up\"",
      "outcome=\"lost_claim\"", "outcome=\"abandoned\"", NULL}},
    {"parley_extraction_failures_total",
     METRIC_COUNTER,
     "Failed extraction attempts by reason (invalid, refused, incomplete, failed, upstream, "
     "database); each is retried later.",
     {"reason=\"invalid\"", "reason=\"refused\"", "reason=\"incomplete\"", "reason=\"failed\"",
      "reason=\"upstream\"", "reason=\"database\"", NULL}},
    {"parley_extraction_tags_total",
     METRIC_COUNTER,
     "Stored extractions by lead_status_tag.",
     {"tag=\"Hot\"", "tag=\"Warm\"", "tag=\"Cold\"", NULL}},
    {"parley_extractions_in_progress", METRIC_GAUGE, "Lead extractions this process is producing.",
     NOLABELS},
    /* Meetings and Google */
    {"parley_meeting_tool_calls_total",
     METRIC_COUNTER,
     "Meeting tool calls by tool and outcome (ok, booked, already_booked, limit, busy, "
     "invalid_arguments, disconnected, unavailable, unconfirmed, refused, cancelled, "
     "unknown_tool).",
     {"tool=\"check_availability\",outcome=\"ok\"", "tool=\"book_meeting\",outcome=\"booked\"",
      NULL}},
    {"parley_meetings_completed_total", METRIC_COUNTER,
     "Scheduled meetings marked completed after their end.", NOLABELS},
    {"parley_meetings_recovered_total",
     METRIC_COUNTER,
     "Interrupted bookings finished by the recovery pass (booked, dropped).",
     {"outcome=\"booked\"", "outcome=\"dropped\"", NULL}},
    {"parley_meeting_recoveries_deferred_total",
     METRIC_COUNTER,
     "Recovery attempts that could not look the event up and kept the reservation "
     "(disconnected, unavailable).",
     {"reason=\"disconnected\"", "reason=\"unavailable\"", NULL}},
    {"parley_google_token_refreshes_total",
     METRIC_COUNTER,
     "Google access-token refreshes by outcome (ok, revoked, failed).",
     {"outcome=\"ok\"", "outcome=\"revoked\"", "outcome=\"failed\"", NULL}},
    {"parley_calendar_disconnects_total", METRIC_COUNTER,
     "Calendars disconnected because Google refused the refresh token.", NOLABELS},
    /* Webchat */
    {"parley_webchat_requests_total",
     METRIC_COUNTER,
     "Webchat API requests by endpoint and status code.",
     {"endpoint=\"sessions\",code=\"201\"", "endpoint=\"messages\",code=\"202\"",
      "endpoint=\"poll\",code=\"200\"", "endpoint=\"read\",code=\"200\"", NULL}},
    {"parley_webchat_rate_limited_total",
     METRIC_COUNTER,
     "Webchat requests refused with 429, by limit.",
     {"limit=\"address\"", "limit=\"sessions\"", "limit=\"session\"", "limit=\"messages\"",
      "limit=\"widget\"", NULL}},
    {"parley_webchat_open_polls", METRIC_GAUGE, "Webchat long polls waiting for a message.",
     NOLABELS},
    {"parley_webchat_polls_retired_total", METRIC_COUNTER,
     "Open polls answered early to make room for a newer poll of their session.", NOLABELS},
    /* HTTP server */
    {"parley_http_requests_in_flight", METRIC_GAUGE, "HTTP requests accepted and not yet answered.",
     NOLABELS},
    {"parley_http_connections_refused_total",
     METRIC_COUNTER,
     "Connections closed as soon as they were accepted, by reason.",
     {"reason=\"max_connections\"", "reason=\"descriptors\"", NULL}},
    {"parley_http_requests_timed_out_total", METRIC_COUNTER,
     "Connections closed because a request had not arrived whole in time.", NOLABELS},
    {"parley_http_requests_refused_total",
     METRIC_COUNTER,
     "Requests refused before their body was read, by status.",
     {"status=\"400\"", "status=\"501\"", NULL}},
    /* Database */
    {"parley_db_connections",
     METRIC_GAUGE,
     "Database pool connections by state (ready, busy); the pool's size is "
     "parley_db_pool_size.",
     {"state=\"ready\"", "state=\"busy\"", NULL}},
    {"parley_db_pool_size", METRIC_GAUGE, "Database pool connections configured (db.pool_size).",
     NOLABELS},
    {"parley_db_queries_queued", METRIC_GAUGE, "Queries waiting for a database connection.",
     NOLABELS},
    {"parley_db_query_duration_seconds",
     METRIC_HISTOGRAM,
     "Database queries from queueing to their result, by result.",
     {"result=\"ok\"", "result=\"error\"", NULL}},
    {"parley_ready", METRIC_GAUGE,
     "1 when /readyz answers 200 (the database answered the last probe), else 0.", NOLABELS},
    /* The loop */
    {"parley_event_loop_lag_seconds", METRIC_HISTOGRAM,
     "How late a 250 ms loop timer fires: time the loop spent blocked or busy.", NOLABELS},
    /* Build and process */
    {"parley_build_info",
     METRIC_GAUGE,
     "Always 1; the version and the commit parley was built from as labels.",
     {NULL}},
    {"process_cpu_seconds_total", METRIC_COUNTER, "User and system CPU time spent in seconds.",
     NOLABELS},
    {"process_resident_memory_bytes", METRIC_GAUGE, "Resident memory size in bytes.", NOLABELS},
    {"process_open_fds", METRIC_GAUGE, "Number of open file descriptors.", NOLABELS},
    {"process_max_fds", METRIC_GAUGE, "Maximum number of open file descriptors.", NOLABELS},
    {"process_start_time_seconds", METRIC_GAUGE,
     "Start time of the process since the Unix epoch in seconds.", NOLABELS},
};

/* The fields of /proc/self/stat after the command name, split on spaces:
 * out[0] is field 3 (state). Returns how many were found. */
static int read_stat_fields(char *buf, size_t cap, char **out, int max)
{
	FILE *f = fopen("/proc/self/stat", "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p)
		return 0;
	int k = 0;
	char *save = NULL;
	for (char *t = strtok_r(p + 1, " \n", &save); t && k < max;
	     t = strtok_r(NULL, " \n", &save))
		out[k++] = t;
	return k;
}

static double boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f)
		return 0;
	char line[256];
	double btime = 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "btime ", 6) == 0) {
			btime = strtod(line + 6, NULL);
			break;
		}
	fclose(f);
	return btime;
}

void process_metrics_update(void)
{
	char buf[1024];
	char *fld[24];
	double ticks = (double)sysconf(_SC_CLK_TCK);
	if (read_stat_fields(buf, sizeof buf, fld, 24) >= 13 && ticks > 0)
		metrics_set("process_cpu_seconds_total", NULL,
			    (strtod(fld[11], NULL) + strtod(fld[12], NULL)) / ticks);
	FILE *f = fopen("/proc/self/statm", "re");
	if (f) {
		unsigned long size, resident;
		if (fscanf(f, "%lu %lu", &size, &resident) == 2)
			metrics_set("process_resident_memory_bytes", NULL,
				    (double)resident * (double)sysconf(_SC_PAGESIZE));
		fclose(f);
	}
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		long n = 0;
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		metrics_set("process_open_fds", NULL,
			    (double)(n > 0 ? n - 1 : 0)); /* not d's own */
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		metrics_set("process_max_fds", NULL, (double)rl.rlim_cur);
}

void metrics_catalog_declare(void)
{
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
		const struct family *f = &families[i];
		metrics_declare(f->name, f->type, f->help);
		for (size_t j = 0; f->labels[j]; j++)
			metrics_touch(f->name, f->labels[j]);
	}
	char labels[160];
	snprintf(labels, sizeof labels, "version=\"%s\",commit=\"%s\"", PARLEY_VERSION,
		 build_commit());
	metrics_set("parley_build_info", labels, 1);
	char buf[1024];
	char *fld[24];
	double ticks = (double)sysconf(_SC_CLK_TCK);
	if (read_stat_fields(buf, sizeof buf, fld, 24) >= 20 && ticks > 0)
		metrics_set("process_start_time_seconds", NULL,
			    boot_time() + strtod(fld[19], NULL) / ticks);
	process_metrics_update();
}
