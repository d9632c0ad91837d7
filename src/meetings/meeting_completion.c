#include "meeting_completion.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "db.h"
#include "log.h"
#include "meeting_booking.h"
#include "meeting_internal.h"
#include "metrics.h"

/* Reservations the recovery pass takes at once. */
#define RECOVER_BATCH 5

/* Whether a pass's query came back with something to do: not at
 * shutdown, and not after an error (logged; the next pass tries again). */
static bool answered(const struct meeting_tools *mt, const char *err, const char *doing)
{
	if (mt->closing)
		return false;
	if (err)
		log_warn("meetings", "%s failed: %s", doing, err);
	return !err;
}

static void on_completed(void *arg, PGresult *res, const char *err)
{
	if (!answered(arg, err, "completing past meetings"))
		return;
	long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0) {
		metrics_add("parley_meetings_completed_total", NULL, (double)n);
		log_info("meetings", "%ld past meeting(s) marked completed", n);
	}
}

static void on_stale(void *arg, PGresult *res, const char *err)
{
	struct meeting_tools *mt = arg;
	if (!answered(mt, err, "looking for interrupted bookings"))
		return;
	for (int i = 0; i < PQntuples(res); i++)
		meeting_booking_recover(mt, PQgetvalue(res, i, 0));
}

static void pass_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct meeting_tools *mt = arg;
	if (mt->closing || db_pool_ready(mt->app->db) == 0)
		return;
	db_query(mt->app->db, "SELECT parley_complete_meetings()", 0, NULL, on_completed, mt);
	/* One batch of recoveries at a time: a slow one must not be claimed
	 * again by the next pass. */
	if (!meeting_tools_enabled(mt) || mt->recovering > 0)
		return;
	char limit[16], lease[24];
	snprintf(limit, sizeof limit, "%d", RECOVER_BATCH);
	snprintf(lease, sizeof lease, "%ld", mt->booking_lease);
	const char *p[] = {limit, lease};
	db_query(mt->app->db, "SELECT parley_claim_stale_bookings($1::integer, $2::integer)", 2, p,
		 on_stale, mt);
}

void meeting_completion_start(struct meeting_tools *mt, long every_seconds)
{
	mt->pass = event_new(mt->app->base, -1, EV_PERSIST, pass_tick, mt);
	struct timeval tv = {every_seconds, 0};
	event_add(mt->pass, &tv);
}
