/*
 * Deferred delivery from the loop: see include/core/defer.h.
 */
#include "defer.h"

#include <event2/event.h>
#include <stdlib.h>

static void on_due(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	defer_deliver_due(arg);
}

void defer_init(struct defer *d, struct event_base *base, defer_fn fn, void *ctx)
{
	d->ev = evtimer_new(base, on_due, d);
	if (!d->ev)
		abort();
	d->head = d->tail = NULL;
	d->fn = fn;
	d->ctx = ctx;
}

void defer_push(struct defer *d, struct defer_item *item)
{
	item->next = NULL;
	if (d->tail)
		d->tail->next = item;
	else
		d->head = item;
	d->tail = item;
	static const struct timeval now = {0, 0};
	evtimer_add(d->ev, &now);
}

bool defer_pending(const struct defer *d)
{
	return d->head != NULL;
}

struct defer_item *defer_pop(struct defer *d)
{
	struct defer_item *item = d->head;
	if (item) {
		d->head = item->next;
		if (!d->head)
			d->tail = NULL;
		item->next = NULL;
	}
	return item;
}

int defer_deliver_due(struct defer *d)
{
	/* Take the list first: callbacks that push go to a fresh list and a
	 * fresh event, so none runs inside its own submit. */
	struct defer_item *list = d->head;
	d->head = d->tail = NULL;
	int n = 0;
	while (list) {
		struct defer_item *item = list;
		list = item->next;
		item->next = NULL;
		d->fn(item, d->ctx);
		n++;
	}
	return n;
}

void defer_flush(struct defer *d)
{
	struct defer_item *item;
	while ((item = defer_pop(d)))
		d->fn(item, d->ctx);
}

void defer_fini(struct defer *d)
{
	if (d->ev)
		event_free(d->ev);
	d->ev = NULL;
	d->head = d->tail = NULL;
}
