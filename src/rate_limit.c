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

size_t rate_limit_keys(const struct rate_limit *rl) { return rl->n_keys; }
