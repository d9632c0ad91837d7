/*
 * `parley serve`: one event loop for HTTP in, PostgreSQL and (later) HTTP
 * out. Start-up errors are fatal; everything after is handled where it
 * happens and the process carries on.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "commands.h"
#include "event_worker.h"
#include "extract_worker.h"
#include "http_client.h"
#include "http_server.h"
#include "ingest_batch.h"
#include "log.h"
#include "meeting_tools.h"
#include "migrate.h"
#include "metrics.h"
#include "metrics_catalog.h"
#include "reply_worker.h"
#include "sd_notify.h"
#include "webchat.h"
#include "worker.h"
#include "xalloc.h"

/* How long a shutdown waits for requests in flight before leaving anyway. */
#define DRAIN_SECONDS   20
#define JANITOR_SECONDS 60
/* Raw bodies deleted per statement, and the pause before the next one while
 * statements find full batches (a backlog): each batch is a short
 * transaction of its own (tens of ms; 10,000 rows took 0.2-0.6 s of a CPU
 * in `make bench-scale`), ingestion runs between them, and a backlog still
 * goes at up to ~4,000 bodies a second. */
#define PRUNE_BATCH    1000
#define PRUNE_AGAIN_MS 200

struct server {
	struct app app;
	const char *config_path;
	struct http_server *http;
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *janitor, *drain, *ready_probe, *watchdog;
	struct event *prune_again; /* one-shot: the next batch of a backlog */
	int pruning;               /* a pruning statement is in flight */
	double drain_started;      /* clock_mono() */
	double lag_last;           /* clock_mono() of the last lag probe, 0 before the first */
	struct event *lag;
	int signals_seen;
	int ready_sent;
	struct migrate_expect *schema; /* this parley's migrations, for the pool's check */
};

static int schema_gate(void *ctx, const PGresult *res, const char *err, char *why, size_t whylen)
{
	return migrate_expect_compare(ctx, res, err, why, whylen);
}

static void on_pruned(void *arg, PGresult *res, const char *err)
{
	struct server *s = arg;
	s->pruning = 0;
	if (err) {
		log_warn("janitor", "pruning raw webhooks failed: %s", err);
		return;
	}
	long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0) {
		metrics_add("parley_raw_webhooks_pruned_total", NULL, (double)n);
		log_info("janitor", "pruned %ld raw webhook bodies", n);
	}
	/* A full batch: there may be more, and the next minute's one batch
	 * would fall behind a backlog (after downtime, a lowered
	 * server.keep_raw_days, or more than PRUNE_BATCH webhooks a minute). */
	if (n >= PRUNE_BATCH) {
		struct timeval tv = {PRUNE_AGAIN_MS / 1000, (PRUNE_AGAIN_MS % 1000) * 1000};
		event_add(s->prune_again, &tv);
	}
}

/* One bounded batch, oldest first (sql/functions/ingest.sql); never two at
 * once. */
static void prune_start(struct server *s)
{
	if (s->pruning || db_pool_ready(s->app.db) == 0)
		return;
	char days[24], limit[24];
	snprintf(days, sizeof days, "%ld", s->app.cfg.server_keep_raw_days);
	snprintf(limit, sizeof limit, "%d", PRUNE_BATCH);
	const char *params[2] = {days, limit};
	s->pruning = 1;
	db_query(s->app.db, "SELECT parley_prune_raw_webhooks($1::integer, $2::integer)", 2, params,
		 on_pruned, s);
}

static void prune_again_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	prune_start(arg);
}

/* Housekeeping in one place, every minute. */
static void janitor_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	prune_start(arg);
}

static void on_webchat_channels(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	if (err || PQntuples(res) != 1)
		return;
	long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0)
		log_warn("serve",
			 "webchat.secret is not set: the widgets of %ld webchat channel%s cannot "
			 "open sessions until it is (README, Webchat)",
			 n, n == 1 ? "" : "s");
}

static void on_ready_probe(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct server *s = arg;
	if (err || s->ready_sent)
		return;
	s->ready_sent = 1;
	s->app.announced_ready = true;
	event_del(s->ready_probe);
	log_info("serve", "ready");
	sd_notify_send("READY=1\nSTATUS=serving");
	/* The janitor's first pass now, not a minute later: after downtime the
	 * backlog starts going at once. */
	prune_start(s);
	/* Said once at start: a webchat channel whose widget cannot work. */
	if (!s->app.cfg.webchat_secret || !*s->app.cfg.webchat_secret)
		db_query(s->app.db, "SELECT count(*) FROM phone_numbers WHERE platform = 'webchat'",
			 0, NULL, on_webchat_channels, s);
}

/* READY=1 waits for the database to answer once (docs/operations.md,
 * Deployment). */
static void ready_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct server *s = arg;
	if (!s->ready_sent && db_pool_ready(s->app.db) > 0)
		db_query(s->app.db, "SELECT 1", 0, NULL, on_ready_probe, s);
}

/* Measures how late the loop runs a timer: a blocked or overloaded loop shows
 * here long before clients notice. */
#define LAG_PROBE_MS 250
static void lag_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct server *s = arg;
	double now = clock_mono();
	if (s->lag_last) {
		double gap = now - s->lag_last;
		double lag = gap - LAG_PROBE_MS / 1000.0;
		metrics_observe("parley_event_loop_lag_seconds", NULL, lag > 0 ? lag : 0);
	}
	s->lag_last = now;
}

static void watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	/* From the loop itself: a wedged loop stops pinging, a database outage does not. */
	sd_notify_send("WATCHDOG=1");
}

/* The claim loops of the workers that run (replies, extraction, events):
 * how many, in loops. */
static size_t worker_loops(const struct server *s, struct worker *loops[3])
{
	size_t n = 0;
	if (s->app.replies)
		loops[n++] = reply_worker_loop(s->app.replies);
	if (s->app.extractions)
		loops[n++] = extract_worker_loop(s->app.extractions);
	if (s->app.events)
		loops[n++] = event_worker_loop(s->app.events);
	return n;
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct server *s = arg;
	double now = clock_mono();
	int left = http_server_in_flight();
	struct worker *loops[3];
	for (size_t i = 0, n = worker_loops(s, loops); i < n; i++)
		left += worker_active(loops[i]);
	if (left == 0 || now - s->drain_started >= DRAIN_SECONDS) {
		if (left)
			log_warn("serve", "leaving with %d requests unanswered", left);
		event_base_loopexit(s->app.base, NULL);
	}
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct server *s = arg;
	if (++s->signals_seen > 1) {
		log_warn("serve", "second signal: exiting now");
		event_base_loopbreak(s->app.base);
		return;
	}
	log_info("serve", "signal %d: stopping; finishing %d requests in flight", (int)sig,
		 http_server_in_flight());
	sd_notify_send("STOPPING=1\nSTATUS=stopping");
	s->app.stopping = true;
	http_server_stop_accepting(s->http);
	struct worker *loops[3];
	for (size_t i = 0, n = worker_loops(s, loops); i < n; i++)
		worker_stop(loops[i]);
	/* Open polls are answered now (empty): they would otherwise hold the
	 * drain for up to their whole wait. */
	webchat_close(s->app.webchat);
	s->drain_started = clock_mono();
	s->drain = event_new(s->app.base, -1, EV_PERSIST, drain_tick, s);
	struct timeval tv = {0, 20000};
	event_add(s->drain, &tv);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct server *s = arg;
	sd_notify_send("RELOADING=1");
	char err[1024];
	struct config fresh = {0};
	if (config_load(s->config_path, CONFIG_NEED_SERVE, &fresh, err, sizeof err) < 0) {
		log_error("serve", "reload refused, keeping the running configuration: %s", err);
	} else {
		enum log_level level;
		enum log_format format;
		if (log_parse_level(fresh.log_level, &level) == 0)
			log_set_level(level);
		if (log_parse_format(fresh.log_format, &format) == 0)
			log_set_format(format);
		log_info("serve", "configuration reloaded (log level %s)", fresh.log_level);
		config_free(&fresh);
	}
	sd_notify_send("READY=1\nSTATUS=serving");
}

static void apply_logging(const struct config *cfg)
{
	enum log_level level;
	enum log_format format;
	if (log_parse_level(cfg->log_level, &level) == 0)
		log_set_level(level);
	if (log_parse_format(cfg->log_format, &format) == 0)
		log_set_format(format);
}

static void add_timer(struct server *s, struct event **ev, event_callback_fn fn, long ms)
{
	*ev = event_new(s->app.base, -1, EV_PERSIST, fn, s);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_add(*ev, &tv);
}

static void server_free(struct server *s)
{
	struct event *evs[] = {s->sig_term, s->sig_int,     s->sig_hup,  s->janitor, s->prune_again,
			       s->drain,    s->ready_probe, s->watchdog, s->lag};
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i])
			event_free(evs[i]);
	/* Pending upstream and database work fails with "shutting down"; the
	 * worker, told first, only frees its jobs then. Their claims run out
	 * and are picked up again: nothing is sent twice. Webhooks still
	 * waiting for the database get their 503 while their requests are
	 * alive, so the HTTP server goes last. */
	struct worker *loops[3];
	for (size_t i = 0, n = worker_loops(s, loops); i < n; i++)
		worker_close(loops[i]);
	webchat_close(s->app.webchat);
	meeting_tools_close(s->app.meetings);
	http_client_free(s->app.upstream);
	db_pool_free(s->app.db);
	ingest_batch_close(&s->app);
	reply_worker_free(s->app.replies);
	webchat_free(s->app.webchat);
	extract_worker_free(s->app.extractions);
	event_worker_free(s->app.events);
	meeting_tools_free(s->app.meetings);
	http_server_free(s->http);
	if (s->app.base)
		event_base_free(s->app.base);
	migrate_expect_free(s->schema);
	config_free_list(s->app.app_secrets);
	config_free(&s->app.cfg);
	metrics_reset();
}

int cmd_serve(int argc, char **argv)
{
	struct server s = {0};
	if (cli_wants_help(argc, argv)) {
		printf(
		    "usage: parley serve [-c FILE]\n"
		    "Runs the daemon in the foreground until SIGTERM or SIGINT; SIGHUP reloads\n"
		    "the log settings. Ready (/readyz 200, READY=1 to systemd) once the database\n"
		    "answers and has this parley's migrations (run parley migrate first).\n");
		return EXIT_OK;
	}
	if (cli_take_config(&argc, argv, &s.config_path) < 0)
		return EXIT_USAGE;
	if (argc > 1) {
		fprintf(stderr,
			"parley serve: unexpected argument '%s'\n"
			"usage: parley serve [-c FILE]\n",
			argv[1]);
		return EXIT_USAGE;
	}
	char err[1024];
	if (config_load(s.config_path, CONFIG_NEED_SERVE, &s.app.cfg, err, sizeof err) < 0) {
		fprintf(stderr, "parley: %s\n", err);
		return EXIT_USAGE;
	}
	apply_logging(&s.app.cfg);
	if (config_split_list(s.app.cfg.meta_app_secret, &s.app.app_secrets) == 0) {
		fprintf(stderr, "parley: meta.app_secret has no secret in it\n");
		server_free(&s);
		return EXIT_USAGE;
	}
	/* Every family, before any subsystem counts in it. */
	metrics_catalog_declare();

	/* Precise timers: libevent's default coarse clock can fire a timer a
	 * tick (4-10 ms) early, and a server's retry-after is a minimum. */
	struct event_config *evcfg = event_config_new();
	event_config_set_flag(evcfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	s.app.base = event_base_new_with_config(evcfg);
	event_config_free(evcfg);
	s.sig_term = evsignal_new(s.app.base, SIGTERM, on_stop_signal, &s);
	s.sig_int = evsignal_new(s.app.base, SIGINT, on_stop_signal, &s);
	s.sig_hup = evsignal_new(s.app.base, SIGHUP, on_hup, &s);
	event_add(s.sig_term, NULL);
	event_add(s.sig_int, NULL);
	event_add(s.sig_hup, NULL);

	s.app.db =
	    db_pool_new(s.app.base, s.app.cfg.database_url, (int)s.app.cfg.database_connections);
	/* Not ready until the database has exactly this parley's migrations
	 * (README, Commands: "Schema check"). */
	if ((s.schema = migrate_expect_load(err, sizeof err)))
		db_pool_set_gate(s.app.db, MIGRATE_EXPECT_SQL, schema_gate, s.schema);
	else
		log_warn("serve", "%s: the database's schema is not checked", err);
	db_pool_set_listen_url(s.app.db, s.app.cfg.database_listen_url);
	s.app.webchat = webchat_new(&s.app);
	s.http = http_server_start(&s.app);
	if (!s.http) {
		server_free(&s);
		return EXIT_RUNTIME;
	}
	if (s.app.cfg.openai_api_key && *s.app.cfg.openai_api_key) {
		s.app.upstream = http_client_new(s.app.base, (int)s.app.cfg.openai_max_in_flight);
		s.app.replies = reply_worker_start(&s.app, s.app.upstream);
		if (s.app.cfg.extraction_enabled)
			s.app.extractions = extract_worker_start(&s.app, s.app.upstream);
	} else {
		log_warn("serve",
			 "openai.api_key is not set: messages are stored but not answered");
	}
	/* Events out: its own HTTP client and bound (event_worker.h). */
	s.app.events = event_worker_start(&s.app);
	/* Without an upstream client only its pass runs (past meetings completed). */
	s.app.meetings = meeting_tools_start(&s.app, s.app.upstream);
	add_timer(&s, &s.janitor, janitor_tick, JANITOR_SECONDS * 1000L);
	s.prune_again = evtimer_new(s.app.base, prune_again_cb, &s);
	add_timer(&s, &s.lag, lag_tick, LAG_PROBE_MS);
	add_timer(&s, &s.ready_probe, ready_tick, 100);
	unsigned long long wd = sd_watchdog_usec();
	if (wd)
		add_timer(&s, &s.watchdog, watchdog_tick, (long)(wd / 2000));
	log_info("serve", "parley %s started", PARLEY_VERSION);

	event_base_dispatch(s.app.base);

	log_info("serve", "stopped");
	server_free(&s);
	return EXIT_OK;
}
