/*
 * Read receipts and typing while a reply is produced: see
 * include/replies/reply_signals.h.
 *
 * Ownership: the reply's job holds one reference (dropped by
 * reply_signals_stop), each request in flight one more (dropped by its
 * callback), so a request that answers after the job ended finds its
 * signals still allocated, sees them stopped, and starts nothing. The
 * refresh timer belongs to the job's reference and is freed by
 * reply_signals_stop.
 */
#include "reply_signals.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "graph.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"
#include "worker.h"
#include "xalloc.h"

/* WhatsApp's indicator lasts 25 s: refreshed with 5 s to spare. */
#define REFRESH_MS         20000
#define SIGNAL_TIMEOUT_MS  10000
#define CONNECT_TIMEOUT_MS 5000

#define METRIC "parley_conversation_signals_total"

/* What one request carries. */
enum { SIG_READ = 1, SIG_TYPING = 2 };

struct reply_signals {
	int refs;
	bool stopped;
	struct http_client *http;
	struct event *refresh; /* WhatsApp with typing; NULL otherwise */
	enum platform platform;
	bool read, typing;
	char *url, *token, *customer, *message_id;
	char ctx[160];
};

struct call {
	struct reply_signals *s;
	int what;           /* what it counts as: SIG_READ | SIG_TYPING */
	const char *action; /* Instagram's sender_action, or NULL */
	double started;
};

void reply_signals_declare_metrics(void)
{
	metrics_declare(METRIC, METRIC_COUNTER,
			"Read receipts and typing indicators sent when a reply starts (and "
			"WhatsApp's typing refreshes), by kind (read, typing), platform and "
			"outcome (ok, failed).");
}

long reply_signals_refresh_ms(void)
{
	const char *s = getenv("PARLEY_TEST_TYPING_REFRESH_MS");
	return s && atol(s) > 0 ? atol(s) : REFRESH_MS;
}

static void unref(struct reply_signals *s)
{
	if (--s->refs > 0)
		return;
	free(s->url);
	xfree_secret(s->token);
	free(s->customer);
	free(s->message_id);
	free(s);
}

static void count(const struct reply_signals *s, int what, bool ok)
{
	static const struct {
		int bit;
		const char *name;
	} kinds[] = {{SIG_READ, "read"}, {SIG_TYPING, "typing"}};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (!(what & kinds[i].bit))
			continue;
		char labels[96];
		snprintf(labels, sizeof labels, "kind=\"%s\",platform=\"%s\",outcome=\"%s\"",
			 kinds[i].name, platform_name(s->platform), ok ? "ok" : "failed");
		metrics_add(METRIC, labels, 1);
	}
}

static const char *describe(const struct call *c)
{
	if (c->action)
		return c->action;
	if (!(c->what & SIG_READ))
		return "typing indicator refresh";
	return c->what & SIG_TYPING ? "read receipt with typing indicator" : "read receipt";
}

static void send_signal(struct reply_signals *s, int what, const char *action);

static void on_done(void *arg, const struct http_resp *resp, const char *err)
{
	struct call *c = arg;
	struct reply_signals *s = c->s;
	if (err != HTTP_CLIENT_ERR_SHUTDOWN) {
		worker_count_upstream("graph", resp, err, clock_mono() - c->started);
		bool ok = !err && resp->status >= 200 && resp->status < 300;
		count(s, c->what, ok);
		if (!ok) {
			/* Meta's error message or the transport's: no token, no text. */
			char *why =
			    retry_error_message(resp->status, err, resp->body, resp->body_len);
			log_warn(s->ctx, "graph %s failed (the reply goes on): %s", describe(c),
				 why);
			free(why);
		}
		/* Instagram: typing_on follows mark_seen, unless the reply is over. */
		if (c->action && strcmp(c->action, "mark_seen") == 0 && s->typing && !s->stopped)
			send_signal(s, SIG_TYPING, "typing_on");
	}
	free(c);
	unref(s);
}

static void send_signal(struct reply_signals *s, int what, const char *action)
{
	char *body = action ? graph_sender_action_body(s->customer, action)
			    : graph_read_body(s->message_id, s->typing);
	char *auth = xasprintf("Authorization: Bearer %s", s->token);
	const char *headers[] = {auth, "Content-Type: application/json"};
	struct http_req req = {
	    .method = "POST",
	    .url = s->url,
	    .headers = headers,
	    .n_headers = 2,
	    .body = body,
	    .body_len = strlen(body),
	    .connect_timeout_ms = CONNECT_TIMEOUT_MS,
	    .timeout_ms = SIGNAL_TIMEOUT_MS,
	};
	struct call *c = xcalloc(1, sizeof *c);
	c->s = s;
	c->what = what;
	c->action = action;
	c->started = clock_mono();
	s->refs++;
	http_request(s->http, &req, on_done, c);
	xfree_secret(auth);
	free(body);
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct reply_signals *s = arg;
	log_debug(s->ctx, "reply still in production: refreshing the typing indicator");
	/* The same request again; it counts as typing only. */
	send_signal(s, SIG_TYPING, NULL);
}

struct reply_signals *reply_signals_start(struct event_base *base, struct http_client *http,
					  const struct config *cfg,
					  const struct reply_signals_target *t)
{
	bool read = cfg->replies_read_receipts, typing = cfg->replies_typing;
	if (t->platform == PLATFORM_WEBCHAT || (!read && !typing))
		return NULL;
	if (t->platform == PLATFORM_WHATSAPP) {
		/* Typing exists only inside a read receipt, which needs the
		 * message's wamid (README, Read receipts and typing). */
		if (!read || !t->message_id || !*t->message_id)
			return NULL;
	}
	if (!t->customer || !t->access_token)
		return NULL;
	char *url = graph_send_url(t->platform == PLATFORM_INSTAGRAM ? cfg->meta_instagram_url
								     : cfg->meta_whatsapp_url,
				   t->channel);
	if (!url)
		return NULL; /* the send fails for it, and says why */
	struct reply_signals *s = xcalloc(1, sizeof *s);
	s->refs = 1;
	s->http = http;
	s->platform = t->platform;
	s->read = read;
	s->typing = typing;
	s->url = url;
	s->token = xstrdup(t->access_token);
	s->customer = xstrdup(t->customer);
	s->message_id = t->message_id ? xstrdup(t->message_id) : NULL;
	snprintf(s->ctx, sizeof s->ctx, "%s", t->ctx ? t->ctx : "replies");
	if (t->platform == PLATFORM_WHATSAPP) {
		send_signal(s, SIG_READ | (typing ? SIG_TYPING : 0), NULL);
		if (typing) {
			long ms = reply_signals_refresh_ms();
			struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
			s->refresh = event_new(base, -1, EV_PERSIST, on_refresh, s);
			evtimer_add(s->refresh, &tv);
		}
	} else if (read) {
		send_signal(s, SIG_READ, "mark_seen"); /* typing_on follows it */
	} else {
		send_signal(s, SIG_TYPING, "typing_on");
	}
	return s;
}

void reply_signals_stop(struct reply_signals *s)
{
	if (!s)
		return;
	s->stopped = true;
	if (s->refresh) {
		event_free(s->refresh);
		s->refresh = NULL;
	}
	unref(s);
}
