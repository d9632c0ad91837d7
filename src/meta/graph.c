#include "graph.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "strbuf.h"
#include "utf8.h"
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

const char *graph_check_template_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0)
		return "must not be empty";
	if (n > 512)
		return "is longer than 512 characters";
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return "may hold only lowercase letters, digits and underscores";
	return NULL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

const char *graph_check_template_language(const char *code)
{
	static const char rule[] = "is not a language code such as en, en_US or pt_BR";
	const char *c = code;
	size_t n = 0;
	while (c[n] >= 'a' && c[n] <= 'z')
		n++;
	if (n < 2 || n > 3)
		return rule;
	c += n;
	for (int parts = 0; *c; parts++) {
		if (*c != '_' || parts == 2)
			return rule;
		c++;
		n = 0;
		while (is_alnum(c[n]))
			n++;
		if (n < 2 || n > 4)
			return rule;
		c += n;
	}
	return NULL;
}

const char *graph_check_template_param(const char *param)
{
	if (!*param)
		return "must not be empty";
	long chars = utf8_valid_chars(param);
	if (chars < 0)
		return "is not valid UTF-8";
	if (chars > GRAPH_TEMPLATE_PARAM_MAX)
		return "is longer than 1024 characters";
	int spaces = 0;
	for (const unsigned char *c = (const unsigned char *)param; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			return "must not contain new lines, tabs or other control characters";
		spaces = *c == ' ' ? spaces + 1 : 0;
		if (spaces > 4)
			return "must not contain more than four spaces in a row";
	}
	return NULL;
}

char *graph_template_body(const char *to, const char *name, const char *language,
			  const char *const *params, size_t n_params)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "to", to);
	cJSON_AddStringToObject(root, "type", "template");
	cJSON *t = cJSON_AddObjectToObject(root, "template");
	cJSON_AddStringToObject(t, "name", name);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(t, "language"), "code", language);
	if (n_params) {
		cJSON *body = cJSON_CreateObject();
		cJSON_AddStringToObject(body, "type", "body");
		cJSON *ps = cJSON_AddArrayToObject(body, "parameters");
		for (size_t i = 0; i < n_params; i++) {
			cJSON *p = cJSON_CreateObject();
			cJSON_AddStringToObject(p, "type", "text");
			cJSON_AddStringToObject(p, "text", params[i]);
			cJSON_AddItemToArray(ps, p);
		}
		cJSON_AddItemToArray(cJSON_AddArrayToObject(t, "components"), body);
	}
	return json_print(root);
}

char *graph_template_text(const char *name, const char *const *params, size_t n_params)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_printf(&sb, "[template %s]", name);
	for (size_t i = 0; i < n_params; i++) {
		strbuf_puts(&sb, i ? " | " : " ");
		strbuf_puts(&sb, params[i]);
	}
	return strbuf_detach(&sb);
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
