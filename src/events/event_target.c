/*
 * Endpoint URLs and their addresses: see include/events/event_target.h.
 */
#include "event_target.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "public_addr.h"

const char *event_url_check(const char *url, bool allow_http, char *host, size_t hostlen)
{
	if (!url || !*url)
		return "is empty";
	if (strlen(url) > EVENT_URL_MAX)
		return "is longer than 2000 bytes";
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "has a blank or control character";
	CURLU *u = curl_url();
	if (!u)
		return "cannot be parsed";
	const char *why = NULL;
	char *scheme = NULL, *h = NULL, *user = NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		why = "is not an absolute http(s) URL";
		goto out;
	}
	curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (!scheme || (strcasecmp(scheme, "https") != 0 && strcasecmp(scheme, "http") != 0)) {
		why = "must be an https URL";
		goto out;
	}
	if (strcasecmp(scheme, "http") == 0 && !allow_http) {
		why = "must be https (http:// only with events.allow_http)";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user) {
		why = "must not carry a user or password";
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !h || !*h) {
		why = "has no host";
		goto out;
	}
	size_t len = strlen(h);
	const char *start = h;
	if (h[0] == '[' && len > 2 && h[len - 1] == ']') {
		start = h + 1;
		len -= 2;
	}
	if (len + 1 > hostlen) {
		why = "has a host name that is too long";
		goto out;
	}
	memcpy(host, start, len);
	host[len] = '\0';
out:
	curl_free(scheme);
	curl_free(h);
	curl_free(user);
	curl_url_cleanup(u);
	return why;
}

const char *event_target_resolve(const char *host, char *addr, size_t addrlen)
{
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
		if (res)
			freeaddrinfo(res);
		snprintf(addr, addrlen, "%s", "");
		return "does not resolve";
	}
	const char *why = NULL;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		if (http_addr_public(a->ai_addr))
			continue;
		const void *bytes =
		    a->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)(void *)a->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)(void *)a->ai_addr)->sin6_addr;
		if (!inet_ntop(a->ai_family, bytes, addr, (socklen_t)addrlen))
			snprintf(addr, addrlen, "%s", "?");
		why = "resolves to a loopback, private, link-local or unspecified address "
		      "(allowed only with events.allow_private_targets)";
		break;
	}
	freeaddrinfo(res);
	return why;
}
