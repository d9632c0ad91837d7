#include "openai.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "strbuf.h"
#include "xalloc.h"

char *openai_conversation_request(void)
{
	return xstrdup("{}");
}

char *openai_turn_request(const struct openai_turn *t)
{
	cJSON *root = cJSON_CreateObject();
	if (t->model && *t->model)
		cJSON_AddStringToObject(root, "model", t->model);
	cJSON *prompt = cJSON_AddObjectToObject(root, "prompt");
	cJSON_AddStringToObject(prompt, "id", t->prompt_id);
	cJSON_AddStringToObject(root, "conversation", t->conversation_id);
	cJSON *items = t->items ? cJSON_Parse(t->items) : NULL;
	cJSON *input = cJSON_IsArray(items) ? items : cJSON_CreateArray();
	if (input != items)
		cJSON_Delete(items);
	cJSON_AddItemToObject(root, "input", input);
	if (t->context && t->n_inputs > 0) {
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "role", "developer");
		cJSON_AddStringToObject(item, "content", t->context);
		cJSON_AddItemToArray(input, item);
	}
	for (size_t i = 0; i < t->n_inputs; i++) {
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "role",
					t->assistant && t->assistant[i] ? "assistant" : "user");
		cJSON_AddStringToObject(item, "content", t->inputs[i]);
		cJSON_AddItemToArray(input, item);
	}
	cJSON *tools = t->tools ? cJSON_Parse(t->tools) : NULL;
	if (cJSON_IsArray(tools))
		cJSON_AddItemToObject(root, "tools", tools);
	else
		cJSON_Delete(tools);
	if (t->tool_choice)
		cJSON_AddStringToObject(root, "tool_choice", t->tool_choice);
	return json_print(root);
}

size_t openai_merge_inputs(const cJSON *inputs, const cJSON *human, char ***texts, bool **assistant)
{
	size_t nu = cJSON_IsArray(inputs) ? (size_t)cJSON_GetArraySize(inputs) : 0;
	size_t nh = cJSON_IsArray(human) ? (size_t)cJSON_GetArraySize(human) : 0;
	*texts = xcalloc(nu + nh + 1, sizeof **texts);
	*assistant = xcalloc(nu + nh + 1, sizeof **assistant);
	const cJSON *u = nu ? inputs->child : NULL, *h = nh ? human->child : NULL;
	size_t n = 0;
	while (u || h) {
		bool take_h =
		    h &&
		    (!u || cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(h, "seq")) <
			       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(u, "seq")));
		const char *text =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(take_h ? h : u, "text"));
		if (text) {
			(*assistant)[n] = take_h;
			(*texts)[n++] = xstrdup(text);
		}
		if (take_h)
			h = h->next;
		else
			u = u->next;
	}
	return n;
}

char *openai_conversation_id(const char *body, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "id"));
	char *out = id && *id ? xstrdup(id) : NULL;
	cJSON_Delete(root);
	return out;
}

bool openai_transient_error(const cJSON *error)
{
	const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(error, "code"));
	return code &&
	       (strcmp(code, "server_error") == 0 || strcmp(code, "rate_limit_exceeded") == 0 ||
		strcmp(code, "vector_store_timeout") == 0);
}

void openai_calls_free(struct openai_call *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(calls[i].call_id);
		free(calls[i].name);
		free(calls[i].arguments);
	}
	free(calls);
}

/* An identifier the model chose (call_id, name) that we send back or log:
 * printable ASCII, bounded. */
static bool ident_ok(const char *s, size_t max)
{
	if (!s || !*s || strlen(s) > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7F)
			return false;
	return true;
}

/* The response's function_call items: 0 with *calls (possibly none), or -1
 * when one is unusable or there are too many. */
static int read_calls(cJSON *output, struct openai_call **calls, size_t *n)
{
	*calls = NULL;
	*n = 0;
	cJSON *item;
	size_t count = 0;
	cJSON_ArrayForEach(item, output)
	{
		const char *type =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "type"));
		if (type && strcmp(type, "function_call") == 0)
			count++;
	}
	if (count == 0)
		return 0;
	if (count > OPENAI_MAX_CALLS)
		return -1;
	*calls = xcalloc(count, sizeof **calls);
	cJSON_ArrayForEach(item, output)
	{
		const char *type =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "type"));
		if (!type || strcmp(type, "function_call") != 0)
			continue;
		const char *id =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "call_id"));
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "name"));
		const char *args =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "arguments"));
		if (!ident_ok(id, 256) || !ident_ok(name, 128)) {
			openai_calls_free(*calls, *n);
			*calls = NULL;
			*n = 0;
			return -1;
		}
		struct openai_call *c = &(*calls)[(*n)++];
		c->call_id = xstrdup(id);
		c->name = xstrdup(name);
		c->arguments = xstrdup(args && strlen(args) <= OPENAI_MAX_ARGUMENTS ? args : "");
	}
	return 0;
}

enum openai_outcome openai_response_read(const char *body, size_t len, char **text,
					 struct openai_call **calls, size_t *n_calls,
					 const char **why)
{
	*text = NULL;
	*calls = NULL;
	*n_calls = 0;
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		*why = "response is not a JSON object";
		return OPENAI_FINAL;
	}
	const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "status"));
	if (status && strcmp(status, "failed") == 0) {
		bool again =
		    openai_transient_error(cJSON_GetObjectItemCaseSensitive(root, "error"));
		*why = again ? "response failed with a transient error" : "response failed";
		cJSON_Delete(root);
		return again ? OPENAI_RETRYABLE : OPENAI_FINAL;
	}
	if (status && strcmp(status, "completed") != 0) {
		*why = strcmp(status, "incomplete") == 0 ? "response incomplete"
							 : "response not completed";
		cJSON_Delete(root);
		return OPENAI_FINAL;
	}
	cJSON *output = cJSON_GetObjectItemCaseSensitive(root, "output");
	if (read_calls(output, calls, n_calls) < 0) {
		cJSON_Delete(root);
		*why = "response has unusable or too many function calls";
		return OPENAI_FINAL;
	}
	if (*n_calls > 0) {
		cJSON_Delete(root);
		*why = NULL;
		return OPENAI_CALLS;
	}
	bool refused;
	char *t = openai_output_text(root, &refused);
	cJSON_Delete(root);
	if (!*t) {
		free(t);
		*why = refused ? "the model refused" : "response has no output text";
		return OPENAI_FINAL;
	}
	*text = t;
	*why = NULL;
	return OPENAI_TEXT;
}

char *openai_output_text(const cJSON *root, bool *refused)
{
	struct strbuf sb = STRBUF_INIT;
	const cJSON *item;
	*refused = false;
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "output"))
	{
		const char *type =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "type"));
		if (!type || strcmp(type, "message") != 0)
			continue;
		const cJSON *part;
		cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(item, "content"))
		{
			const char *ptype =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "type"));
			const char *t =
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "text"));
			if (ptype && strcmp(ptype, "output_text") == 0 && t)
				strbuf_puts(&sb, t);
			else if (ptype && strcmp(ptype, "refusal") == 0)
				*refused = true;
		}
	}
	return strbuf_detach(&sb);
}

char *openai_call_outputs(const struct openai_call *calls, char *const *outputs, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++) {
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "type", "function_call_output");
		cJSON_AddStringToObject(item, "call_id", calls[i].call_id);
		cJSON_AddStringToObject(item, "output", outputs[i]);
		cJSON_AddItemToArray(arr, item);
	}
	return json_print(arr);
}

char *openai_items_add_output(const char *items, const char *call_id, const char *output)
{
	cJSON *arr = items ? cJSON_Parse(items) : NULL;
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		arr = cJSON_CreateArray();
	}
	cJSON *item = cJSON_CreateObject();
	cJSON_AddStringToObject(item, "type", "function_call_output");
	cJSON_AddStringToObject(item, "call_id", call_id);
	cJSON_AddStringToObject(item, "output", output);
	cJSON_AddItemToArray(arr, item);
	return json_print(arr);
}

char *openai_unanswered_call(const char *body, size_t len)
{
	static const char prefix[] = "No tool output found for function call ";
	if (!body || len > 64 * 1024)
		return NULL;
	cJSON *root = cJSON_ParseWithLength(body, len);
	const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "error"), "message"));
	char *out = NULL;
	if (msg && strncmp(msg, prefix, sizeof prefix - 1) == 0) {
		const char *id = msg + sizeof prefix - 1;
		size_t n = 0;
		while (id[n] && id[n] != ' ' &&
		       !(id[n] == '.' && (id[n + 1] == '\0' || id[n + 1] == ' ')))
			n++;
		char *cand = xstrndup(id, n);
		if (ident_ok(cand, 256))
			out = cand;
		else
			free(cand);
	}
	cJSON_Delete(root);
	return out;
}
