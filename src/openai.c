#include "openai.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

static char *print(cJSON *root)
{
	char *s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!s)
		abort(); /* cJSON fails only when allocation does */
	return s;
}

char *openai_conversation_request(void)
{
	return xstrdup("{}");
}

char *openai_response_request(const char *prompt_id, const char *conversation_id,
			      const char *model, const char *const *inputs, size_t n_inputs)
{
	cJSON *root = cJSON_CreateObject();
	if (model && *model)
		cJSON_AddStringToObject(root, "model", model);
	cJSON *prompt = cJSON_AddObjectToObject(root, "prompt");
	cJSON_AddStringToObject(prompt, "id", prompt_id);
	cJSON_AddStringToObject(root, "conversation", conversation_id);
	cJSON *input = cJSON_AddArrayToObject(root, "input");
	for (size_t i = 0; i < n_inputs; i++) {
		cJSON *item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "role", "user");
		cJSON_AddStringToObject(item, "content", inputs[i]);
		cJSON_AddItemToArray(input, item);
	}
	return print(root);
}

char *openai_conversation_id(const char *body, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "id"));
	char *out = id && *id ? xstrdup(id) : NULL;
	cJSON_Delete(root);
	return out;
}

/* In-band failures worth another try (openai_google.md A.5). */
static int transient_error(cJSON *error)
{
	const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(error, "code"));
	return code && (strcmp(code, "server_error") == 0 ||
			strcmp(code, "rate_limit_exceeded") == 0 ||
			strcmp(code, "vector_store_timeout") == 0);
}

enum openai_outcome openai_response_text(const char *body, size_t len, char **text,
					 const char **why)
{
	*text = NULL;
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		*why = "response is not a JSON object";
		return OPENAI_FINAL;
	}
	const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "status"));
	if (status && strcmp(status, "failed") == 0) {
		int again = transient_error(cJSON_GetObjectItemCaseSensitive(root, "error"));
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
	struct strbuf sb = STRBUF_INIT;
	int refused = 0;
	cJSON *item;
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "output"))
	{
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "type"));
		if (!type || strcmp(type, "message") != 0)
			continue;
		cJSON *part;
		cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(item, "content"))
		{
			const char *ptype =
				cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "type"));
			const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(part, "text"));
			if (ptype && strcmp(ptype, "output_text") == 0 && t)
				strbuf_puts(&sb, t);
			else if (ptype && strcmp(ptype, "refusal") == 0)
				refused = 1;
		}
	}
	cJSON_Delete(root);
	if (sb.len == 0) {
		strbuf_free(&sb);
		*why = refused ? "the model refused" : "response has no output text";
		return OPENAI_FINAL;
	}
	*text = strbuf_detach(&sb);
	*why = NULL;
	return OPENAI_TEXT;
}
