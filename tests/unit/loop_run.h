/* Turning the event loop in unit tests of asynchronous modules, until the
 * callbacks a test waits for have run. */
#ifndef PARLEY_TEST_LOOP_RUN_H
#define PARLEY_TEST_LOOP_RUN_H

#include <event2/event.h>

/* One turn of the loop, at most 10 ms. */
static inline void spin(struct event_base *base)
{
	struct timeval tv = {0, 10000};
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Turns the loop until *calls reaches want (at most ~5 s). */
static inline void run_until(struct event_base *base, const int *calls, int want)
{
	for (int i = 0; i < 500 && *calls < want; i++)
		spin(base);
}

/* No server: connecting to 127.0.0.1:1 is refused. */
#define NOWHERE "host=127.0.0.1 port=1 dbname=none connect_timeout=1"

/* The outcome o of an asynchronous call (a struct with calls,
 * called_inside and err) was called back once, with want_err, and not from
 * inside the call that started the work. */
#define assert_answered_once(o, want_err)                                                          \
	do {                                                                                       \
		assert_int_equal((o).calls, 1);                                                    \
		assert_false((o).called_inside);                                                   \
		assert_ptr_equal((o).err, (want_err));                                             \
	} while (0)

#endif
