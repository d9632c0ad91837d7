/*
 * fake_openai: a stand-in for the two OpenAI endpoints parley calls
 * (docs/protocol.md, OpenAI), for the end-to-end tests and `make demo`. One
 * process, one libevent loop, no threads, nothing persisted.
 *
 *   fake_openai --listen HOST:PORT [--log FILE] [--delay-ms N]
 *               [--api-key KEY] [--require-conversation] [--escalate-on WORD]
 *
 *   --listen        address to serve; port 0 picks a free one. Once serving,
 *                   prints exactly one line "listening on HOST:PORT" (the
 *                   real port) to stdout.
 *   --log FILE      appends one line per request (and start/stop) to FILE.
 *   --delay-ms N    every POST /v1/responses is answered N ms late (model
 *                   latency), unless its script step says otherwise; while
 *                   it waits, its conversation is busy (see below).
 *   --api-key KEY   only "Authorization: Bearer KEY" is accepted (401
 *                   invalid_api_key otherwise); without it, any bearer token.
 *   --replies FILE  a scripted reply mode (make demo's kept mode): FILE is a
 *                   JSON array of {"when": ["word", …], "text": "…"}; an
 *                   unscripted, unstructured response answers with the text
 *                   of the first rule one of whose words (case-insensitive)
 *                   occurs in the customer's (role "user") input, a rule
 *                   without "when" matching anything; no match: "Echo: …".
 *   --require-conversation
 *                   refuse /v1/responses without "conversation" (the real
 *                   API allows it, and parley's lead extraction may omit it).
 *   --escalate-on WORD
 *                   an unscripted reply request that declares the
 *                   escalate_to_human tool and whose user items mention WORD
 *                   (ASCII case ignored) calls it with {"reason": "The
 *                   customer asked for a person."}; a request answering such
 *                   a call with {"ok":true} gets a line saying that a person
 *                   will follow up. Counted in /_stats "escalations".
 *
 * SIGTERM or SIGINT: exits 0 after freeing everything (answers still
 * waiting are dropped unsent).
 *
 * API (OpenAI's wire format, docs/protocol.md, OpenAI):
 *
 *   POST /v1/conversations  {} or {"metadata":{…},"items":[…≤20]} →
 *     200 {"id":"conv_…","object":"conversation","created_at":…,"metadata":{}}
 *   POST /v1/responses  needs Authorization: Bearer, a JSON object with
 *     prompt.id or model, input (a string or a non-empty array of items:
 *     {"role","content"} messages, content a string or input_text parts, or
 *     typed items such as function_call_output), conversation (a string or
 *     {"id"}) when present. Answers a Response object whose one message
 *     item's output_text is deterministic:
 *       "Echo: " + the text of every input item, joined with " | "
 *     (a string input counts as one item; function_call_output items
 *     contribute their output), e.g. input [{"role":"user","content":"Hi"},
 *     {"role":"user","content":"Open Saturday?"}] → "Echo: Hi | Open Saturday?".
 *     A request with "text": {"format": {"type": "json_schema", …}}
 *     (structured outputs, lead extraction) has its format checked (name
 *     [a-zA-Z0-9_-]{1,64}, a schema object; with "strict": true every
 *     object lists all its properties in "required" and sets
 *     "additionalProperties": false, else 400 invalid_json_schema) and is
 *     answered with an instance of the schema as the output_text JSON,
 *     derived from what the customer (role "user") wrote: for parley's lead
 *     record, words such as "price", "demo", "urgent", "budget", "sample"
 *     raise levels and set calls to action; "I'm Ana from Padaria Boa"
 *     gives name and company; an address with "@" the email.
 *     A second /v1/responses on a conversation whose earlier response is
 *     still being produced (delayed) gets the real 400 conversation_locked
 *     error at once; /_stats counts these. The function calls of a
 *     conversation's last response must each be answered by the next
 *     request's function_call_output items (else 400 "No tool output found
 *     for function call call_…."), and outputs may only answer those (else
 *     400 "No tool call found for function call output with call_id …"). Errors use OpenAI's body
 *     {"error":{"message","type","param","code"}}; every answer carries
 *     x-request-id, openai-version and openai-processing-ms.
 *
 * Test endpoints (bodies JSON; errors {"error":"…"}):
 *
 *   GET  /_requests  every API request since the last reset, oldest first:
 *                    {"seq","time_ms","method","path","query","headers":
 *                    {authorization, content-type, idempotency-key — those
 *                    present},"body" (parsed JSON or null; "raw_body" holds
 *                    a body that is not JSON),"status" (0 = dropped),
 *                    "response" (the JSON answered, null when dropped),
 *                    "delay_ms","dropped","step" (script step used or null),
 *                    "answered_ms" (when a delayed answer left; wall ms)}
 *   POST /_script    appends a JSON array of steps (all or none: an invalid
 *                    step rejects the whole array with 400 naming it)
 *   GET  /_script    the steps not yet used up
 *   POST /_reset     forgets requests, script and counters
 *   GET  /_stats     {"requests","in_flight","max_in_flight",
 *                    "script_remaining","conversations_created",
 *                    "conversation_locked","responses","structured"}
 *
 * Script steps: each POST /v1/responses (after its request checked out
 * valid and its conversation was not busy) uses the first remaining step
 * meant for it; a request finding none is answered normally. A step is an
 * object; all keys optional:
 *
 *   "for": "responses"     which requests use it: "responses" (default:
 *                          /v1/responses without a json_schema format),
 *                          "structured" (/v1/responses with one),
 *                          "conversations" or "any"
 *   "times": N             serves N requests before it is used up (1)
 *   "delay_ms": N          answer after N ms (replaces --delay-ms); longer
 *                          than the client's timeout simulates a timeout
 *   "drop": true           close the connection without any answer (after
 *                          delay_ms, if given)
 *   "status": N            answer HTTP N with OpenAI's error body for N:
 *                          500 server_error, 503 server_is_overloaded,
 *                          429 rate_limit_exceeded, 401 invalid_api_key,
 *                          400 invalid_request_error, …
 *   "code": "…"            the error's code; known ones carry their real
 *                          message, type, param and status:
 *                          conversation_locked, missing_required_parameter,
 *                          invalid_api_key, rate_limit_exceeded,
 *                          insufficient_quota, server_is_overloaded,
 *                          server_error; "invalid_request_error" gives that
 *                          type with code null. Implies an error even
 *                          without "status".
 *   "type", "message", "param": override the error body's fields
 *   "retry_after": S       headers Retry-After: ceil(S) and retry-after-ms
 *   "retry_after_ms": N    header retry-after-ms: N only
 *   "should_retry": B      header x-should-retry: true|false
 *   "text": "…"            reply with exactly this text
 *   "text_len": N          reply with N ASCII characters of numbered
 *                          sentences ("Sentence 1 of a long reply. …"),
 *                          for splitting tests
 *   "response_status": "failed"      200 with status "failed", output [] and
 *                          error {"code": "error_code" (server_error),
 *                          "message"}
 *   "response_status": "incomplete"  200 with status "incomplete",
 *                          incomplete_details.reason "reason"
 *                          (max_output_tokens) and half the text
 *   "function_call": {"name": "…", "arguments": "<JSON string>" or an
 *                    object, "call_id": "…"}   the output is one
 *                          function_call item instead of a message
 *   "function_calls": [{…}, …]   several function_call items at once
 *                          (a call to a tool the request does not declare,
 *                          or with tool_choice "none", gets the usual
 *                          message instead: a model cannot make it)
 *   "text_template": "…"   reply with this text, each {key} replaced by
 *                          that field of the JSON output of the request's
 *                          first function_call_output item
 *   "reasoning": true      a reasoning item comes first in output (real
 *                          reasoning models do this)
 *   "refusal": "…"         the message's only content part is a refusal
 *   "fields": {…}          structured answers: these keys replace the
 *                          derived ones (any JSON value, so also wrong
 *                          types and values outside an enum)
 *   "omit_fields": ["…"]   structured answers: these keys are left out
 *
 * Example: [{"status":500},{"status":429,"retry_after":2},
 *           {"delay_ms":5000},{"drop":true},{"text":"Hello"},
 *           {"function_call":{"name":"book_meeting","arguments":{"start_iso":"…"}}}]
 */
#include <getopt.h>

#include "standin_common.h"

#define DEFAULT_MODEL "gpt-4o-mini-2024-07-18"

struct fake {
	struct standin s;
	long delay_ms;
	const char *api_key;
	bool require_conversation;
	long conversations; /* created since the last reset */
	long locked;        /* conversation_locked refusals */
	long responses;     /* Response objects answered (any status) */
	long structured;    /* of those, structured-output answers (json_schema) */
	cJSON *open_calls;  /* {"conv_…": ["call_…", …]}: function calls not yet answered */
	/* --escalate-on WORD: a reply request that declares escalate_to_human
	 * and whose user input mentions WORD (any case) calls it, unscripted */
	const char *escalate_on;
	long escalations; /* such calls answered */
	cJSON *replies;   /* --replies: [{"when":[…],"text":…}, …], or NULL */
};

/* ---------------------------------------------------------------- errors */

/* Errors whose real wording is known (OpenAI's documented error bodies;
 * docs/protocol.md). */
struct known_error {
	const char *code; /* what a step's "code" names */
	int status;
	const char *type;
	const char *param;
	const char *message;
	bool null_code; /* the body's code is null (real 500s; a type name) */
};

static const struct known_error known_errors[] = {
    {"conversation_locked", 400, "invalid_request_error", "conversation",
     "Another process is currently operating on this conversation. Please retry in a few "
     "seconds.",
     false},
    {"missing_required_parameter", 400, "invalid_request_error", "model",
     "Missing required parameter: 'model'.", false},
    {"invalid_request_error", 400, "invalid_request_error", NULL,
     "Invalid request (scripted by fake_openai).", true},
    {"invalid_api_key", 401, "authentication_error", NULL,
     "Incorrect API key provided: sk-***. You can find your API key at "
     "https://platform.openai.com/account/api-keys.",
     false},
    {"rate_limit_exceeded", 429, "rate_limit_error", NULL,
     "Rate limit exceeded. Please try again in 20 seconds.", false},
    {"insufficient_quota", 429, "insufficient_quota", NULL,
     "You exceeded your current quota, please check your plan and billing details. For more "
     "information on this error, read the docs: "
     "https://platform.openai.com/docs/guides/error-codes/api-errors.",
     false},
    {"server_is_overloaded", 503, "service_unavailable_error", NULL,
     "The server is overloaded or not ready yet.", false},
    {"server_error", 500, "server_error", NULL,
     "The server had an error while processing your request. Sorry about that!", true},
    {NULL, 0, NULL, NULL, NULL, false},
};

static const struct known_error *error_by_code(const char *code)
{
	const struct known_error *k;

	for (k = known_errors; k->code; k++)
		if (strcmp(k->code, code) == 0)
			return k;
	return NULL;
}

/* What a bare {"status": N} step means. */
static const struct known_error *error_by_status(int status)
{
	switch (status) {
	case 400: return error_by_code("invalid_request_error");
	case 401: return error_by_code("invalid_api_key");
	case 429: return error_by_code("rate_limit_exceeded");
	case 500: return error_by_code("server_error");
	case 503: return error_by_code("server_is_overloaded");
	default: return NULL;
	}
}

static void openai_error(struct answer *a, int status, const char *type, const char *code,
			 const char *param, const char *message)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(doc, "error");

	cJSON_AddStringToObject(e, "message", message);
	cJSON_AddStringToObject(e, "type", type);
	json_add_str_or_null(e, "param", param);
	json_add_str_or_null(e, "code", code);
	answer_json(a, status, doc);
}

static void known_error(struct answer *a, const char *code)
{
	const struct known_error *k = error_by_code(code);

	openai_error(a, k->status, k->type, k->null_code ? NULL : k->code, k->param, k->message);
}

/* A 400 invalid_request_error with a formatted message. */
static void bad_request(struct answer *a, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void bad_request(struct answer *a, const char *code, const char *param, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	openai_error(a, 400, "invalid_request_error", code, param, msg);
}

/* True when step asks for an error answer (a status other than 200, or a code). */
static bool step_is_error(const cJSON *step)
{
	double status = json_num(step, "status", 0);

	return (status && status != 200) || (json_has(step, "code") && status != 200);
}

static void scripted_error(struct answer *a, const cJSON *step)
{
	int status = (int)json_num(step, "status", 0);
	const char *code = json_str(step, "code");
	const struct known_error *k = code ? error_by_code(code) : error_by_status(status);
	const char *type = json_str(step, "type");
	const char *msg = json_str(step, "message");
	const char *param = json_str(step, "param");
	char generic[96];

	if (!status)
		status = k ? k->status : 400;
	if (!type)
		type = k ? k->type : status >= 500 ? "server_error" : "invalid_request_error";
	if (!msg && k) {
		msg = k->message;
	} else if (!msg) {
		snprintf(generic, sizeof(generic), "HTTP %d (scripted by fake_openai).", status);
		msg = generic;
	}
	if (!param && k)
		param = k->param;
	if (k)
		code = k->null_code ? NULL : k->code;
	openai_error(a, status, type, code, param, msg);
}

/* Retry-After and friends, from a step, on any answer. */
static void retry_headers(struct answer *a, const cJSON *step)
{
	standin_retry_after(a, step);
	if (json_has(step, "should_retry"))
		answer_header(a, "x-should-retry",
			      json_true(step, "should_retry") ? "true" : "false");
	if ((int)json_num(step, "status", 0) == 429) {
		answer_header(a, "x-ratelimit-limit-requests", "60");
		answer_header(a, "x-ratelimit-remaining-requests", "0");
	}
}

/* ---------------------------------------------------------------- checking requests */

static const char *json_kind(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "an object";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	return "null";
}

static bool check_auth(struct fake *f, struct evhttp_request *req, struct answer *a)
{
	const char *tok = standin_bearer(req);

	if (!tok) {
		openai_error(
		    a, 401, "invalid_request_error", NULL, NULL,
		    "You didn't provide an API key. You need to provide your API key in an "
		    "Authorization header using Bearer auth (i.e. Authorization: Bearer "
		    "YOUR_KEY), or as the password field (with blank username) if you're "
		    "accessing the API from your browser and are prompted for a username and "
		    "password. You can obtain an API key from "
		    "https://platform.openai.com/account/api-keys.");
		return false;
	}
	if (f->api_key && strcmp(tok, f->api_key) != 0) {
		known_error(a, "invalid_api_key");
		return false;
	}
	return true;
}

/* The body as a JSON object, or NULL with a set; an empty body is {} when empty_ok. */
static cJSON *parse_object(struct evhttp_request *req, const char *body, size_t len, bool empty_ok,
			   struct answer *a)
{
	cJSON *doc;

	if (len == 0 && empty_ok)
		return cJSON_CreateObject();
	if (!standin_is_json(req)) {
		const char *ct = standin_header(req, "Content-Type");

		bad_request(a, NULL, NULL,
			    "Invalid Content-Type header (%s), expected application/json.",
			    ct ? ct : "none");
		return NULL;
	}
	doc = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		bad_request(
		    a, NULL, NULL,
		    "We could not parse the JSON body of your request. (HINT: This likely "
		    "means you aren't using your HTTP library correctly. The OpenAI API "
		    "expects a JSON payload, but what was sent was not valid JSON. If you have "
		    "trouble figuring out how to fix this, please contact us through our help "
		    "center at help.openai.com.)");
		return NULL;
	}
	return doc;
}

static bool check_content_part(const cJSON *part, int i, int j, struct answer *a)
{
	const char *type = json_str(part, "type");

	if (!cJSON_IsObject(part)) {
		char param[64];

		snprintf(param, sizeof(param), "input[%d].content[%d]", i, j);
		bad_request(a, "invalid_type", param,
			    "Invalid type for '%s': expected an object, but got %s instead.", param,
			    json_kind(part));
		return false;
	}
	if (!type) {
		char param[64];

		snprintf(param, sizeof(param), "input[%d].content[%d].type", i, j);
		bad_request(a, "missing_required_parameter", param,
			    "Missing required parameter: '%s'.", param);
		return false;
	}
	if ((!strcmp(type, "input_text") || !strcmp(type, "output_text")) &&
	    !json_str(part, "text")) {
		char param[64];

		snprintf(param, sizeof(param), "input[%d].content[%d].text", i, j);
		bad_request(a, "missing_required_parameter", param,
			    "Missing required parameter: '%s'.", param);
		return false;
	}
	return true;
}

static bool check_message_item(const cJSON *item, int i, struct answer *a)
{
	static const char *const roles[] = {"user", "assistant", "system", "developer", NULL};
	const char *role = json_str(item, "role");
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
	const cJSON *part;
	char param[64];
	int k, j = 0;

	for (k = 0; roles[k] && role; k++)
		if (strcmp(roles[k], role) == 0)
			break;
	if (!role || !roles[k]) {
		snprintf(param, sizeof(param), "input[%d].role", i);
		bad_request(a, "invalid_value", param,
			    "Invalid value: '%s'. Supported values are: 'user', 'assistant', "
			    "'system', and 'developer'.",
			    role ? role
				 : json_kind(cJSON_GetObjectItemCaseSensitive(item, "role")));
		return false;
	}
	snprintf(param, sizeof(param), "input[%d].content", i);
	if (!content) {
		bad_request(a, "missing_required_parameter", param,
			    "Missing required parameter: '%s'.", param);
		return false;
	}
	if (cJSON_IsString(content))
		return true;
	if (!cJSON_IsArray(content)) {
		bad_request(a, "invalid_type", param,
			    "Invalid type for '%s': expected one of a string or array of input "
			    "content, but got %s instead.",
			    param, json_kind(content));
		return false;
	}
	cJSON_ArrayForEach(part, content)
	{
		if (!check_content_part(part, i, j, a))
			return false;
		j++;
	}
	return true;
}

static bool check_input(const cJSON *input, struct answer *a)
{
	const cJSON *item;
	int i = 0;

	if (!input) {
		bad_request(a, "missing_required_parameter", "input",
			    "Missing required parameter: 'input'.");
		return false;
	}
	if (cJSON_IsString(input))
		return true;
	if (!cJSON_IsArray(input)) {
		bad_request(a, "invalid_type", "input",
			    "Invalid type for 'input': expected one of a string or array of input "
			    "items, but got %s instead.",
			    json_kind(input));
		return false;
	}
	if (cJSON_GetArraySize(input) == 0) {
		bad_request(
		    a, "empty_array", "input",
		    "Invalid 'input': empty array. Expected an array with minimum length 1, "
		    "but got an empty array instead.");
		return false;
	}
	cJSON_ArrayForEach(item, input)
	{
		char param[64];
		const char *type = json_str(item, "type");

		snprintf(param, sizeof(param), "input[%d]", i);
		if (!cJSON_IsObject(item)) {
			bad_request(a, "invalid_type", param,
				    "Invalid type for '%s': expected an input item, but got %s "
				    "instead.",
				    param, json_kind(item));
			return false;
		}
		if (json_has(item, "role") || (type && !strcmp(type, "message"))) {
			if (!check_message_item(item, i, a))
				return false;
		} else if (!type) {
			snprintf(param, sizeof(param), "input[%d].role", i);
			bad_request(a, "missing_required_parameter", param,
				    "Missing required parameter: '%s'.", param);
			return false;
		} else if (!strcmp(type, "function_call_output") &&
			   (!json_str(item, "call_id") || !json_has(item, "output"))) {
			snprintf(param, sizeof(param), "input[%d].%s", i,
				 json_str(item, "call_id") ? "output" : "call_id");
			bad_request(a, "missing_required_parameter", param,
				    "Missing required parameter: '%s'.", param);
			return false;
		}
		i++;
	}
	return true;
}

/* The conversation id of a request ("conv_…" or {"id": …}), NULL when absent. */
static const char *conversation_of(const cJSON *doc)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "conversation");

	if (cJSON_IsString(c))
		return c->valuestring;
	return json_str(c, "id");
}

static bool check_response_request(struct fake *f, const cJSON *doc, struct answer *a)
{
	const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(doc, "prompt");
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
	const cJSON *conv = cJSON_GetObjectItemCaseSensitive(doc, "conversation");

	if (prompt && !cJSON_IsNull(prompt)) {
		const char *id = json_str(prompt, "id");

		if (!cJSON_IsObject(prompt)) {
			bad_request(a, "invalid_type", "prompt",
				    "Invalid type for 'prompt': expected an object, but got %s "
				    "instead.",
				    json_kind(prompt));
			return false;
		}
		if (!id || !*id) {
			bad_request(a, "missing_required_parameter", "prompt.id",
				    "Missing required parameter: 'prompt.id'.");
			return false;
		}
	} else if (!model || cJSON_IsNull(model)) {
		known_error(a, "missing_required_parameter");
		return false;
	}
	if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) {
		bad_request(a, "invalid_type", "model",
			    "Invalid type for 'model': expected a string, but got %s instead.",
			    json_kind(model));
		return false;
	}
	if (conv && !cJSON_IsNull(conv)) {
		const char *id = conversation_of(doc);

		if (!id || !*id) {
			bad_request(
			    a, "invalid_type", "conversation",
			    "Invalid type for 'conversation': expected one of a string or an "
			    "object with an id, but got %s instead.",
			    json_kind(conv));
			return false;
		}
		if (json_str(doc, "previous_response_id")) {
			bad_request(
			    a, "mutually_exclusive_parameters", "conversation",
			    "Mutually exclusive parameters: Ensure you are only providing one "
			    "of: 'previous_response_id' or 'conversation'.");
			return false;
		}
	} else if (f->require_conversation) {
		bad_request(a, "missing_required_parameter", "conversation",
			    "Missing required parameter: 'conversation'.");
		return false;
	}
	return check_input(cJSON_GetObjectItemCaseSensitive(doc, "input"), a);
}

/* Whether id is a string in arr. */
static bool in_array(const cJSON *arr, const char *id)
{
	const cJSON *v;

	cJSON_ArrayForEach(v,
			   arr) if (cJSON_IsString(v) && !strcmp(v->valuestring, id)) return true;
	return false;
}

/*
 * In a conversation, the function calls of the last response must all be
 * answered by the next request's function_call_output items, and those items
 * may only answer them (the real API's 400s; docs/protocol.md, Meeting tools).
 */
static bool check_tool_outputs(struct fake *f, const cJSON *doc, struct answer *a)
{
	const char *conv = conversation_of(doc);
	const cJSON *open = conv ? cJSON_GetObjectItemCaseSensitive(f->open_calls, conv) : NULL;
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(doc, "input");
	const cJSON *item, *id;
	const cJSON *items = cJSON_IsArray(input) ? input : NULL;
	cJSON *answered = cJSON_CreateArray();
	bool ok = true;

	if (!conv) {
		cJSON_Delete(answered);
		return true;
	}
	cJSON_ArrayForEach(item, items)
	{
		const char *type = json_str(item, "type");
		const char *cid = json_str(item, "call_id");

		if (!type || strcmp(type, "function_call_output") || !cid)
			continue;
		if (!in_array(open, cid)) {
			bad_request(a, NULL, "input",
				    "No tool call found for function call output with call_id %s.",
				    cid);
			ok = false;
			break;
		}
		cJSON_AddItemToArray(answered, cJSON_CreateString(cid));
	}
	if (!ok)
		open = NULL;
	cJSON_ArrayForEach(id, open)
	{
		if (cJSON_IsString(id) && !in_array(answered, id->valuestring)) {
			bad_request(a, NULL, "input", "No tool output found for function call %s.",
				    id->valuestring);
			ok = false;
			break;
		}
	}
	cJSON_Delete(answered);
	return ok;
}

/* The calls of an answered response are open until the next request. */
static void note_open_calls(struct fake *f, const cJSON *doc, const cJSON *output)
{
	const char *conv = conversation_of(doc);
	const cJSON *item;
	cJSON *ids;

	if (!conv)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(f->open_calls, conv);
	ids = cJSON_CreateArray();
	cJSON_ArrayForEach(item, output) if (json_str(item, "type") &&
					     !strcmp(json_str(item, "type"), "function_call"))
	    cJSON_AddItemToArray(ids, cJSON_CreateString(json_str(item, "call_id")));
	if (cJSON_GetArraySize(ids) > 0)
		cJSON_AddItemToObject(f->open_calls, conv, ids);
	else
		cJSON_Delete(ids);
}

/*
 * Whether the model may call name in this request: not with tool_choice
 * "none", and when the request declares tools, only one of them (without a
 * "tools" array the stored prompt may carry its own).
 */
static bool tool_allowed(const cJSON *doc, const char *name)
{
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(doc, "tools"), *t;
	const char *choice = json_str(doc, "tool_choice");

	if (choice && !strcmp(choice, "none"))
		return false;
	if (!cJSON_IsArray(tools) || cJSON_GetArraySize(tools) == 0)
		return true;
	cJSON_ArrayForEach(t, tools) if (json_str(t, "name") &&
					 !strcmp(json_str(t, "name"), name)) return true;
	return false;
}

/* ---------------------------------------------------------------- answers */

/* The text of one input item (see the top of the file), appended to sb. */
static void item_text(const cJSON *item, struct strbuf *sb)
{
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
	const cJSON *output = cJSON_GetObjectItemCaseSensitive(item, "output");
	const cJSON *part;
	bool first = true;

	if (cJSON_IsString(item)) {
		strbuf_puts(sb, item->valuestring);
	} else if (cJSON_IsString(content)) {
		strbuf_puts(sb, content->valuestring);
	} else if (cJSON_IsArray(content)) {
		cJSON_ArrayForEach(part, content)
		{
			const char *t = json_str(part, "text");

			if (!t)
				continue;
			if (!first)
				strbuf_putc(sb, ' ');
			strbuf_puts(sb, t);
			first = false;
		}
	} else if (cJSON_IsString(output)) {
		strbuf_puts(sb, output->valuestring);
	}
}

/* "Echo: " + every input item's text joined with " | ". */
static char *echo_text(const cJSON *input)
{
	struct strbuf sb = STRBUF_INIT;
	const cJSON *item;
	bool first = true;

	strbuf_puts(&sb, "Echo: ");
	if (cJSON_IsString(input)) {
		item_text(input, &sb);
		return strbuf_detach(&sb);
	}
	cJSON_ArrayForEach(item, input)
	{
		size_t before;

		if (!first)
			strbuf_puts(&sb, " | ");
		before = sb.len;
		item_text(item, &sb);
		/* Items without text (e.g. reasoning) leave no empty " | " behind. */
		if (sb.len == before && !first) {
			sb.len -= 3;
			sb.buf[sb.len] = '\0';
		} else {
			first = false;
		}
	}
	return strbuf_detach(&sb);
}

/* --replies: the first rule matching what the customer wrote, or NULL. */
static char *scripted_reply(const struct fake *f, const cJSON *input)
{
	struct strbuf sb = STRBUF_INIT;
	const cJSON *item, *rule, *w;
	char *lower, *p, *out = NULL;

	if (!f->replies)
		return NULL;
	if (cJSON_IsString(input)) {
		item_text(input, &sb);
	} else {
		cJSON_ArrayForEach(item, input)
		{
			const char *role = json_str(item, "role");

			if (role && !strcmp(role, "user")) {
				strbuf_putc(&sb, '\n');
				item_text(item, &sb);
			}
		}
	}
	lower = strbuf_detach(&sb);
	if (!lower)
		lower = xstrdup("");
	for (p = lower; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	cJSON_ArrayForEach(rule, f->replies)
	{
		const cJSON *when = cJSON_GetObjectItemCaseSensitive(rule, "when");
		bool match = !when;

		cJSON_ArrayForEach(w, when) if (strstr(lower, w->valuestring)) match = true;
		if (match) {
			out = xstrdup(json_str(rule, "text"));
			break;
		}
	}
	free(lower);
	return out;
}

/* Reads and checks --replies FILE; NULL after saying why. */
static cJSON *load_replies(const char *path)
{
	FILE *in = fopen(path, "r");
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;
	cJSON *doc, *rule, *w;

	if (!in) {
		fprintf(stderr, "fake_openai: --replies %s: %s\n", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		strbuf_append(&sb, buf, n);
	fclose(in);
	doc = cJSON_Parse(sb.buf ? sb.buf : "");
	strbuf_free(&sb);
	if (!cJSON_IsArray(doc))
		goto bad;
	cJSON_ArrayForEach(rule, doc)
	{
		const cJSON *when = cJSON_GetObjectItemCaseSensitive(rule, "when");

		if (!json_str(rule, "text") || (when && !cJSON_IsArray(when)))
			goto bad;
		cJSON_ArrayForEach(w, when)
		{
			if (!cJSON_IsString(w))
				goto bad;
			for (char *p = w->valuestring; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
		}
	}
	return doc;
bad:
	fprintf(stderr,
		"fake_openai: --replies %s: want a JSON array of {\"when\": [\"word\", …], "
		"\"text\": \"…\"}\n",
		path);
	cJSON_Delete(doc);
	return NULL;
}

/* Exactly n ASCII characters of numbered sentences. */
static char *long_text(size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	int i;

	for (i = 1; sb.len < n; i++)
		strbuf_printf(&sb, "%sSentence %d of a long reply.", i > 1 ? " " : "", i);
	if (!sb.buf)
		return xstrdup("");
	sb.buf[n] = '\0';
	sb.len = n;
	return strbuf_detach(&sb);
}

/* The first half of text, cut on a UTF-8 character boundary, never empty. */
static char *half_text(const char *text)
{
	size_t n = strlen(text) / 2;

	if (n == 0)
		n = strlen(text);
	n = utf8_cut(text, strlen(text), n);
	return xstrndup(text, n ? n : strlen(text));
}

static cJSON *message_item(struct standin *s, const char *text, const char *status)
{
	cJSON *item = cJSON_CreateObject();
	cJSON *content = cJSON_CreateArray();
	cJSON *part = cJSON_CreateObject();
	char *id = standin_id(s, "msg_", 48);

	cJSON_AddStringToObject(item, "id", id);
	cJSON_AddStringToObject(item, "type", "message");
	cJSON_AddStringToObject(item, "status", status);
	cJSON_AddStringToObject(part, "type", "output_text");
	cJSON_AddItemToObject(part, "annotations", cJSON_CreateArray());
	cJSON_AddItemToObject(part, "logprobs", cJSON_CreateArray());
	cJSON_AddStringToObject(part, "text", text);
	cJSON_AddItemToArray(content, part);
	cJSON_AddItemToObject(item, "content", content);
	cJSON_AddStringToObject(item, "role", "assistant");
	free(id);
	return item;
}

static cJSON *function_call_item(struct standin *s, const cJSON *fc)
{
	cJSON *item = cJSON_CreateObject();
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(fc, "arguments");
	char *id = standin_id(s, "fc_", 48);
	char *call_id = standin_random_text(
	    s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 24);
	struct strbuf cid = STRBUF_INIT;

	strbuf_printf(&cid, "call_%s", call_id);
	cJSON_AddStringToObject(item, "type", "function_call");
	cJSON_AddStringToObject(item, "id", id);
	cJSON_AddStringToObject(
	    item, "call_id", json_str(fc, "call_id") ? json_str(fc, "call_id") : strbuf_str(&cid));
	cJSON_AddStringToObject(item, "name", json_str(fc, "name"));
	/* On the wire arguments is always a string holding JSON. */
	if (cJSON_IsString(args)) {
		cJSON_AddStringToObject(item, "arguments", args->valuestring);
	} else if (args) {
		char *p = json_take_text(cJSON_Duplicate(args, true));

		cJSON_AddStringToObject(item, "arguments", p);
		free(p);
	} else {
		cJSON_AddStringToObject(item, "arguments", "{}");
	}
	cJSON_AddStringToObject(item, "status", "completed");
	strbuf_free(&cid);
	free(call_id);
	free(id);
	return item;
}

static cJSON *reasoning_item(struct standin *s)
{
	cJSON *item = cJSON_CreateObject();
	char *id = standin_id(s, "rs_", 48);

	cJSON_AddStringToObject(item, "id", id);
	cJSON_AddStringToObject(item, "type", "reasoning");
	cJSON_AddItemToObject(item, "summary", cJSON_CreateArray());
	free(id);
	return item;
}

static cJSON *usage_object(size_t in_chars, size_t out_chars, bool with_output)
{
	cJSON *u = cJSON_CreateObject();
	double in = 12 + (double)(in_chars / 4),
	       out = with_output ? 1 + (double)(out_chars / 4) : 0;

	cJSON_AddNumberToObject(u, "input_tokens", in);
	cJSON_AddItemToObject(u, "input_tokens_details", cJSON_CreateObject());
	cJSON_AddNumberToObject(cJSON_GetObjectItem(u, "input_tokens_details"), "cached_tokens", 0);
	cJSON_AddNumberToObject(u, "output_tokens", out);
	cJSON_AddItemToObject(u, "output_tokens_details", cJSON_CreateObject());
	cJSON_AddNumberToObject(cJSON_GetObjectItem(u, "output_tokens_details"), "reasoning_tokens",
				0);
	cJSON_AddNumberToObject(u, "total_tokens", in + out);
	return u;
}

static cJSON *prompt_echo(const cJSON *doc)
{
	const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(doc, "prompt");
	cJSON *p;

	if (!cJSON_IsObject(prompt))
		return cJSON_CreateNull();
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "id", json_str(prompt, "id"));
	json_echo(p, prompt, "variables", cJSON_CreateObject());
	json_echo(p, prompt, "version", cJSON_CreateString("1"));
	return p;
}

/*
 * The whole Response object (docs/protocol.md, A reply; fields in the order of
 * the live captures), echoing the request's settings as the real API does.
 */
static cJSON *response_object(struct fake *f, const cJSON *doc, const char *status, cJSON *output,
			      cJSON *error, cJSON *incomplete, cJSON *usage)
{
	cJSON *r = cJSON_CreateObject();
	const char *conv = conversation_of(doc);
	const char *model = json_str(doc, "model");
	char *id = standin_id(&f->s, "resp_", 50);
	double now = (double)(clock_wall_ms() / 1000);
	cJSON *reasoning = cJSON_CreateObject();
	cJSON *text = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "id", id);
	cJSON_AddStringToObject(r, "object", "response");
	cJSON_AddNumberToObject(r, "created_at", now);
	cJSON_AddStringToObject(r, "status", status);
	cJSON_AddBoolToObject(r, "background", false);
	if (strcmp(status, "completed") == 0)
		cJSON_AddNumberToObject(r, "completed_at", now);
	else
		cJSON_AddNullToObject(r, "completed_at");
	if (conv) {
		cJSON *c = cJSON_AddObjectToObject(r, "conversation");

		cJSON_AddStringToObject(c, "id", conv);
	} else {
		cJSON_AddNullToObject(r, "conversation");
	}
	cJSON_AddItemToObject(r, "error", error ? error : cJSON_CreateNull());
	cJSON_AddItemToObject(r, "incomplete_details",
			      incomplete ? incomplete : cJSON_CreateNull());
	json_echo(r, doc, "instructions", cJSON_CreateNull());
	json_echo(r, doc, "max_output_tokens", cJSON_CreateNull());
	cJSON_AddNullToObject(r, "max_tool_calls");
	cJSON_AddStringToObject(r, "model", model ? model : DEFAULT_MODEL);
	cJSON_AddItemToObject(r, "output", output);
	cJSON_AddBoolToObject(r, "parallel_tool_calls", true);
	json_echo(r, doc, "previous_response_id", cJSON_CreateNull());
	cJSON_AddItemToObject(r, "prompt", prompt_echo(doc));
	cJSON_AddNullToObject(r, "prompt_cache_key");
	cJSON_AddNullToObject(reasoning, "effort");
	cJSON_AddNullToObject(reasoning, "summary");
	cJSON_AddItemToObject(r, "reasoning", reasoning);
	json_echo(r, doc, "safety_identifier", cJSON_CreateNull());
	cJSON_AddStringToObject(r, "service_tier", "default");
	json_echo(r, doc, "store", cJSON_CreateTrue());
	cJSON_AddNumberToObject(r, "temperature", 1.0);
	cJSON_AddItemToObject(text, "format", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItem(text, "format"), "type", "text");
	cJSON_AddStringToObject(text, "verbosity", "medium");
	json_echo(r, doc, "text", text);
	json_echo(r, doc, "tool_choice", cJSON_CreateString("auto"));
	json_echo(r, doc, "tools", cJSON_CreateArray());
	cJSON_AddNumberToObject(r, "top_logprobs", 0);
	cJSON_AddNumberToObject(r, "top_p", 1.0);
	cJSON_AddStringToObject(r, "truncation", "disabled");
	cJSON_AddItemToObject(r, "usage", usage ? usage : cJSON_CreateNull());
	cJSON_AddNullToObject(r, "user");
	json_echo(r, doc, "metadata", cJSON_CreateObject());
	free(id);
	return r;
}

/* ---------------------------------------------------------------- structured outputs */

/* The json_schema format of a request, or NULL when it asks for text. */
static const cJSON *schema_format(const cJSON *doc)
{
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(doc, "text"), "format");
	const char *type = json_str(fmt, "type");

	return type && !strcmp(type, "json_schema") ? fmt : NULL;
}

/*
 * The strict-mode rules (docs/protocol.md, Meeting tools) for the schema
 * object at path: an object type lists every property in "required" and sets
 * "additionalProperties": false; nested objects alike. Returns false with a
 * 400 answered, in the real API's manner, when one is broken.
 */
static bool check_strict(const cJSON *o, const char *name, struct strbuf *path, struct answer *a)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(o, "required");
	const cJSON *p;
	bool is_object = cJSON_IsString(type) && !strcmp(type->valuestring, "object");

	if (!cJSON_IsObject(o)) {
		bad_request(a, "invalid_json_schema", "text.format.schema",
			    "Invalid schema for response_format '%s': In context=(%s), schema must "
			    "be a JSON Schema of 'type: \"object\"', got '%s'.",
			    name, strbuf_str(path), json_kind(o));
		return false;
	}
	if (is_object) {
		const cJSON *ap = cJSON_GetObjectItemCaseSensitive(o, "additionalProperties");

		if (!cJSON_IsFalse(ap)) {
			bad_request(a, "invalid_json_schema", "text.format.schema",
				    "Invalid schema for response_format '%s': In context=(%s), "
				    "'additionalProperties' is required to be supplied and to be "
				    "false.",
				    name, strbuf_str(path));
			return false;
		}
		cJSON_ArrayForEach(p, props)
		{
			const cJSON *r;
			bool listed = false;

			cJSON_ArrayForEach(r, req) if (cJSON_IsString(r) &&
						       !strcmp(r->valuestring, p->string)) listed =
			    true;
			if (!listed) {
				bad_request(
				    a, "invalid_json_schema", "text.format.schema",
				    "Invalid schema for response_format '%s': In context=(%s), "
				    "'required' is required to be supplied and to be an array "
				    "including every key in properties. Missing '%s'.",
				    name, strbuf_str(path), p->string);
				return false;
			}
		}
	}
	cJSON_ArrayForEach(p, props)
	{
		size_t before = path->len;
		bool ok;

		strbuf_printf(path, "%s'properties', '%s'", before ? ", " : "", p->string);
		ok = check_strict(p, name, path, a);
		path->len = before;
		if (path->buf)
			path->buf[before] = '\0';
		if (!ok)
			return false;
	}
	return true;
}

/* text.format of type json_schema: name, schema, and strict's rules. */
static bool check_format(const cJSON *fmt, struct answer *a)
{
	const char *name = json_str(fmt, "name");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(fmt, "schema");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
	struct strbuf path = STRBUF_INIT;
	const char *c;
	bool ok;

	if (!name || !*name || strlen(name) > 64) {
		bad_request(a, "missing_required_parameter", "text.format.name",
			    "Missing required parameter: 'text.format.name'.");
		return false;
	}
	for (c = name; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')) {
			bad_request(
			    a, "invalid_value", "text.format.name",
			    "Invalid 'text.format.name': string does not match pattern. "
			    "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.");
			return false;
		}
	}
	if (!cJSON_IsObject(schema)) {
		bad_request(a, "missing_required_parameter", "text.format.schema",
			    "Missing required parameter: 'text.format.schema'.");
		return false;
	}
	if (!json_true(fmt, "strict"))
		return true;
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "object") != 0) {
		bad_request(a, "invalid_json_schema", "text.format.schema",
			    "Invalid schema for response_format '%s': schema must be a JSON Schema "
			    "of 'type: \"object\"', got 'type: \"%s\"'.",
			    name, cJSON_IsString(type) ? type->valuestring : "None");
		return false;
	}
	ok = check_strict(schema, name, &path, a);
	strbuf_free(&path);
	return ok;
}

/* What the customer wrote, for the lead heuristics below. */
struct signals {
	char *text;  /* every customer text, joined by newlines */
	char *lower; /* the same in ASCII lower case */
	int messages;
};

static void add_customer_text(struct signals *sig, struct strbuf *sb, const cJSON *item)
{
	size_t before = sb->len;

	if (sb->len)
		strbuf_putc(sb, '\n');
	item_text(item, sb);
	if (sb->len > before)
		sig->messages++;
}

static void read_signals(const cJSON *input, struct signals *sig)
{
	struct strbuf sb = STRBUF_INIT;
	const cJSON *item;
	char *p;

	sig->messages = 0;
	if (cJSON_IsString(input)) {
		add_customer_text(sig, &sb, input);
	} else {
		cJSON_ArrayForEach(item, input)
		{
			const char *role = json_str(item, "role");

			if (role && !strcmp(role, "user"))
				add_customer_text(sig, &sb, item);
		}
	}
	sig->text = strbuf_detach(&sb);
	sig->lower = xstrdup(sig->text);
	for (p = sig->lower; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

/* How many of the NULL-terminated words occur in what the customer wrote. */
static int hits(const struct signals *sig, const char *const *words)
{
	int n = 0;

	for (; *words; words++)
		if (strstr(sig->lower, *words))
			n++;
	return n;
}

static const char *const w_buy[] = {"price",    "pricing", "quote",   "buy",     "order", "demo",
				    "purchase", "ship",    "deliver", "pick up", "book",  NULL};
static const char *const w_urgent[] = {"urgent",     "asap",      "today", "tomorrow",
				       "right away", "this week", NULL};
static const char *const w_soon[] = {"soon",     "next week", "next month",
				     "saturday", "weekend",   NULL};
static const char *const w_budget[] = {"budget", NULL};
static const char *const w_price[] = {"price", "pricing", "cost", "expensive", "quote", NULL};
static const char *const w_fit[] = {"we need", "our team",    "our company", "our business",
				    "for our", "for my shop", NULL};
static const char *const w_demo[] = {"demo", NULL};
static const char *const w_followup[] = {"call me", "follow up", "contact me", NULL};
static const char *const w_sample[] = {"sample", "trial", NULL};
static const char *const w_website[] = {"website", "http", NULL};
static const char *const w_human[] = {"human", "real person", "speak to someone", NULL};

static const char *yes_no(bool yes)
{
	return yes ? "Yes" : "No";
}

static bool upper_start(const char *s)
{
	return *s >= 'A' && *s <= 'Z';
}

/* Up to max_words capitalised words after the first of the cues. */
static char *words_after(const struct signals *sig, const char *const *cues, int max_words)
{
	const char *const *cue;

	for (cue = cues; *cue; cue++) {
		const char *at = strstr(sig->lower, *cue);
		const char *p, *end;
		int n = 0;

		if (!at)
			continue;
		p = sig->text + (at - sig->lower) + strlen(*cue);
		if (!upper_start(p))
			continue;
		end = p;
		while (n < max_words && upper_start(end)) {
			while ((*end >= 'A' && *end <= 'Z') || (*end >= 'a' && *end <= 'z') ||
			       (unsigned char)*end >= 0x80 || *end == '-' || *end == '\'')
				end++;
			n++;
			if (*end != ' ' || !upper_start(end + 1))
				break;
			end++;
		}
		return xstrndup(p, (size_t)(end - p));
	}
	return NULL;
}

/* The first word with an "@" and a dot after it, trailing punctuation cut. */
static char *email_in(const struct signals *sig)
{
	const char *at = strchr(sig->text, '@');
	const char *start, *end;

	if (!at)
		return NULL;
	start = at;
	while (start > sig->text && !strchr(" \n\t(<:,;", start[-1]))
		start--;
	end = at;
	while (*end && !strchr(" \n\t)>,;", *end))
		end++;
	while (end > at && strchr(".!?", end[-1]))
		end--;
	if (start == at || !memchr(at, '.', (size_t)(end - at)))
		return NULL;
	return xstrndup(start, (size_t)(end - start));
}

static const char *const name_cues[] = {"my name is ", "i'm ", "i am ", "this is ", NULL};
static const char *const company_cues[] = {" from ", " at ", NULL};

/* A value for one of the lead record's properties, or NULL when the name
 * is not one of them. */
static cJSON *lead_value(const char *name, const struct signals *sig)
{
	int buy = hits(sig, w_buy);

	if (!strcmp(name, "intent_level"))
		return cJSON_CreateString(buy >= 2 ? "High" : buy == 1 ? "Medium" : "Low");
	if (!strcmp(name, "urgency_level"))
		return cJSON_CreateString(hits(sig, w_urgent) ? "High"
					  : hits(sig, w_soon) ? "Medium"
							      : "Low");
	if (!strcmp(name, "budget_constraint"))
		return cJSON_CreateString(hits(sig, w_budget)  ? "Yes"
					  : hits(sig, w_price) ? "Maybe"
							       : "No");
	if (!strcmp(name, "fit_alignment"))
		return cJSON_CreateString(hits(sig, w_fit) ? "High" : "Medium");
	if (!strcmp(name, "engagement_health"))
		return cJSON_CreateString(sig->messages >= 4   ? "High"
					  : sig->messages >= 2 ? "Medium"
							       : "Low");
	if (!strcmp(name, "cta_pricing_clicked"))
		return cJSON_CreateString(yes_no(hits(sig, w_price)));
	if (!strcmp(name, "cta_demo_clicked"))
		return cJSON_CreateString(yes_no(hits(sig, w_demo)));
	if (!strcmp(name, "cta_followup_clicked"))
		return cJSON_CreateString(yes_no(hits(sig, w_followup)));
	if (!strcmp(name, "cta_sample_clicked"))
		return cJSON_CreateString(yes_no(hits(sig, w_sample)));
	if (!strcmp(name, "cta_website_clicked"))
		return cJSON_CreateString(yes_no(hits(sig, w_website)));
	if (!strcmp(name, "cta_escalated_to_human"))
		return cJSON_CreateString(yes_no(hits(sig, w_human)));
	if (!strcmp(name, "name") || !strcmp(name, "company") || !strcmp(name, "email")) {
		char *v = !strcmp(name, "email")  ? email_in(sig)
			  : !strcmp(name, "name") ? words_after(sig, name_cues, 1)
						  : words_after(sig, company_cues, 3);
		cJSON *out = v ? cJSON_CreateString(v) : cJSON_CreateNull();

		free(v);
		return out;
	}
	if (!strcmp(name, "intent")) {
		struct strbuf sb = STRBUF_INIT;
		cJSON *out;
		char *t;

		if (hits(sig, w_price))
			strbuf_puts(&sb, "pricing");
		if (hits(sig, w_demo))
			strbuf_printf(&sb, "%sa demo", sb.len ? " and " : "");
		if (hits(sig, w_sample))
			strbuf_printf(&sb, "%sa sample", sb.len ? " and " : "");
		if (!sb.len && buy)
			strbuf_puts(&sb, "buying");
		if (!sb.len) {
			strbuf_free(&sb);
			return cJSON_CreateNull();
		}
		t = xasprintf("Interested in %s.", strbuf_str(&sb));
		out = cJSON_CreateString(t);
		free(t);
		strbuf_free(&sb);
		return out;
	}
	if (!strcmp(name, "smart_notification")) {
		char *who = words_after(sig, name_cues, 1);
		char *company = words_after(sig, company_cues, 3);
		bool urgent = hits(sig, w_urgent) > 0;
		char *t = xasprintf("%s%s%s %s. Follow up %s.", who ? who : "A customer",
				    company ? " from " : "", company ? company : "",
				    buy ? "is interested in buying" : "asked a few questions",
				    urgent ? "today" : "this week");
		cJSON *out = cJSON_CreateString(t);

		free(t);
		free(who);
		free(company);
		return out;
	}
	if (!strcmp(name, "notes"))
		return cJSON_CreateNull();
	return NULL;
}

/* The reason given for one of the levels (a "reasoning" property). */
static char *reason_for(const char *key, const struct signals *sig)
{
	int buy = hits(sig, w_buy);

	if (!strcmp(key, "intent"))
		return xasprintf("%d buying word(s) such as price, order or demo.", buy);
	if (!strcmp(key, "urgency"))
		return xstrdup(hits(sig, w_urgent) ? "Needs it right away."
			       : hits(sig, w_soon) ? "Has a date in mind."
						   : "No timeline given.");
	if (!strcmp(key, "budget"))
		return xstrdup(hits(sig, w_budget)  ? "Mentioned their budget."
			       : hits(sig, w_price) ? "Asked about the price."
						    : "Nothing said about money.");
	if (!strcmp(key, "fit"))
		return xstrdup(hits(sig, w_fit) ? "Described a need of their business."
						: "A general enquiry.");
	if (!strcmp(key, "engagement"))
		return xasprintf("%d customer message(s).", sig->messages);
	return xasprintf("fake_openai: from %d customer message(s).", sig->messages);
}

/*
 * A value valid under schema (the subset parley uses: object, string with
 * or without enum, ["string","null"], number, integer, boolean, array),
 * with lead heuristics for the properties of parley's lead record.
 */
static cJSON *instance_of(const cJSON *schema, const char *name, const struct signals *sig)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
	const char *t = cJSON_IsString(type) ? type->valuestring : NULL;
	cJSON *v;

	if (name && (v = lead_value(name, sig)) != NULL)
		return v;
	if (cJSON_IsArray(en) && cJSON_GetArraySize(en) > 0)
		return cJSON_Duplicate(cJSON_GetArrayItem(en, 0), true);
	if (cJSON_IsArray(type)) {
		const cJSON *x;

		cJSON_ArrayForEach(
		    x, type) if (cJSON_IsString(x) &&
				 !strcmp(x->valuestring, "null")) return cJSON_CreateNull();
		t = cJSON_IsString(cJSON_GetArrayItem(type, 0))
			? cJSON_GetArrayItem(type, 0)->valuestring
			: NULL;
	}
	if (t && !strcmp(t, "object")) {
		const cJSON *p;
		cJSON *o = cJSON_CreateObject();

		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(schema, "properties"))
		{
			/* Inside "reasoning", a short reason for each level. */
			if (name && !strcmp(name, "reasoning")) {
				char *r = reason_for(p->string, sig);

				cJSON_AddStringToObject(o, p->string, r);
				free(r);
				continue;
			}
			cJSON_AddItemToObject(o, p->string, instance_of(p, p->string, sig));
		}
		return o;
	}
	if (t && (!strcmp(t, "number") || !strcmp(t, "integer")))
		return cJSON_CreateNumber(0);
	if (t && !strcmp(t, "boolean"))
		return cJSON_CreateFalse();
	if (t && !strcmp(t, "array"))
		return cJSON_CreateArray();
	return cJSON_CreateString("fake");
}

/*
 * The structured answer's text: an instance of the request's schema
 * derived from the transcript, with a step's "fields" merged in and its
 * "omit_fields" left out.
 */
static char *structured_text(const cJSON *doc, const cJSON *fmt, const cJSON *step)
{
	struct signals sig;
	const cJSON *kv;
	cJSON *answer;

	read_signals(cJSON_GetObjectItemCaseSensitive(doc, "input"), &sig);
	answer = instance_of(cJSON_GetObjectItemCaseSensitive(fmt, "schema"), NULL, &sig);
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(step, "fields"))
	{
		cJSON_DeleteItemFromObjectCaseSensitive(answer, kv->string);
		cJSON_AddItemToObject(answer, kv->string, cJSON_Duplicate(kv, true));
	}
	cJSON_ArrayForEach(
	    kv, cJSON_GetObjectItemCaseSensitive(step, "omit_fields")) if (cJSON_IsString(kv))
	    cJSON_DeleteItemFromObjectCaseSensitive(answer, kv->valuestring);
	free(sig.text);
	free(sig.lower);
	return json_take_text(answer);
}

/* A message item whose only content part is a refusal. */
static cJSON *refusal_item(struct standin *s, const char *refusal)
{
	cJSON *item = message_item(s, "", "completed");
	cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
	cJSON *part = cJSON_CreateObject();

	cJSON_AddStringToObject(part, "type", "refusal");
	cJSON_AddStringToObject(part, "refusal", refusal);
	cJSON_DeleteItemFromArray(content, 0);
	cJSON_AddItemToArray(content, part);
	return item;
}

/*
 * A step's "text_template" with each {key} replaced by that field of the
 * JSON output of the request's first function_call_output item (a tool's
 * answer), so that a scripted final answer can quote what the tool said;
 * unknown keys stay as written.
 */
static char *expand_template(const char *tpl, const cJSON *input)
{
	const cJSON *item, *out = NULL, *items = cJSON_IsArray(input) ? input : NULL;
	cJSON *fields = NULL;
	struct strbuf sb = STRBUF_INIT;
	const char *p;

	cJSON_ArrayForEach(item, items)
	{
		const char *type = json_str(item, "type");

		if (type && !strcmp(type, "function_call_output")) {
			out = cJSON_GetObjectItemCaseSensitive(item, "output");
			break;
		}
	}
	if (cJSON_IsString(out))
		fields = cJSON_Parse(out->valuestring);
	for (p = tpl; *p; p++) {
		const char *end = *p == '{' ? strchr(p, '}') : NULL;
		const cJSON *v = NULL;

		if (end && end - p > 1 && end - p < 64) {
			char key[64];

			memcpy(key, p + 1, (size_t)(end - p - 1));
			key[end - p - 1] = '\0';
			v = cJSON_GetObjectItemCaseSensitive(fields, key);
		}
		if (cJSON_IsString(v)) {
			strbuf_puts(&sb, v->valuestring);
			p = end;
		} else if (cJSON_IsNumber(v)) {
			strbuf_printf(&sb, "%g", v->valuedouble);
			p = end;
		} else {
			strbuf_putc(&sb, *p);
		}
	}
	cJSON_Delete(fields);
	return strbuf_detach(&sb);
}

/* A 200 answer: completed, failed or incomplete, per the step (may be NULL). */
static void response_answer(struct fake *f, const cJSON *doc, const cJSON *step, struct answer *a)
{
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(doc, "input");
	const char *rstatus = json_str(step, "response_status");
	const cJSON *fc = cJSON_GetObjectItemCaseSensitive(step, "function_call");
	const cJSON *fcs = cJSON_GetObjectItemCaseSensitive(step, "function_calls"), *one;
	bool calls = fc || fcs;
	const cJSON *fmt = schema_format(doc);
	cJSON *output = cJSON_CreateArray();
	cJSON *error = NULL, *incomplete = NULL, *usage;
	char *echo = echo_text(input);
	char *text;

	if (json_str(step, "text"))
		text = xstrdup(json_str(step, "text"));
	else if (json_str(step, "text_template"))
		text = expand_template(json_str(step, "text_template"), input);
	else if (json_has(step, "text_len"))
		text = long_text((size_t)json_num(step, "text_len", 0));
	else if (fmt)
		text = structured_text(doc, fmt, step);
	else if (!(text = scripted_reply(f, input)))
		text = xstrdup(echo);
	if (fmt)
		f->structured++;
	if (!rstatus)
		rstatus = "completed";
	/* A model cannot call a tool it was not given: the step's calls become
	 * the usual message then. */
	if (fc && !tool_allowed(doc, json_str(fc, "name")))
		calls = false;
	cJSON_ArrayForEach(one, fcs) if (!tool_allowed(doc, json_str(one, "name"))) calls = false;
	if (json_true(step, "reasoning"))
		cJSON_AddItemToArray(output, reasoning_item(&f->s));
	if (!strcmp(rstatus, "failed")) {
		const char *code = json_str(step, "error_code");
		const char *msg = json_str(step, "message");

		error = cJSON_CreateObject();
		cJSON_AddStringToObject(error, "code", code ? code : "server_error");
		cJSON_AddStringToObject(error, "message",
					msg ? msg : "The model failed to generate a response.");
		usage = NULL;
	} else if (!strcmp(rstatus, "incomplete")) {
		char *half = half_text(text);
		const char *reason = json_str(step, "reason");

		incomplete = cJSON_CreateObject();
		cJSON_AddStringToObject(incomplete, "reason",
					reason ? reason : "max_output_tokens");
		cJSON_AddItemToArray(output, message_item(&f->s, half, "incomplete"));
		usage = usage_object(strlen(echo), strlen(half), true);
		free(half);
	} else if (calls) {
		if (fc)
			cJSON_AddItemToArray(output, function_call_item(&f->s, fc));
		cJSON_ArrayForEach(one, fcs)
		    cJSON_AddItemToArray(output, function_call_item(&f->s, one));
		usage = usage_object(strlen(echo), 40, true);
	} else if (json_str(step, "refusal")) {
		cJSON_AddItemToArray(output, refusal_item(&f->s, json_str(step, "refusal")));
		usage = usage_object(strlen(echo), strlen(json_str(step, "refusal")), true);
	} else {
		cJSON_AddItemToArray(output, message_item(&f->s, text, "completed"));
		usage = usage_object(strlen(echo), strlen(text), true);
	}
	note_open_calls(f, doc, output);
	answer_json(a, 200, response_object(f, doc, rstatus, output, error, incomplete, usage));
	f->responses++;
	free(text);
	free(echo);
}

/* Headers every OpenAI answer carries (C.3); the processing time is the delay. */
static void openai_headers(struct fake *f, struct answer *a)
{
	char *rid = standin_id(&f->s, "req_", 32);
	char ms[32];

	snprintf(ms, sizeof(ms), "%ld", a->delay_ms > 0 ? a->delay_ms : 1);
	answer_header(a, "x-request-id", rid);
	answer_header(a, "openai-version", "2020-10-01");
	answer_header(a, "openai-processing-ms", ms);
	free(rid);
}

/* Whether the request declares a function tool named name. */
static bool declares_tool(const cJSON *doc, const char *name)
{
	const cJSON *t;

	cJSON_ArrayForEach(
	    t, cJSON_GetObjectItemCaseSensitive(doc, "tools")) if (json_str(t, "name") &&
								   !strcmp(json_str(t, "name"),
									   name)) return true;
	return false;
}

/* Whether haystack contains needle, ASCII letters compared in any case. */
static bool mentions(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);

	for (; *haystack; haystack++)
		if (!strncasecmp(haystack, needle, n))
			return true;
	return false;
}

/*
 * --escalate-on: the step that makes a reply request call escalate_to_human
 * when its user items mention the word, or the one that answers such a
 * call's {"ok":true} with a line for the customer; NULL for any other
 * request (caller frees).
 */
static cJSON *escalation_step(struct fake *f, const cJSON *doc)
{
	const cJSON *item;
	bool asked = false, answered = false;

	if (!f->escalate_on || schema_format(doc) || !declares_tool(doc, "escalate_to_human") ||
	    !tool_allowed(doc, "escalate_to_human"))
		return NULL;
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "input"))
	{
		const char *role = json_str(item, "role"), *type = json_str(item, "type");
		struct strbuf sb = STRBUF_INIT;

		if (role && !strcmp(role, "user")) {
			item_text(item, &sb);
			asked = asked || (sb.buf && mentions(sb.buf, f->escalate_on));
		} else if (type && !strcmp(type, "function_call_output") &&
			   json_str(item, "output") &&
			   !strcmp(json_str(item, "output"), "{\"ok\":true}")) {
			answered = true;
		}
		strbuf_free(&sb);
	}
	if (answered)
		return cJSON_Parse(
		    "{\"text\":\"Thank you. A person from our team will follow up here "
		    "shortly.\"}");
	if (!asked)
		return NULL;
	f->escalations++;
	return cJSON_Parse("{\"function_call\":{\"name\":\"escalate_to_human\",\"arguments\":"
			   "{\"reason\":\"The customer asked for a person.\"}}}");
}

/* Error, drop or delay from a step; true when the step decided the answer. */
static bool apply_step(struct answer *a, const cJSON *step)
{
	if (!step)
		return false;
	if (json_has(step, "delay_ms"))
		a->delay_ms = (long)json_num(step, "delay_ms", 0);
	if (json_true(step, "drop")) {
		a->status = 0;
		return true;
	}
	retry_headers(a, step);
	if (step_is_error(step)) {
		scripted_error(a, step);
		return true;
	}
	return false;
}

static void responses(struct fake *f, struct evhttp_request *req, const char *body, size_t len,
		      struct answer *a)
{
	cJSON *doc = NULL;
	const char *conv;

	if (!check_auth(f, req, a))
		return;
	doc = parse_object(req, body, len, false, a);
	if (!doc)
		return;
	if (!check_response_request(f, doc, a))
		goto out;
	conv = conversation_of(doc);
	if (conv && standin_locked(&f->s, conv)) {
		f->locked++;
		standin_log(&f->s, "conversation %s is busy: conversation_locked", conv);
		known_error(a, "conversation_locked");
		goto out;
	}
	if (schema_format(doc) && !check_format(schema_format(doc), a))
		goto out;
	if (!check_tool_outputs(f, doc, a))
		goto out;
	a->delay_ms = f->delay_ms;
	/* Structured-output requests (lead extraction) and the others
	 * (replies) run side by side: each kind takes only its own steps. */
	a->step =
	    standin_take_step(&f->s, schema_format(doc) ? "structured" : "responses", "responses");
	if (!apply_step(a, a->step)) {
		/* Unscripted, --escalate-on may decide (a script step wins). */
		cJSON *auto_step = a->step ? NULL : escalation_step(f, doc);

		response_answer(f, doc, a->step ? a->step : auto_step, a);
		cJSON_Delete(auto_step);
	}
	/* The conversation stays busy for as long as its answer is pending. */
	if (conv)
		a->lock = xstrdup(conv);
out:
	cJSON_Delete(doc);
}

static void conversations(struct fake *f, struct evhttp_request *req, const char *body, size_t len,
			  struct answer *a)
{
	cJSON *doc, *out;
	const cJSON *items, *meta;
	char *id;

	if (!check_auth(f, req, a))
		return;
	doc = parse_object(req, body, len, true, a);
	if (!doc)
		return;
	items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	if (items && !cJSON_IsNull(items) && !cJSON_IsArray(items)) {
		bad_request(a, "invalid_type", "items",
			    "Invalid type for 'items': expected an array, but got %s instead.",
			    json_kind(items));
	} else if (cJSON_GetArraySize(items) > 20) {
		bad_request(
		    a, "array_above_max_length", "items",
		    "Invalid 'items': array too long. Expected an array with maximum length "
		    "20, but got an array with length %d instead.",
		    cJSON_GetArraySize(items));
	} else if (meta && !cJSON_IsNull(meta) && !cJSON_IsObject(meta)) {
		bad_request(a, "invalid_type", "metadata",
			    "Invalid type for 'metadata': expected an object, but got %s instead.",
			    json_kind(meta));
	} else {
		a->step = standin_take_step(&f->s, "conversations", "responses");
		if (!apply_step(a, a->step)) {
			out = cJSON_CreateObject();
			id = standin_id(&f->s, "conv_", 48);
			cJSON_AddStringToObject(out, "id", id);
			cJSON_AddStringToObject(out, "object", "conversation");
			cJSON_AddNumberToObject(out, "created_at",
						(double)(clock_wall_ms() / 1000));
			cJSON_AddItemToObject(out, "metadata",
					      cJSON_IsObject(meta) ? cJSON_Duplicate(meta, true)
								   : cJSON_CreateObject());
			answer_json(a, 200, out);
			f->conversations++;
			free(id);
		}
	}
	cJSON_Delete(doc);
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	struct answer a = ANSWER_INIT;
	bool known;
	size_t len;
	char *path, *body;
	cJSON *entry;

	if (!(entry = standin_begin(&f->s, req, NULL, &path, &body, &len)))
		return;
	known = !strcmp(path, "/v1/responses") || !strcmp(path, "/v1/conversations");
	if (known && !standin_is_post(req)) {
		char *msg = xasprintf("Invalid method for URL (%s %s)", standin_method(req), path);

		openai_error(&a, 405, "invalid_request_error", NULL, NULL, msg);
		free(msg);
	} else if (!strcmp(path, "/v1/responses")) {
		responses(f, req, body, len, &a);
	} else if (!strcmp(path, "/v1/conversations")) {
		conversations(f, req, body, len, &a);
	} else {
		char *msg = xasprintf("Invalid URL (%s %s)", standin_method(req), path);

		openai_error(&a, 404, "invalid_request_error", NULL, NULL, msg);
		free(msg);
	}
	if (a.status != 0)
		openai_headers(f, &a);
	standin_answer(&f->s, req, entry, &a);
	free(body);
	free(path);
}

/* ---------------------------------------------------------------- script and stats */

static const struct step_key step_keys[] = {
    {"for", ST_STR},
    {"times", ST_NUM},
    {"delay_ms", ST_NUM},
    {"drop", ST_BOOL},
    {"status", ST_NUM},
    {"code", ST_STR},
    {"type", ST_STR},
    {"message", ST_STR},
    {"param", ST_STR},
    {"retry_after", ST_NUM},
    {"retry_after_ms", ST_NUM},
    {"should_retry", ST_BOOL},
    {"text", ST_STR},
    {"text_len", ST_NUM},
    {"text_template", ST_STR},
    {"response_status", ST_STR},
    {"error_code", ST_STR},
    {"reason", ST_STR},
    {"function_call", ST_OBJ},
    {"function_calls", ST_ANY},
    {"reasoning", ST_BOOL},
    {"refusal", ST_STR},
    {"fields", ST_OBJ},
    {"omit_fields", ST_ANY},
    {NULL, ST_ANY},
};

static const char *check_step(const cJSON *step)
{
	const char *why = check_step_keys(step, step_keys);
	const char *f = json_str(step, "for");
	const char *rs = json_str(step, "response_status");
	const cJSON *fc = cJSON_GetObjectItemCaseSensitive(step, "function_call");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(fc, "arguments");
	double n = json_num(step, "text_len", 0);
	const cJSON *omit = cJSON_GetObjectItemCaseSensitive(step, "omit_fields");
	const cJSON *name;

	if (*why)
		return why;
	if (f && strcmp(f, "responses") && strcmp(f, "conversations") && strcmp(f, "structured") &&
	    strcmp(f, "any"))
		return "\"for\" must be \"responses\", \"structured\", \"conversations\" or "
		       "\"any\"";
	if (rs && strcmp(rs, "completed") && strcmp(rs, "failed") && strcmp(rs, "incomplete"))
		return "\"response_status\" must be \"completed\", \"failed\" or \"incomplete\"";
	if (json_has(step, "omit_fields") && !cJSON_IsArray(omit))
		return "\"omit_fields\" must be an array of field names";
	cJSON_ArrayForEach(name, omit) if (!cJSON_IsString(name)) return "\"omit_fields\" must be "
									 "an array of field names";
	if (json_has(step, "refusal") && (json_has(step, "text") || json_has(step, "text_len") ||
					  fc || json_has(step, "function_calls")))
		return "\"refusal\" replaces the answer: no \"text\", \"text_len\" or "
		       "\"function_call\" with it";
	if (json_has(step, "text") && json_has(step, "text_len"))
		return "use \"text\" or \"text_len\", not both";
	if (n < 0 || n > 10000000 || n != (double)(long)n)
		return "\"text_len\" must be a whole number from 0 to 10000000";
	if (fc && (!json_str(fc, "name") || !*json_str(fc, "name")))
		return "\"function_call\" needs a \"name\"";
	if (json_has(step, "function_calls")) {
		const cJSON *fcs = cJSON_GetObjectItemCaseSensitive(step, "function_calls"), *one;

		if (!cJSON_IsArray(fcs) || cJSON_GetArraySize(fcs) == 0 || fc)
			return "\"function_calls\" must be a non-empty array of calls (and not "
			       "with \"function_call\")";
		cJSON_ArrayForEach(one, fcs)
		{
			const cJSON *a1 = cJSON_GetObjectItemCaseSensitive(one, "arguments");

			if (!json_str(one, "name") || !*json_str(one, "name"))
				return "each of \"function_calls\" needs a \"name\"";
			if (a1 && !cJSON_IsString(a1) && !cJSON_IsObject(a1))
				return "\"function_calls\" arguments must be strings or objects";
		}
	}
	if (args && !cJSON_IsString(args) && !cJSON_IsObject(args) && !cJSON_IsArray(args))
		return "\"function_call\".\"arguments\" must be a string or an object";
	if (json_has(fc, "call_id") && !json_str(fc, "call_id"))
		return "\"function_call\".\"call_id\" must be a string";
	return "";
}

static void stats(struct standin *s, cJSON *out)
{
	struct fake *f = s->owner;

	cJSON_AddNumberToObject(out, "conversations_created", (double)f->conversations);
	cJSON_AddNumberToObject(out, "conversation_locked", (double)f->locked);
	cJSON_AddNumberToObject(out, "responses", (double)f->responses);
	cJSON_AddNumberToObject(out, "structured", (double)f->structured);
	cJSON_AddNumberToObject(out, "escalations", (double)f->escalations);
}

static void reset(struct standin *s)
{
	struct fake *f = s->owner;

	f->conversations = 0;
	f->locked = 0;
	f->responses = 0;
	f->structured = 0;
	f->escalations = 0;
	cJSON_Delete(f->open_calls);
	f->open_calls = cJSON_CreateObject();
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *to)
{
	fprintf(to, "usage: fake_openai --listen HOST:PORT [--log FILE] [--delay-ms N]\n"
		    "                   [--api-key KEY] [--require-conversation] [--escalate-on "
		    "WORD]\n"
		    "                   [--replies FILE]\n");
}

static int take_option(void *owner, int c, const char *arg)
{
	struct fake *f = owner;

	switch (c) {
	case 'k': f->api_key = arg; break;
	case 'c': f->require_conversation = true; break;
	case 'e':
		if (!*arg) {
			fprintf(stderr, "fake_openai: --escalate-on wants a word\n");
			return 2;
		}
		f->escalate_on = arg;
		break;
	case 'r':
		cJSON_Delete(f->replies);
		if (!(f->replies = load_replies(arg)))
			return 2;
		break;
	case 'd':
		return standin_count(arg, &f->delay_ms,
				     "fake_openai: --delay-ms wants milliseconds");
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"delay-ms", required_argument, NULL, 'd'},
	    {"api-key", required_argument, NULL, 'k'},
	    {"require-conversation", no_argument, NULL, 'c'},
	    {"escalate-on", required_argument, NULL, 'e'},
	    {"replies", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};

	struct fake f = {.s = {.stats = stats, .reset = reset, .check_step = check_step}};
	int rc = standin_setup(&f.s, "fake_openai", argc, argv, opts, take_option, usage, &f);

	if (rc >= 0)
		return rc;
	f.open_calls = cJSON_CreateObject();
	rc = standin_serve(&f.s, handle, &f);
	cJSON_Delete(f.open_calls);
	cJSON_Delete(f.replies);
	libevent_global_shutdown();
	return rc;
}
