#ifndef PARLEY_MEETING_COMPLETION_H
#define PARLEY_MEETING_COMPLETION_H
/*
 * The meetings' periodic pass (meeting_tools.h): scheduled meetings whose
 * end has passed become completed (parley_complete_meetings), and
 * reservations whose lease ran out while no reply held their conversation
 * go to meeting_booking_recover (parley_claim_stale_bookings), a few at a
 * time and only when the last batch has finished.
 */
struct meeting_tools;

/* Runs the pass every every_seconds, the first after that long; the timer
 * is mt->pass, freed by meeting_tools_free. */
void meeting_completion_start(struct meeting_tools *mt, long every_seconds);

#endif
