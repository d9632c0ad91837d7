#ifndef PARLEY_HTTP_FRAMING_H
#define PARLEY_HTTP_FRAMING_H
/*
 * Where each HTTP/1.1 request on a connection begins and ends, worked out
 * before evhttp sees the bytes, so that a body is held to its route's limit
 * before it is buffered (SPEC §12): evhttp 2.1 has one body limit for every
 * route and no hook between a request's head and its body.
 *
 * http_framing_feed() moves bytes from what the socket delivered (src) to
 * what evhttp reads (dst): a head only once it is whole, a body as it comes.
 * A request that breaks a limit or the grammar is refused: evhttp is handed a
 * complete stand-in (an empty GET in place of the head, or the last chunk in
 * place of the rest of a chunked body), which the router answers with the
 * refusal (http_framing.status and .why), and nothing after it.
 *
 * The framing is stricter than evhttp wherever the two could disagree on
 * where a request ends (repeated or conflicting lengths, other transfer
 * codings, folded or odd header lines), so that both always see the same
 * requests. Chunked trailers are dropped, not passed on.
 */
#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The request line and headers together, like evhttp's header limit. */
#define HTTP_FRAMING_HEAD_MAX (64 * 1024)

/* The most body a request for target (as sent, not NUL-terminated) may carry. */
typedef uint64_t (*http_framing_limit_fn)(void *ctx, const char *target, size_t len);

/* One per connection, zeroed by http_framing_init; owns nothing. */
struct http_framing {
	int state;
	size_t scanned;      /* head: bytes of complete, non-empty lines so far */
	uint64_t left;       /* bytes of the body, or of the current chunk, still to come */
	uint64_t body;       /* chunked: data bytes so far */
	uint64_t max;        /* this request's body limit */
	size_t trailer;      /* chunked: trailer bytes so far (dropped) */
	unsigned complete;   /* requests handed over whole, a stand-in included */
	unsigned refused_at; /* the value of complete that is the refused request; 0: none */
	int status;          /* the refusal's HTTP status */
	const char *why;     /* and its message (static) */
};

void http_framing_init(struct http_framing *f);

/* Returns the bytes taken from src: moved to dst or, after a refusal, dropped. */
size_t http_framing_feed(struct http_framing *f, struct evbuffer *src, struct evbuffer *dst,
			 http_framing_limit_fn limit, void *ctx);

/* What the framing needs from a request's head. */
struct http_head {
	const char *target; /* points into the parsed text */
	size_t target_len;
	bool chunked;
	uint64_t length; /* Content-Length, 0 when absent */
};

#endif
