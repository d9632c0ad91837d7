#include "http_framing.h"

#include <string.h>
#include <strings.h>

#include "encoding.h"

enum state { S_HEAD, S_BODY, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_END, S_TRAILER, S_REFUSED };

/* A chunk-size line is hex digits; 16 of them already overflow 64 bits. */
#define CHUNK_LINE_MAX 32

static const char HTTP_FRAMING_ERR_MALFORMED[] = "malformed request";

/* What evhttp is handed in place of what was refused, by where it stopped. */
static const char STAND_IN_HEAD[] = "GET / HTTP/1.1\r\n\r\n";
static const char STAND_IN_LAST_CHUNK[] = "0\r\n\r\n";
static const char STAND_IN_CHUNK_END[] = "\r\n0\r\n\r\n";
static const char STAND_IN_TRAILER_END[] = "\r\n";

void http_framing_init(struct http_framing *f)
{
	memset(f, 0, sizeof *f);
	f->state = S_HEAD;
}

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Field values: visible characters, spaces and tabs, nothing else. */
static bool valid_value(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static void trim(const char **v, size_t *n)
{
	while (*n && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*n)--;
	}
	while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
		(*n)--;
}

static bool method_is(const char *m, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(m, want, n) == 0;
}

/* The methods evhttp parses; HEAD and TRACE never have a body for it. */
static int method_kind(const char *m, size_t n)
{
	static const char *const with_body[] = {"GET",     "POST",    "PUT",  "DELETE",
						"OPTIONS", "CONNECT", "PATCH"};
	for (size_t i = 0; i < sizeof with_body / sizeof with_body[0]; i++)
		if (method_is(m, n, with_body[i]))
			return 1;
	if (method_is(m, n, "HEAD") || method_is(m, n, "TRACE"))
		return 0;
	return -1;
}

/* Next line of p[0..n) from *off: sets line and len (without the line end). */
static bool next_line(const char *p, size_t n, size_t *off, const char **line, size_t *len)
{
	if (*off >= n)
		return false;
	const char *start = p + *off;
	const char *lf = memchr(start, '\n', n - *off);
	if (!lf)
		return false;
	*line = start;
	*len = (size_t)(lf - start);
	if (*len && start[*len - 1] == '\r')
		(*len)--;
	*off = (size_t)(lf - p) + 1;
	return true;
}

/*
 * Parses a whole head (request line, headers, the blank line). Returns NULL,
 * or a static message with *status set to the HTTP status to refuse with.
 */
static const char *http_framing_parse_head(const char *p, size_t n, struct http_head *h,
					   int *status)
{
	memset(h, 0, sizeof *h);
	*status = 400;
	size_t off = 0, len;
	const char *line;
	if (!next_line(p, n, &off, &line, &len) || len == 0)
		return HTTP_FRAMING_ERR_MALFORMED;

	/* METHOD SP target SP HTTP/1.x: exactly evhttp's three fields. */
	const char *sp1 = memchr(line, ' ', len);
	if (!sp1)
		return HTTP_FRAMING_ERR_MALFORMED;
	const char *target = sp1 + 1;
	const char *sp2 = memchr(target, ' ', len - (size_t)(target - line));
	if (!sp2 || sp2 == target)
		return HTTP_FRAMING_ERR_MALFORMED;
	const char *version = sp2 + 1;
	size_t vlen = len - (size_t)(version - line);
	if (vlen != 8 ||
	    (memcmp(version, "HTTP/1.1", 8) != 0 && memcmp(version, "HTTP/1.0", 8) != 0))
		return HTTP_FRAMING_ERR_MALFORMED;
	int kind = method_kind(line, (size_t)(sp1 - line));
	if (kind < 0) {
		*status = 501;
		return "unknown method: not one of HTTP/1.1's standard methods";
	}
	h->target = target;
	h->target_len = (size_t)(sp2 - target);
	if (!valid_value(line, len) || memchr(h->target, '\t', h->target_len))
		return HTTP_FRAMING_ERR_MALFORMED;

	bool have_length = false, have_coding = false;
	while (next_line(p, n, &off, &line, &len) && len > 0) {
		/* A folded line would continue the header above it, a
		 * length evhttp and this parser might then read apart. */
		if (line[0] == ' ' || line[0] == '\t')
			return HTTP_FRAMING_ERR_MALFORMED;
		const char *colon = memchr(line, ':', len);
		if (!colon || colon == line)
			return HTTP_FRAMING_ERR_MALFORMED;
		size_t nlen = (size_t)(colon - line);
		for (size_t i = 0; i < nlen; i++)
			if (!is_tchar((unsigned char)line[i]))
				return HTTP_FRAMING_ERR_MALFORMED;
		const char *v = colon + 1;
		size_t vn = len - nlen - 1;
		if (!valid_value(v, vn))
			return HTTP_FRAMING_ERR_MALFORMED;
		trim(&v, &vn);
		if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
			if (have_length || vn == 0 || vn > 18)
				return HTTP_FRAMING_ERR_MALFORMED;
			for (size_t i = 0; i < vn; i++) {
				if (v[i] < '0' || v[i] > '9')
					return HTTP_FRAMING_ERR_MALFORMED;
				h->length = h->length * 10 + (uint64_t)(v[i] - '0');
			}
			have_length = true;
		} else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
			if (have_coding)
				return HTTP_FRAMING_ERR_MALFORMED;
			have_coding = true;
			if (vn != 7 || strncasecmp(v, "chunked", 7) != 0) {
				*status = 501;
				return "transfer coding not supported";
			}
			h->chunked = true;
		}
	}
	if (len != 0 || off != n)
		return HTTP_FRAMING_ERR_MALFORMED; /* the caller hands over exactly one head */
	if (have_length && have_coding)
		return HTTP_FRAMING_ERR_MALFORMED;
	if (kind == 0 && (h->chunked || h->length))
		return HTTP_FRAMING_ERR_MALFORMED;
	return NULL;
}

/* Hands evhttp the stand-in, drops what src still holds, refuses from now on. */
static size_t refuse(struct http_framing *f, struct evbuffer *src, struct evbuffer *dst,
		     const char *stand_in, int status, const char *why)
{
	evbuffer_add(dst, stand_in, strlen(stand_in));
	f->complete++;
	f->refused_at = f->complete;
	f->status = status;
	f->why = why;
	f->state = S_REFUSED;
	size_t n = evbuffer_get_length(src);
	evbuffer_drain(src, n);
	return n;
}

static size_t move(struct evbuffer *src, struct evbuffer *dst, size_t n)
{
	evbuffer_remove_buffer(src, dst, n);
	return n;
}

/* Finds the end of the line at offset off of src: its length and its end's. */
static bool find_eol(struct evbuffer *src, size_t off, size_t *len, size_t *eol_len)
{
	struct evbuffer_ptr pos;
	if (evbuffer_ptr_set(src, &pos, off, EVBUFFER_PTR_SET) < 0)
		return false;
	size_t el = 0;
	pos = evbuffer_search_eol(src, &pos, &el, EVBUFFER_EOL_CRLF);
	if (pos.pos < 0)
		return false;
	*len = (size_t)pos.pos - off;
	*eol_len = el;
	return true;
}

/* S_HEAD: waits for the blank line, then judges the head as a whole. */
static size_t feed_head(struct http_framing *f, struct evbuffer *src, struct evbuffer *dst,
			http_framing_limit_fn limit, void *ctx, bool *progress)
{
	size_t len, el;
	for (;;) {
		if (!find_eol(src, f->scanned, &len, &el)) {
			if (evbuffer_get_length(src) > HTTP_FRAMING_HEAD_MAX)
				return refuse(f, src, dst, STAND_IN_HEAD, 431,
					      "request headers too large");
			*progress = false;
			return 0;
		}
		size_t end = f->scanned + len + el;
		if (end > HTTP_FRAMING_HEAD_MAX)
			return refuse(f, src, dst, STAND_IN_HEAD, 431, "request headers too large");
		bool blank = len == 0;
		if (blank && f->scanned == 0)
			return refuse(f, src, dst, STAND_IN_HEAD, 400, HTTP_FRAMING_ERR_MALFORMED);
		f->scanned = end;
		if (blank)
			break;
	}
	size_t head_len = f->scanned;
	const char *p = (const char *)evbuffer_pullup(src, (ev_ssize_t)head_len);
	struct http_head h;
	int status;
	const char *err = http_framing_parse_head(p, head_len, &h, &status);
	if (err)
		return refuse(f, src, dst, STAND_IN_HEAD, status, err);
	f->max = limit(ctx, h.target, h.target_len);
	if (!h.chunked && h.length > f->max)
		return refuse(f, src, dst, STAND_IN_HEAD, 413, "request body too large");
	move(src, dst, head_len);
	f->scanned = 0;
	f->body = 0;
	f->trailer = 0;
	if (h.chunked) {
		f->state = S_CHUNK_SIZE;
	} else if (h.length > 0) {
		f->left = h.length;
		f->state = S_BODY;
	} else {
		f->complete++;
	}
	return head_len;
}

static size_t feed_chunk_size(struct http_framing *f, struct evbuffer *src, struct evbuffer *dst,
			      bool *progress)
{
	size_t len, el;
	if (!find_eol(src, 0, &len, &el)) {
		if (evbuffer_get_length(src) > CHUNK_LINE_MAX)
			return refuse(f, src, dst, STAND_IN_LAST_CHUNK, 400,
				      HTTP_FRAMING_ERR_MALFORMED);
		*progress = false;
		return 0;
	}
	if (len == 0 || len > 15)
		return refuse(f, src, dst, STAND_IN_LAST_CHUNK, 400, HTTP_FRAMING_ERR_MALFORMED);
	char line[16];
	evbuffer_copyout(src, line, len);
	uint64_t size = 0;
	for (size_t i = 0; i < len; i++) {
		int d = encoding_hex_value((unsigned char)line[i]);
		if (d < 0)
			return refuse(f, src, dst, STAND_IN_LAST_CHUNK, 400,
				      HTTP_FRAMING_ERR_MALFORMED);
		size = size * 16 + (uint64_t)d;
	}
	/* Cut at the limit: the chunk that would cross it is never read. */
	if (size > f->max - f->body)
		return refuse(f, src, dst, STAND_IN_LAST_CHUNK, 413, "request body too large");
	f->body += size;
	f->left = size;
	f->state = size ? S_CHUNK_DATA : S_TRAILER;
	return move(src, dst, len + el);
}

static size_t feed_chunk_end(struct http_framing *f, struct evbuffer *src, struct evbuffer *dst,
			     bool *progress)
{
	unsigned char c[2];
	ev_ssize_t got = evbuffer_copyout(src, c, 2);
	if (got >= 1 && c[0] == '\n') {
		f->state = S_CHUNK_SIZE;
		return move(src, dst, 1);
	}
	if (got >= 1 && c[0] != '\r')
		return refuse(f, src, dst, STAND_IN_CHUNK_END, 400, HTTP_FRAMING_ERR_MALFORMED);
	if (got < 2) {
		*progress = false;
		return 0;
	}
	if (c[1] != '\n')
		return refuse(f, src, dst, STAND_IN_CHUNK_END, 400, HTTP_FRAMING_ERR_MALFORMED);
	f->state = S_CHUNK_SIZE;
	return move(src, dst, 2);
}

/* Trailer lines are dropped: nothing of parley reads them, and fields evhttp
 * would add to the request's headers after the router chose on them could
 * only confuse. The blank line that ends them is passed on. */
static size_t feed_trailer(struct http_framing *f, struct evbuffer *src, struct evbuffer *dst,
			   bool *progress)
{
	size_t len, el;
	if (!find_eol(src, 0, &len, &el)) {
		if (f->trailer + evbuffer_get_length(src) > HTTP_FRAMING_HEAD_MAX)
			return refuse(f, src, dst, STAND_IN_TRAILER_END, 431,
				      "request headers too large");
		*progress = false;
		return 0;
	}
	f->trailer += len + el;
	if (f->trailer > HTTP_FRAMING_HEAD_MAX)
		return refuse(f, src, dst, STAND_IN_TRAILER_END, 431, "request headers too large");
	if (len > 0) {
		evbuffer_drain(src, len + el);
		return len + el;
	}
	f->state = S_HEAD;
	f->complete++;
	return move(src, dst, len + el);
}

size_t http_framing_feed(struct http_framing *f, struct evbuffer *src, struct evbuffer *dst,
			 http_framing_limit_fn limit, void *ctx)
{
	size_t taken = 0;
	bool progress = true;
	while (progress && evbuffer_get_length(src) > 0) {
		size_t have = evbuffer_get_length(src), n;
		switch (f->state) {
		case S_HEAD: taken += feed_head(f, src, dst, limit, ctx, &progress); break;
		case S_BODY:
			n = have < f->left ? have : (size_t)f->left;
			taken += move(src, dst, n);
			f->left -= n;
			if (f->left == 0) {
				f->complete++;
				f->state = S_HEAD;
			}
			break;
		case S_CHUNK_SIZE: taken += feed_chunk_size(f, src, dst, &progress); break;
		case S_CHUNK_DATA:
			n = have < f->left ? have : (size_t)f->left;
			taken += move(src, dst, n);
			f->left -= n;
			if (f->left == 0)
				f->state = S_CHUNK_END;
			break;
		case S_CHUNK_END: taken += feed_chunk_end(f, src, dst, &progress); break;
		case S_TRAILER: taken += feed_trailer(f, src, dst, &progress); break;
		default: /* S_REFUSED: the connection closes after the refusal */
			evbuffer_drain(src, have);
			taken += have;
			break;
		}
	}
	return taken;
}
