/*
 * Group commit for one kind of statement: see include/db/db_batch.h.
 */
#include "db_batch.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "defer.h"
#include "strbuf.h"
#include "xalloc.h"

/* Element type OIDs (pg_type.h, fixed). */
#define OID_BYTEA 17
#define OID_TEXT  25
#define OID_JSONB 3802

struct item {
	struct item *next;
	char **values;            /* ncols, each NULL or owned */
	size_t *lens;             /* ncols */
	size_t bytes;             /* all values */
	bool alone;               /* its statement failed: goes in a statement of one */
	struct defer_item failed; /* in the batch's failed queue */
	const char *err;          /* why, while in the failed queue */
	db_batch_cb cb;
	void *ctx;
};

/* One statement in flight; freed by its callback. */
struct stmt {
	struct db_batch *b;
	struct item *items; /* in array order */
	int n;
};

struct db_batch {
	struct db_pool *pool;
	struct db_batch_config cfg; /* its pointers unused: the copies below */
	char *sql;
	char **fixed;
	enum db_batch_type *columns;
	struct item *head, *tail;
	int queued, in_flight;
	bool closed; /* the pool is shutting down: send nothing more */
	/* cfg.linger_us: the timer that ends a wait for a fuller batch, and
	 * whether it has run out since the last statement went. */
	struct event *linger;
	bool lingered;
	/* Items refused by db_batch_add are delivered from the loop: no
	 * callback runs inside the call that queued its item. */
	struct defer failed;
};

static void deliver(struct defer_item *item, void *ctx);
static void on_linger(evutil_socket_t fd, short what, void *arg);

struct db_batch *db_batch_new(struct db_pool *pool, const struct db_batch_config *cfg)
{
	struct db_batch *b = xcalloc(1, sizeof *b);
	b->pool = pool;
	b->cfg = *cfg;
	b->sql = xstrdup(cfg->sql);
	b->fixed = xcalloc(cfg->nfixed > 0 ? (size_t)cfg->nfixed : 1, sizeof *b->fixed);
	for (int i = 0; i < cfg->nfixed; i++)
		b->fixed[i] = cfg->fixed[i] ? xstrdup(cfg->fixed[i]) : NULL;
	b->columns = xcalloc((size_t)cfg->ncols, sizeof *b->columns);
	memcpy(b->columns, cfg->columns, (size_t)cfg->ncols * sizeof *b->columns);
	b->cfg.sql = NULL;
	b->cfg.fixed = NULL;
	b->cfg.columns = NULL;
	if (b->cfg.max_in_flight < 1)
		b->cfg.max_in_flight = 1;
	if (b->cfg.max_items < 1)
		b->cfg.max_items = 1;
	if (b->cfg.linger_us < 0)
		b->cfg.linger_us = 0;
	defer_init(&b->failed, db_pool_base(pool), deliver, b);
	if (b->cfg.linger_us > 0)
		b->linger = evtimer_new(db_pool_base(pool), on_linger, b);
	return b;
}

static void item_free(struct db_batch *b, struct item *it)
{
	for (int c = 0; c < b->cfg.ncols; c++)
		free(it->values[c]);
	free(it->values);
	free(it->lens);
	free(it);
}

/* Fails it from the loop (a zero-delay event), never from the caller's stack. */
static void fail_later(struct db_batch *b, struct item *it, const char *err)
{
	it->err = err;
	defer_push(&b->failed, &it->failed);
}

static void fail_now(struct db_batch *b, struct item *it, const char *err)
{
	it->cb(it->ctx, NULL, 0, err);
	item_free(b, it);
}

static void deliver(struct defer_item *item, void *ctx)
{
	struct item *it = DEFER_CONTAINER(item, struct item, failed);
	fail_now(ctx, it, it->err);
}

static void put_u32(struct strbuf *sb, uint32_t v)
{
	uint32_t be = htonl(v);
	strbuf_append(sb, &be, sizeof be);
}

/*
 * Appends PostgreSQL's binary form (array_send) of a one-dimensional array
 * of n elements of type t: a NULL element pointer is SQL NULL; lens may be
 * NULL (strlen of each).
 */
static void db_batch_encode_array(struct strbuf *out, enum db_batch_type t,
				  const char *const *elems, const size_t *lens, size_t n)
{
	bool has_nulls = false;
	for (size_t i = 0; i < n; i++)
		has_nulls |= elems[i] == NULL;
	static const uint32_t oids[] = {
	    [DB_BATCH_TEXT] = OID_TEXT, [DB_BATCH_JSONB] = OID_JSONB, [DB_BATCH_BYTEA] = OID_BYTEA};
	put_u32(out, 1); /* dimensions */
	put_u32(out, has_nulls ? 1 : 0);
	put_u32(out, oids[t]);
	put_u32(out, (uint32_t)n); /* length of the dimension */
	put_u32(out, 1);           /* its lower bound */
	for (size_t i = 0; i < n; i++) {
		if (!elems[i]) {
			put_u32(out, UINT32_MAX); /* -1: NULL */
			continue;
		}
		size_t len = lens ? lens[i] : strlen(elems[i]);
		/* jsonb's binary form is a version byte, then the text. */
		bool jsonb = t == DB_BATCH_JSONB;
		put_u32(out, (uint32_t)(len + jsonb));
		if (jsonb)
			strbuf_append(out, "\1", 1);
		strbuf_append(out, elems[i], len);
	}
}

static void on_stmt(void *arg, PGresult *res, const char *err);

static void send_stmt(struct db_batch *b, struct stmt *st)
{
	int nfixed = b->cfg.nfixed, ncols = b->cfg.ncols, nparams = nfixed + ncols;
	const char **params = xcalloc((size_t)nparams, sizeof *params);
	int *lengths = xcalloc((size_t)nparams, sizeof *lengths);
	int *formats = xcalloc((size_t)nparams, sizeof *formats);
	struct strbuf *arrays = xcalloc((size_t)ncols, sizeof *arrays);
	const char **column = xcalloc((size_t)st->n, sizeof *column);
	size_t *lens = xcalloc((size_t)st->n, sizeof *lens);
	for (int i = 0; i < nfixed; i++)
		params[i] = b->fixed[i];
	for (int c = 0; c < ncols; c++) {
		int i = 0;
		for (struct item *it = st->items; it; it = it->next, i++) {
			column[i] = it->values[c];
			lens[i] = it->lens[c];
		}
		db_batch_encode_array(&arrays[c], b->columns[c], column, lens, (size_t)st->n);
		params[nfixed + c] = strbuf_str(&arrays[c]);
		lengths[nfixed + c] = (int)arrays[c].len;
		formats[nfixed + c] = 1;
	}
	if (b->cfg.on_statement)
		b->cfg.on_statement(st->n);
	b->in_flight++;
	db_query_params(b->pool, b->sql, nparams, params, lengths, formats, on_stmt, st);
	for (int c = 0; c < ncols; c++)
		strbuf_free(&arrays[c]);
	free(arrays);
	free(column);
	free(lens);
	free(formats);
	free(lengths);
	free(params);
}

/* Takes the next statement's items off the queue: a lone retry, or up to
 * the limits, in arrival order. */
static struct stmt *take(struct db_batch *b)
{
	struct stmt *st = xcalloc(1, sizeof *st);
	st->b = b;
	struct item **tail = &st->items;
	size_t bytes = 0;
	while (b->head && st->n < b->cfg.max_items) {
		struct item *it = b->head;
		if (st->n > 0 &&
		    (it->alone || (b->cfg.max_bytes && bytes + it->bytes > b->cfg.max_bytes)))
			break;
		b->head = it->next;
		if (!b->head)
			b->tail = NULL;
		b->queued--;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
		st->n++;
		bytes += it->bytes;
		if (it->alone)
			break;
	}
	return st;
}

enum db_batch_step db_batch_next_step(const struct db_batch_config *cfg, int queued, int in_flight,
				      bool lingered)
{
	if (queued < 1 || in_flight >= cfg->max_in_flight)
		return DB_BATCH_IDLE;
	if (in_flight == 0 || queued >= cfg->max_items || cfg->linger_us <= 0 || lingered)
		return DB_BATCH_SEND;
	return DB_BATCH_WAIT;
}

/* Never re-entered: db_query_params does not call back from inside itself,
 * so on_stmt never runs below send_stmt. */
static void pump(struct db_batch *b)
{
	while (!b->closed) {
		switch (db_batch_next_step(&b->cfg, b->queued, b->in_flight, b->lingered)) {
		case DB_BATCH_IDLE: return;
		case DB_BATCH_WAIT:
			if (!evtimer_pending(b->linger, NULL)) {
				struct timeval tv = {.tv_sec = b->cfg.linger_us / 1000000,
						     .tv_usec = b->cfg.linger_us % 1000000};
				evtimer_add(b->linger, &tv);
			}
			return;
		case DB_BATCH_SEND:
			/* What waited goes now: the next wait starts afresh. */
			if (b->linger)
				evtimer_del(b->linger);
			b->lingered = false;
			send_stmt(b, take(b));
			break;
		}
	}
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct db_batch *b = arg;
	b->lingered = true;
	pump(b);
}

static bool pool_error(const char *err)
{
	return err == DB_ERR_UNAVAILABLE || err == DB_ERR_LOST || err == DB_ERR_QUEUE_FULL ||
	       err == DB_ERR_SHUTDOWN;
}

/* Puts a failed statement's items back at the head of the queue, each alone. */
static void requeue_alone(struct db_batch *b, struct stmt *st)
{
	struct item *last = NULL;
	for (struct item *it = st->items; it; it = it->next) {
		it->alone = true;
		last = it;
		b->queued++;
	}
	last->next = b->head;
	b->head = st->items;
	if (!b->tail)
		b->tail = last;
	st->items = NULL;
}

static void on_stmt(void *arg, PGresult *res, const char *err)
{
	struct stmt *st = arg;
	struct db_batch *b = st->b;
	b->in_flight--;
	if (err == DB_ERR_SHUTDOWN)
		b->closed = true;
	if (!err && PQntuples(res) != st->n)
		err = DB_ERR_UNEXPECTED; /* the SQL broke its contract */
	if (err && !pool_error(err) && st->n > 1 && !b->closed) {
		/* Nothing of the statement was committed: send its items again
		 * one by one, so that one of them fails at most itself. */
		if (b->cfg.on_split)
			b->cfg.on_split(st->n, err);
		requeue_alone(b, st);
	}
	int row = 0;
	for (struct item *it = st->items, *next; it; it = next) {
		next = it->next;
		it->cb(it->ctx, err ? NULL : res, row++, err);
		item_free(b, it);
	}
	free(st);
	pump(b);
}

void db_batch_add(struct db_batch *b, const char *const *values, const size_t *lens, db_batch_cb cb,
		  void *ctx)
{
	const char *refusal = b->closed ? DB_ERR_SHUTDOWN
			      : b->cfg.max_queued && b->queued >= b->cfg.max_queued
				  ? DB_ERR_QUEUE_FULL
				  : NULL;
	struct item *it = xcalloc(1, sizeof *it);
	it->values = xcalloc((size_t)b->cfg.ncols, sizeof *it->values);
	it->lens = xcalloc((size_t)b->cfg.ncols, sizeof *it->lens);
	it->cb = cb;
	it->ctx = ctx;
	if (refusal) {
		fail_later(b, it, refusal);
		return;
	}
	for (int c = 0; c < b->cfg.ncols; c++) {
		if (!values[c])
			continue;
		size_t len = lens ? lens[c] : strlen(values[c]);
		it->values[c] = xmalloc(len + 1);
		memcpy(it->values[c], values[c], len);
		it->values[c][len] = '\0';
		it->lens[c] = len;
		it->bytes += len;
	}
	if (b->tail)
		b->tail->next = it;
	else
		b->head = it;
	b->tail = it;
	b->queued++;
	pump(b);
}

void db_batch_free(struct db_batch *b)
{
	if (!b)
		return;
	b->closed = true;
	/* Every item still owned gets its callback here, once: refusals not
	 * yet delivered keep their reason, queued items get DB_ERR_SHUTDOWN.
	 * Items their callbacks add are refused (closed): loop until none. */
	while (defer_pending(&b->failed) || b->head) {
		struct defer_item *failed = defer_pop(&b->failed);
		if (failed) {
			deliver(failed, b);
			continue;
		}
		struct item *it = b->head;
		b->head = it->next;
		if (!b->head)
			b->tail = NULL;
		b->queued--;
		fail_now(b, it, DB_ERR_SHUTDOWN);
	}
	defer_fini(&b->failed);
	if (b->linger)
		event_free(b->linger);
	for (int i = 0; i < b->cfg.nfixed; i++)
		free(b->fixed[i]);
	free(b->fixed);
	free(b->columns);
	free(b->sql);
	free(b);
}

int db_batch_queued(const struct db_batch *b)
{
	return b->queued;
}
