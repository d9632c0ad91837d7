#ifndef PARLEY_INGEST_EVENTS_H
#define PARLEY_INGEST_EVENTS_H
/*
 * Turns a parsed webhook batch into the JSON event array that the database
 * function parley_ingest_batch() stores in one transaction (its live
 * definition: docs/architecture.md, SQL functions; messages.referral since
 * 0014).
 * Pure: no I/O. The returned string is owned by the caller.
 */
#include "meta_parse.h"

char *ingest_events_json(const struct meta_batch *batch);

#endif
