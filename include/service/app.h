#ifndef PARLEY_APP_H
#define PARLEY_APP_H
/*
 * What the running daemon shares between its modules: the configuration,
 * the event loop, the database pool. One per `parley serve` process, owned by
 * serve.c, alive for the whole run.
 */
#include <event2/event.h>
#include <stdbool.h>

#include "config.h"
#include "db.h"

struct app {
	struct config cfg;
	char **app_secrets; /* meta.app_secret split on commas, NULL-terminated */
	struct event_base *base;
	struct db_pool *db;
	struct http_client *upstream;       /* NULL when replies are off */
	struct reply_worker *replies;       /* NULL when replies are off */
	struct webchat *webchat;            /* the widget API's state */
	struct meeting_tools *meetings;     /* meeting booking tools and pass */
	struct extract_worker *extractions; /* NULL when lead extraction is off */
	struct event_worker *events;        /* events out delivery (event_worker.h) */
	bool stopping;                      /* a shutdown signal arrived */
	bool announced_ready;               /* "ready" logged and READY=1 sent */
	unsigned long long next_request_id;
};

#endif
