/* db_batch_encode_array: the binary arrays that batch statements carry
 * (src/db/db_batch.c), in PostgreSQL's array_send format; and db_batch_add's
 * callbacks: from the loop, never from inside the call, exactly once
 * (issue #15 item 2), against a pool that has no connection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_batch.h"
#include "strbuf.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/db/db_batch.c"
#include "../loop_run.h"
#include "../unit_main.h"

static uint32_t u32_at(const struct strbuf *sb, size_t off)
{
	uint32_t be;
	assert_true(off + 4 <= sb->len);
	memcpy(&be, sb->buf + off, 4);
	return ntohl(be);
}

/* ndim, has-nulls, element type, length, lower bound. */
static void assert_header(const struct strbuf *sb, uint32_t nulls, uint32_t oid, uint32_t n)
{
	assert_int_equal(u32_at(sb, 0), 1);
	assert_int_equal(u32_at(sb, 4), nulls);
	assert_int_equal(u32_at(sb, 8), oid);
	assert_int_equal(u32_at(sb, 12), n);
	assert_int_equal(u32_at(sb, 16), 1);
}

static void test_text_elements(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	/* Nothing is quoted or escaped in the binary form. */
	const char *e[] = {"a\"b\\c", "", "{x,y}"};
	db_batch_encode_array(&sb, DB_BATCH_TEXT, e, NULL, 3);
	assert_header(&sb, 0, 25, 3);
	assert_int_equal(u32_at(&sb, 20), 5);
	assert_memory_equal(sb.buf + 24, "a\"b\\c", 5);
	assert_int_equal(u32_at(&sb, 29), 0);
	assert_int_equal(u32_at(&sb, 33), 5);
	assert_memory_equal(sb.buf + 37, "{x,y}", 5);
	assert_int_equal(sb.len, 42);
	strbuf_free(&sb);
}

static void test_null_element(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char *e[] = {NULL, "x"};
	db_batch_encode_array(&sb, DB_BATCH_TEXT, e, NULL, 2);
	assert_header(&sb, 1, 25, 2);
	assert_int_equal(u32_at(&sb, 20), UINT32_MAX); /* -1 */
	assert_int_equal(u32_at(&sb, 24), 1);
	assert_int_equal(sb.buf[28], 'x');
	strbuf_free(&sb);
}

static void test_jsonb_gets_its_version_byte(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char *e[] = {"[\"Olá\"]"};
	db_batch_encode_array(&sb, DB_BATCH_JSONB, e, NULL, 1);
	assert_header(&sb, 0, 3802, 1);
	size_t len = strlen(e[0]);
	assert_int_equal(u32_at(&sb, 20), len + 1);
	assert_int_equal(sb.buf[24], 1);
	assert_memory_equal(sb.buf + 25, e[0], len);
	strbuf_free(&sb);
}

static void test_bytes_with_nul_by_length(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char *e[] = {"a\0b"};
	size_t lens[] = {3};
	db_batch_encode_array(&sb, DB_BATCH_BYTEA, e, lens, 1);
	assert_header(&sb, 0, 17, 1);
	assert_int_equal(u32_at(&sb, 20), 3);
	assert_memory_equal(sb.buf + 24, "a\0b", 3);
	assert_int_equal(sb.len, 27);
	strbuf_free(&sb);
}

static void test_empty_array(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	db_batch_encode_array(&sb, DB_BATCH_TEXT, NULL, NULL, 0);
	assert_header(&sb, 0, 25, 0);
	assert_int_equal(sb.len, 20);
	strbuf_free(&sb);
}

/* ---- callbacks ---- */

struct outcome {
	bool returned; /* set after db_batch_add returned */
	int calls;
	bool called_inside;
	const char *err;
	struct db_batch *add_again; /* the callback adds an item to this batch */
	struct outcome *again;
};

static void add(struct db_batch *b, struct outcome *o);

static void on_item(void *ctx, PGresult *res, int row, const char *err)
{
	(void)res;
	(void)row;
	struct outcome *o = ctx;
	o->calls++;
	o->called_inside |= !o->returned;
	o->err = err;
	if (o->add_again) {
		add(o->add_again, o->again);
		assert_int_equal(o->again->calls, 0);
	}
}

static void add(struct db_batch *b, struct outcome *o)
{
	const char *values[] = {"v"};
	db_batch_add(b, values, NULL, on_item, o);
	o->returned = true;
}

static const enum db_batch_type one_text[] = {DB_BATCH_TEXT};

/* One statement at once, one item waiting: the third is refused. */
static struct db_batch *small_batch(struct db_pool *pool)
{
	return db_batch_new(pool, &(struct db_batch_config){.sql = "SELECT unnest($1::text[])",
							    .columns = one_text,
							    .ncols = 1,
							    .max_in_flight = 1,
							    .max_items = 1,
							    .max_queued = 1});
}

static void test_refusals_arrive_after_the_call(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, NOWHERE, 1);
	struct db_batch *b = small_batch(pool);
	struct outcome sent = {0}, waiting = {0}, refused = {0};
	add(b, &sent);    /* its statement is refused by the pool */
	add(b, &waiting); /* waits for the statement slot */
	add(b, &refused); /* queue full */
	assert_int_equal(sent.calls + waiting.calls + refused.calls, 0);
	run_until(base, &waiting.calls, 1);
	assert_int_equal(sent.calls, 1);
	assert_int_equal(waiting.calls, 1);
	assert_int_equal(refused.calls, 1);
	assert_false(sent.called_inside);
	assert_false(waiting.called_inside);
	assert_false(refused.called_inside);
	assert_ptr_equal(sent.err, DB_ERR_UNAVAILABLE);
	assert_ptr_equal(waiting.err, DB_ERR_UNAVAILABLE);
	assert_ptr_equal(refused.err, DB_ERR_QUEUE_FULL);
	assert_int_equal(db_batch_queued(b), 0);
	assert_int_equal(b->in_flight, 0);
	db_pool_free(pool);
	db_batch_free(b);
	assert_int_equal(sent.calls + waiting.calls + refused.calls, 3);
	event_base_free(base);
}

/* Freed before the loop turned: every item is answered once, by the pool's
 * free or the batch's, and an item added from a callback then is refused
 * with "shutting down", not from inside its db_batch_add. */
static void test_free_answers_every_item_once(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, NOWHERE, 1);
	struct db_batch *b = small_batch(pool);
	struct outcome sent = {0}, waiting = {0}, refused = {0}, late = {0};
	refused.add_again = b;
	refused.again = &late;
	add(b, &sent);
	add(b, &waiting);
	add(b, &refused);
	db_pool_free(pool);
	/* The pool owed the statement its refusal; the waiting item was sent
	 * next and refused as the pool shut down. */
	assert_int_equal(sent.calls, 1);
	assert_ptr_equal(sent.err, DB_ERR_UNAVAILABLE);
	assert_int_equal(waiting.calls, 1);
	assert_ptr_equal(waiting.err, DB_ERR_SHUTDOWN);
	assert_int_equal(refused.calls, 0);
	db_batch_free(b);
	assert_int_equal(refused.calls, 1);
	assert_ptr_equal(refused.err, DB_ERR_QUEUE_FULL);
	assert_int_equal(late.calls, 1);
	assert_false(late.called_inside);
	assert_ptr_equal(late.err, DB_ERR_SHUTDOWN);
	assert_int_equal(sent.calls + waiting.calls, 2);
	event_base_free(base);
}

/* ---- when a statement goes (db_batch_next_step) ---- */

static void test_next_step_without_linger_sends_while_a_slot_is_free(void **state)
{
	(void)state;
	struct db_batch_config cfg = {.max_in_flight = 2, .max_items = 32};
	assert_int_equal(db_batch_next_step(&cfg, 0, 0, false), DB_BATCH_IDLE);
	assert_int_equal(db_batch_next_step(&cfg, 1, 0, false), DB_BATCH_SEND);
	assert_int_equal(db_batch_next_step(&cfg, 1, 1, false), DB_BATCH_SEND);
	assert_int_equal(db_batch_next_step(&cfg, 5, 2, false), DB_BATCH_IDLE);
}

static void test_next_step_lingers_only_beside_a_statement(void **state)
{
	(void)state;
	struct db_batch_config cfg = {.max_in_flight = 2, .max_items = 32, .linger_us = 1000};
	/* An idle database answers the first webhook at once. */
	assert_int_equal(db_batch_next_step(&cfg, 1, 0, false), DB_BATCH_SEND);
	/* Beside one in flight, a small batch waits for more... */
	assert_int_equal(db_batch_next_step(&cfg, 1, 1, false), DB_BATCH_WAIT);
	assert_int_equal(db_batch_next_step(&cfg, 31, 1, false), DB_BATCH_WAIT);
	/* ...until it is full or its time is up. */
	assert_int_equal(db_batch_next_step(&cfg, 32, 1, false), DB_BATCH_SEND);
	assert_int_equal(db_batch_next_step(&cfg, 40, 1, false), DB_BATCH_SEND);
	assert_int_equal(db_batch_next_step(&cfg, 1, 1, true), DB_BATCH_SEND);
	/* No slot, or nothing queued: nothing to do, lingered or not. */
	assert_int_equal(db_batch_next_step(&cfg, 40, 2, true), DB_BATCH_IDLE);
	assert_int_equal(db_batch_next_step(&cfg, 0, 1, true), DB_BATCH_IDLE);
}

static void test_next_step_one_slot_never_waits(void **state)
{
	(void)state;
	/* With one statement at once, a free slot means nothing is in flight. */
	struct db_batch_config cfg = {.max_in_flight = 1, .max_items = 32, .linger_us = 1000};
	assert_int_equal(db_batch_next_step(&cfg, 1, 0, false), DB_BATCH_SEND);
	assert_int_equal(db_batch_next_step(&cfg, 1, 1, false), DB_BATCH_IDLE);
}

/* A lingering batch still answers every item once when its pool goes:
 * the one in flight with the pool's refusal, the one waiting for a fuller
 * batch is sent when the slot frees (nothing else in flight) and refused
 * as the pool shuts down; no timer is left behind (ASan's leak check). */
static void test_lingering_items_answered_once(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct db_pool *pool = db_pool_new(base, NOWHERE, 1);
	struct db_batch *b =
	    db_batch_new(pool, &(struct db_batch_config){.sql = "SELECT unnest($1::text[])",
							 .columns = one_text,
							 .ncols = 1,
							 .max_in_flight = 2,
							 .max_items = 4,
							 .linger_us = 60000000});
	struct outcome first = {0}, second = {0};
	add(b, &first);
	add(b, &second);
	assert_int_equal(db_batch_queued(b), 1); /* waiting beside the first */
	db_pool_free(pool);
	assert_int_equal(first.calls, 1);
	assert_int_equal(second.calls, 1);
	assert_non_null(second.err);
	assert_int_equal(db_batch_queued(b), 0);
	db_batch_free(b);
	assert_int_equal(first.calls + second.calls, 2);
	event_base_free(base);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_text_elements),
    cmocka_unit_test(test_null_element),
    cmocka_unit_test(test_jsonb_gets_its_version_byte),
    cmocka_unit_test(test_bytes_with_nul_by_length),
    cmocka_unit_test(test_empty_array),
    cmocka_unit_test(test_refusals_arrive_after_the_call),
    cmocka_unit_test(test_free_answers_every_item_once),
    cmocka_unit_test(test_next_step_without_linger_sends_while_a_slot_is_free),
    cmocka_unit_test(test_next_step_lingers_only_beside_a_statement),
    cmocka_unit_test(test_next_step_one_slot_never_waits),
    cmocka_unit_test(test_lingering_items_answered_once),
};
UNIT_MAIN(tests)
