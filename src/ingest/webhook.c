/*
 * POST /webhooks/meta: verify, parse, store (in one transaction, possibly
 * together with other waiting webhooks: ingest_batch.h), then 200 once that
 * transaction committed (docs/architecture.md, A webhook's path). GET
 * /webhooks/meta: the subscription handshake.
 */
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "clock.h"
#include "handlers.h"
#include "http_server.h"
#include "ingest_batch.h"
#include "ingest_events.h"
#include "log.h"
#include "meta_parse.h"
#include "metrics.h"
#include "webhook_sig.h"
#include "xalloc.h"

/* One POST waiting for its transaction; freed when answered. */
struct ingest {
	struct app *app;
	struct evhttp_request *req;
	char ctx[48]; /* log context: "req=<id>" */
	char object[40];
	double started; /* clock_mono() */
};

static void count(const char *object, const char *result)
{
	char labels[160];
	snprintf(labels, sizeof labels, "object=\"%s\",result=\"%s\"", object, result);
	metrics_add("parley_webhooks_total", labels, 1);
}

void webhook_handle_get(struct app *app, struct evhttp_request *req)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	/* evhttp_parse_query_str initialises the list itself. */
	struct evkeyvalq params = {0};
	/* Anything but a matching subscribe is 403, a query libevent cannot
	 * parse included (README, HTTP endpoints). */
	if (query && evhttp_parse_query_str(query, &params) != 0) {
		log_warn("webhook", "subscription handshake refused (malformed query)");
		http_reply_error(req, 403, "verification failed");
		return;
	}
	const char *mode = evhttp_find_header(&params, "hub.mode");
	const char *token = evhttp_find_header(&params, "hub.verify_token");
	const char *challenge = evhttp_find_header(&params, "hub.challenge");
	const char *want = app->cfg.meta_verify_token;
	if (mode && strcmp(mode, "subscribe") == 0 && token && want && *want &&
	    strlen(token) == strlen(want) && CRYPTO_memcmp(token, want, strlen(want)) == 0 &&
	    challenge) {
		log_info("webhook", "subscription verified");
		http_reply(req, 200, "text/plain; charset=utf-8", challenge, strlen(challenge));
	} else {
		log_warn("webhook", "subscription handshake refused");
		http_reply_error(req, 403, "verification failed");
	}
	evhttp_clear_headers(&params);
}

static void count_outcome(const char *ctx, const char *object, cJSON *outcome)
{
	static const char *const keys[] = {"stored", "duplicates", "statuses", "early_statuses"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(outcome, keys[i]);
		if (!cJSON_IsNumber(v) || v->valuedouble <= 0)
			continue;
		char labels[120];
		snprintf(labels, sizeof labels, "object=\"%s\",outcome=\"%s\"", object, keys[i]);
		metrics_add("parley_webhook_events_total", labels, v->valuedouble);
		if (strcmp(keys[i], "stored") == 0 && strcmp(object, "other") != 0) {
			snprintf(labels, sizeof labels, "platform=\"%s\",direction=\"inbound\"",
				 strcmp(object, "instagram") == 0 ? "instagram" : "whatsapp");
			metrics_add("parley_messages_total", labels, v->valuedouble);
		}
	}
	cJSON *skip;
	cJSON_ArrayForEach(skip, cJSON_GetObjectItemCaseSensitive(outcome, "skips"))
	{
		const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(skip, "reason"));
		const char *channel = cJSON_GetStringValue(cJSON_GetObjectItem(skip, "channel"));
		const char *platform = cJSON_GetStringValue(cJSON_GetObjectItem(skip, "platform"));
		char labels[120];
		log_warn(ctx, "%s message skipped: %s channel %s", platform ? platform : "?",
			 reason ? reason : "?", channel ? channel : "?");
		snprintf(labels, sizeof labels, "reason=\"%s\"", reason ? reason : "?");
		metrics_add("parley_messages_skipped_total", labels, 1);
	}
}

static void on_stored(void *arg, const char *json, const char *err)
{
	struct ingest *in = arg;
	double took = clock_mono() - in->started;
	metrics_observe("parley_webhook_duration_seconds", NULL, took);
	if (err) {
		log_error(in->ctx, "webhook not stored: %s", err);
		count(in->object, "db_error");
		http_reply_error(in->req, 503, "database unavailable, deliver again later");
		free(in);
		return;
	}
	if (!json || !*json)
		json = "{}";
	cJSON *outcome = cJSON_Parse(json);
	count_outcome(in->ctx, in->object, outcome);
	log_info(in->ctx, "webhook %s stored in %.1f ms: %s", in->object, took * 1000, json);
	count(in->object, "ok");
	cJSON_Delete(outcome);
	http_reply_json(in->req, 200, json);
	free(in);
}

void webhook_handle_post(struct app *app, struct evhttp_request *req)
{
	struct ingest *in = xcalloc(1, sizeof *in);
	in->app = app;
	in->req = req;
	in->started = clock_mono();
	snprintf(in->ctx, sizeof in->ctx, "req=%llx", ++app->next_request_id);
	snprintf(in->object, sizeof in->object, "unknown");

	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(buf);
	if ((long)len > app->cfg.server_max_body_bytes) {
		log_warn(in->ctx, "webhook body of %zu bytes refused", len);
		count("unknown", "too_large");
		http_reply_error(req, 413, "body too large");
		free(in);
		return;
	}
	const char *body = len ? (const char *)evbuffer_pullup(buf, -1) : "";
	const char *sig =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "X-Hub-Signature-256");
	if (!sig || !webhook_sig_verify(sig, body, len, app->app_secrets)) {
		log_warn(in->ctx, "webhook signature %s", sig ? "invalid" : "missing");
		count("unknown", "bad_signature");
		metrics_add("parley_signature_failures_total", NULL, 1);
		http_reply_error(req, 401, "invalid signature");
		free(in);
		return;
	}
	struct meta_batch batch;
	const char *perr = meta_parse(body, len, &batch);
	if (perr) {
		log_warn(in->ctx, "webhook refused: %s", perr);
		count("unknown", "bad_request");
		http_reply_error(req, 400, perr);
		free(in);
		return;
	}
	/* Only known objects become metric labels; anything else is "other". */
	const char *obj = batch.object ? batch.object : "";
	snprintf(in->object, sizeof in->object, "%s",
		 strcmp(obj, "whatsapp_business_account") == 0 || strcmp(obj, "instagram") == 0
		     ? obj
		     : "other");
	for (size_t i = 0; i < batch.n_notes; i++)
		log_info(in->ctx, "webhook note: %s", batch.notes[i]);
	/* Skipped here rather than by the database (docs/protocol.md, Skipped
	 * events): a value that does not fit its column would fail the
	 * statement for the whole body. */
	if (batch.skipped_too_long) {
		log_warn(in->ctx,
			 "%zu event%s skipped: an id longer than its column (see the notes)",
			 batch.skipped_too_long, batch.skipped_too_long == 1 ? "" : "s");
		metrics_add("parley_messages_skipped_total", "reason=\"id_too_long\"",
			    (double)batch.skipped_too_long);
	}

	char *events = ingest_events_json(&batch);
	bool keep_raw = app->cfg.server_keep_raw_days > 0;
	/* events pass to the batcher; object and body are copied. Refused
	 * (closed), there is no callback: the 503 is ours to send. */
	const char *err = ingest_batch_submit(app, batch.object, events, keep_raw ? body : NULL,
					      len, on_stored, in);
	if (err)
		on_stored(in, NULL, err);
	meta_batch_free(&batch);
}
