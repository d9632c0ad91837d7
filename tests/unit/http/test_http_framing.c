#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "http_framing.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/http/http_framing.c"
#include "../unit_main.h"

/* The limit the tests' router gives: /big 100 bytes, anything else 10. */
static uint64_t limit(void *ctx, const char *target, size_t len)
{
	(void)ctx;
	return len == 4 && memcmp(target, "/big", 4) == 0 ? 100 : 10;
}

struct run {
	struct http_framing f;
	struct evbuffer *src, *dst;
};

static void run_init(struct run *r)
{
	http_framing_init(&r->f);
	r->src = evbuffer_new();
	r->dst = evbuffer_new();
}

static void run_free(struct run *r)
{
	evbuffer_free(r->src);
	evbuffer_free(r->dst);
}

/* Feeds text in pieces of at most step bytes, as a socket might deliver it. */
static void feed(struct run *r, const char *text, size_t step)
{
	size_t n = strlen(text);
	for (size_t off = 0; off < n; off += step) {
		size_t k = n - off < step ? n - off : step;
		evbuffer_add(r->src, text + off, k);
		http_framing_feed(&r->f, r->src, r->dst, limit, NULL);
	}
}

/* What evhttp was handed, as a string (freed by the caller). */
static char *handed(struct run *r)
{
	size_t n = evbuffer_get_length(r->dst);
	char *s = calloc(1, n + 1);
	evbuffer_copyout(r->dst, s, n);
	return s;
}

/*
 * Feeds text in pieces of each size of steps (ending with 0): passed (status
 * 0) when all of it is handed on, complete requests counted and nothing
 * refused; else refused with status after want_handed, the input used up.
 */
static void expect_framing(const char *text, const size_t *steps, int status,
			   const char *want_handed, unsigned complete)
{
	for (; *steps; steps++) {
		struct run r;
		run_init(&r);
		feed(&r, text, *steps);
		char *got = handed(&r);
		assert_string_equal(got, want_handed);
		if (status) {
			assert_int_equal(r.f.status, status);
			assert_int_equal(r.f.refused_at, r.f.complete);
			assert_int_equal(evbuffer_get_length(r.src), 0);
		} else {
			assert_int_equal(r.f.complete, complete);
			assert_int_equal(r.f.refused_at, 0);
		}
		free(got);
		run_free(&r);
	}
}

static void expect_passed(const char *text, unsigned complete)
{
	static const size_t steps[] = {1, 2, 7, 100000, 0};
	expect_framing(text, steps, 0, text, complete);
}

static void expect_refused(const char *text, int status, const char *want_handed)
{
	static const size_t steps[] = {1, 3, 100000, 0};
	expect_framing(text, steps, status, want_handed, 0);
}

static void test_requests_pass_whole(void **state)
{
	(void)state;
	expect_passed("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1);
	expect_passed("GET / HTTP/1.0\n\n", 1);
	expect_passed("POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 1);
	expect_passed("POST /big HTTP/1.1\r\ncontent-length:  100 \r\n\r\n"
		      "0123456789012345678901234567890123456789012345678901234567890123456789"
		      "012345678901234567890123456789",
		      1);
	expect_passed("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\n"
		      "world\r\n0\r\n\r\n",
		      1);
	/* Pipelined: both counted, in order. */
	expect_passed("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /y HTTP/1.1\r\n\r\n", 2);
	expect_passed("HEAD / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 1);
}

static void test_incomplete_is_held(void **state)
{
	(void)state;
	struct run r;
	run_init(&r);
	feed(&r, "POST /x HTTP/1.1\r\nContent-Len", 100);
	assert_int_equal(evbuffer_get_length(r.dst), 0); /* a head only once whole */
	feed(&r, "gth: 5\r\n\r\nab", 100);
	char *got = handed(&r);
	assert_string_equal(got, "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");
	assert_int_equal(r.f.complete, 0);
	free(got);
	feed(&r, "cde", 100);
	assert_int_equal(r.f.complete, 1);
	run_free(&r);
}

static void test_length_over_limit_refused_at_head(void **state)
{
	(void)state;
	/* The body is not waited for: the head alone decides. */
	expect_refused("POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413,
		       "GET / HTTP/1.1\r\n\r\n");
	expect_refused("POST /big HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413,
		       "GET / HTTP/1.1\r\n\r\n");
	expect_refused("POST /x HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n", 413,
		       "GET / HTTP/1.1\r\n\r\n");
	/* After the refusal nothing more is handed over. */
	expect_refused(
	    "POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n01234567890GET / HTTP/1.1\r\n\r\n", 413,
	    "GET / HTTP/1.1\r\n\r\n");
	/* A request passed before the refused one stays as it was. */
	expect_refused("GET /a HTTP/1.1\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413,
		       "GET /a HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
}

static void test_chunked_cut_at_limit(void **state)
{
	(void)state;
	/* 4 + 4 fit in 10; the third chunk would cross it and is never handed over. */
	expect_refused(
	    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\naaaa\r\n4\r\nbbbb\r\n"
	    "4\r\ncccc\r\n0\r\n\r\n",
	    413,
	    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\naaaa\r\n4\r\nbbbb\r\n"
	    "0\r\n\r\n");
	expect_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n",
		       413, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	struct run r;
	run_init(&r);
	feed(&r,
	     "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\naaaa\r\n4\r\nbbbb\r\n"
	     "4\r\ncccc\r\n0\r\n\r\n",
	     3);
	assert_int_equal(r.f.complete, 1);
	assert_int_equal(r.f.refused_at, 1);
	assert_string_equal(r.f.why, "request body too large");
	run_free(&r);
}

static void test_trailers_dropped(void **state)
{
	(void)state;
	struct run r;
	run_init(&r);
	feed(
	    &r,
	    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Forwarded-For: "
	    "1.2.3.4\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	    4);
	char *got = handed(&r);
	assert_string_equal(got,
			    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
			    "\r\nGET / HTTP/1.1\r\n\r\n");
	assert_int_equal(r.f.complete, 2);
	free(got);
	run_free(&r);
}

static void test_ambiguous_framing_refused(void **state)
{
	(void)state;
	const char *stand_in = "GET / HTTP/1.1\r\n\r\n";
	expect_refused(
	    "POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	    stand_in);
	expect_refused("POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400,
		       stand_in);
	expect_refused("POST /x HTTP/1.1\r\nContent-Length: +3\r\n\r\n", 400, stand_in);
	expect_refused("POST /x HTTP/1.1\r\nContent-Length: 3 3\r\n\r\n", 400, stand_in);
	expect_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
		       stand_in);
	expect_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
		       "chunked\r\n\r\n",
		       400, stand_in);
	expect_refused("POST /x HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400, stand_in);
	expect_refused("POST /x HTTP/1.1\r\nNo colon\r\n\r\n", 400, stand_in);
	expect_refused("POST /x HTTP/1.1\r\nX: a\rContent-Length: 5\r\n\r\n", 400, stand_in);
	expect_refused("HEAD / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 400, stand_in);
	expect_refused("GET  / HTTP/1.1\r\n\r\n", 400, stand_in);
	expect_refused("GET / HTTP/2.0\r\n\r\n", 400, stand_in);
	expect_refused("BREW / HTTP/1.1\r\n\r\n", 501, stand_in);
	expect_refused("\r\n", 400, stand_in);
	/* Chunk framing evhttp would read differently. */
	expect_refused(
	    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=1\r\na\r\n0\r\n\r\n", 400,
	    "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	expect_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naX0\r\n\r\n",
		       400,
		       "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
}

static void test_head_size_capped(void **state)
{
	(void)state;
	struct run r;
	run_init(&r);
	feed(&r, "GET / HTTP/1.1\r\nX: ", 100);
	char *big = malloc(HTTP_FRAMING_HEAD_MAX + 1);
	memset(big, 'a', HTTP_FRAMING_HEAD_MAX);
	big[HTTP_FRAMING_HEAD_MAX] = '\0';
	feed(&r, big, 4096);
	assert_int_equal(r.f.status, 431);
	assert_int_equal(r.f.refused_at, 1);
	free(big);
	run_free(&r);
}

static void test_parse_head(void **state)
{
	(void)state;
	struct http_head h;
	int status;
	const char *head = "POST /webhooks/meta?x=1 HTTP/1.1\r\nContent-Length: 42\r\n\r\n";
	assert_null(http_framing_parse_head(head, strlen(head), &h, &status));
	assert_int_equal(h.target_len, strlen("/webhooks/meta?x=1"));
	assert_memory_equal(h.target, "/webhooks/meta?x=1", h.target_len);
	assert_int_equal(h.length, 42);
	assert_false(h.chunked);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_requests_pass_whole),
    cmocka_unit_test(test_incomplete_is_held),
    cmocka_unit_test(test_length_over_limit_refused_at_head),
    cmocka_unit_test(test_chunked_cut_at_limit),
    cmocka_unit_test(test_trailers_dropped),
    cmocka_unit_test(test_ambiguous_framing_refused),
    cmocka_unit_test(test_head_size_capped),
    cmocka_unit_test(test_parse_head),
};
UNIT_MAIN(tests)
