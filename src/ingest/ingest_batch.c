/*
 * Group commit for webhook ingestion: see include/ingest/ingest_batch.h. The
 * batching itself is db_batch's; this holds what is ingestion's own: the
 * statement, its limits, its metrics, and refusing webhooks after close.
 */
#include "ingest_batch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "db.h"
#include "db_batch.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

/* One row per webhook, in array order (a set-returning function in the
 * select list emits its rows in order). */
static const char BATCH_SQL[] =
    "SELECT unnest(parley_ingest_batch($3::text[], $4::jsonb[], $5::bytea[], $1::integer, "
    "$2::integer))";

/* One webhook in the batch, until its callback. */
struct pending {
	ingest_done_cb cb;
	void *ctx;
};

/*
 * Process-wide, like the metrics: one `parley serve` per process. A new serve
 * in the same process (tests) gets a new batch.
 */
static struct {
	struct app *app;
	struct db_batch *batch;
	bool closed;
} the;

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

/*
 * How many ingest statements may run at once on a pool of pool_size
 * connections. Few, so that batches grow: most of a webhook's database cost
 * is per statement (start-up, commit), and the make-bench figures with 8
 * connections and 16 senders were 3,284 webhooks/s at 423 us of PostgreSQL
 * CPU each with 8 statements at once, 4,170/s at 242 us with 2, 4,877/s at
 * 164 us with 1. The rest of the pool stays free for replies and webchat.
 */
static int ingest_batch_statements(int pool_size)
{
	int n = pool_size / 4;
	return n < 1 ? 1 : n;
}

static void on_statement(int n)
{
	metrics_observe("parley_ingest_batch_size", NULL, (double)n);
	if (n > 1)
		log_debug("ingest", "storing %d webhooks in one transaction", n);
}

static void on_split(int n, const char *err)
{
	log_warn("ingest", "a batch of %d webhooks failed, storing them one by one: %s", n, err);
	metrics_add("parley_ingest_batch_splits_total", NULL, 1);
}

static void set_queued(void)
{
	metrics_set("parley_ingest_queued", NULL, the.batch ? db_batch_queued(the.batch) : 0);
}

static struct db_batch *batch_for(struct app *app)
{
	/* Cheap and idempotent; metrics_reset() may have dropped them. */
	declare_metrics();
	if (the.app != app) {
		/* Whatever an earlier serve in this process queued was abandoned
		 * with its pool. */
		the.app = app;
		the.closed = false;
		static const enum db_batch_type cols[] = {DB_BATCH_TEXT, DB_BATCH_JSONB,
							  DB_BATCH_BYTEA};
		char debounce[24], pause[24];
		snprintf(debounce, sizeof debounce, "%ld", app->cfg.replies_debounce_ms);
		snprintf(pause, sizeof pause, "%ld", app->cfg.handoff_pause_minutes);
		const char *fixed[] = {debounce, pause};
		the.batch = db_batch_new(
		    app->db, &(struct db_batch_config){
				 .sql = BATCH_SQL,
				 .fixed = fixed,
				 .nfixed = 2,
				 .columns = cols,
				 .ncols = 3,
				 .max_in_flight = ingest_batch_statements(db_pool_size(app->db)),
				 .max_items = INGEST_BATCH_MAX,
				 .max_bytes = INGEST_BATCH_MAX_BYTES,
				 .max_queued = INGEST_QUEUE_MAX,
				 .linger_us = INGEST_BATCH_LINGER_US,
				 .on_statement = on_statement,
				 .on_split = on_split,
			     });
	}
	return the.closed ? NULL : the.batch;
}

static void on_stored(void *arg, PGresult *res, int row, const char *err)
{
	struct pending *p = arg;
	set_queued();
	p->cb(p->ctx, err ? NULL : PQgetvalue(res, row, 0), err);
	free(p);
}

const char *ingest_batch_submit(struct app *app, const char *object, char *events, const char *raw,
				size_t raw_len, ingest_done_cb cb, void *ctx)
{
	struct db_batch *b = batch_for(app);
	if (!b) {
		/* Only after ingest_batch_close: the loop has stopped for good, so
		 * a deferred callback would never run and the request would go
		 * unanswered. The caller answers it itself. */
		free(events);
		return DB_ERR_SHUTDOWN;
	}
	/* No connection: the pool refuses the statement on the next turn of
	 * the loop and the webhook gets its 503 then. */
	struct pending *p = xcalloc(1, sizeof *p);
	p->cb = cb;
	p->ctx = ctx;
	const char *values[] = {object ? object : "", events, raw};
	size_t lens[] = {strlen(values[0]), strlen(events), raw ? raw_len : 0};
	db_batch_add(b, values, lens, on_stored, p);
	free(events);
	set_queued();
	return NULL;
}

void ingest_batch_close(struct app *app)
{
	if (the.app != app) {
		/* Nothing was submitted in this serve: what an earlier one left
		 * went with its pool. Closed all the same, or a late submit
		 * would start a batch on a pool that is gone. */
		the.app = app;
		the.batch = NULL;
	}
	/* Closed first: a webhook submitted from a callback that the free runs
	 * is refused to its caller like any later one. */
	the.closed = true;
	db_batch_free(the.batch);
	the.batch = NULL;
}
