#ifndef PARLEY_PUBLIC_ADDR_H
#define PARLEY_PUBLIC_ADDR_H
/*
 * Whether an address is a public one that parley may connect to on a
 * tenant's behalf (events out, README "Events out", Safety): loopback,
 * private (RFC 1918, RFC 4193 unique local), link-local, unspecified,
 * carrier-grade NAT, multicast, broadcast and the documentation/benchmark
 * ranges are not. IPv4-mapped and IPv4-compatible IPv6 addresses are judged
 * as their IPv4 address, so ::ffff:127.0.0.1 is loopback.
 *
 * Pure.
 */
#include <stdbool.h>

struct sockaddr;

bool http_addr_public(const struct sockaddr *sa);

/* The same for an address in text (dotted quad or IPv6, no brackets);
 * false for anything that does not parse. */
bool http_addr_text_public(const char *text);

#endif
