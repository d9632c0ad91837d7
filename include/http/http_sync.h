#ifndef PARLEY_HTTP_SYNC_H
#define PARLEY_HTTP_SYNC_H
/*
 * Blocking HTTP for the command-line tools (libcurl's easy interface), such
 * as `parley meeting cancel` deleting a Google Calendar event. Never used by
 * `parley serve`, whose upstream calls go through http_client.h on the
 * event loop.
 */
#include <stddef.h>

struct http_sync_resp {
	long status; /* 0 when no response arrived */
	char *body;  /* NUL-terminated, never NULL ("" when none); caller frees */
	size_t len;
	char err[256]; /* why no response arrived, when status is 0 */
	/* The final response's Retry-After and retry-after-ms values ("" when
	 * absent), for retry_delay_ms(). */
	char retry_after[32];
	char retry_after_ms[32];
};

#define HTTP_SYNC_TIMEOUT_MS 30000
#define HTTP_SYNC_MAX_BODY   (1024 * 1024)

/*
 * Sends one request (method NULL: GET, or POST with a body) with the
 * "Name: value" headers; waits at most HTTP_SYNC_TIMEOUT_MS. Returns 0 when
 * a response arrived (any status), -1 with out->err otherwise. out->body
 * must be freed either way.
 */
int http_sync(const char *method, const char *url, const char *const *headers, size_t n_headers,
	      const char *body, struct http_sync_resp *out);

#endif
