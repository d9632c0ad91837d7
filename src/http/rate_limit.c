#include "rate_limit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct bucket {
	struct bucket *next;
	double tokens;
	double at; /* when tokens was computed */
	char key[];
};

struct rate_limit {
	double burst, per_second;
	size_t max_keys, n_keys, n_slots;
	struct bucket **slots;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

struct rate_limit *rate_limit_new(double burst, double per_second, size_t max_keys)
{
	struct rate_limit *rl = xcalloc(1, sizeof *rl);
	rl->burst = burst < 1 ? 1 : burst;
	rl->per_second = per_second > 0 ? per_second : 1e-9;
	rl->max_keys = max_keys ? max_keys : 1;
	rl->n_slots = 64;
	while (rl->n_slots < rl->max_keys)
		rl->n_slots *= 2;
	rl->slots = xcalloc(rl->n_slots, sizeof *rl->slots);
	return rl;
}

void rate_limit_free(struct rate_limit *rl)
{
	if (!rl)
		return;
	for (size_t i = 0; i < rl->n_slots; i++) {
		struct bucket *b = rl->slots[i];
		while (b) {
			struct bucket *next = b->next;
			free(b);
			b = next;
		}
	}
	free(rl->slots);
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

/* Drops the buckets that have refilled completely. */
static void sweep(struct rate_limit *rl, double now)
{
	for (size_t i = 0; i < rl->n_slots; i++) {
		struct bucket **p = &rl->slots[i];
		while (*p) {
			struct bucket *b = *p;
			refill(rl, b, now);
			if (b->tokens >= rl->burst) {
				*p = b->next;
				free(b);
				rl->n_keys--;
			} else {
				p = &b->next;
			}
		}
	}
}

double rate_limit_take(struct rate_limit *rl, const char *key, double now)
{
	size_t slot = (size_t)(hash(key) & (rl->n_slots - 1));
	struct bucket *b = rl->slots[slot];
	while (b && strcmp(b->key, key) != 0)
		b = b->next;
	if (!b) {
		if (rl->n_keys >= rl->max_keys)
			sweep(rl, now);
		if (rl->n_keys >= rl->max_keys)
			return 1.0 / rl->per_second;
		size_t len = strlen(key);
		b = xmalloc(sizeof *b + len + 1);
		memcpy(b->key, key, len + 1);
		b->tokens = rl->burst;
		b->at = now;
		b->next = rl->slots[slot];
		rl->slots[slot] = b;
		rl->n_keys++;
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
	struct window *next;
	long long newest;
	long count[WINDOW_N];
	long total;
	char key[];
};

struct rate_window {
	long limit;
	double slice; /* seconds */
	size_t max_keys, n_keys, n_slots;
	struct window **slots;
};

struct rate_window *rate_window_new(long limit, double window, size_t max_keys)
{
	struct rate_window *rw = xcalloc(1, sizeof *rw);
	rw->limit = limit < 1 ? 1 : limit;
	rw->slice = (window > 0 ? window : 1) / RATE_WINDOW_SLOTS;
	rw->max_keys = max_keys ? max_keys : 1;
	rw->n_slots = 64;
	while (rw->n_slots < rw->max_keys)
		rw->n_slots *= 2;
	rw->slots = xcalloc(rw->n_slots, sizeof *rw->slots);
	return rw;
}

void rate_window_free(struct rate_window *rw)
{
	if (!rw)
		return;
	for (size_t i = 0; i < rw->n_slots; i++) {
		struct window *w = rw->slots[i];
		while (w) {
			struct window *next = w->next;
			free(w);
			w = next;
		}
	}
	free(rw->slots);
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

static void window_sweep(struct rate_window *rw, long long now)
{
	for (size_t i = 0; i < rw->n_slots; i++) {
		struct window **p = &rw->slots[i];
		while (*p) {
			struct window *w = *p;
			advance(w, now);
			if (w->total == 0) {
				*p = w->next;
				free(w);
				rw->n_keys--;
			} else {
				p = &w->next;
			}
		}
	}
}

double rate_window_take(struct rate_window *rw, const char *key, double now)
{
	long long slice = (long long)(now / rw->slice);
	if ((double)slice * rw->slice > now)
		slice--; /* rounds down for negative times too */
	size_t slot = (size_t)(hash(key) & (rw->n_slots - 1));
	struct window *w = rw->slots[slot];
	while (w && strcmp(w->key, key) != 0)
		w = w->next;
	if (!w) {
		if (rw->n_keys >= rw->max_keys)
			window_sweep(rw, slice);
		if (rw->n_keys >= rw->max_keys)
			return rw->slice;
		size_t len = strlen(key);
		w = xcalloc(1, sizeof *w + len + 1);
		memcpy(w->key, key, len + 1);
		w->newest = slice;
		w->next = rw->slots[slot];
		rw->slots[slot] = w;
		rw->n_keys++;
	}
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
