/*
 * Group commit for one kind of statement: see include/db_batch.h.
 */
#include "db_batch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "strbuf.h"
#include "xalloc.h"

struct item {
	struct item *next;
	char **values; /* ncols, each NULL or owned */
	bool alone;    /* its statement failed: goes in a statement of one */
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
	char *sql;
	char **fixed;
	int nfixed, ncols, max_in_flight, max_items;
	struct item *head, *tail;
	int queued, in_flight;
	bool pumping, again; /* pump() is not re-entered from a callback */
	bool closed;	     /* the pool is shutting down: send nothing more */
};

struct db_batch *db_batch_new(struct db_pool *pool, const char *sql, const char *const *fixed,
			      int nfixed, int ncols, int max_in_flight, int max_items)
{
	struct db_batch *b = xcalloc(1, sizeof *b);
	b->pool = pool;
	b->sql = xstrdup(sql);
	b->nfixed = nfixed;
	b->fixed = xcalloc(nfixed > 0 ? (size_t)nfixed : 1, sizeof *b->fixed);
	for (int i = 0; i < nfixed; i++)
		b->fixed[i] = fixed[i] ? xstrdup(fixed[i]) : NULL;
	b->ncols = ncols;
	b->max_in_flight = max_in_flight < 1 ? 1 : max_in_flight;
	b->max_items = max_items < 1 ? 1 : max_items;
	return b;
}

static void item_free(struct db_batch *b, struct item *it)
{
	for (int c = 0; c < b->ncols; c++)
		free(it->values[c]);
	free(it->values);
	free(it);
}

void db_text_array(struct strbuf *out, const char *const *elems, size_t n)
{
	strbuf_putc(out, '{');
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_putc(out, ',');
		if (!elems[i]) {
			strbuf_puts(out, "NULL");
			continue;
		}
		strbuf_putc(out, '"');
		for (const char *s = elems[i]; *s; s++) {
			if (*s == '"' || *s == '\\')
				strbuf_putc(out, '\\');
			strbuf_putc(out, *s);
		}
		strbuf_putc(out, '"');
	}
	strbuf_putc(out, '}');
}

static void on_stmt(void *arg, PGresult *res, const char *err);

static void send_stmt(struct db_batch *b, struct stmt *st)
{
	int nparams = b->nfixed + b->ncols;
	const char **params = xcalloc((size_t)nparams, sizeof *params);
	struct strbuf *arrays = xcalloc((size_t)b->ncols, sizeof *arrays);
	const char **column = xcalloc((size_t)st->n, sizeof *column);
	for (int i = 0; i < b->nfixed; i++)
		params[i] = b->fixed[i];
	for (int c = 0; c < b->ncols; c++) {
		int i = 0;
		for (struct item *it = st->items; it; it = it->next)
			column[i++] = it->values[c];
		db_text_array(&arrays[c], column, (size_t)st->n);
		params[b->nfixed + c] = strbuf_str(&arrays[c]);
	}
	b->in_flight++;
	db_query(b->pool, b->sql, nparams, params, on_stmt, st);
	for (int c = 0; c < b->ncols; c++)
		strbuf_free(&arrays[c]);
	free(arrays);
	free(column);
	free(params);
}

/* Takes the next statement's items off the queue: a lone retry, or up to
 * max_items in arrival order. */
static struct stmt *take(struct db_batch *b)
{
	struct stmt *st = xcalloc(1, sizeof *st);
	st->b = b;
	struct item **tail = &st->items;
	while (b->head && st->n < b->max_items) {
		struct item *it = b->head;
		if (st->n > 0 && it->alone)
			break;
		b->head = it->next;
		if (!b->head)
			b->tail = NULL;
		b->queued--;
		it->next = NULL;
		*tail = it;
		tail = &it->next;
		st->n++;
		if (it->alone)
			break;
	}
	return st;
}

static void pump(struct db_batch *b)
{
	if (b->pumping) {
		b->again = true;
		return;
	}
	b->pumping = true;
	do {
		b->again = false;
		while (!b->closed && b->head && b->in_flight < b->max_in_flight)
			send_stmt(b, take(b));
	} while (b->again);
	b->pumping = false;
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
		err = "a batch statement returned the wrong number of rows";
	if (err && !pool_error(err) && st->n > 1 && !b->closed)
		requeue_alone(b, st);
	int row = 0;
	for (struct item *it = st->items, *next; it; it = next) {
		next = it->next;
		it->cb(it->ctx, err ? NULL : res, row++, err);
		item_free(b, it);
	}
	free(st);
	pump(b);
}

void db_batch_add(struct db_batch *b, const char *const *values, db_batch_cb cb, void *ctx)
{
	struct item *it = xcalloc(1, sizeof *it);
	it->values = xcalloc((size_t)b->ncols, sizeof *it->values);
	for (int c = 0; c < b->ncols; c++)
		it->values[c] = values[c] ? xstrdup(values[c]) : NULL;
	it->cb = cb;
	it->ctx = ctx;
	if (b->closed) {
		cb(ctx, NULL, 0, DB_ERR_SHUTDOWN);
		item_free(b, it);
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

void db_batch_free(struct db_batch *b)
{
	if (!b)
		return;
	b->closed = true;
	while (b->head) {
		struct item *it = b->head;
		b->head = it->next;
		it->cb(it->ctx, NULL, 0, DB_ERR_SHUTDOWN);
		item_free(b, it);
	}
	for (int i = 0; i < b->nfixed; i++)
		free(b->fixed[i]);
	free(b->fixed);
	free(b->sql);
	free(b);
}

int db_batch_queued(const struct db_batch *b)
{
	return b->queued;
}

int db_batch_in_flight(const struct db_batch *b)
{
	return b->in_flight;
}
