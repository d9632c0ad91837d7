#ifndef PARLEY_RETRY_H
#define PARLEY_RETRY_H
/*
 * Retry policy for upstream calls (docs/protocol.md, Retries of upstream
 * calls): is an outcome worth another attempt, how long to wait before it, and
 * a short description of a failure for message_delivery_status.error_message.
 * Pure: no I/O, no clock, no global state; the caller supplies the randomness.
 * Counting attempts and persisting them between tries is the caller's job (the
 * reply worker keeps that in the database so that a restart does not reset
 * it).
 */
#include <stddef.h>

enum retry_verdict {
	RETRY_OK,        /* 2xx: the call did what was asked */
	RETRY_RETRYABLE, /* transient: try again after retry_delay_ms() */
	RETRY_FINAL,     /* will not succeed by repeating it: give up now */
};

/*
 * Classifies one attempt. transport_error is an enum http_err_kind from
 * http_client.h (0 when a response arrived, and then http_status is its
 * status); body/len is the response body (need not be NUL-terminated; may be
 * NULL). In order:
 *   - transport errors: retryable (DNS, refused, reset, timeouts), except
 *     usage errors, certificate failures and oversized answers, which a retry
 *     would only repeat;
 *   - 2xx: RETRY_OK;
 *   - OpenAI billing/quota errors (insufficient_quota and its siblings) and
 *     "Request too large" (one request above the whole TPM budget): final
 *     whatever the status, although they come as 429;
 *   - Meta Graph error codes for rate limits and temporary failures (1, 2, 4,
 *     17, 32, 341, 613, 80000-80014, 130429, 131000, 131016, 131056, 131057,
 *     133004) or "is_transient": true: retryable whatever the status — Meta
 *     throttles with HTTP 400;
 *   - OpenAI conversation_locked (400): retryable, the earlier turn finishes;
 *   - 408, 409, 429, 5xx: retryable; every other status (other 4xx such as
 *     Meta 131047, the closed 24-hour window; 1xx/3xx we never asked for):
 *     final.
 * Bodies over RETRY_BODY_PARSE_MAX bytes are not parsed (no error object is
 * that large); the status alone decides then. The x-should-retry header is
 * not consulted: parley's own policy wins over the server's hint.
 */
enum retry_verdict retry_classify(long http_status, int transport_error, const char *body,
				  size_t len);

#define RETRY_BODY_PARSE_MAX (64 * 1024)

/*
 * "code: title" of a failed call, for error_message and logs: for a Graph
 * error "131047: Re-engagement message" (Meta's "(#131047) " prefix dropped,
 * the form webhook statuses use too), for OpenAI "insufficient_quota: You
 * exceeded …" (code, else type); err itself when the call failed in
 * transport (err non-NULL); "HTTP 502" when the body says nothing usable.
 * At most RETRY_ERROR_MAX bytes, valid UTF-8 (bad bytes become U+FFFD,
 * control characters spaces, truncation marked with "…"). Never NULL;
 * caller frees.
 */
char *retry_error_message(long http_status, const char *err, const char *body, size_t len);

#define RETRY_ERROR_MAX 300

/*
 * Backoff schedule. Without a server hint the wait before retry n (attempt =
 * how many attempts have failed so far, 1 for the first retry) is "full
 * jitter" (AWS architecture blog, 2015) with a floor: uniform in
 * [RETRY_FLOOR_MS, ceiling], ceiling = min(RETRY_BASE_MS * 2^(attempt-1),
 * RETRY_CAP_MS), i.e. 500 ms, 1 s, 2 s, … 30 s. Jitter spreads the retries of
 * calls that failed together (a Meta outage fails every send at once); the
 * floor keeps a retry from hitting a throttled upstream in the same instant.
 *
 * Server hints win over the schedule: retry_after_ms (OpenAI's non-standard
 * header, milliseconds) when it parses, else retry_after (seconds); both may
 * carry a fraction ("1.5"), surrounding blanks are ignored. Zero, negative,
 * empty or garbage values are ignored, and so is the HTTP-date form of
 * Retry-After (parsing it would need the clock; none of our upstreams send it
 * — documented simplification). A hint is taken as is, without jitter, but
 * never above RETRY_MAX_DELAY_MS: a longer wait would hold a claimed reply
 * past its lease, and the attempt budget ends such a call soon anyway.
 * Either header may be NULL. rnd is any random value (e.g. from random());
 * the result is a pure function of the arguments.
 */
long retry_delay_ms(int attempt, const char *retry_after, const char *retry_after_ms, unsigned rnd);

/*
 * The same schedule with the caller's numbers, for retries that span hours
 * rather than a claim's lease (events out: base 5 s, cap 1 h, Retry-After
 * honoured up to an hour; README, Events out). retry_delay_ms is this with
 * the RETRY_* constants below.
 */
struct retry_schedule {
	long base_ms, cap_ms, floor_ms, max_hint_ms;
};
long retry_schedule_delay_ms(const struct retry_schedule *s, int attempt, const char *retry_after,
			     const char *retry_after_ms, unsigned rnd);

#define RETRY_BASE_MS      500
#define RETRY_CAP_MS       30000
#define RETRY_FLOOR_MS     100
#define RETRY_MAX_DELAY_MS 60000

#endif
