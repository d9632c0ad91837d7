#include "ingest_events.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "json.h"
#include "xalloc.h"

static void add_opt(cJSON *o, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(o, key, value);
}

/* The referral as an object of its present fields; parley_ingest_batch
 * (0014) stores it in messages.referral. */
static void add_referral(cJSON *o, const struct meta_referral *r)
{
	if (!r)
		return;
	cJSON *ref = cJSON_AddObjectToObject(o, "referral");
	for (size_t i = 0; i < META_REFERRAL_FIELDS; i++)
		add_opt(ref, meta_referral_names[i], meta_referral_get(r, i));
}

/* "131047: Re-engagement message", or whichever half exists. */
static char *status_error(const struct meta_status *s)
{
	if (s->error_code && s->error_title)
		return xasprintf("%s: %s", s->error_code, s->error_title);
	if (s->error_code || s->error_title)
		return xstrdup(s->error_code ? s->error_code : s->error_title);
	return NULL;
}

char *ingest_events_json(const struct meta_batch *batch)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < batch->n_messages; i++) {
		const struct meta_message *m = &batch->messages[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "t", "m");
		cJSON_AddStringToObject(o, "platform", platform_name(m->platform));
		add_opt(o, "channel", m->channel_id);
		add_opt(o, "customer", m->customer_id);
		add_opt(o, "id", m->platform_message_id);
		add_opt(o, "kind", m->kind);
		add_opt(o, "text", m->text);
		add_opt(o, "name", m->profile_name);
		add_opt(o, "reply_to", m->reply_to);
		add_referral(o, m->referral);
		/* Milliseconds fit a double exactly until the year 287396. */
		cJSON_AddNumberToObject(o, "ts", (double)m->timestamp_ms);
		cJSON_AddBoolToObject(o, "reply", m->needs_reply);
		cJSON_AddBoolToObject(o, "echo", m->is_echo);
		cJSON_AddItemToArray(arr, o);
	}
	for (size_t i = 0; i < batch->n_statuses; i++) {
		const struct meta_status *s = &batch->statuses[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "t", "s");
		cJSON_AddStringToObject(o, "platform", platform_name(s->platform));
		add_opt(o, "channel", s->channel_id);
		add_opt(o, "id", s->platform_message_id);
		cJSON_AddStringToObject(o, "status", meta_status_name(s->status));
		char *err = status_error(s);
		add_opt(o, "error", err);
		free(err);
		cJSON_AddItemToArray(arr, o);
	}
	return json_print(arr);
}
