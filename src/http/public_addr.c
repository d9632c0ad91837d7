/*
 * Public or not: see include/http/public_addr.h.
 */
#include "public_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

static bool v4_public(const unsigned char *b)
{
	uint32_t a = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	static const struct {
		uint32_t net;
		unsigned bits;
	} blocked[] = {
	    {0x00000000, 8},  /* 0.0.0.0/8: "this network", unspecified */
	    {0x0a000000, 8},  /* 10/8 */
	    {0x64400000, 10}, /* 100.64/10: carrier-grade NAT */
	    {0x7f000000, 8},  /* loopback */
	    {0xa9fe0000, 16}, /* link-local, cloud metadata (169.254.169.254) */
	    {0xac100000, 12}, /* 172.16/12 */
	    {0xc0000000, 24}, /* 192.0.0/24: IETF protocol assignments */
	    {0xc0000200, 24}, /* TEST-NET-1 */
	    {0xc0a80000, 16}, /* 192.168/16 */
	    {0xc6120000, 15}, /* 198.18/15: benchmarking */
	    {0xc6336400, 24}, /* TEST-NET-2 */
	    {0xcb007100, 24}, /* TEST-NET-3 */
	    {0xe0000000, 4},  /* multicast */
	    {0xf0000000, 4},  /* reserved, broadcast */
	};
	for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) {
		uint32_t mask = blocked[i].bits ? ~0u << (32 - blocked[i].bits) : 0;
		if ((a & mask) == blocked[i].net)
			return false;
	}
	return true;
}

static bool v6_public(const unsigned char *b)
{
	static const unsigned char zero[16];
	/* ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible; :: and ::1 too). */
	if (memcmp(b, zero, 10) == 0 &&
	    ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0))) {
		if (b[10] == 0 && memcmp(b + 12, zero, 3) == 0 && b[15] <= 1)
			return false; /* :: and ::1 */
		return v4_public(b + 12);
	}
	if ((b[0] & 0xfe) == 0xfc)
		return false; /* fc00::/7 unique local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return false; /* fe80::/10 link-local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return false; /* fec0::/10 site-local (deprecated) */
	if (b[0] == 0xff)
		return false; /* multicast */
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return false; /* 2001:db8::/32 documentation */
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)
		return v4_public(b + 12); /* 64:ff9b::/96 NAT64 */
	return true;
}

bool http_addr_public(const struct sockaddr *sa)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return v4_public((const unsigned char *)&in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return v6_public(in6->sin6_addr.s6_addr);
	}
	return false;
}

bool http_addr_text_public(const char *text)
{
	unsigned char b[16];
	if (inet_pton(AF_INET, text, b) == 1)
		return v4_public(b);
	if (inet_pton(AF_INET6, text, b) == 1)
		return v6_public(b);
	return false;
}
