/*
 * The escalate_to_human tool: see include/replies/handoff_tool.h.
 */
#include "handoff_tool.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

static cJSON *declaration(void)
{
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "type", "function");
	cJSON_AddStringToObject(t, "name", HANDOFF_TOOL);
	cJSON_AddStringToObject(
	    t, "description",
	    "Hand the conversation to a person at the business: call it when the customer asks "
	    "for a human, or when you cannot help them further. The AI stops answering in this "
	    "conversation until a person resumes it. Then tell the customer that a person will "
	    "follow up.");
	/* strict: every property required, nothing else (docs/protocol.md). */
	cJSON_AddBoolToObject(t, "strict", 1);
	cJSON *params = cJSON_AddObjectToObject(t, "parameters");
	cJSON_AddStringToObject(params, "type", "object");
	cJSON *props = cJSON_AddObjectToObject(params, "properties");
	cJSON *reason = cJSON_AddObjectToObject(props, "reason");
	cJSON_AddStringToObject(reason, "type", "string");
	cJSON_AddStringToObject(reason, "description",
				"Why a person is needed, in one sentence, for the person who takes "
				"over.");
	cJSON *req = cJSON_AddArrayToObject(params, "required");
	cJSON_AddItemToArray(req, cJSON_CreateString("reason"));
	cJSON_AddBoolToObject(params, "additionalProperties", 0);
	return t;
}

char *handoff_tool_declare(const char *tools)
{
	cJSON *arr = tools ? cJSON_Parse(tools) : NULL;
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		arr = cJSON_CreateArray();
	}
	cJSON_AddItemToArray(arr, declaration());
	char *out = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	/* cJSON allocates through malloc: out of memory is fatal, as in
	 * xalloc. */
	if (!out)
		abort();
	return out;
}

bool handoff_tool_is_call(const struct openai_call *call)
{
	return call && call->name && strcmp(call->name, HANDOFF_TOOL) == 0;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *handoff_tool_reason(const char *arguments)
{
	cJSON *root = arguments ? cJSON_Parse(arguments) : NULL;
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "reason"));
	struct strbuf b = STRBUF_INIT;
	size_t chars = 0;
	if (s) {
		while (is_space((unsigned char)*s))
			s++;
		size_t len = strlen(s);
		while (len > 0 && is_space((unsigned char)s[len - 1]))
			len--;
		/* Well-formed text only (PostgreSQL refuses the rest): each
		 * ill-formed part becomes U+FFFD, as utf8_seq delimits it. */
		for (size_t i = 0; i < len && chars < HANDOFF_REASON_MAX_CHARS; chars++) {
			size_t bad = 1;
			size_t n = utf8_seq(s + i, len - i, &bad);
			if (n) {
				strbuf_append(&b, s + i, n);
				i += n;
			} else {
				strbuf_append(&b, "\xEF\xBF\xBD", 3);
				i += bad ? bad : 1;
			}
		}
	}
	cJSON_Delete(root);
	if (chars == 0) {
		strbuf_free(&b);
		return xstrdup(HANDOFF_REASON_DEFAULT);
	}
	return strbuf_detach(&b);
}
