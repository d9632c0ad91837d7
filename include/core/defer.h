#ifndef PARLEY_DEFER_H
#define PARLEY_DEFER_H
/*
 * Deferred delivery: the one implementation of the rule that an asynchronous
 * API never calls its callback from inside the call that started the work.
 * A failure known at submit time is pushed here and delivered from the loop
 * by a zero-delay event.
 *
 * A module embeds a struct defer_item in its own request struct and a struct
 * defer in its owner; the deliver function gets the item back and recovers
 * the request with DEFER_CONTAINER. Delivery is FIFO.
 *
 *   - When the event fires, only the items due at that moment are delivered:
 *     items pushed by those callbacks wait for a fresh event, so none runs
 *     inside the call that pushed it.
 *   - At free, the owner delivers what is still owed with defer_pop (one at a
 *     time, interleaved with its own queues) or defer_flush (until empty, so
 *     that items the callbacks push while closing are delivered in the same
 *     free). Each item is delivered exactly once.
 */
#include <stdbool.h>
#include <stddef.h>

struct event;
struct event_base;

struct defer_item {
	struct defer_item *next;
};

/* Called once per item; the item (and what contains it) is the callee's. */
typedef void (*defer_fn)(struct defer_item *item, void *ctx);

struct defer {
	struct event *ev; /* zero-delay; armed by defer_push */
	struct defer_item *head, *tail;
	defer_fn fn;
	void *ctx;
};

#define DEFER_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

void defer_init(struct defer *d, struct event_base *base, defer_fn fn, void *ctx);
/* Appends item and arms the event; fn runs for it from the loop. */
void defer_push(struct defer *d, struct defer_item *item);
bool defer_pending(const struct defer *d);
/* Removes and returns the oldest item (NULL when none), not delivered: for
 * free paths that deliver it themselves in their own order. */
struct defer_item *defer_pop(struct defer *d);
/* Delivers the items due now (not those their callbacks push); returns how
 * many. */
int defer_deliver_due(struct defer *d);
/* Delivers until nothing is left, including items pushed meanwhile. */
void defer_flush(struct defer *d);
/* Frees the event. Items still queued are not delivered: flush first. */
void defer_fini(struct defer *d);

#endif
