#include "graph.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "xalloc.h"

size_t graph_max_chars(enum platform p)
{
	return p == PLATFORM_INSTAGRAM ? 1000 : 4096;
}

/* As admin_check_meta_id() allows for WhatsApp and Instagram channels. */
#define CHANNEL_ID_MAX 100

/* Whether id is Meta's numeric id (WhatsApp phone_number_id, Instagram account id). */
static bool graph_valid_channel_id(const char *id)
{
	size_t n = 0;
	for (; id && id[n]; n++)
		if (id[n] < '0' || id[n] > '9' || n >= CHANNEL_ID_MAX)
			return false;
	return n > 0;
}

char *graph_send_url(const char *base, const char *channel)
{
	if (!graph_valid_channel_id(channel))
		return NULL;
	size_t len = strlen(base);
	while (len && base[len - 1] == '/')
		len--;
	return xasprintf("%.*s/%s/messages", (int)len, base, channel);
}

char *graph_send_body(enum platform p, const char *to, const char *text)
{
	cJSON *root = cJSON_CreateObject();
	if (p == PLATFORM_INSTAGRAM) {
		cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "recipient"), "id", to);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "message"), "text", text);
	} else {
		cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
		cJSON_AddStringToObject(root, "recipient_type", "individual");
		cJSON_AddStringToObject(root, "to", to);
		cJSON_AddStringToObject(root, "type", "text");
		cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "text"), "body", text);
	}
	return json_print(root);
}

char *graph_read_body(const char *message_id, bool typing)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "status", "read");
	cJSON_AddStringToObject(root, "message_id", message_id);
	if (typing)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "typing_indicator"), "type",
					"text");
	return json_print(root);
}

char *graph_sender_action_body(const char *to, const char *action)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "recipient"), "id", to);
	cJSON_AddStringToObject(root, "sender_action", action);
	return json_print(root);
}

char *graph_sent_message_id(enum platform p, const char *body, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const char *id;
	if (p == PLATFORM_INSTAGRAM)
		id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "message_id"));
	else
		id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "messages"), 0),
		    "id"));
	char *out = id && *id ? xstrdup(id) : NULL;
	cJSON_Delete(root);
	return out;
}
