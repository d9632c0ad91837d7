#include "rate_limit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* ---- the keys: what both limiters keep, at most max_keys ---- */

/* The first member of a key's state (a bucket, a window); the key is
 * stored after that state, in the same allocation. */
struct entry {
	struct entry *next;
	const char *key;
};

struct keys {
	size_t max_keys, n_keys, n_slots;
	struct entry **slots;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void keys_init(struct keys *k, size_t max_keys)
{
	k->max_keys = max_keys ? max_keys : 1;
	k->n_slots = 64;
	while (k->n_slots < k->max_keys)
		k->n_slots *= 2;
	k->slots = xcalloc(k->n_slots, sizeof *k->slots);
}

/* k may be NULL (the limiter is). */
static void keys_free(struct keys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n_slots; i++) {
		struct entry *e = k->slots[i];
		while (e) {
			struct entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(k->slots);
}

/* Drops the entries that idle says are as good as new. */
static void keys_sweep(struct keys *k, bool (*idle)(struct entry *e, const void *arg),
		       const void *arg)
{
	for (size_t i = 0; i < k->n_slots; i++) {
		struct entry **p = &k->slots[i];
		while (*p) {
			struct entry *e = *p;
			if (idle(e, arg)) {
				*p = e->next;
				free(e);
				k->n_keys--;
			} else {
				p = &e->next;
			}
		}
	}
}

/*
 * key's entry; else a new one of size bytes, zeroed, when there is room
 * (swept first when the table is full: *made tells the caller to set it
 * up); else NULL.
 */
static struct entry *keys_get(struct keys *k, const char *key, size_t size,
			      bool (*idle)(struct entry *e, const void *arg), const void *arg,
			      bool *made)
{
	size_t slot = (size_t)(hash(key) & (k->n_slots - 1));
	struct entry *e = k->slots[slot];
	while (e && strcmp(e->key, key) != 0)
		e = e->next;
	*made = false;
	if (e)
		return e;
	if (k->n_keys >= k->max_keys)
		keys_sweep(k, idle, arg);
	if (k->n_keys >= k->max_keys)
		return NULL;
	size_t len = strlen(key);
	e = xcalloc(1, size + len + 1);
	memcpy((char *)e + size, key, len + 1);
	e->key = (char *)e + size;
	e->next = k->slots[slot];
	k->slots[slot] = e;
	k->n_keys++;
	*made = true;
	return e;
}

/* ---- token buckets ---- */

struct bucket {
	struct entry e; /* first */
	double tokens;
	double at; /* when tokens was computed */
};

struct rate_limit {
	double burst, per_second;
	struct keys keys;
};

struct rate_limit *rate_limit_new(double burst, double per_second, size_t max_keys)
{
	struct rate_limit *rl = xcalloc(1, sizeof *rl);
	rl->burst = burst < 1 ? 1 : burst;
	rl->per_second = per_second > 0 ? per_second : 1e-9;
	keys_init(&rl->keys, max_keys);
	return rl;
}

void rate_limit_free(struct rate_limit *rl)
{
	keys_free(rl ? &rl->keys : NULL);
	free(rl);
}

static void refill(const struct rate_limit *rl, struct bucket *b, double now)
{
	if (now > b->at) {
		b->tokens += (now - b->at) * rl->per_second;
		if (b->tokens > rl->burst)
			b->tokens = rl->burst;
		b->at = now;
	}
}

struct bucket_now {
	struct rate_limit *rl;
	double now;
};

/* A bucket that has refilled completely can go. */
static bool bucket_idle(struct entry *e, const void *arg)
{
	const struct bucket_now *bn = arg;
	struct bucket *b = (struct bucket *)e;
	refill(bn->rl, b, bn->now);
	return b->tokens >= bn->rl->burst;
}

double rate_limit_take(struct rate_limit *rl, const char *key, double now)
{
	bool made;
	struct bucket_now bn = {rl, now};
	struct bucket *b =
	    (struct bucket *)keys_get(&rl->keys, key, sizeof *b, bucket_idle, &bn, &made);
	if (!b)
		return 1.0 / rl->per_second;
	if (made) {
		b->tokens = rl->burst;
		b->at = now;
	}
	refill(rl, b, now);
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return 0;
	}
	return (1 - b->tokens) / rl->per_second;
}

/* ---- sliding windows ---- */

/*
 * A key's slices: count[i % N] holds the requests of slice i, for the N
 * slices up to and including `newest`; slices older than that are zero.
 * N = RATE_WINDOW_SLOTS + 1: the slices overlapping the last window (the
 * current one is partial, so one more than the window holds).
 */
#define WINDOW_N (RATE_WINDOW_SLOTS + 1)

struct window {
	struct entry e; /* first */
	long long newest;
	long count[WINDOW_N];
	long total;
};

struct rate_window {
	long limit;
	double slice; /* seconds */
	struct keys keys;
};

struct rate_window *rate_window_new(long limit, double window, size_t max_keys)
{
	struct rate_window *rw = xcalloc(1, sizeof *rw);
	rw->limit = limit < 1 ? 1 : limit;
	rw->slice = (window > 0 ? window : 1) / RATE_WINDOW_SLOTS;
	keys_init(&rw->keys, max_keys);
	return rw;
}

void rate_window_free(struct rate_window *rw)
{
	keys_free(rw ? &rw->keys : NULL);
	free(rw);
}

static size_t idx(long long slice)
{
	return (size_t)(((slice % WINDOW_N) + WINDOW_N) % WINDOW_N);
}

/* Moves w's window forward to slice `now` (never back: a clock going back
 * counts in the newest slice). */
static void advance(struct window *w, long long now)
{
	if (now <= w->newest)
		return;
	if (now - w->newest >= WINDOW_N) {
		memset(w->count, 0, sizeof w->count);
		w->total = 0;
	} else {
		for (long long i = w->newest + 1; i <= now; i++) {
			long *c = &w->count[idx(i)];
			w->total -= *c;
			*c = 0;
		}
	}
	w->newest = now;
}

/* A window that has emptied can go (arg: the current slice). */
static bool window_idle(struct entry *e, const void *arg)
{
	struct window *w = (struct window *)e;
	advance(w, *(const long long *)arg);
	return w->total == 0;
}

double rate_window_take(struct rate_window *rw, const char *key, double now)
{
	long long slice = (long long)(now / rw->slice);
	if ((double)slice * rw->slice > now)
		slice--; /* rounds down for negative times too */
	bool made;
	struct window *w =
	    (struct window *)keys_get(&rw->keys, key, sizeof *w, window_idle, &slice, &made);
	if (!w)
		return rw->slice;
	if (made)
		w->newest = slice;
	advance(w, slice);
	if (w->total < rw->limit) {
		w->count[idx(w->newest)]++;
		w->total++;
		return 0;
	}
	/* Full: wait until enough of the oldest slices have left the window. */
	long left = w->total;
	long long i = w->newest - WINDOW_N + 1;
	for (; i <= w->newest; i++) {
		left -= w->count[idx(i)];
		if (left < rw->limit)
			break;
	}
	double wait = (double)(i + WINDOW_N) * rw->slice - now;
	return wait > 0 ? wait : rw->slice;
}
