#ifndef PARLEY_CLOCK_H
#define PARLEY_CLOCK_H
/*
 * The two clocks parley reads. Durations, deadlines and rate limits use the
 * monotonic one (a wall-clock step must not fire or starve a timer); what is
 * stored or sent as a moment uses the wall clock.
 */

/* Seconds on the monotonic clock, any origin, sub-microsecond resolution. */
double clock_mono(void);

/* Milliseconds since the Unix epoch on the wall clock. */
long long clock_wall_ms(void);

#endif
