#ifndef PARLEY_CLIENT_ADDR_H
#define PARLEY_CLIENT_ADDR_H
/*
 * Who a request comes from (README, Webchat). Directly connected, the client
 * is the TCP peer. Behind reverse proxies listed in server.trusted_proxies, it
 * is the right-most X-Forwarded-For address that is not one of them: each
 * trusted proxy appends the address it saw, so everything to the left of the
 * first untrusted entry was written by the client and proves nothing. The
 * rate-limit key of a client is its IPv4 address, or its IPv6 /64 (one
 * subscriber usually holds a whole /64, so finer keys would let one person
 * take 2^64 of them). IPv4-mapped IPv6 addresses (a dual-stack socket's view
 * of an IPv4 client) are IPv4.
 *
 * Pure: no sockets, no allocation except the parsed network list.
 */
#include <stdbool.h>
#include <stddef.h>

struct client_ip {
	int family;          /* AF_INET or AF_INET6 */
	unsigned char b[16]; /* network order; IPv4 uses the first 4 */
};

struct client_net {
	struct client_ip ip;
	unsigned prefix; /* bits that must match */
};

/* A parsed server.trusted_proxies; owned by whoever parsed it. */
struct client_nets {
	struct client_net *v;
	size_t n;
};

/* Longest X-Forwarded-For entry considered; longer ones are garbage. */
#define CLIENT_ADDR_MAX_TEXT 64
/* "xxxx:xxxx:xxxx:xxxx::/64" or a dotted quad, with the NUL. */
#define CLIENT_ADDR_KEY_MAX 64

/*
 * One address as proxies write it: "192.0.2.1", "192.0.2.1:5678",
 * "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443", with blanks around.
 * Returns 0, or -1 for anything else (names, "unknown", zones, junk).
 */
int client_addr_parse(const char *s, size_t len, struct client_ip *out);

/*
 * A comma-separated list of networks into *out (freed with
 * client_addr_nets_free). Returns 0, or -1 with the first bad entry copied
 * into bad (at most badlen bytes, NUL-terminated) and *out empty.
 */
int client_addr_parse_nets(const char *list, struct client_nets *out, char *bad, size_t badlen);
void client_addr_nets_free(struct client_nets *nets);

bool client_addr_in(const struct client_nets *nets, const struct client_ip *ip);

/*
 * The client behind peer: when peer is trusted, the right-most entry of the
 * X-Forwarded-For values xff[0..n) (several headers count as one list, in
 * order) that is not trusted; the left-most when all are. An entry that is
 * not an address stops the walk at the trusted hop to its right, which is
 * the last address known to be true. An untrusted peer's header is ignored.
 */
void client_addr_resolve(const struct client_nets *trusted, const struct client_ip *peer,
			 const char *const *xff, size_t n, struct client_ip *out);

/* The rate-limit key: "192.0.2.1" or "2001:db8:1:2::/64". */
void client_addr_key(const struct client_ip *ip, char out[CLIENT_ADDR_KEY_MAX]);

#endif
