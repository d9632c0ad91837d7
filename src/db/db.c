#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "defer.h"
#include "log.h"
#include "metrics.h"
#include "pgerr.h"
#include "xalloc.h"

const char DB_ERR_UNAVAILABLE[] = "database unavailable";
const char DB_ERR_LOST[] = "database connection lost during the query";
const char DB_ERR_QUEUE_FULL[] = "database queue full";
const char DB_ERR_SHUTDOWN[] = "shutting down";
const char DB_ERR_UNEXPECTED[] = "unexpected result from the database";

/* How many queries may wait for a connection before new ones are refused. */
#define MAX_QUEUED          20000
#define CONNECT_TIMEOUT_SEC 10
/*
 * A statement without an answer after this long is taken for a connection
 * that died without a word (a host or a path gone, no FIN or RST: the
 * socket never becomes readable and the query would wait for ever): the
 * connection is dropped and the query fails with DB_ERR_LOST, outcome
 * unknown, which every caller handles. No statement of serve's runs near
 * this long when the server is healthy: each claims, stores or prunes a
 * bounded batch (the janitor's largest, 10,000 rows, takes well under a
 * second). Shorter than serve's drain (20 s), so that a stop is not held up
 * by such a query.
 */
#define QUERY_DEADLINE_SEC 15
/* How often a connection held back by the schema check asks again. */
#define GATE_RECHECK_MS 2000
#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  5000
#define STR_(x)         #x
#define STR(x)          STR_(x)

/* One queued or running query; owned by the pool until its callback ran. */
struct query {
	struct query *next;
	struct defer_item failed; /* in the pool's failed queue */
	const char *err;          /* why, while in the failed queue */
	char *sql;
	int nparams;
	char **params;
	int *lengths;
	int *formats;
	db_cb cb;
	void *ctx;
	struct timespec queued_at; /* for parley_db_query_duration_seconds */
};

/* CHECKING: connected, running the pool's schema check; HELD: connected,
 * the check said no, asking again every GATE_RECHECK_MS. Neither is usable. */
enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_CHECKING, CONN_HELD, CONN_IDLE, CONN_BUSY };

struct conn {
	struct db_pool *pool;
	int index; /* -1 for the listener */
	bool listener;
	enum conn_state state;
	PGconn *pg;
	struct event *ev;    /* socket readiness; re-created when the fd changes */
	struct event *timer; /* connect timeout, reconnect backoff, or query deadline */
	int fd;
	int backoff_ms;
	int first_host; /* where the next connect starts in a multi-host url */
	struct query *running;
	PGresult *last; /* last result of the running query */
	char *error;    /* first error result's message, owned */
};

/* One LISTENed channel. */
struct subscription {
	struct db_pool *pool;
	int index;
	char *channel;
	char *sql; /* "LISTEN channel" */
	db_notify_cb cb;
	void *ctx;
};

struct db_pool {
	struct event_base *base;
	char *url;
	char *listen_url; /* the LISTEN connection's; NULL: url */
	int n;
	struct conn *conns;
	struct query *head, *tail;
	int queued;
	/* Failures decided outside a loop callback of ours (at submit time, or
	 * by a connection dropped while sending) are delivered from the loop, so
	 * that no callback runs inside the db_query call that caused it. */
	struct defer failed;
	bool closing;        /* db_pool_free is running: new queries are refused */
	struct conn *listen; /* NULL until the first db_pool_listen */
	struct subscription subs[DB_MAX_CHANNELS];
	int n_subs;
	/* The schema check (db_pool_set_gate): gate_ok once a check passed,
	 * until no pool connection is up; gate_why the last verdict, logged
	 * when it changes. */
	char *gate_sql;
	db_gate_fn gate;
	void *gate_ctx;
	bool gate_ok;
	char *gate_why;
	/* An outage: no pool connection up and attempts failing. One warning
	 * when it starts, one when it ends, with the count in between. */
	bool outage;
	bool ever_up;
	long failed_attempts;
	struct timespec outage_since;
};

static void conn_start(struct conn *c);
static void conn_dispatch(struct db_pool *pool);
static void conn_io(evutil_socket_t fd, short what, void *arg);

/* A libpq message about the connection, on the first of its lines (one
 * per host tried). */
static char *one_line(const char *msg)
{
	char buf[512];
	pgerr_first_line(buf, sizeof buf, msg);
	return xstrdup(buf);
}

static void query_free(struct query *q)
{
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->lengths);
	free(q->formats);
	free(q->sql);
	free(q);
}

static void query_finish(struct query *q, PGresult *res, const char *err)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_observe("parley_db_query_duration_seconds",
			err ? "result=\"error\"" : "result=\"ok\"",
			(double)(now.tv_sec - q->queued_at.tv_sec) +
			    (double)(now.tv_nsec - q->queued_at.tv_nsec) / 1e9);
	q->cb(q->ctx, res, err);
	query_free(q);
}

/* Fails q from the loop (a zero-delay event), never from the caller's stack. */
static void query_fail_later(struct db_pool *pool, struct query *q, const char *err)
{
	q->err = err;
	defer_push(&pool->failed, &q->failed);
}

static void deliver(struct defer_item *item, void *ctx)
{
	(void)ctx;
	struct query *q = DEFER_CONTAINER(item, struct query, failed);
	query_finish(q, NULL, q->err);
}

static void watch(struct conn *c, short what)
{
	int fd = PQsocket(c->pg);
	if (c->ev && (fd != c->fd || event_get_events(c->ev) != what)) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (!c->ev) {
		c->fd = fd;
		c->ev = event_new(c->pool->base, fd, what, conn_io, c);
	}
	event_add(c->ev, NULL);
}

static bool conn_connected(const struct conn *c)
{
	return c->state != CONN_DOWN && c->state != CONN_CONNECTING;
}

/* True when some pool connection (not the listener) is connected. */
static bool pool_connected(const struct db_pool *pool)
{
	for (int i = 0; i < pool->n; i++)
		if (conn_connected(&pool->conns[i]))
			return true;
	return false;
}

static const char *conn_name(const struct conn *c, char *buf, size_t len)
{
	if (c->listener)
		snprintf(buf, len, "listen connection");
	else
		snprintf(buf, len, "connection %d", c->index);
	return buf;
}

static void conn_drop(struct conn *c, const char *why)
{
	bool was_connected = conn_connected(c);
	if (c->ev) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	if (c->last) {
		PQclear(c->last);
		c->last = NULL;
	}
	free(c->error);
	c->error = NULL;
	struct query *q = c->running;
	c->running = NULL;
	c->state = CONN_DOWN;
	c->fd = -1;

	struct db_pool *pool = c->pool;
	char name[32];
	log_debug("db", "%s down: %s; retrying in %d ms", conn_name(c, name, sizeof name), why,
		  c->backoff_ms);
	/* The pool's outage, said once: not a line per connection per retry. */
	if (!c->listener) {
		if (!was_connected)
			pool->failed_attempts++;
		if (!pool->outage && !pool_connected(pool)) {
			pool->outage = true;
			pool->failed_attempts = was_connected ? 0 : 1;
			clock_gettime(CLOCK_MONOTONIC, &pool->outage_since);
			log_warn("db",
				 "database %s: %s; retrying in the background (database.url), "
				 "answering 503 meanwhile",
				 pool->ever_up ? "connection lost" : "unreachable", why);
		}
		/* The next connection up checks the schema again. */
		if (!pool_connected(pool))
			pool->gate_ok = false;
	}
	struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
	/* Exponential backoff with jitter so a restarted server is not stormed. */
	c->backoff_ms = c->backoff_ms * 2 + rand() % BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;

	/* Delivered from the loop: a send that fails inside db_query (through
	 * conn_dispatch) must not call anyone back from there. */
	if (q)
		query_fail_later(pool, q, DB_ERR_LOST);
	if (c->listener)
		return;
	/* With no connection left, waiting queries would only wait for a timeout. */
	if (db_pool_ready(pool) == 0) {
		while (pool->head) {
			struct query *w = pool->head;
			pool->head = w->next;
			pool->queued--;
			query_fail_later(pool, w, DB_ERR_UNAVAILABLE);
		}
		pool->tail = NULL;
	}
}

static void gate_check(struct conn *c);

static void conn_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->state == CONN_CONNECTING) {
		/* The next attempt starts at the next host (conn_start). */
		c->first_host++;
		conn_drop(c, "connect timed out");
	} else if (c->state == CONN_DOWN)
		conn_start(c);
	else if (c->state == CONN_BUSY || c->state == CONN_CHECKING) {
		/* A connection dead without a word: worth a line of its own (a
		 * server that closes them all is the outage's one line). */
		char name[32];
		log_warn("db", "%s dropped: no answer to a query in " STR(QUERY_DEADLINE_SEC) " s",
			 conn_name(c, name, sizeof name));
		conn_drop(c, "no answer to a query in " STR(QUERY_DEADLINE_SEC) " s");
	} else if (c->state == CONN_HELD)
		gate_check(c);
}

static void conn_send(struct conn *c, struct query *q);
static void listen_start(struct conn *c, int index);

static void on_listening(void *ctx, PGresult *res, const char *err)
{
	(void)res;
	struct subscription *sub = ctx;
	struct db_pool *pool = sub->pool;
	if (err)
		log_warn("db", "LISTEN %s failed: %s", sub->channel, err);
	else
		/* Anything notified while we were not listening is lost: say so. */
		sub->cb(sub->ctx, NULL);
	/* One LISTEN at a time: the next channel once this one is done. The
	 * connection may have dropped meanwhile; it re-listens when back. */
	if (sub->index + 1 < pool->n_subs && pool->listen->state == CONN_IDLE)
		listen_start(pool->listen, sub->index + 1);
}

static void listen_start(struct conn *c, int index)
{
	struct subscription *sub = &c->pool->subs[index];
	struct query *q = xcalloc(1, sizeof *q);
	q->sql = xstrdup(sub->sql);
	q->params = xcalloc(1, sizeof *q->params);
	q->cb = on_listening;
	q->ctx = sub;
	clock_gettime(CLOCK_MONOTONIC, &q->queued_at);
	conn_send(c, q);
}

/* A connection ready for work: queries, or the LISTENs. */
static void conn_open(struct conn *c)
{
	c->state = CONN_IDLE;
	if (c->listener)
		listen_start(c, 0);
	else
		conn_dispatch(c->pool);
}

static void on_gate(void *ctx, PGresult *res, const char *err)
{
	/* The connection broke under the check (it checks again when back), or
	 * the pool is going away: nothing to judge. */
	if (err == DB_ERR_LOST || err == DB_ERR_SHUTDOWN || err == DB_ERR_UNAVAILABLE)
		return;
	struct conn *c = ctx;
	struct db_pool *pool = c->pool;
	if (c->state != CONN_IDLE) /* conn_read finished it: IDLE; else stale */
		return;
	if (pool->gate_ok) {
		conn_open(c);
		return;
	}
	char why[512];
	if (pool->gate(pool->gate_ctx, res, err, why, sizeof why) == 0) {
		log_info("db", "%s", why);
		free(pool->gate_why);
		pool->gate_why = NULL;
		pool->gate_ok = true;
		conn_open(c);
		/* Every connection held back goes to work now, not at its next
		 * check. */
		for (int i = -1; i < pool->n; i++) {
			struct conn *h = i < 0 ? pool->listen : &pool->conns[i];
			if (h && h->state == CONN_HELD) {
				evtimer_del(h->timer);
				conn_open(h);
			}
		}
		return;
	}
	if (!pool->gate_why || strcmp(pool->gate_why, why) != 0) {
		log_error("db", "%s", why);
		free(pool->gate_why);
		pool->gate_why = xstrdup(why);
	}
	c->state = CONN_HELD;
	static const struct timeval again = {GATE_RECHECK_MS / 1000,
					     (GATE_RECHECK_MS % 1000) * 1000};
	evtimer_add(c->timer, &again);
}

/* Runs the schema check on c; c is usable once it (or another's) passed. */
static void gate_check(struct conn *c)
{
	struct query *q = xcalloc(1, sizeof *q);
	q->sql = xstrdup(c->pool->gate_sql);
	q->params = xcalloc(1, sizeof *q->params);
	q->cb = on_gate;
	q->ctx = c;
	clock_gettime(CLOCK_MONOTONIC, &q->queued_at);
	conn_send(c, q);
	/* A send that failed dropped the connection (DOWN). */
	if (c->state == CONN_BUSY)
		c->state = CONN_CHECKING;
}

static void conn_ready(struct conn *c)
{
	struct db_pool *pool = c->pool;
	PQsetnonblocking(c->pg, 1);
	/* The server's messages outside a result ("terminating connection
	 * due to administrator command" at a restart) go through the log. */
	pgerr_log_notices(c->pg);
	evtimer_del(c->timer);
	c->backoff_ms = BACKOFF_MIN_MS;
	char name[32];
	log_debug("db", "%s up", conn_name(c, name, sizeof name));
	if (!c->listener) {
		if (pool->outage) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			log_warn("db",
				 "database reachable again after %ld failed connection attempts "
				 "in %.0f s",
				 pool->failed_attempts,
				 (double)(now.tv_sec - pool->outage_since.tv_sec));
		}
		pool->outage = false;
		pool->ever_up = true;
		pool->failed_attempts = 0;
	}
	c->state = CONN_IDLE;
	watch(c, EV_READ | EV_PERSIST);
	if (pool->gate && !pool->gate_ok)
		gate_check(c);
	else
		conn_open(c);
}

static void conn_poll(struct conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING: watch(c, EV_READ); break;
	case PGRES_POLLING_WRITING: watch(c, EV_WRITE); break;
	case PGRES_POLLING_OK: conn_ready(c); break;
	default: {
		char *why = one_line(PQerrorMessage(c->pg));
		conn_drop(c, why);
		free(why);
	}
	}
}

/* The n comma-separated items of list rotated left by k, or NULL when list
 * does not have n items (a single port for every host stays as it is). */
static char *rotate_list(const char *list, int n, int k)
{
	int items = 1;
	for (const char *p = list; *p; p++)
		items += *p == ',';
	if (items != n)
		return NULL;
	const char *start = list;
	for (int i = 0; i < k; i++)
		start = strchr(start, ',') + 1;
	/* list from the k-th item on, then the items before it */
	if (k == 0)
		return xstrdup(list);
	return xasprintf("%s,%.*s", start, (int)(start - list - 1), list);
}

/*
 * libpq tries a multi-host url's hosts in order, but the asynchronous
 * connect has no per-host timeout (connect_timeout holds only for the
 * blocking one): a first host that takes the connection and never answers,
 * or whose packets vanish, would hold every attempt until our own connect
 * timeout and the second host would never be tried. So after a timeout the
 * next attempt starts at the next host: the lists of host, hostaddr and port
 * rotated by c->first_host, appended after the url (libpq takes a key's last
 * value). n is the number of hosts, 1 for a plain url.
 */
static int rotated_hosts(const char *url, int first, const char **keys, const char **vals,
			 char **owned)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	int added = 0;
	const char *host = NULL, *hostaddr = NULL, *port = NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
	}
	const char *names = host && *host ? host : hostaddr;
	int n = 1;
	for (const char *p = names ? names : ""; *p; p++)
		n += *p == ',';
	if (n > 1 && first % n) {
		static const char *const which[] = {"host", "hostaddr", "port"};
		const char *lists[] = {host, hostaddr, port};
		for (int i = 0; i < 3; i++) {
			char *r =
			    lists[i] && *lists[i] ? rotate_list(lists[i], n, first % n) : NULL;
			if (r) {
				keys[added] = which[i];
				vals[added] = owned[added] = r;
				added++;
			}
		}
	}
	PQconninfoFree(opts);
	return added;
}

static void conn_start(struct conn *c)
{
	/*
	 * expand_dbname: the url may be a conninfo string or a URI. libpq
	 * takes the last value of a key, and the url's keys count where dbname
	 * stands: the keepalives before it are defaults the url can override,
	 * the application_name after it is ours. The keepalives find an idle
	 * connection (the LISTEN one, mostly) whose peer vanished in about a
	 * minute instead of the kernel's two hours; a query in flight has its
	 * own deadline (QUERY_DEADLINE_SEC).
	 */
	const char *keys[10] = {"keepalives",
				"keepalives_idle",
				"keepalives_interval",
				"keepalives_count",
				"dbname",
				"application_name",
				NULL};
	/* LISTEN needs a session of its own: through PgBouncer's transaction
	 * pooling it would be a different server connection each time. */
	const char *url = c->listener && c->pool->listen_url ? c->pool->listen_url : c->pool->url;
	const char *vals[10] = {"1", "30", "10", "3", url, "parley", NULL};
	char *owned[3] = {NULL, NULL, NULL};
	int added = rotated_hosts(url, c->first_host, keys + 6, vals + 6, owned);
	keys[6 + added] = vals[6 + added] = NULL;
	c->pg = PQconnectStartParams(keys, vals, 1);
	for (int i = 0; i < 3; i++)
		free(owned[i]);
	if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
		char *why = one_line(c->pg ? PQerrorMessage(c->pg) : "out of memory");
		conn_drop(c, why);
		free(why);
		return;
	}
	c->state = CONN_CONNECTING;
	/* libpq ignores connect_timeout with PQconnectPoll; this is ours. */
	struct timeval tv = {CONNECT_TIMEOUT_SEC, 0};
	evtimer_add(c->timer, &tv);
	watch(c, EV_WRITE);
}

static void conn_send(struct conn *c, struct query *q)
{
	c->running = q;
	c->state = CONN_BUSY;
	static const struct timeval deadline = {QUERY_DEADLINE_SEC, 0};
	evtimer_add(c->timer, &deadline);
	if (!PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, (const char *const *)q->params,
			       q->lengths, q->formats, 0)) {
		char *why = one_line(PQerrorMessage(c->pg));
		conn_drop(c, why);
		free(why);
		return;
	}
	int f = PQflush(c->pg);
	if (f < 0) {
		conn_drop(c, "flush failed");
		return;
	}
	/* Output left over: wait for write as well as read (the server may
	 * need us to read before it reads more). */
	watch(c, (short)(EV_READ | EV_PERSIST | (f == 1 ? EV_WRITE : 0)));
}

/* Reads what arrived; finishes the running query when libpq says it is done. */
static void conn_read(struct conn *c)
{
	if (!PQconsumeInput(c->pg)) {
		char *why = one_line(PQerrorMessage(c->pg));
		conn_drop(c, why);
		free(why);
		return;
	}
	while (c->running && !PQisBusy(c->pg)) {
		PGresult *r = PQgetResult(c->pg);
		if (!r) {
			struct query *q = c->running;
			PGresult *last = c->last;
			char *error = c->error;
			c->running = NULL;
			c->last = NULL;
			c->error = NULL;
			c->state = CONN_IDLE;
			evtimer_del(c->timer);
			query_finish(q, error ? NULL : last, error);
			PQclear(last);
			free(error);
			break;
		}
		ExecStatusType st = PQresultStatus(r);
		/* Primary message and SQLSTATE only: a DETAIL can carry row
		 * values, and callers log what they get (docs/operations.md,
		 * Logs). */
		if (st == PGRES_FATAL_ERROR && !c->error)
			c->error = pgerr_result_text(r);
		if (c->last)
			PQclear(c->last);
		c->last = r;
	}
	PGnotify *n;
	while (c->pg && (n = PQnotifies(c->pg))) {
		for (int i = 0; i < c->pool->n_subs; i++) {
			struct subscription *sub = &c->pool->subs[i];
			if (strcmp(sub->channel, n->relname) == 0)
				sub->cb(sub->ctx, n->extra ? n->extra : "");
		}
		PQfreemem(n);
	}
	if (!c->pg)
		return;
	if (PQstatus(c->pg) == CONNECTION_BAD)
		conn_drop(c, "connection closed by the server");
}

static void conn_io(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	struct conn *c = arg;
	if (c->state == CONN_CONNECTING) {
		conn_poll(c);
		return;
	}
	if (what & EV_WRITE) {
		int f = PQflush(c->pg);
		if (f < 0) {
			conn_drop(c, "flush failed");
			return;
		}
		if (f == 0)
			watch(c, EV_READ | EV_PERSIST);
	}
	if (what & EV_READ)
		conn_read(c);
	if (c->state == CONN_IDLE && !c->listener)
		conn_dispatch(c->pool);
}

static void conn_free(struct conn *c)
{
	if (c->ev)
		event_free(c->ev);
	event_free(c->timer);
	PQclear(c->last);
	free(c->error);
	PQfinish(c->pg);
}

void db_pool_listen(struct db_pool *pool, const char *channel, db_notify_cb cb, void *ctx)
{
	if (pool->n_subs == DB_MAX_CHANNELS) {
		log_error("db", "cannot LISTEN on %s: at most %d channels", channel,
			  DB_MAX_CHANNELS);
		abort(); /* a programming error, not a runtime condition */
	}
	struct subscription *sub = &pool->subs[pool->n_subs];
	*sub = (struct subscription){.pool = pool,
				     .index = pool->n_subs,
				     .channel = xstrdup(channel),
				     .sql = xasprintf("LISTEN %s", channel),
				     .cb = cb,
				     .ctx = ctx};
	pool->n_subs++;
	struct conn *c = pool->listen;
	if (c) {
		/* Idle: listen now. Busy: the LISTEN chain running reaches this
		 * channel. Down or connecting: all channels follow the connect. */
		if (c->state == CONN_IDLE)
			listen_start(c, sub->index);
		return;
	}
	c = xcalloc(1, sizeof *c);
	pool->listen = c;
	c->pool = pool;
	c->index = -1;
	c->listener = true;
	c->fd = -1;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->timer = evtimer_new(pool->base, conn_timer, c);
	conn_start(c);
}

void db_pool_set_listen_url(struct db_pool *pool, const char *url)
{
	free(pool->listen_url);
	pool->listen_url = xstrdup(url);
}

static void conn_dispatch(struct db_pool *pool)
{
	for (int i = 0; i < pool->n && pool->head; i++) {
		struct conn *c = &pool->conns[i];
		if (c->state != CONN_IDLE)
			continue;
		struct query *q = pool->head;
		pool->head = q->next;
		if (!pool->head)
			pool->tail = NULL;
		pool->queued--;
		q->next = NULL;
		conn_send(c, q);
	}
}

struct db_pool *db_pool_new(struct event_base *base, const char *url, int n)
{
	metrics_declare("parley_db_query_duration_seconds", METRIC_HISTOGRAM,
			"Database queries from queueing to their result, by result.");
	struct db_pool *pool = xcalloc(1, sizeof *pool);
	pool->base = base;
	pool->url = xstrdup(url);
	pool->n = n;
	pool->conns = xcalloc((size_t)n, sizeof *pool->conns);
	defer_init(&pool->failed, base, deliver, pool);
	for (int i = 0; i < n; i++) {
		struct conn *c = &pool->conns[i];
		c->pool = pool;
		c->index = i;
		c->fd = -1;
		c->backoff_ms = BACKOFF_MIN_MS;
		c->timer = evtimer_new(base, conn_timer, c);
		conn_start(c);
	}
	return pool;
}

void db_pool_free(struct db_pool *pool)
{
	if (!pool)
		return;
	pool->closing = true;
	/* Every query still owned gets its callback here, once: failures not
	 * yet delivered keep their reason, the rest get DB_ERR_SHUTDOWN. The
	 * callbacks may query again (refused while closing, into the failed
	 * list): loop until nothing is left. */
	for (;;) {
		struct defer_item *failed = defer_pop(&pool->failed);
		if (failed) {
			deliver(failed, pool);
			continue;
		}
		struct query *q;
		if ((q = pool->head)) {
			pool->head = q->next;
			if (!pool->head)
				pool->tail = NULL;
			pool->queued--;
			query_finish(q, NULL, DB_ERR_SHUTDOWN);
			continue;
		}
		for (int i = -1; i < pool->n && !q; i++) {
			struct conn *c = i < 0 ? pool->listen : &pool->conns[i];
			if (c && c->running) {
				q = c->running;
				c->running = NULL;
			}
		}
		if (!q)
			break;
		query_finish(q, NULL, DB_ERR_SHUTDOWN);
	}
	for (int i = 0; i < pool->n; i++)
		conn_free(&pool->conns[i]);
	if (pool->listen) {
		conn_free(pool->listen);
		free(pool->listen);
	}
	for (int i = 0; i < pool->n_subs; i++) {
		free(pool->subs[i].channel);
		free(pool->subs[i].sql);
	}
	defer_fini(&pool->failed);
	free(pool->gate_sql);
	free(pool->gate_why);
	free(pool->conns);
	free(pool->url);
	free(pool->listen_url);
	free(pool);
}

void db_query(struct db_pool *pool, const char *sql, int nparams, const char *const *params,
	      db_cb cb, void *ctx)
{
	db_query_params(pool, sql, nparams, params, NULL, NULL, cb, ctx);
}

void db_query_params(struct db_pool *pool, const char *sql, int nparams, const char *const *params,
		     const int *lengths, const int *formats, db_cb cb, void *ctx)
{
	/* Refusals are a query of their own (no parameters copied), failed
	 * from the loop like any other. */
	const char *refusal = pool->closing                ? DB_ERR_SHUTDOWN
			      : db_pool_ready(pool) == 0   ? DB_ERR_UNAVAILABLE
			      : pool->queued >= MAX_QUEUED ? DB_ERR_QUEUE_FULL
							   : NULL;
	if (refusal) {
		struct query *q = xcalloc(1, sizeof *q);
		q->params = xcalloc(1, sizeof *q->params);
		q->cb = cb;
		q->ctx = ctx;
		clock_gettime(CLOCK_MONOTONIC, &q->queued_at);
		query_fail_later(pool, q, refusal);
		return;
	}
	struct query *q = xcalloc(1, sizeof *q);
	size_t n = (size_t)(nparams ? nparams : 1);
	q->sql = xstrdup(sql);
	q->nparams = nparams;
	q->params = xcalloc(n, sizeof *q->params);
	if (lengths) {
		q->lengths = xcalloc(n, sizeof *q->lengths);
		q->formats = xcalloc(n, sizeof *q->formats);
	}
	for (int i = 0; i < nparams; i++) {
		if (!params[i])
			continue;
		size_t len =
		    lengths && formats && formats[i] ? (size_t)lengths[i] : strlen(params[i]);
		q->params[i] = xmalloc(len + 1);
		memcpy(q->params[i], params[i], len);
		q->params[i][len] = '\0';
		if (lengths) {
			q->lengths[i] = (int)len;
			q->formats[i] = formats ? formats[i] : 0;
		}
	}
	q->cb = cb;
	q->ctx = ctx;
	clock_gettime(CLOCK_MONOTONIC, &q->queued_at);
	if (pool->tail)
		pool->tail->next = q;
	else
		pool->head = q;
	pool->tail = q;
	pool->queued++;
	conn_dispatch(pool);
}

void db_pool_set_gate(struct db_pool *pool, const char *sql, db_gate_fn gate, void *ctx)
{
	free(pool->gate_sql);
	pool->gate_sql = xstrdup(sql);
	pool->gate = gate;
	pool->gate_ctx = ctx;
}

const char *db_pool_held_why(const struct db_pool *pool)
{
	if (!pool->gate_why)
		return NULL;
	for (int i = 0; i < pool->n; i++)
		if (pool->conns[i].state == CONN_HELD)
			return pool->gate_why;
	return NULL;
}

int db_pool_ready(const struct db_pool *pool)
{
	int n = 0;
	for (int i = 0; i < pool->n; i++)
		n += pool->conns[i].state == CONN_IDLE || pool->conns[i].state == CONN_BUSY;
	return n;
}

struct event_base *db_pool_base(const struct db_pool *pool)
{
	return pool->base;
}
int db_pool_size(const struct db_pool *pool)
{
	return pool->n;
}
int db_pool_queued(const struct db_pool *pool)
{
	return pool->queued;
}

int db_pool_busy(const struct db_pool *pool)
{
	int n = 0;
	for (int i = 0; i < pool->n; i++)
		n += pool->conns[i].state == CONN_BUSY;
	return n;
}

bool db_error_retryable(const char *err)
{
	if (!err || err == DB_ERR_SHUTDOWN || err == DB_ERR_UNEXPECTED)
		return false;
	if (err == DB_ERR_LOST || err == DB_ERR_UNAVAILABLE || err == DB_ERR_QUEUE_FULL)
		return true;
	char state[PGERR_STATE_LEN];
	if (pgerr_text_state(err, state))
		return pgerr_state_retryable(state);
	/* An error libpq made itself, without a SQLSTATE: the connection
	 * broke under the query, or the client ran short of something. */
	return true;
}

const char *db_error_sqlstate(const char *err, char out[6])
{
	if (!pgerr_text_state(err, out))
		snprintf(out, 6, "%s", "none");
	return out;
}
