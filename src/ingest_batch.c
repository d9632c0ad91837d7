/*
 * Group commit for webhook ingestion: see include/ingest_batch.h.
 */
#include "ingest_batch.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "strbuf.h"
#include "xalloc.h"

/* Element type OIDs of the binary array parameters (pg_type.h, fixed). */
#define OID_BYTEA 17
#define OID_TEXT  25
#define OID_JSONB 3802

/* One row per webhook, in array order (a set-returning function in the
 * select list emits its rows in order). */
static const char BATCH_SQL[] =
    "SELECT unnest(parley_ingest_batch($1::text[], $2::jsonb[], $3::bytea[], $4::integer))";

/* One webhook waiting for, or being stored in, a batch. */
struct item {
	struct item *next;
	char *object;
	char *events;
	size_t events_len;
	char *raw; /* NULL: not kept */
	size_t raw_len;
	bool alone; /* retried after its batch failed: goes in a batch of one */
	ingest_done_cb cb;
	void *ctx;
};

/* One parley_ingest_batch() statement in flight. */
struct batch {
	struct item *items; /* in arrival order */
	int n;
};

struct batcher {
	struct app *app;
	struct item *head, *tail;
	int queued;
	int in_flight;
	bool pumping, again; /* pump() is not re-entered from a callback */
	bool closed;         /* the pool is shutting down: send nothing more */
};

/*
 * Process-wide, like the metrics: one `parley serve` per process. Webhooks
 * still queued when the process leaves stay reachable from here.
 */
static struct batcher the;

static void pump(struct batcher *b);

static void declare_metrics(void)
{
	metrics_declare("parley_ingest_batch_size", METRIC_HISTOGRAM,
			"Webhooks stored per ingest transaction (parley_ingest_batch call).");
	metrics_declare("parley_ingest_batch_splits_total", METRIC_COUNTER,
			"Batches that failed with a database error and were stored again one "
			"webhook at a time.");
	metrics_declare("parley_ingest_queued", METRIC_GAUGE,
			"Verified webhooks waiting for an ingest statement slot.");
}

static struct batcher *batcher_for(struct app *app)
{
	if (the.app != app) {
		/* A new serve in this process (tests): whatever the old one
		 * queued is abandoned with it. */
		memset(&the, 0, sizeof the);
		the.app = app;
	}
	/* Cheap and idempotent; metrics_reset() may have dropped them. */
	declare_metrics();
	return &the;
}

static void item_free(struct item *it)
{
	free(it->object);
	free(it->events);
	free(it->raw);
	free(it);
}

static void item_finish(struct item *it, const char *outcome, const char *err)
{
	it->cb(it->ctx, outcome, err);
	item_free(it);
}

static bool pool_error(const char *err)
{
	return err == DB_ERR_UNAVAILABLE || err == DB_ERR_LOST || err == DB_ERR_QUEUE_FULL ||
	       err == DB_ERR_SHUTDOWN;
}

static void put_u32(struct strbuf *sb, uint32_t v)
{
	uint32_t be = htonl(v);
	strbuf_append(sb, &be, sizeof be);
}

/* The one-dimensional binary array header (PostgreSQL's array_send format). */
static void array_header(struct strbuf *sb, int n, bool has_nulls, uint32_t elem_oid)
{
	put_u32(sb, 1);
	put_u32(sb, has_nulls ? 1 : 0);
	put_u32(sb, elem_oid);
	put_u32(sb, (uint32_t)n);
	put_u32(sb, 1);
}

static void on_batch(void *arg, PGresult *res, const char *err);

static void send_batch(struct batcher *b, struct batch *bt)
{
	struct strbuf objects = STRBUF_INIT, events = STRBUF_INIT, raws = STRBUF_INIT;
	bool any_raw = false, all_raw = true;
	for (struct item *it = bt->items; it; it = it->next) {
		any_raw |= it->raw != NULL;
		all_raw &= it->raw != NULL;
	}
	array_header(&objects, bt->n, false, OID_TEXT);
	array_header(&events, bt->n, false, OID_JSONB);
	array_header(&raws, bt->n, !all_raw, OID_BYTEA);
	for (struct item *it = bt->items; it; it = it->next) {
		size_t olen = strlen(it->object);
		put_u32(&objects, (uint32_t)olen);
		strbuf_append(&objects, it->object, olen);
		/* jsonb's binary form: a version byte, then the text. */
		put_u32(&events, (uint32_t)(it->events_len + 1));
		strbuf_append(&events, "\1", 1);
		strbuf_append(&events, it->events, it->events_len);
		if (!any_raw)
			continue;
		if (it->raw) {
			put_u32(&raws, (uint32_t)it->raw_len);
			strbuf_append(&raws, it->raw, it->raw_len);
		} else {
			put_u32(&raws, UINT32_MAX); /* -1: NULL */
		}
	}
	char debounce[24];
	snprintf(debounce, sizeof debounce, "%ld", b->app->cfg.replies_debounce_ms);
	const char *params[4] = {strbuf_str(&objects), strbuf_str(&events),
				 any_raw ? strbuf_str(&raws) : NULL, debounce};
	int lengths[4] = {(int)objects.len, (int)events.len, any_raw ? (int)raws.len : 0, 0};
	int formats[4] = {1, 1, 1, 0};

	metrics_observe("parley_ingest_batch_size", NULL, (double)bt->n);
	if (bt->n > 1)
		log_debug("ingest", "storing %d webhooks in one transaction", bt->n);
	b->in_flight++;
	db_query_params(b->app->db, BATCH_SQL, 4, params, lengths, formats, on_batch, bt);
	strbuf_free(&objects);
	strbuf_free(&events);
	strbuf_free(&raws);
}

/* Takes the next batch off the queue: a lone retry, or up to the limits. */
static struct batch *take_batch(struct batcher *b)
{
	struct batch *bt = xcalloc(1, sizeof *bt);
	struct item **tail = &bt->items;
	size_t bytes = 0;
	while (b->head && bt->n < INGEST_BATCH_MAX) {
		struct item *it = b->head;
		size_t size = it->events_len + it->raw_len;
		if (bt->n > 0 && (it->alone || bytes + size > INGEST_BATCH_MAX_BYTES))
			break;
		b->head = it->next;
		if (!b->head)
			b->tail = NULL;
		b->queued--;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
		bt->n++;
		bytes += size;
		if (it->alone)
			break;
	}
	return bt;
}

int ingest_batch_statements(int pool_size)
{
	int n = pool_size / 4;
	return n < 1 ? 1 : n;
}

static void pump(struct batcher *b)
{
	if (b->pumping) {
		b->again = true;
		return;
	}
	b->pumping = true;
	do {
		b->again = false;
		int limit = ingest_batch_statements(db_pool_size(b->app->db));
		while (!b->closed && b->head && b->in_flight < limit)
			send_batch(b, take_batch(b));
	} while (b->again);
	b->pumping = false;
	metrics_set("parley_ingest_queued", NULL, b->queued);
}

/* Puts a failed batch's webhooks back at the head of the queue, each alone. */
static void requeue_alone(struct batcher *b, struct batch *bt)
{
	struct item *last = NULL;
	for (struct item *it = bt->items; it; it = it->next) {
		it->alone = true;
		last = it;
		b->queued++;
	}
	if (!last)
		return;
	last->next = b->head;
	b->head = bt->items;
	if (!b->tail)
		b->tail = last;
	bt->items = NULL;
}

static void on_batch(void *arg, PGresult *res, const char *err)
{
	struct batch *bt = arg;
	struct batcher *b = &the;
	b->in_flight--;
	if (err == DB_ERR_SHUTDOWN)
		b->closed = true;
	if (!err && PQntuples(res) != bt->n)
		err = "parley_ingest_batch returned the wrong number of outcomes";

	if (err && !pool_error(err) && bt->n > 1 && !b->closed) {
		/* Nothing of the batch was committed: store them one by one, so
		 * that a deadlock or one bad webhook fails at most itself. */
		log_warn("ingest", "a batch of %d webhooks failed, storing them one by one: %s",
			 bt->n, err);
		metrics_add("parley_ingest_batch_splits_total", NULL, 1);
		requeue_alone(b, bt);
	}
	int row = 0;
	for (struct item *it = bt->items, *next; it; it = next) {
		next = it->next;
		item_finish(it, err ? NULL : PQgetvalue(res, row, 0), err);
		row++;
	}
	free(bt);
	pump(b);
}

void ingest_batch_submit(struct app *app, const char *object, char *events, const char *raw,
			 size_t raw_len, ingest_done_cb cb, void *ctx)
{
	struct batcher *b = batcher_for(app);
	struct item *it = xcalloc(1, sizeof *it);
	it->object = xstrdup(object ? object : "");
	it->events = events;
	it->events_len = strlen(events);
	if (raw) {
		it->raw = xmalloc(raw_len ? raw_len : 1);
		memcpy(it->raw, raw, raw_len);
		it->raw_len = raw_len;
	}
	it->cb = cb;
	it->ctx = ctx;
	if (db_pool_ready(app->db) == 0) {
		item_finish(it, NULL, DB_ERR_UNAVAILABLE);
		return;
	}
	if (b->closed) {
		item_finish(it, NULL, DB_ERR_SHUTDOWN);
		return;
	}
	if (b->queued >= INGEST_QUEUE_MAX) {
		item_finish(it, NULL, DB_ERR_QUEUE_FULL);
		return;
	}
	if (b->tail)
		b->tail->next = it;
	else
		b->head = it;
	b->tail = it;
	b->queued++;
	pump(b);
}

void ingest_batch_close(void)
{
	struct batcher *b = &the;
	b->closed = true;
	while (b->head) {
		struct item *it = b->head;
		b->head = it->next;
		b->queued--;
		item_finish(it, NULL, DB_ERR_SHUTDOWN);
	}
	b->tail = NULL;
}

int ingest_batch_queued(void)
{
	return the.queued;
}
int ingest_batch_in_flight(void)
{
	return the.in_flight;
}
