#include "client_addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xalloc.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len && is_blank((*s)[*len - 1]))
		(*len)--;
}

/* A dual-stack socket shows an IPv4 client as ::ffff:a.b.c.d; it is that IPv4 client. */
static void unmap(struct client_ip *ip)
{
	static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (ip->family == AF_INET6 && memcmp(ip->b, prefix, sizeof prefix) == 0) {
		memmove(ip->b, ip->b + 12, 4);
		memset(ip->b + 4, 0, 12);
		ip->family = AF_INET;
	}
}

/* A bare address, exactly len bytes, no port, no brackets. */
static int parse_bare(const char *s, size_t len, struct client_ip *out)
{
	char buf[CLIENT_ADDR_MAX_TEXT + 1];
	if (len == 0 || len > CLIENT_ADDR_MAX_TEXT || memchr(s, '\0', len))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(out, 0, sizeof *out);
	if (memchr(s, ':', len)) {
		if (inet_pton(AF_INET6, buf, out->b) != 1)
			return -1;
		out->family = AF_INET6;
		unmap(out);
	} else {
		if (inet_pton(AF_INET, buf, out->b) != 1)
			return -1;
		out->family = AF_INET;
	}
	return 0;
}

static bool valid_port(const char *s, size_t len)
{
	if (len == 0 || len > 5)
		return false;
	long port = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		port = port * 10 + (s[i] - '0');
	}
	return port <= 65535;
}

int client_addr_parse(const char *s, size_t len, struct client_ip *out)
{
	trim(&s, &len);
	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return -1;
		size_t host = (size_t)(close - s - 1);
		size_t rest = len - host - 2;
		/* Brackets are for IPv6 only; after them nothing or ":port". */
		if (!memchr(s + 1, ':', host) ||
		    (rest && (close[1] != ':' || !valid_port(close + 2, rest - 1))))
			return -1;
		return parse_bare(s + 1, host, out);
	}
	const char *colon = len ? memchr(s, ':', len) : NULL;
	if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) {
		/* One colon: IPv4 with a port. */
		size_t host = (size_t)(colon - s);
		if (!valid_port(colon + 1, len - host - 1) || parse_bare(s, host, out) < 0 ||
		    out->family != AF_INET)
			return -1;
		return 0;
	}
	return parse_bare(s, len, out);
}

/* "10.0.0.0/8", "2001:db8::/32" or a single address. 0 or -1. */
static int client_addr_parse_net(const char *s, size_t len, struct client_net *out)
{
	trim(&s, &len);
	const char *slash = len ? memchr(s, '/', len) : NULL;
	size_t host = slash ? (size_t)(slash - s) : len;
	memset(out, 0, sizeof *out);
	/* parse_bare, not client_addr_parse: a network has no port. */
	char buf[CLIENT_ADDR_MAX_TEXT + 1];
	if (host == 0 || host > CLIENT_ADDR_MAX_TEXT || memchr(s, '\0', host))
		return -1;
	memcpy(buf, s, host);
	buf[host] = '\0';
	int family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, buf, out->ip.b) != 1)
		return -1;
	out->ip.family = family;
	unsigned max = family == AF_INET ? 32 : 128;
	unsigned prefix = max;
	if (slash) {
		const char *p = slash + 1;
		size_t n = len - host - 1;
		if (n == 0 || n > 3)
			return -1;
		prefix = 0;
		for (size_t i = 0; i < n; i++) {
			if (p[i] < '0' || p[i] > '9')
				return -1;
			prefix = prefix * 10 + (unsigned)(p[i] - '0');
		}
		if (prefix > max)
			return -1;
	}
	/* ::ffff:10.0.0.0/104 is 10.0.0.0/8, so it matches unmapped clients. */
	if (family == AF_INET6 && prefix >= 96) {
		struct client_ip v4 = out->ip;
		unmap(&v4);
		if (v4.family == AF_INET) {
			out->ip = v4;
			prefix -= 96;
		}
	}
	out->prefix = prefix;
	return 0;
}

int client_addr_parse_nets(const char *list, struct client_nets *out, char *bad, size_t badlen)
{
	out->v = NULL;
	out->n = 0;
	size_t cap = 0;
	const char *p = list ? list : "";
	while (*p) {
		const char *end = strchrnul(p, ',');
		const char *s = p;
		size_t len = (size_t)(end - p);
		trim(&s, &len);
		if (len) {
			struct client_net net;
			if (client_addr_parse_net(s, len, &net) < 0) {
				if (bad && badlen)
					snprintf(bad, badlen, "%.*s", (int)len, s);
				client_addr_nets_free(out);
				return -1;
			}
			if (out->n == cap)
				out->v =
				    xrealloc(out->v, (cap = cap ? cap * 2 : 4) * sizeof *out->v);
			out->v[out->n++] = net;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

void client_addr_nets_free(struct client_nets *nets)
{
	free(nets->v);
	nets->v = NULL;
	nets->n = 0;
}

static bool in_net(const struct client_net *net, const struct client_ip *ip)
{
	if (net->ip.family != ip->family)
		return false;
	unsigned full = net->prefix / 8, rest = net->prefix % 8;
	if (memcmp(net->ip.b, ip->b, full) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net->ip.b[full] & mask) == (ip->b[full] & mask);
}

bool client_addr_in(const struct client_nets *nets, const struct client_ip *ip)
{
	for (size_t i = 0; nets && i < nets->n; i++)
		if (in_net(&nets->v[i], ip))
			return true;
	return false;
}

void client_addr_resolve(const struct client_nets *trusted, const struct client_ip *peer,
			 const char *const *xff, size_t n, struct client_ip *out)
{
	struct client_ip hop = *peer; /* the nearest address known to be true */
	unmap(&hop);
	if (!client_addr_in(trusted, &hop)) {
		*out = hop;
		return;
	}
	for (size_t h = n; h-- > 0;) {
		const char *s = xff[h] ? xff[h] : "";
		size_t end = strlen(s);
		for (;;) {
			const char *comma = end ? memrchr(s, ',', end) : NULL;
			size_t start = comma ? (size_t)(comma - s) + 1 : 0;
			const char *item = s + start;
			size_t len = end - start;
			trim(&item, &len);
			if (len) {
				struct client_ip ip;
				if (client_addr_parse(item, len, &ip) < 0) {
					*out = hop;
					return;
				}
				if (!client_addr_in(trusted, &ip)) {
					*out = ip;
					return;
				}
				hop = ip;
			}
			if (!comma)
				break;
			end = start - 1;
		}
	}
	*out = hop; /* every entry trusted: the left-most is the client */
}

void client_addr_key(const struct client_ip *ip, char out[CLIENT_ADDR_KEY_MAX])
{
	struct client_ip k = *ip;
	unmap(&k);
	char text[INET6_ADDRSTRLEN];
	if (k.family == AF_INET) {
		inet_ntop(AF_INET, k.b, text, sizeof text);
		snprintf(out, CLIENT_ADDR_KEY_MAX, "%s", text);
		return;
	}
	memset(k.b + 8, 0, 8);
	inet_ntop(AF_INET6, k.b, text, sizeof text);
	snprintf(out, CLIENT_ADDR_KEY_MAX, "%s/64", text);
}
