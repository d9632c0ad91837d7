#include "http_sync.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strbuf.h"
#include "xalloc.h"

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct strbuf *sb = arg;
	size_t len = size * n;
	if (sb->len + len > HTTP_SYNC_MAX_BODY)
		return 0; /* libcurl fails the transfer: an answer that large is not ours */
	strbuf_append(sb, data, len);
	return len;
}

/* Keeps the value of header name (lower case) from one header line. */
static void take_header(const char *line, size_t len, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return;
	const char *v = line + n + 1;
	const char *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t k = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
	memcpy(out, v, k);
	out[k] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct http_sync_resp *out = arg;
	size_t len = size * n;
	/* A new response (after a 100 Continue or a redirect) starts afresh. */
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		out->retry_after[0] = '\0';
		out->retry_after_ms[0] = '\0';
	}
	take_header(data, len, "retry-after", out->retry_after, sizeof out->retry_after);
	take_header(data, len, "retry-after-ms", out->retry_after_ms, sizeof out->retry_after_ms);
	return len;
}

int http_sync(const char *method, const char *url, const char *const *headers, size_t n_headers,
	      const char *body, struct http_sync_resp *out)
{
	memset(out, 0, sizeof *out);
	static int initialised;
	if (!initialised++)
		curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *e = curl_easy_init();
	if (!e)
		abort(); /* allocation failure: the one OOM policy */
	struct strbuf sb = STRBUF_INIT;
	struct curl_slist *list = NULL;
	for (size_t i = 0; i < n_headers; i++)
		if (!(list = curl_slist_append(list, headers[i])))
			abort();
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)HTTP_SYNC_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &sb);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	if (body) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	}
	if (method && strcmp(method, body ? "POST" : "GET") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	CURLcode rc = curl_easy_perform(e);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
	} else {
		snprintf(out->err, sizeof out->err, "%s",
			 *errbuf ? errbuf : curl_easy_strerror(rc));
		out->status = 0;
	}
	curl_slist_free_all(list);
	curl_easy_cleanup(e);
	out->len = sb.len;
	out->body = strbuf_detach(&sb);
	return rc == CURLE_OK ? 0 : -1;
}
