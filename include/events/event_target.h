#ifndef PARLEY_EVENT_TARGET_H
#define PARLEY_EVENT_TARGET_H
/*
 * Which URLs an endpoint may have (README, Events out, Safety): an absolute
 * https URL (http only with events.allow_http) with a host, no user or
 * password in it, at most EVENT_URL_MAX bytes. Whether its host resolves to
 * a public address is checked by `parley endpoint add` (event_target_resolve)
 * and again at every connection (http_client's public_only, which checks
 * the very address connected to: DNS rebinding cannot slip past it).
 */
#include <stdbool.h>
#include <stddef.h>

#define EVENT_URL_MAX 2000

/* NULL when url is acceptable (host, without IPv6 brackets, copied into
 * host), else a static reason to follow "--url: ". */
const char *event_url_check(const char *url, bool allow_http, char *host, size_t hostlen);

/* Resolves host (blocking: for the command line only) and returns NULL when
 * every address is public, else a static reason; *addr gets the offending
 * address in text (INET6_ADDRSTRLEN bytes). */
const char *event_target_resolve(const char *host, char *addr, size_t addrlen);

#endif
