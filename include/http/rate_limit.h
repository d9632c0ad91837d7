#ifndef PARLEY_RATE_LIMIT_H
#define PARLEY_RATE_LIMIT_H
/*
 * Token buckets by key (a session id, a client address): each key may spend
 * `burst` requests at once and earns `per_second` back. Pure and in memory:
 * limits are per process, which is what they are for (protecting this
 * process and the database behind it from one noisy client), and they are a
 * cache that a restart may forget.
 *
 * Memory is bounded: at most max_keys keys are tracked. When the table is
 * full, keys whose bucket has refilled (they are indistinguishable from new
 * ones) are dropped; if none has, new keys are refused until one does, so a
 * flood of distinct keys cannot grow memory without bound.
 */
#include <stddef.h>

struct rate_limit;

struct rate_limit *rate_limit_new(double burst, double per_second, size_t max_keys);
void rate_limit_free(struct rate_limit *rl);

/*
 * Spends one request of key at time now (seconds, any monotonic origin).
 * Returns 0 when allowed, else the seconds to wait before one more would be
 * (always > 0).
 */
double rate_limit_take(struct rate_limit *rl, const char *key, double now);

/*
 * Budgets by key: at most `limit` requests in any `window` seconds (a token
 * bucket would let twice that through in one window: its burst, then its
 * refill). The window is counted in RATE_WINDOW_SLOTS slices, and a request
 * is refused while the slices that overlap the last `window` seconds hold
 * `limit`, so the bound holds exactly and a refusal lasts at most one slice
 * longer than needed. Memory and key bounds as for rate_limit.
 */
#define RATE_WINDOW_SLOTS 60

struct rate_window;

struct rate_window *rate_window_new(long limit, double window, size_t max_keys);
void rate_window_free(struct rate_window *rw);
/* As rate_limit_take. */
double rate_window_take(struct rate_window *rw, const char *key, double now);

#endif
