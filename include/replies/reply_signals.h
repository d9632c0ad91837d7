#ifndef PARLEY_REPLY_SIGNALS_H
#define PARLEY_REPLY_SIGNALS_H
/*
 * Read receipts and typing while a reply is produced (SPEC 9.1; README,
 * Read receipts and typing; docs/protocol.md). Best effort: each request is
 * made once, nobody waits for it, and its outcome is only logged (warn) and
 * counted in parley_conversation_signals_total{kind,platform,outcome}.
 *
 * WhatsApp: one request, the read receipt of the latest customer message the
 * reply answers, with the typing indicator when replies.typing is on; Meta
 * has typing only in that form, so with replies.read_receipts off nothing is
 * sent. While the reply lives, the request is repeated every 20 s (the
 * indicator lasts 25 s); PARLEY_TEST_TYPING_REFRESH_MS overrides the period
 * for tests. Instagram: mark_seen, then typing_on once mark_seen answered
 * (each when its key is on). Webchat: nothing here (the poll's agent_typing
 * comes from the database).
 *
 * reply_signals_stop() may be called at any time, also while requests are in
 * flight: they hold their own reference and end quietly; no request starts
 * after it (no refresh, no Instagram typing_on).
 */
#include <stdbool.h>

#include "platform.h"

struct config;
struct event_base;
struct http_client;
struct reply_signals;

struct reply_signals_target {
	enum platform platform;
	const char *channel;      /* meta_phone_number_id */
	const char *access_token; /* the channel's */
	const char *customer;     /* WhatsApp wa_id, Instagram IGSID */
	const char *message_id;   /* platform id of the latest answered customer message */
	const char *ctx;          /* log context, e.g. "conv=… tenant=…" */
};

/* Declares the metric; once, before the first reply_signals_start(). */
void reply_signals_declare_metrics(void);

/*
 * Starts the signals for one reply; everything is copied. NULL when there is
 * nothing to send (webchat, both keys off, no message id on WhatsApp, an
 * invalid channel id); reply_signals_stop(NULL) does nothing.
 */
struct reply_signals *reply_signals_start(struct event_base *base, struct http_client *http,
					  const struct config *cfg,
					  const struct reply_signals_target *t);

/* The reply ended: no more requests, the refresh timer is gone. */
void reply_signals_stop(struct reply_signals *s);

/* The WhatsApp refresh period: 20000 ms, or PARLEY_TEST_TYPING_REFRESH_MS. */
long reply_signals_refresh_ms(void);

#endif
