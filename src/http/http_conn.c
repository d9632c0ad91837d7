#include "http_conn.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "xalloc.h"

/* Descriptors kept free for the database pool, upstream calls, the internal
 * listener and files, on top of server.max_connections. */
#define FD_HEADROOM 256
/* How long a listener rests after an accept error there is no cure for. */
#define ACCEPT_PAUSE_SECONDS 1
/* How soon an answer's last byte is tried again when the socket was full. */
#define SEND_RETRY_USEC 10000
/* At most one warning about refused connections this often. */
#define WARN_EVERY_SECONDS 10

struct http_conn_guard {
	struct event_base *base;
	struct evconnlistener *lev; /* NULL once the listener is gone */
	struct event *resume;       /* re-enables lev after a pause */
	long max_conns;
	struct timeval timeout;
	http_framing_limit_fn limit;
	void *limit_ctx;
	long open;
	bool dead; /* http_conn_guard_free was called */
	struct http_conn_guard *next;
};

/*
 * One client connection. Owned by its filter bufferevent (freed with it,
 * through conn_free), which evhttp owns.
 */
struct conn {
	struct http_conn_guard *g;
	struct bufferevent *bev; /* the filter evhttp reads through */
	struct event *deadline;
	struct event *kick;  /* hands the filter what evhttp queued to send */
	struct event *retry; /* the same, later: the socket had no room */
	struct http_framing framing;
	int fd; /* -1 until first seen */
	unsigned dispatched, answered;
	bool over;     /* beyond max_conns: closed as soon as evhttp has it */
	bool sending;  /* inside filter_out: its own additions are no news */
	bool flushing; /* inside on_kick, which holds the bufferevent */
};

static struct http_conn_guard *guards;
/* Connections by descriptor, for the router: evhttp gives it a request
 * whose bufferevent has a descriptor but no way back to the filter's ctx. */
static struct conn **by_fd;
static size_t by_fd_cap;
static int reserve_fd = -1;
static time_t last_warn;

static void guard_release(struct http_conn_guard *g)
{
	if (!g->dead || g->open > 0)
		return;
	for (struct http_conn_guard **p = &guards; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	if (g->resume)
		event_free(g->resume);
	free(g);
}

static void warn_refused(const char *why)
{
	time_t now = time(NULL);
	if (now - last_warn < WARN_EVERY_SECONDS)
		return;
	last_warn = now;
	log_warn("http", "closing new connections: %s", why);
}

/*
 * The deadline runs while parley waits for the client: from the accept, and
 * again from each answer, until the next request has arrived whole. While a
 * request is being answered it does not run: a webchat poll may be held.
 */
static void deadline_update(struct conn *c)
{
	if (c->answered == c->framing.complete)
		evtimer_add(c->deadline, &c->g->timeout);
	else
		evtimer_del(c->deadline);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->over) {
		metrics_add("parley_http_connections_refused_total", "reason=\"max_connections\"",
			    1);
		warn_refused("server.max_connections reached");
	} else {
		metrics_add("parley_http_requests_timed_out_total", NULL, 1);
		log_debug("http", "request not complete within %ld s: closing the connection",
			  (long)c->g->timeout.tv_sec);
	}
	/* evhttp's own read timeout path: it drops the connection and the
	 * request it was reading, without an answer. A bufferevent evhttp
	 * already let go has no event callback, and this does nothing. */
	bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
}

static void remember_fd(struct conn *c)
{
	int fd = (int)bufferevent_getfd(c->bev);
	if (fd < 0)
		return;
	if ((size_t)fd >= by_fd_cap) {
		size_t cap = by_fd_cap ? by_fd_cap : 256;
		while (cap <= (size_t)fd)
			cap *= 2;
		by_fd = xrealloc(by_fd, cap * sizeof *by_fd);
		for (size_t i = by_fd_cap; i < cap; i++)
			by_fd[i] = NULL;
		by_fd_cap = cap;
	}
	by_fd[fd] = c;
	c->fd = fd;
	/* An answer leaves in two writes (filter_out holds its last byte back).
	 * With Nagle's algorithm the second waited for the client's ACK of the
	 * first, which a client waiting for the rest delays by up to 40 ms:
	 * `make bench` measured every webhook at 44-52 ms (p50) at any rate,
	 * with PostgreSQL and parley mostly idle. Errors are harmless here. */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static enum bufferevent_filter_result filter_in(struct evbuffer *src, struct evbuffer *dst,
						ev_ssize_t limit, enum bufferevent_flush_mode mode,
						void *arg)
{
	(void)limit; /* evhttp sets no read high-water mark */
	(void)mode;
	struct conn *c = arg;
	if (c->fd < 0)
		remember_fd(c);
	if (c->over) {
		size_t n = evbuffer_get_length(src);
		evbuffer_drain(src, n);
		return n ? BEV_OK : BEV_NEED_MORE;
	}
	unsigned before = c->framing.complete;
	size_t n = http_framing_feed(&c->framing, src, dst, c->g->limit, c->g->limit_ctx);
	if (c->framing.complete != before)
		deadline_update(c);
	/* BEV_OK makes the filter hand dst to evhttp and call again while src
	 * has bytes; BEV_NEED_MORE waits for the socket. */
	return n ? BEV_OK : BEV_NEED_MORE;
}

/*
 * The filter's way out to the socket. evhttp reads "the output buffer is
 * empty" as "the answer is sent", and may close the connection right then;
 * what still sat in the socket bufferevent would be lost. So the last byte
 * of an answer is held back until everything before it has been written to
 * the socket, and is then written directly. When the socket has no room for
 * that one byte it is tried again shortly (a timer, not an event on the
 * descriptor, which evhttp may close and the kernel hand out again).
 */
static enum bufferevent_filter_result filter_out(struct evbuffer *src, struct evbuffer *dst,
						 ev_ssize_t limit, enum bufferevent_flush_mode mode,
						 void *arg)
{
	(void)limit;
	(void)mode;
	struct conn *c = arg;
	size_t n = evbuffer_get_length(src);
	if (n == 0)
		return BEV_NEED_MORE;
	if (c->fd < 0)
		remember_fd(c);
	c->sending = true;
	evbuffer_remove_buffer(src, dst, n - 1);
	if (evbuffer_get_length(dst) > 0 && c->fd >= 0)
		(void)evbuffer_write(dst, c->fd); /* errors surface on the socket's own write */
	if (evbuffer_get_length(dst) == 0 && c->fd >= 0 && !c->flushing) {
		/* Learning that the answer is out, evhttp may free the
		 * connection; that must happen where the bufferevent is held
		 * (on_kick), not in the socket's write callback, after which
		 * libevent would re-arm a timer of the freed bufferevent. */
		event_active(c->kick, EV_TIMEOUT, 1);
	} else if (evbuffer_get_length(dst) == 0 && c->fd >= 0) {
		evbuffer_remove_buffer(src, dst, 1);
		if (evbuffer_write(dst, c->fd) < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			evbuffer_remove_buffer(dst, src, 1);
			struct timeval soon = {0, SEND_RETRY_USEC};
			evtimer_add(c->retry, &soon);
		}
		/* Any other error: the byte stays with the socket bufferevent,
		 * whose own write reports the error to evhttp. */
	}
	c->sending = false;
	/* BEV_OK with bytes still held would be called again at once. */
	return n > 1 || evbuffer_get_length(src) == 0 ? BEV_OK : BEV_NEED_MORE;
}

/* A filter only looks at its output when bytes are added while writing is
 * enabled; evhttp adds an answer first and enables writing after. */
static void on_output_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	(void)buf;
	struct conn *c = arg;
	if (info->n_added && !c->sending)
		event_active(c->kick, EV_TIMEOUT, 1);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	/* evhttp may have let the connection go since: then it has no event
	 * callback, and there is nothing left to send. */
	bufferevent_event_cb ecb = NULL;
	bufferevent_getcb(c->bev, NULL, NULL, &ecb, NULL);
	if (!ecb)
		return;
	/* bufferevent_flush holds a reference while evhttp acts on the
	 * answer being out; c lives until the bufferevent is finalised. */
	c->flushing = true;
	bufferevent_flush(c->bev, EV_WRITE, BEV_NORMAL);
	c->flushing = false;
}

static void conn_free(void *arg)
{
	struct conn *c = arg;
	if (c->fd >= 0 && (size_t)c->fd < by_fd_cap && by_fd[c->fd] == c)
		by_fd[c->fd] = NULL;
	event_free(c->deadline);
	event_free(c->kick);
	event_free(c->retry);
	struct http_conn_guard *g = c->g;
	free(c);
	g->open--;
	guard_release(g);
}

/* evhttp's bufferevent factory: called for every accepted connection. */
static struct bufferevent *new_conn(struct event_base *base, void *arg)
{
	struct http_conn_guard *g = arg;
	struct conn *c = xcalloc(1, sizeof *c);
	c->g = g;
	c->fd = -1;
	http_framing_init(&c->framing);
	struct bufferevent *sock = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!sock)
		abort(); /* out of memory, like xmalloc */
	c->bev = bufferevent_filter_new(sock, filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE,
					conn_free, c);
	if (!c->bev)
		abort();
	c->deadline = evtimer_new(base, on_deadline, c);
	c->kick = event_new(base, -1, 0, on_kick, c);
	c->retry = evtimer_new(base, on_kick, c);
	evbuffer_add_cb(bufferevent_get_output(c->bev), on_output_added, c);
	g->open++;
	if (g->max_conns && g->open > g->max_conns) {
		/* evhttp sets the connection up before the loop runs again;
		 * then it is closed, unread. */
		c->over = true;
		event_active(c->deadline, EV_TIMEOUT, 1);
	} else {
		evtimer_add(c->deadline, &g->timeout);
	}
	return c->bev;
}

static void declare_metrics(void)
{
	metrics_declare("parley_http_connections_refused_total", METRIC_COUNTER,
			"Connections closed as soon as they were accepted, by reason");
	metrics_declare("parley_http_requests_timed_out_total", METRIC_COUNTER,
			"Connections closed because a request had not arrived whole in time");
	metrics_declare("parley_http_requests_refused_total", METRIC_COUNTER,
			"Requests refused before their body was read, by status");
}

struct http_conn_guard *http_conn_guard_new(struct evhttp *http, struct event_base *base,
					    long max_conns, long timeout_seconds,
					    http_framing_limit_fn limit, void *limit_ctx)
{
	declare_metrics();
	struct http_conn_guard *g = xcalloc(1, sizeof *g);
	g->base = base;
	g->max_conns = max_conns;
	g->timeout.tv_sec = timeout_seconds;
	g->limit = limit;
	g->limit_ctx = limit_ctx;
	g->next = guards;
	guards = g;
	evhttp_set_bevcb(http, new_conn, g);
	return g;
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct http_conn_guard *g = arg;
	if (g->lev)
		evconnlistener_enable(g->lev);
}

/*
 * libevent's listener leaves itself enabled after an accept error it does
 * not retry, so with a connection waiting and no descriptor to take it the
 * loop would wake at once, again and again. With the descriptor set aside
 * the waiting connections are taken and closed (the clients see it closed
 * at once and may retry); without one, or on other errors, the listener
 * rests a moment.
 */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	(void)arg;
	int err = EVUTIL_SOCKET_ERROR();
	if ((err == EMFILE || err == ENFILE) && reserve_fd >= 0) {
		close(reserve_fd);
		reserve_fd = -1;
		int fd, n = 0;
		while ((fd = accept(evconnlistener_get_fd(lev), NULL, NULL)) >= 0) {
			close(fd);
			n++;
		}
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		metrics_add("parley_http_connections_refused_total", "reason=\"descriptors\"", n);
		warn_refused("out of file descriptors");
		if (reserve_fd >= 0)
			return;
	}
	struct http_conn_guard *g = guards;
	while (g && g->lev != lev)
		g = g->next;
	log_warn("http", "accept failed (%s): pausing for %d s", evutil_socket_error_to_string(err),
		 ACCEPT_PAUSE_SECONDS);
	if (!g)
		return;
	evconnlistener_disable(lev);
	struct timeval tv = {ACCEPT_PAUSE_SECONDS, 0};
	evtimer_add(g->resume, &tv);
}

void http_conn_guard_listen(struct http_conn_guard *g, struct evhttp_bound_socket *bound)
{
	g->lev = evhttp_bound_socket_get_listener(bound);
	if (!g->resume)
		g->resume = evtimer_new(g->base, on_resume, g);
	evconnlistener_set_error_cb(g->lev, on_accept_error);
}

void http_conn_guard_unlisten(struct http_conn_guard *g)
{
	if (g->resume)
		evtimer_del(g->resume);
	g->lev = NULL;
}

void http_conn_guard_free(struct http_conn_guard *g)
{
	if (!g)
		return;
	http_conn_guard_unlisten(g);
	g->dead = true;
	guard_release(g);
}

/* evhttp calls this once an answer is written, the connection still open. */
static void on_answered(struct evhttp_request *req, void *arg)
{
	(void)req;
	struct conn *c = arg;
	c->answered++;
	deadline_update(c);
}

const char *http_conn_request(struct evhttp_request *req, int *status)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	if (!evcon)
		return NULL;
	int fd = (int)bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
	if (fd < 0 || (size_t)fd >= by_fd_cap || !by_fd[fd])
		return NULL;
	struct conn *c = by_fd[fd];
	c->dispatched++;
	evhttp_request_set_on_complete_cb(req, on_answered, c);
	if (c->framing.refused_at && c->framing.refused_at == c->dispatched) {
		*status = c->framing.status;
		char labels[32];
		snprintf(labels, sizeof labels, "status=\"%d\"", *status);
		metrics_add("parley_http_requests_refused_total", labels, 1);
		return c->framing.why;
	}
	return NULL;
}

void http_conn_init(long max_conns)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = (rlim_t)max_conns + FD_HEADROOM;
		if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur < want)
			log_warn(
			    "http",
			    "open file limit %llu is below server.max_connections %ld plus %d: "
			    "new connections are closed when descriptors run out",
			    (unsigned long long)rl.rlim_cur, max_conns, FD_HEADROOM);
	}
	if (reserve_fd < 0)
		reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}
