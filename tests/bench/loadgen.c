/*
 * loadgen: drives signed WhatsApp text webhooks at `parley serve` over
 * loopback HTTP/1.1 keep-alive connections (libevent bufferevents, one
 * request in flight per connection, no pipelining).
 *
 * Two modes:
 *   closed  C connections, each sends its next request as soon as the previous
 *           one is answered, for T seconds: the maximum throughput.
 *   open    requests are due at a fixed rate R/s for T seconds, whatever the
 *           server does; latency is measured from each request's *scheduled*
 *           time, so a slow answer that delays the ones behind it is charged
 *           to them as well (no coordinated omission). A due request that
 *           finds no idle connection waits in a queue (its wait counts) and a
 *           new connection is opened, up to -C.
 *
 * Every body is built and signed (X-Hub-Signature-256, HMAC-SHA256 under the
 * app secret) before the clock starts; each carries a distinct wamid (run tag
 * + index), and customers are spread round-robin over -k wa_ids (-k 1: one hot
 * conversation).
 *
 * Output: a human line starting with "# ", then one machine-readable line
 * "RESULT key=value ..."; on stderr, "loadgen: started" when the clock starts
 * (bodies built, connections up). Exit 0 when the run completed (whatever the status
 * codes), 1 when it could not run (no server, bad arguments → 2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "webhook_sig.h"

enum mode { MODE_CLOSED, MODE_OPEN };
enum cstate { C_CONNECTING, C_IDLE, C_BUSY };

struct req {
	char *data; /* full HTTP request: headers + body */
	size_t len;
};

struct conn {
	struct conn *next_idle;
	struct bufferevent *bev;
	enum cstate state;
	size_t req;     /* index of the request in flight */
	uint64_t t_ref; /* ns: scheduled (open) or send (closed) time */
	size_t hdr_len; /* 0 until the response headers are complete */
	size_t body_len;
	int status;
	int close_after;
};

static struct {
	enum mode mode;
	const char *label;
	char host[64];
	int port;
	char path[256];
	const char *secret;
	int conns;     /* closed: connections; open: connections opened up front */
	int max_conns; /* open: upper bound */
	double rate;   /* open: requests per second */
	double seconds;
	double drain; /* seconds to wait for answers after the run */
	size_t n;     /* requests pre-built */
	int customers;
	char tag[32];

	struct event_base *base;
	struct sockaddr_in addr;
	struct req *reqs;
	struct event *tick, *deadline;

	uint64_t t0, t_end_issue, t_last;
	int started;
	int stopping; /* closed: no new requests */
	int timed_out;
	int live; /* connections open or connecting */
	int connecting;
	int max_live;
	int ever_connected;
	int connect_failures;
	struct conn *idle;

	size_t sched; /* open: requests that have become due */
	size_t sent;  /* requests handed to a connection */
	size_t done;  /* answered */
	size_t ok, non200, errors;
	size_t max_queue;
	int exhausted;
	float *lat_ms; /* one per answered request */
	float *at_s;   /* its reference time, seconds after the start */
	int verbose;   /* -v: one line per second on stderr */
	int shown_errors;
	struct rusage ru0;
} g;

/* No libm on the link line: the two roundings needed, for non-negative x. */
static double floor_pos(double x)
{
	return (double)(uint64_t)x;
}

static double ceil_pos(double x)
{
	double f = floor_pos(x);
	return f < x ? f + 1 : f;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *msg)
{
	fprintf(stderr, "loadgen: %s\n", msg);
	exit(1);
}

static void *xmalloc_or_die(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* ------------------------------------------------------------------ bodies */

static const char *const texts[] = {
    "Hi! Do you have the blue jacket in size M?",
    "What time do you open on Saturday, and is there parking nearby?",
    "Can I change the delivery address for my order? I moved last week.",
    "Thanks, that works for me. Could you also send the invoice by email please?",
    "Is the 30% discount still valid for the winter collection or has it ended?",
    "I would like to book an appointment for next Tuesday afternoon if possible.",
    "ok",
    "The parcel arrived but one item is missing, the grey scarf. What should I do?",
};

static void build_requests(void)
{
	g.reqs = xmalloc_or_die(g.n * sizeof *g.reqs);
	char body[2048];
	long ts = (long)time(NULL);
	for (size_t i = 0; i < g.n; i++) {
		unsigned long cust = (unsigned long)(i % (size_t)g.customers);
		char wa_id[32];
		snprintf(wa_id, sizeof wa_id, "3161%07lu", cust);
		int blen = snprintf(
		    body, sizeof body,
		    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
		    "\"100000000000001\","
		    "\"changes\":[{\"value\":{\"messaging_product\":\"whatsapp\",\"metadata\":{"
		    "\"display_phone_number\":\"15550001111\",\"phone_number_id\":"
		    "\"106540352242922\"},"
		    "\"contacts\":[{\"profile\":{\"name\":\"Customer %lu\"},\"wa_id\":\"%s\"}],"
		    "\"messages\":[{\"from\":\"%s\",\"id\":\"wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQ%s%"
		    "010zu=\","
		    "\"timestamp\":\"%ld\",\"type\":\"text\",\"text\":{\"body\":\"%s (#%zu)\"}}]},"
		    "\"field\":\"messages\"}]}]}",
		    cust, wa_id, wa_id, g.tag, i, ts, texts[i % (sizeof texts / sizeof texts[0])],
		    i);
		if (blen <= 0 || (size_t)blen >= sizeof body)
			die("body template overflow");
		char *sig = webhook_sig_header(g.secret, body, (size_t)blen);
		if (!sig)
			die("signing failed");
		char head[512];
		int hlen = snprintf(head, sizeof head,
				    "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
				    "Content-Type: application/json\r\n"
				    "User-Agent: parley-loadgen\r\n"
				    "X-Hub-Signature-256: %s\r\nContent-Length: %d\r\n\r\n",
				    g.path, g.host, g.port, sig, blen);
		free(sig);
		if (hlen <= 0 || (size_t)hlen >= sizeof head)
			die("header template overflow");
		struct req *r = &g.reqs[i];
		r->len = (size_t)hlen + (size_t)blen;
		r->data = xmalloc_or_die(r->len);
		memcpy(r->data, head, (size_t)hlen);
		memcpy(r->data + hlen, body, (size_t)blen);
	}
}

/* ------------------------------------------------------------- connections */

static void conn_open(void);
static void conn_ready(struct conn *c);
static void maybe_finish(void);
static void replace_conn(void);

static uint64_t due_ns(size_t i)
{
	return g.t0 + (uint64_t)((double)i * 1e9 / g.rate);
}

static void conn_free(struct conn *c)
{
	if (c->state == C_CONNECTING)
		g.connecting--;
	/* Only idle connections are on the idle list; remove it if there. */
	if (c->state == C_IDLE) {
		struct conn **pp = &g.idle;
		while (*pp && *pp != c)
			pp = &(*pp)->next_idle;
		if (*pp)
			*pp = c->next_idle;
	}
	bufferevent_free(c->bev);
	free(c);
	g.live--;
}

static void send_req(struct conn *c, size_t i, uint64_t t_ref)
{
	c->state = C_BUSY;
	c->req = i;
	c->t_ref = t_ref;
	c->hdr_len = 0;
	c->body_len = 0;
	c->status = 0;
	c->close_after = 0;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	/* Zero copy: the request bytes live until exit. */
	evbuffer_add_reference(out, g.reqs[i].data, g.reqs[i].len, NULL, NULL);
}

/* A connection became free: give it work or park it. */
static void conn_ready(struct conn *c)
{
	if (g.mode == MODE_CLOSED) {
		if (!g.stopping && g.started && g.sent < g.n) {
			send_req(c, g.sent, now_ns());
			g.sent++;
			return;
		}
		if (g.sent >= g.n && !g.stopping) {
			g.exhausted = 1;
			g.stopping = 1;
			g.t_end_issue = now_ns();
		}
	} else if (g.started && g.sent < g.sched) {
		send_req(c, g.sent, due_ns(g.sent));
		g.sent++;
		return;
	}
	c->state = C_IDLE;
	c->next_idle = g.idle;
	g.idle = c;
	maybe_finish();
}

static void show_error(const char *what, const char *detail, size_t dlen)
{
	if (g.shown_errors >= 3)
		return;
	g.shown_errors++;
	fprintf(stderr, "loadgen: %s: %.*s\n", what, (int)(dlen > 300 ? 300 : dlen),
		detail ? detail : "");
}

static void complete(struct conn *c)
{
	uint64_t t = now_ns();
	double ms = (double)(t - c->t_ref) / 1e6;
	g.at_s[g.done] = (float)((double)(c->t_ref - g.t0) / 1e9);
	g.lat_ms[g.done++] = (float)ms;
	g.t_last = t;
	if (c->status == 200)
		g.ok++;
	else
		g.non200++;
}

/* Parses as much of the response as has arrived. Returns -1 on a protocol error. */
static int parse_response(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		if (c->state != C_BUSY)
			return avail ? -1 : 0; /* bytes nobody asked for */
		if (!c->hdr_len) {
			struct evbuffer_ptr p = evbuffer_search(in, "\r\n\r\n", 4, NULL);
			if (p.pos < 0)
				return avail > 65536 ? -1 : 0;
			size_t hl = (size_t)p.pos + 4;
			char *h = (char *)evbuffer_pullup(in, (ev_ssize_t)hl);
			if (hl < 12 || strncmp(h, "HTTP/1.", 7) != 0)
				return -1;
			c->status = atoi(h + 9);
			long cl = -1;
			/* Header names are case-insensitive; walk the lines. */
			for (char *line = memchr(h, '\n', hl); line && line < h + hl - 2;
			     line = memchr(line + 1, '\n', (size_t)(h + hl - line - 1))) {
				char *l = line + 1;
				if (strncasecmp(l, "Content-Length:", 15) == 0)
					cl = strtol(l + 15, NULL, 10);
				else if (strncasecmp(l, "Connection:", 11) == 0) {
					const char *v = l + 11;
					while (*v == ' ')
						v++;
					if (strncasecmp(v, "close", 5) == 0)
						c->close_after = 1;
				} else if (strncasecmp(l, "Transfer-Encoding:", 18) == 0)
					return -1; /* not expected from parley */
			}
			if (cl < 0)
				return -1;
			c->hdr_len = hl;
			c->body_len = (size_t)cl;
		}
		if (evbuffer_get_length(in) < c->hdr_len + c->body_len)
			return 0;
		if (c->status != 200) {
			char *all =
			    (char *)evbuffer_pullup(in, (ev_ssize_t)(c->hdr_len + c->body_len));
			char what[32];
			snprintf(what, sizeof what, "HTTP %d", c->status);
			show_error(what, all + c->hdr_len, c->body_len);
		}
		evbuffer_drain(in, c->hdr_len + c->body_len);
		complete(c);
		c->state = C_IDLE; /* conn_ready decides what next */
		if (c->close_after) {
			conn_free(c);
			replace_conn();
			maybe_finish();
			return 1;
		}
		conn_ready(c);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	int r = parse_response(c);
	if (r < 0) {
		show_error("protocol error", "unparseable response", 20);
		if (c->state == C_BUSY)
			g.errors++;
		conn_free(c);
		replace_conn();
		maybe_finish();
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		g.connecting--;
		g.ever_connected = 1;
		int one = 1;
		setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		conn_ready(c);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		int err = EVUTIL_SOCKET_ERROR();
		if (c->state == C_CONNECTING) {
			g.connect_failures++;
			if (!g.ever_connected) {
				fprintf(stderr, "loadgen: cannot connect to %s:%d: %s\n", g.host,
					g.port, strerror(err));
				exit(1);
			}
		}
		if (c->state == C_BUSY) {
			g.errors++;
			show_error("connection lost with a request in flight",
				   (what & BEV_EVENT_EOF) ? "EOF" : strerror(err), 40);
		}
		conn_free(c);
		replace_conn();
		maybe_finish();
	}
}

static void conn_open(void)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		die("out of memory");
	c->bev = bufferevent_socket_new(g.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		die("bufferevent_socket_new failed");
	c->state = C_CONNECTING;
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	g.live++;
	g.connecting++;
	if (g.live > g.max_live)
		g.max_live = g.live;
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&g.addr, sizeof g.addr) < 0) {
		/* on_event may already have freed it; nothing else to do here. */
		return;
	}
}

/* --------------------------------------------------------------- schedule */

/* Open loop: due requests waiting and not enough connections on the way. */
static void ensure_conns(void)
{
	size_t queue = g.sched - g.sent;
	while (queue > (size_t)g.connecting && g.live < g.max_conns)
		conn_open();
}

/* After a connection closed: keep the closed loop's count, or cover the open
 * loop's queue. A server that keeps refusing ends the run. */
static void replace_conn(void)
{
	if (g.connect_failures > 100) {
		fprintf(stderr, "loadgen: server keeps refusing connections; stopping\n");
		g.timed_out = 1;
		event_base_loopbreak(g.base);
		return;
	}
	if (g.mode == MODE_CLOSED) {
		if (!g.stopping)
			conn_open();
	} else {
		ensure_conns();
	}
}

static int all_answered(void)
{
	return g.done + g.errors >= g.sent;
}

static void maybe_finish(void)
{
	if (!g.started)
		return;
	int issuing_over = g.mode == MODE_CLOSED ? g.stopping : g.sched >= g.n;
	if (issuing_over && g.sent >= (g.mode == MODE_CLOSED ? g.sent : g.n) && all_answered())
		event_base_loopbreak(g.base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	uint64_t t = now_ns();
	if (g.mode == MODE_CLOSED) {
		/* One timer at the end of the run. */
		g.stopping = 1;
		g.t_end_issue = t;
		maybe_finish();
		return;
	}
	while (g.sched < g.n && due_ns(g.sched) <= t)
		g.sched++;
	while (g.sent < g.sched && g.idle) {
		struct conn *c = g.idle;
		g.idle = c->next_idle;
		send_req(c, g.sent, due_ns(g.sent));
		g.sent++;
	}
	size_t queue = g.sched - g.sent;
	if (queue > g.max_queue)
		g.max_queue = queue;
	/* More due than connections on the way: open some, within the bound. */
	ensure_conns();
	if (g.sched < g.n) {
		uint64_t next = due_ns(g.sched);
		uint64_t wait = next > t ? next - t : 0;
		struct timeval tv = {(time_t)(wait / 1000000000u),
				     (suseconds_t)((wait % 1000000000u) / 1000u)};
		event_add(g.tick, &tv);
	} else {
		g.t_end_issue = t;
		maybe_finish();
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	g.timed_out = 1;
	event_base_loopbreak(g.base);
}

/* ------------------------------------------------------------------ report */

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static double pct(size_t n, const float *sorted, double p)
{
	if (!n)
		return 0;
	size_t k = (size_t)ceil_pos(p / 100.0 * (double)n);
	if (k < 1)
		k = 1;
	return sorted[k - 1];
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void report(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu_user = tv_s(ru.ru_utime) - tv_s(g.ru0.ru_utime);
	double cpu_sys = tv_s(ru.ru_stime) - tv_s(g.ru0.ru_stime);

	/* Anything still unanswered (deadline hit) is an error. */
	size_t lost = g.sent > g.done + g.errors ? g.sent - g.done - g.errors : 0;
	g.errors += lost;
	if (g.mode == MODE_OPEN && g.sched > g.sent)
		g.errors += g.sched - g.sent; /* due, never even sent */

	/* When the slow ones were sent, before sorting loses the pairing. */
	double slowest_at = 0;
	size_t nsec = (size_t)ceil_pos(g.seconds + g.drain) + 1;
	size_t *per_n = calloc(nsec, sizeof *per_n);
	float *per_max = calloc(nsec, sizeof *per_max);
	float mx_seen = -1;
	for (size_t i = 0; i < g.done && per_n && per_max; i++) {
		size_t b = (size_t)g.at_s[i];
		if (b >= nsec)
			b = nsec - 1;
		per_n[b]++;
		if (g.lat_ms[i] > per_max[b])
			per_max[b] = g.lat_ms[i];
		if (g.lat_ms[i] > mx_seen) {
			mx_seen = g.lat_ms[i];
			slowest_at = g.at_s[i];
		}
	}
	if (g.verbose && per_n && per_max)
		for (size_t b = 0; b < nsec; b++)
			if (per_n[b])
				fprintf(stderr,
					"loadgen: %s second %zu: %zu answered, max %.2f ms\n",
					g.label, b, per_n[b], per_max[b]);
	free(per_n);
	free(per_max);
	qsort(g.lat_ms, g.done, sizeof *g.lat_ms, cmp_float);
	double sum = 0;
	for (size_t i = 0; i < g.done; i++)
		sum += g.lat_ms[i];
	uint64_t t_end = g.t_last > g.t0 ? g.t_last : now_ns();
	double elapsed = (double)(t_end - g.t0) / 1e9;
	double issue = (double)((g.t_end_issue ? g.t_end_issue : t_end) - g.t0) / 1e9;
	double rps = elapsed > 0 ? (double)g.done / elapsed : 0;
	double p50 = pct(g.done, g.lat_ms, 50), p90 = pct(g.done, g.lat_ms, 90),
	       p99 = pct(g.done, g.lat_ms, 99), p999 = pct(g.done, g.lat_ms, 99.9);
	double mx = g.done ? g.lat_ms[g.done - 1] : 0, mean = g.done ? sum / (double)g.done : 0;
	size_t requests = g.done + g.errors;

	printf("# %s %s: %zu requests in %.2f s (issued for %.2f s) = %.0f/s; %zu ok, %zu non-200, "
	       "%zu errors; latency ms p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f; "
	       "connections %d (max %d); slowest sent at %.2f s%s%s\n",
	       g.label, g.mode == MODE_CLOSED ? "closed-loop" : "open-loop", requests, elapsed,
	       issue, rps, g.ok, g.non200, g.errors, p50, p90, p99, p999, mx,
	       g.mode == MODE_CLOSED ? g.conns : g.max_live, g.max_live, slowest_at,
	       g.exhausted ? "; RAN OUT OF PRE-BUILT BODIES (raise -n)" : "",
	       g.timed_out ? "; DRAIN TIMED OUT" : "");
	printf("RESULT label=%s mode=%s customers=%d conns=%d max_conns=%d target_rps=%.1f "
	       "seconds=%.3f requests=%zu ok=%zu non200=%zu errors=%zu rps=%.1f "
	       "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f mean_ms=%.3f "
	       "max_queue=%zu exhausted=%d timed_out=%d cpu_user_s=%.3f cpu_sys_s=%.3f "
	       "slowest_at_s=%.3f\n",
	       g.label, g.mode == MODE_CLOSED ? "closed" : "open", g.customers, g.conns, g.max_live,
	       g.mode == MODE_OPEN ? g.rate : 0.0, elapsed, requests, g.ok, g.non200, g.errors, rps,
	       p50, p90, p99, p999, mx, mean, g.max_queue, g.exhausted, g.timed_out, cpu_user,
	       cpu_sys, slowest_at);
	fflush(stdout);
}

/* -------------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: loadgen -u http://HOST:PORT/PATH [-m closed|open] [-c CONNS] [-C MAXCONNS]\n"
	    "               [-r RATE] [-t SECONDS] [-n BODIES] [-k CUSTOMERS] [-s SECRET]\n"
	    "               [-T TAG] [-l LABEL] [-D DRAIN_SECONDS] [-v]\n"
	    "  closed: CONNS connections back to back for SECONDS (max throughput)\n"
	    "  open:   RATE requests/s for SECONDS, latency from the scheduled send time\n"
	    "  BODIES  distinct pre-signed webhooks (default: open RATE*SECONDS, closed "
	    "20000*SECONDS)\n"
	    "  CUSTOMERS  wa_ids the messages are spread over (1 = one hot conversation)\n"
	    "  TAG     goes into every wamid; use a new one per run against one database\n"
	    "  -v      per second of the run: answers and the slowest, on stderr\n");
	exit(2);
}

static void parse_url(const char *url)
{
	const char *p = url;
	if (strncmp(p, "http://", 7) != 0)
		usage();
	p += 7;
	const char *colon = strchr(p, ':');
	const char *slash = strchr(p, '/');
	if (!colon || (slash && slash < colon) || (size_t)(colon - p) >= sizeof g.host)
		usage();
	memcpy(g.host, p, (size_t)(colon - p));
	g.host[colon - p] = '\0';
	g.port = atoi(colon + 1);
	snprintf(g.path, sizeof g.path, "%s", slash ? slash : "/");
	memset(&g.addr, 0, sizeof g.addr);
	g.addr.sin_family = AF_INET;
	g.addr.sin_port = htons((uint16_t)g.port);
	if (inet_pton(AF_INET, g.host, &g.addr.sin_addr) != 1) {
		fprintf(stderr, "loadgen: host must be an IPv4 address: %s\n", g.host);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	g.mode = MODE_CLOSED;
	g.label = "run";
	g.secret = "test-meta-app-secret";
	g.conns = 16;
	g.max_conns = 1024;
	g.seconds = 10;
	g.drain = 30;
	g.customers = 1000;
	snprintf(g.tag, sizeof g.tag, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
	int opt;
	while ((opt = getopt(argc, argv, "u:m:c:C:r:t:n:k:s:T:l:D:vh")) != -1) {
		switch (opt) {
		case 'u': url = optarg; break;
		case 'm':
			if (strcmp(optarg, "closed") == 0)
				g.mode = MODE_CLOSED;
			else if (strcmp(optarg, "open") == 0)
				g.mode = MODE_OPEN;
			else
				usage();
			break;
		case 'c': g.conns = atoi(optarg); break;
		case 'C': g.max_conns = atoi(optarg); break;
		case 'r': g.rate = atof(optarg); break;
		case 't': g.seconds = atof(optarg); break;
		case 'n': g.n = (size_t)strtoull(optarg, NULL, 10); break;
		case 'k': g.customers = atoi(optarg); break;
		case 's': g.secret = optarg; break;
		case 'T': snprintf(g.tag, sizeof g.tag, "%s", optarg); break;
		case 'l': g.label = optarg; break;
		case 'D': g.drain = atof(optarg); break;
		case 'v': g.verbose = 1; break;
		default: usage();
		}
	}
	if (!url || g.conns < 1 || g.seconds <= 0 || g.customers < 1 ||
	    (g.mode == MODE_OPEN && g.rate <= 0))
		usage();
	if (g.max_conns < g.conns)
		g.max_conns = g.conns;
	parse_url(url);
	if (!g.n)
		g.n = g.mode == MODE_OPEN ? (size_t)ceil_pos(g.rate * g.seconds)
					  : (size_t)(20000 * g.seconds);
	if (g.mode == MODE_OPEN)
		g.n = (size_t)ceil_pos(g.rate * g.seconds) < g.n
			  ? (size_t)ceil_pos(g.rate * g.seconds)
			  : g.n;
	signal(SIGPIPE, SIG_IGN);

	build_requests();
	g.lat_ms = xmalloc_or_die(g.n * sizeof *g.lat_ms);
	g.at_s = xmalloc_or_die(g.n * sizeof *g.at_s);

	struct event_config *cfg = event_config_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	g.base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!g.base)
		die("event_base_new failed");

	/* Connect first; the clock starts when every connection is up. */
	for (int i = 0; i < g.conns; i++)
		conn_open();
	while (g.connecting > 0)
		event_base_loop(g.base, EVLOOP_ONCE);
	if (g.idle == NULL)
		die("no connection came up");

	getrusage(RUSAGE_SELF, &g.ru0);
	g.t0 = now_ns();
	g.started = 1;
	/* run.sh samples CPU and WAL counters relative to this moment. */
	fprintf(stderr, "loadgen: started\n");
	fflush(stderr);
	g.tick = evtimer_new(g.base, on_tick, NULL);
	g.deadline = evtimer_new(g.base, on_deadline, NULL);
	double dl = g.seconds + g.drain;
	struct timeval dtv = {(time_t)dl, (suseconds_t)((dl - floor_pos(dl)) * 1e6)};
	event_add(g.deadline, &dtv);
	if (g.mode == MODE_CLOSED) {
		struct timeval tv = {(time_t)g.seconds,
				     (suseconds_t)((g.seconds - floor_pos(g.seconds)) * 1e6)};
		event_add(g.tick, &tv);
		/* Every connection is idle: start them all. */
		while (g.idle) {
			struct conn *c = g.idle;
			g.idle = c->next_idle;
			conn_ready(c);
		}
	} else {
		event_active(g.tick, EV_TIMEOUT, 0);
	}
	event_base_dispatch(g.base);
	report();
	return 0;
}
