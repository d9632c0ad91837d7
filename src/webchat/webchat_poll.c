/*
 * GET /webchat/v1/messages?after=N&wait=S: the widget's long poll.
 *
 * A poll reads the session's messages after N at once; when there are none
 * and it may wait, it stays open until a message of its session is stored
 * or the wait is over. "Stored" is learnt from the database, not from this
 * process: every webchat message (the customer's, or the agent's reply made
 * by whichever parley process claimed it) is followed by a NOTIFY on
 * WEBCHAT_NOTIFY_CHANNEL with the session id, and each process wakes its
 * own polls of that session, which then read again. A wake-up that arrives
 * while a poll is reading makes it read once more afterwards, so nothing
 * committed after a read started is missed.
 *
 * Each read also says whether a reply to the session is being produced
 * (parley_webchat_typing: the conversation's reply claim is held), the
 * answer's "agent_typing". A poll also ends, with no messages, when that
 * changes from what the client shows (its "typing" parameter, 0 or 1) or,
 * without one, from what its first read found: a reply that starts notifies
 * the session (parley_claim_replies), and so does its end (the reply
 * worker), so the widget shows and hides "typing…" at once, while a poll
 * that finds the same state again waits on. With "typing", a reply that
 * started between two polls is told at once, rather than when it ends.
 */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "handlers.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"
#include "webchat.h"
#include "xalloc.h"

#define SLOTS 1024 /* hash slots for open polls, by session id */

struct poll {
	struct webchat_polls *owner;
	struct poll *next, *prev; /* in its slot */
	struct evhttp_request *req;
	struct event *deadline;
	struct webchat_claims claims;
	char after[16];
	bool reading;    /* a query is running */
	bool woken;      /* a wake-up came while reading */
	bool expired;    /* the wait is over: answer with the next read */
	bool linked;     /* in a slot (waiting or reading with a wait) */
	int typing;      /* what the client shows, else the first read's (-1 before it) */
	bool typing_now; /* of the latest read */
};

struct webchat_polls {
	struct app *app;
	struct poll *slots[SLOTS];
	int open;
	bool closed;
};

static size_t slot_of(const char *session)
{
	uint32_t h = 2166136261u;
	for (; *session; session++)
		h = (h ^ (unsigned char)*session) * 16777619u;
	return h % SLOTS;
}

static void link_poll(struct poll *p)
{
	struct webchat_polls *o = p->owner;
	size_t s = slot_of(p->claims.session_id);
	p->prev = NULL;
	p->next = o->slots[s];
	if (p->next)
		p->next->prev = p;
	o->slots[s] = p;
	p->linked = true;
	o->open++;
	metrics_set("parley_webchat_open_polls", NULL, o->open);
}

static void unlink_poll(struct poll *p)
{
	if (!p->linked)
		return;
	struct webchat_polls *o = p->owner;
	if (p->prev)
		p->prev->next = p->next;
	else
		o->slots[slot_of(p->claims.session_id)] = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->linked = false;
	o->open--;
	metrics_set("parley_webchat_open_polls", NULL, o->open);
}

static int open_for(struct webchat_polls *o, const char *session)
{
	int n = 0;
	for (struct poll *p = o->slots[slot_of(session)]; p; p = p->next)
		n += strcmp(p->claims.session_id, session) == 0;
	return n;
}

static void poll_free(struct poll *p)
{
	unlink_poll(p);
	if (p->deadline)
		event_free(p->deadline);
	free(p);
}

static void count(int code)
{
	char labels[64];
	snprintf(labels, sizeof labels, "endpoint=\"poll\",code=\"%d\"", code);
	metrics_add("parley_webchat_requests_total", labels, 1);
}

static void answer_empty(struct poll *p)
{
	count(200);
	http_reply_json(p->req, 200,
			p->typing_now ? "{\"messages\":[],\"agent_typing\":true}\n"
				      : "{\"messages\":[],\"agent_typing\":false}\n");
	poll_free(p);
}

static void read_messages(struct poll *p);

static void on_read(void *arg, PGresult *res, const char *err)
{
	struct poll *p = arg;
	p->reading = false;
	if (err) {
		log_error("webchat", "session %s: poll failed: %s", p->claims.session_id, err);
		count(503);
		http_reply_error(p->req, 503, "database unavailable, poll again later");
		poll_free(p);
		return;
	}
	/* One row with NULL columns when there are no messages, so that
	 * agent_typing always comes back (read_messages). */
	int n = PQntuples(res);
	if (n == 1 && PQgetisnull(res, 0, 0))
		n = 0;
	int col = PQfnumber(res, "agent_typing");
	p->typing_now = p->owner->app->cfg.replies_typing && PQntuples(res) > 0 && col >= 0 &&
			strcmp(PQgetvalue(res, 0, col), "t") == 0;
	if (p->typing < 0)
		p->typing = p->typing_now;
	if (n == 0 && p->typing_now == (p->typing != 0) && !p->expired && !p->owner->closed) {
		if (p->woken) {
			p->woken = false;
			read_messages(p);
		}
		return; /* wait on (the deadline timer is running) */
	}
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "{\"messages\":[");
	for (int i = 0; i < n; i++) {
		strbuf_printf(&sb, "%s{\"sequence_no\":%s,\"sender\":\"", i ? "," : "",
			      PQgetvalue(res, i, 0));
		strbuf_json_escape(&sb, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
		strbuf_puts(&sb, "\",\"author\":\"");
		strbuf_json_escape(&sb, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
		strbuf_puts(&sb, "\",\"text\":\"");
		strbuf_json_escape(&sb, PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3));
		strbuf_puts(&sb, "\",\"status\":\"");
		strbuf_json_escape(&sb, PQgetvalue(res, i, 4), (size_t)PQgetlength(res, i, 4));
		strbuf_puts(&sb, "\",\"created_at\":\"");
		strbuf_json_escape(&sb, PQgetvalue(res, i, 5), (size_t)PQgetlength(res, i, 5));
		strbuf_puts(&sb, "\"}");
	}
	strbuf_printf(&sb, "],\"agent_typing\":%s}\n", p->typing_now ? "true" : "false");
	count(200);
	http_reply_json(p->req, 200, strbuf_str(&sb));
	strbuf_free(&sb);
	poll_free(p);
}

static void read_messages(struct poll *p)
{
	p->reading = true;
	char limit[16];
	snprintf(limit, sizeof limit, "%d", WEBCHAT_PAGE_MAX);
	const char *params[] = {p->claims.widget_id, p->claims.session_id, p->after, limit};
	/* agent_typing is read after the page (t needs all of f first) and
	 * with a newer snapshot (parley_webchat_typing is volatile): a reply
	 * that lands meanwhile may be missing from the page with typing
	 * already false — the next poll gets it at once — but never the
	 * reverse, a page with the reply and typing still true, which would
	 * leave "typing…" showing until the next poll's wait ran out. */
	db_query(p->owner->app->db,
		 "WITH f AS MATERIALIZED ("
		 "  SELECT * FROM parley_webchat_fetch($1, $2, $3::integer, $4::integer)),"
		 " t AS (SELECT parley_webchat_typing($1, $2) AS agent_typing"
		 "         FROM (SELECT count(*) FROM f) n)"
		 " SELECT f.*, t.agent_typing FROM t LEFT JOIN f ON true ORDER BY f.sequence_no",
		 4, params, on_read, p);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct poll *p = arg;
	if (p->reading) {
		p->expired = true; /* answered when the read in flight returns */
		return;
	}
	answer_empty(p);
}

static void webchat_polls_wake(struct webchat_polls *o, const char *session)
{
	if (!o)
		return;
	/* Walking the lists while reading is safe: db_query never calls back
	 * from inside itself (db.h), so no poll is answered and freed under the
	 * walk, even when the pool refuses every read (the LISTEN connection
	 * back before any pool connection). */
	if (!session) {
		/* LISTEN was (re-)established: what was notified meanwhile is
		 * lost, so every poll reads again. */
		for (size_t s = 0; s < SLOTS; s++)
			for (struct poll *p = o->slots[s]; p; p = p->next)
				if (p->reading)
					p->woken = true;
				else
					read_messages(p);
		return;
	}
	for (struct poll *p = o->slots[slot_of(session)]; p; p = p->next)
		if (strcmp(p->claims.session_id, session) == 0) {
			if (p->reading)
				p->woken = true;
			else
				read_messages(p);
		}
}

/*
 * A session already holds its share of open polls: the oldest is answered
 * now (an empty page) to make room. evhttp does not tell us when a browser
 * goes away, so the polls of a page that was reloaded stay open until their
 * wait runs out; refusing the new page's poll would punish the reload, and
 * answering the old one keeps the bound just the same.
 */
static void retire_oldest(struct webchat_polls *o, const char *session)
{
	struct poll *oldest = NULL;
	for (struct poll *p = o->slots[slot_of(session)]; p; p = p->next)
		if (strcmp(p->claims.session_id, session) == 0 && !p->expired)
			oldest = p; /* newest are linked first */
	if (!oldest)
		return;
	metrics_add("parley_webchat_polls_retired_total", NULL, 1);
	if (oldest->reading) {
		oldest->expired = true;
		unlink_poll(oldest); /* no longer counts; answered when its read returns */
	} else {
		answer_empty(oldest);
	}
}

static void on_notify(void *ctx, const char *payload)
{
	webchat_polls_wake(ctx, payload);
}

struct webchat_polls *webchat_polls_new(struct app *app)
{
	struct webchat_polls *o = xcalloc(1, sizeof *o);
	o->app = app;
	metrics_declare("parley_webchat_open_polls", METRIC_GAUGE,
			"Webchat long polls waiting for a message.");
	metrics_set("parley_webchat_open_polls", NULL, 0);
	metrics_declare(
	    "parley_webchat_polls_retired_total", METRIC_COUNTER,
	    "Open polls answered early to make room for a newer poll of their session.");
	db_pool_listen(app->db, WEBCHAT_NOTIFY_CHANNEL, on_notify, o);
	return o;
}

void webchat_polls_close(struct webchat_polls *o)
{
	if (!o)
		return;
	o->closed = true;
	for (size_t s = 0; s < SLOTS; s++) {
		struct poll *p = o->slots[s];
		while (p) {
			struct poll *next = p->next;
			if (p->reading)
				p->expired = true;
			else
				answer_empty(p);
			p = next;
		}
	}
}

void webchat_polls_free(struct webchat_polls *o)
{
	if (!o)
		return;
	/* Polls still reading are answered by the pool's shutdown error. */
	free(o);
}

/* "after", "wait" and "typing" (-1 when absent) from the query string;
 * false after answering 400. */
static bool parse_query(struct evhttp_request *req, long *after, long *wait, long *typing)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq params = {0};
	*after = 0;
	*wait = 0;
	*typing = -1;
	if (query && evhttp_parse_query_str(query, &params) != 0) {
		count(400);
		http_reply_error(req, 400, "malformed query string");
		return false;
	}
	const char *names[] = {"after", "wait", "typing"};
	long *values[] = {after, wait, typing};
	const long max[] = {2147483647L, 1000000L, 1L};
	for (int i = 0; i < 3; i++) {
		const char *v = evhttp_find_header(&params, names[i]);
		if (!v)
			continue;
		char *end;
		long n = strtol(v, &end, 10);
		if (!*v || *end || n < 0 || n > max[i]) {
			char msg[80];
			snprintf(msg, sizeof msg, "%s must be %s", names[i],
				 max[i] == 1 ? "0 or 1" : "a non-negative integer");
			evhttp_clear_headers(&params);
			count(400);
			http_reply_error(req, 400, msg);
			return false;
		}
		*values[i] = n;
	}
	evhttp_clear_headers(&params);
	if (*wait > WEBCHAT_MAX_WAIT_SECONDS)
		*wait = WEBCHAT_MAX_WAIT_SECONDS;
	return true;
}

void webchat_handle_messages_get(struct app *app, struct evhttp_request *req)
{
	struct webchat_claims claims;
	if (!webchat_admit(app, req, &claims))
		return;
	long after, wait, typing;
	if (!parse_query(req, &after, &wait, &typing))
		return;
	struct webchat_polls *o = webchat_polls_of(app);
	if (o->closed) {
		count(503);
		http_reply_error(req, 503, "shutting down, poll again");
		return;
	}
	if (wait > 0 && open_for(o, claims.session_id) >= WEBCHAT_MAX_POLLS_PER_SESSION)
		retire_oldest(o, claims.session_id);
	struct poll *p = xcalloc(1, sizeof *p);
	p->owner = o;
	p->req = req;
	p->claims = claims;
	p->typing = (int)typing;
	snprintf(p->after, sizeof p->after, "%ld", after);
	if (wait > 0) {
		/* Linked before the first read, so that a message stored while
		 * it runs wakes it (and it reads again). */
		link_poll(p);
		p->deadline = evtimer_new(app->base, on_deadline, p);
		struct timeval tv = {wait, 0};
		evtimer_add(p->deadline, &tv);
	} else {
		p->expired = true;
	}
	read_messages(p);
}
