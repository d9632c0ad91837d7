/*
 * fake_graph: a stand-in for the Graph API send endpoints parley calls
 * (docs/protocol.md, Graph sends): WhatsApp Cloud API and Instagram messaging,
 * for the end-to-end tests and `make demo`. One process, one libevent loop, no
 * threads, nothing persisted.
 *
 *   fake_graph --listen HOST:PORT [--log FILE] [--ig-bytes] [--message-id ID]
 *
 *   --listen     address to serve; port 0 picks a free one. Once serving,
 *                prints exactly one line "listening on HOST:PORT" (the real
 *                port) to stdout.
 *   --log FILE   appends one line per request (and start/stop) to FILE.
 *   --ig-bytes   count Instagram's 1000-character limit in UTF-8 bytes, the
 *                stricter of the two readings of Meta's pages (docs/protocol.md,
 *                Graph sends); code points otherwise.
 *   --message-id ID  a fault: every successful send answers with this one id
 *                (wamid or mid) unless its step names its own, as a Graph
 *                that hands one id to several messages would.
 *
 * SIGTERM or SIGINT: exits 0 after freeing everything (answers still
 * waiting are dropped unsent).
 *
 * API: POST <anything>/{id}/messages with Authorization: Bearer <token> (or
 * ?access_token=) and a JSON body. Whatever precedes /{id}/messages is
 * accepted (parley's meta.whatsapp_url and meta.instagram_url are both
 * http://HOST:PORT/v24.0 in tests), so the body says which platform it is:
 *
 *   WhatsApp (has "messaging_product"): "messaging_product":"whatsapp", "to",
 *     "type":"text" (or absent), "text":{"body"} of 1 to 4096 characters;
 *     or "type":"template" with template.name and template.language.code
 *     (Unicode code points); "recipient_type", if sent, "individual" or
 *     "group". Answers 200
 *     {"messaging_product":"whatsapp","contacts":[{"input":"<to>","wa_id":
 *     "<to's digits>"}],"messages":[{"id":"wamid.<unique>"}]}.
 *     A read receipt {"messaging_product":"whatsapp","status":"read",
 *     "message_id":…}, optionally with "typing_indicator":{"type":"text"},
 *     answers {"success":true}; it uses only "for":"signals" steps.
 *   Instagram (has "recipient" or "message"): "recipient":{"id"},
 *     "message":{"text"} of 1 to 1000 characters. Answers 200
 *     {"recipient_id":"<id>","message_id":"<mid, ~160 characters>"}.
 *     A sender action {"recipient":{"id"},"sender_action":"mark_seen" |
 *     "typing_on" | "typing_off"} (no "message") answers
 *     {"recipient_id":"<id>"}; it uses only "for":"signals" steps.
 *
 * Refusals use Meta's Graph error object, e.g.
 *   {"error":{"message":"(#131047) Re-engagement message","type":
 *   "OAuthException","code":131047,"error_data":{"messaging_product":
 *   "whatsapp","details":"…"},"fbtrace_id":"…"}}
 * (Instagram: type IGApiException, no error_data). Over-long text: 400 code
 * 100. Missing token: 401 code 190. Other paths: 404 code 2500.
 *
 * Test endpoints (bodies JSON; errors {"error":"…"}):
 *
 *   GET  /_requests  every API request since the last reset, oldest first:
 *                    {"seq","time_ms","method","path","query","headers":
 *                    {authorization, content-type, idempotency-key — those
 *                    present},"body" (parsed JSON or null; "raw_body" holds
 *                    a body that is not JSON),"platform" ("whatsapp",
 *                    "instagram" or null),"account_id" (the {id} of the
 *                    path),"status" (0 = dropped),"response" (the JSON
 *                    answered, null when dropped),"delay_ms","dropped",
 *                    "step" (script step used, or null),"answered_ms"
 *                    (when a delayed answer left; wall ms)}
 *   POST /_script    appends a JSON array of steps (all or none: an invalid
 *                    step rejects the whole array with 400 naming it)
 *   GET  /_script    the steps not yet used up
 *   POST /_reset     forgets requests, script and counters
 *   GET  /_stats     {"requests","in_flight","max_in_flight",
 *                    "script_remaining","whatsapp_sent","instagram_sent"}
 *
 * Script steps: each send (after its request checked out valid) uses the
 * first remaining step meant for its platform; a send finding none succeeds.
 * A step is an object; all keys optional:
 *
 *   "for": "any"           "whatsapp", "instagram" or "any" (default): sends;
 *                          "signals": read receipts, typing and sender
 *                          actions (which no other step serves)
 *   "times": N             serves N sends before it is used up (1)
 *   "delay_ms": N          answer after N ms
 *   "drop": true           close the connection without any answer (after
 *                          delay_ms, if given)
 *   "status": N            answer HTTP N with Meta's error body; the code
 *                          defaults by status: 500 → 131000 (Instagram 2),
 *                          503 → 133004 (Instagram 2), 429 → 4, 401 → 190,
 *                          403 → 10, other 4xx → 100
 *   "meta_code": N         the Graph error code, with its HTTP status,
 *                          title and details from Meta's table unless
 *                          "status" is given: 131047 re-engagement (400,
 *                          final), 130429 throughput (400, retryable), 131056
 *                          pair rate limit, 131026 undeliverable, 131000
 *                          something went wrong (500), 80007, 4, 100, 190
 *                          (401), 10 (403; on Instagram the "outside of
 *                          allowed window" error, subcode 2534022), …
 *   "subcode": N           error_subcode
 *   "message", "details", "type": override the error's message
 *                          (default "(#code) title"), error_data.details and type
 *   "retry_after": S       headers Retry-After: ceil(S) and retry-after-ms
 *   "retry_after_ms": N    header retry-after-ms: N only
 *   "message_id": "…"      succeed with this id (wamid or mid), so a test
 *                          can later post a status webhook for it
 *
 * Example: [{"status":500},{"status":429,"retry_after":1},
 *           {"meta_code":131047},{"for":"instagram","meta_code":10},
 *           {"delay_ms":3000},{"drop":true},{"message_id":"wamid.TEST1"}]
 */
#include <getopt.h>
#include <sys/queue.h>

#include "standin_common.h"

#define WA_MAX_CHARS 4096
#define IG_MAX_CHARS 1000

/* GRAPH: an error of the Graph API itself (path, method, token), not of a product. */
enum platform { WA, IG, GRAPH };

struct fake {
	struct standin s;
	bool ig_bytes;
	const char *message_id; /* --message-id: the id of every send, or NULL */
	long sent[2];           /* successful sends per platform (WA, IG) since the last reset */
	long signals;           /* read receipts and sender actions answered 200 */
};

/* ---------------------------------------------------------------- errors */

/* Meta's error codes that matter to parley (docs/protocol.md, Graph sends and
 * Retries). */
struct meta_error {
	int code;
	int status;        /* the HTTP status Meta answers with */
	const char *title; /* the message is "(#code) title" */
	const char *details;
};

static const struct meta_error meta_errors[] = {
    {1, 500, "An unknown error occurred", "An unknown error occurred."},
    {2, 503, "Service temporarily unavailable", "Service temporarily unavailable."},
    {4, 400, "Application request limit reached", "The app has reached its API call rate limit."},
    {10, 403, "Application does not have permission for this action",
     "Permission is either not granted or has been removed."},
    {100, 400, "Invalid parameter", "Invalid parameter."},
    {190, 401, "Invalid OAuth access token - Cannot parse access token",
     "The access token is invalid or has expired."},
    {368, 403, "Temporarily blocked for policies violations",
     "The account was restricted for violating platform policy."},
    {80007, 400, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."},
    {130429, 400, "Rate limit hit", "Cloud API message throughput has been reached."},
    {130497, 403, "Business account is restricted from messaging users in this country",
     "The business account cannot message users in this country."},
    {131000, 500, "Something went wrong", "Message failed to send due to an unknown error."},
    {131005, 403, "Access denied", "Permission is either not granted or has been removed."},
    {131008, 400, "Required parameter is missing", "A required parameter is missing."},
    {131009, 400, "Parameter value is not valid", "One or more parameter values are invalid."},
    {131016, 503, "Service unavailable", "A service is temporarily unavailable."},
    {131021, 400, "Recipient cannot be sender", "The sender and the recipient are the same."},
    {131026, 400, "Message Undeliverable", "Unable to deliver message."},
    {131030, 400, "Recipient phone number not in allowed list",
     "Add recipient phone number to recipient list and try again."},
    {131031, 403, "Account has been locked", "The business account was locked."},
    {131047, 400, "Re-engagement message",
     "Message failed to send because more than 24 hours have passed since the customer last "
     "replied to this number."},
    {131048, 400, "Spam rate limit hit",
     "Message failed to send because there are restrictions on how many messages can be sent "
     "from this phone number."},
    {131049, 400, "This message was not delivered to maintain healthy ecosystem engagement.",
     "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
    {131051, 400, "Unsupported message type", "Message type is not currently supported."},
    {131056, 400, "(Business Account, Consumer Account) pair rate limit hit",
     "Message failed to send because there were too many messages sent from this phone number "
     "to the same phone number in a short period of time."},
    {131057, 503, "Account has been put in maintenance mode",
     "The business account is in maintenance mode."},
    {133004, 503, "Server temporarily unavailable", "The server is temporarily unavailable."},
    {0, 0, NULL, NULL},
};

static const struct meta_error *meta_error_by_code(int code)
{
	const struct meta_error *e;

	for (e = meta_errors; e->code; e++)
		if (e->code == code)
			return e;
	return NULL;
}

/* The Graph code a bare {"status": N} step stands for. */
static int code_for_status(enum platform p, int status)
{
	switch (status) {
	case 401: return 190;
	case 403: return 10;
	case 429: return 4;
	case 500: return p == IG ? 2 : 131000;
	case 503: return p == IG ? 2 : 133004;
	default: return status >= 500 ? (p == IG ? 2 : 131000) : 100;
	}
}

/* What an error says; NULL fields take the table's (or generic) values. */
struct err_spec {
	int status; /* 0: the code's own */
	int code;
	int subcode; /* 0: none */
	const char *message;
	const char *details;
	const char *type;
};

static void graph_error(struct fake *f, struct answer *a, enum platform p,
			const struct err_spec *spec)
{
	const struct meta_error *e = meta_error_by_code(spec->code);
	cJSON *doc = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(doc, "error");
	const char *type = spec->type;
	const char *details = spec->details;
	int status = spec->status ? spec->status : e ? e->status : 400;
	int subcode = spec->subcode;
	char *trace = standin_random_text(
	    &f->s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", 23);
	char *msg;

	if (spec->message)
		msg = xstrdup(spec->message);
	else if (p == IG && spec->code == 10)
		msg = xstrdup("This message is sent outside of allowed window.");
	else if (spec->code == 190)
		msg = xstrdup(e->title); /* token errors carry no "(#190)" prefix */
	else
		msg = xasprintf("(#%d) %s", spec->code, e ? e->title : "Scripted error");
	if (p == IG && spec->code == 10 && !subcode)
		subcode = 2534022;
	if (!type)
		type = p == IG && spec->code != 190 ? "IGApiException" : "OAuthException";
	if (!details)
		details = e ? e->details : "Scripted by fake_graph.";
	cJSON_AddStringToObject(err, "message", msg);
	cJSON_AddStringToObject(err, "type", type);
	cJSON_AddNumberToObject(err, "code", spec->code);
	if (subcode)
		cJSON_AddNumberToObject(err, "error_subcode", subcode);
	if (p == WA) {
		cJSON *data = cJSON_AddObjectToObject(err, "error_data");

		cJSON_AddStringToObject(data, "messaging_product", "whatsapp");
		cJSON_AddStringToObject(data, "details", details);
	}
	cJSON_AddStringToObject(err, "fbtrace_id", trace);
	answer_json(a, status, doc);
	free(trace);
	free(msg);
}

/* A 400 code 100 "(#100) …" refusal of a malformed send. */
static void invalid_param(struct fake *f, struct answer *a, enum platform p, const char *message,
			  const char *details)
{
	struct err_spec spec = {400, 100, 0, message, details, NULL};

	graph_error(f, a, p, &spec);
}

static void scripted_error(struct fake *f, struct answer *a, enum platform p, const cJSON *step)
{
	struct err_spec spec;

	spec.status = (int)json_num(step, "status", 0);
	spec.code = (int)json_num(step, "meta_code", 0);
	if (!spec.code)
		spec.code = code_for_status(p, spec.status);
	spec.subcode = (int)json_num(step, "subcode", 0);
	spec.message = json_str(step, "message");
	spec.details = json_str(step, "details");
	spec.type = json_str(step, "type");
	graph_error(f, a, p, &spec);
}

/* Error, drop or delay from a step; true when the step decided the answer. */
static bool apply_step(struct fake *f, struct answer *a, enum platform p, const cJSON *step)
{
	double status = json_num(step, "status", 0);

	if (!step)
		return false;
	a->delay_ms = (long)json_num(step, "delay_ms", 0);
	if (json_true(step, "drop")) {
		a->status = 0;
		return true;
	}
	standin_retry_after(a, step);
	if ((status && status != 200) || json_has(step, "meta_code")) {
		scripted_error(f, a, p, step);
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- ids */

static char *base64(const unsigned char *in, size_t n, bool pad)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		strbuf_putc(&sb, tab[(v >> 18) & 63]);
		strbuf_putc(&sb, tab[(v >> 12) & 63]);
		if (i + 1 < n)
			strbuf_putc(&sb, tab[(v >> 6) & 63]);
		else if (pad)
			strbuf_putc(&sb, '=');
		if (i + 2 < n)
			strbuf_putc(&sb, tab[v & 63]);
		else if (pad)
			strbuf_putc(&sb, '=');
	}
	return strbuf_detach(&sb);
}

/*
 * A wamid shaped like Meta's: "wamid." + base64 of a small binary record
 * holding the recipient's number and a hex message id (real ones start
 * "wamid.HBgL…" for 11-digit numbers for that reason).
 */
static char *new_wamid(struct fake *f, const char *wa_id)
{
	unsigned char rec[160];
	size_t n = 0, len = strlen(wa_id);
	char *hex = standin_id(&f->s, "", 20);
	char *b64, *out;
	size_t i;

	if (len > 100)
		len = 100;
	rec[n++] = 0x1C;
	rec[n++] = 0x18;
	rec[n++] = (unsigned char)len;
	memcpy(rec + n, wa_id, len);
	n += len;
	memcpy(rec + n, "\x15\x02\x00\x11\x18\x14", 6);
	n += 6;
	for (i = 0; i < 20; i++)
		rec[n++] = (unsigned char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
	rec[n++] = 0;
	b64 = base64(rec, n, true);
	out = xasprintf("wamid.%s", b64);
	free(b64);
	free(hex);
	return out;
}

/* An Instagram mid: base64 of "ig_message_item:1:IGMessageID:<account>:<digits>", ~160 chars. */
static char *new_mid(struct fake *f, const char *account)
{
	char *a = standin_random_text(&f->s, "0123456789", 39);
	char *b = standin_random_text(&f->s, "0123456789", 20);
	char *rec = xasprintf("ig_message_item:1:IGMessageID:%.40s:%s:%s%012llu", account, a, b,
			      (unsigned long long)f->s.counter);
	char *out = base64((const unsigned char *)rec, strlen(rec), false);

	free(rec);
	free(b);
	free(a);
	return out;
}

/* ---------------------------------------------------------------- sends */

/* "+1 (650) 555-1234" → "16505551234": what Meta reports as wa_id. */
static char *digits_of(const char *to)
{
	struct strbuf sb = STRBUF_INIT;

	for (; *to; to++)
		if (*to >= '0' && *to <= '9')
			strbuf_putc(&sb, *to);
	return strbuf_detach(&sb);
}

/* The first step meant for signals alone ("for":"signals"); "any" steps
 * stay for sends, so scripts written for sends are not used up by signals. */
static cJSON *take_signal_step(struct fake *f)
{
	return standin_take_step_for(&f->s, "signals", "", false);
}

/* A valid signal: the next signals step applies when there is one (body is
 * freed); else 200 with body, and the signal counts. */
static void answer_signal(struct fake *f, struct answer *a, enum platform p, cJSON *body)
{
	a->step = take_signal_step(f);
	if (apply_step(f, a, p, a->step)) {
		cJSON_Delete(body);
		return;
	}
	answer_json(a, 200, body);
	f->signals++;
}

static void read_receipt(struct fake *f, const cJSON *doc, struct answer *a)
{
	const cJSON *typing = cJSON_GetObjectItemCaseSensitive(doc, "typing_indicator");
	cJSON *ok;

	if (!json_str(doc, "message_id")) {
		invalid_param(f, a, WA, "(#100) The parameter message_id is required.", NULL);
		return;
	}
	if (typing && (!cJSON_IsObject(typing) || !json_str(typing, "type") ||
		       strcmp(json_str(typing, "type"), "text") != 0)) {
		invalid_param(f, a, WA, NULL, "Param typing_indicator['type'] must be \"text\".");
		return;
	}
	ok = cJSON_CreateObject();
	cJSON_AddBoolToObject(ok, "success", true);
	answer_signal(f, a, WA, ok);
}

/* Instagram's sender action (no "message"): mark_seen, typing_on, typing_off. */
static void sender_action(struct fake *f, const cJSON *doc, struct answer *a)
{
	const char *action = json_str(doc, "sender_action");
	const char *id = json_str(cJSON_GetObjectItemCaseSensitive(doc, "recipient"), "id");
	cJSON *out;

	if (!id || !*id) {
		invalid_param(
		    f, a, IG,
		    "(#100) Param recipient[id] must be a valid ID string (e.g., \"123\")", NULL);
		return;
	}
	if (!action || (strcmp(action, "mark_seen") != 0 && strcmp(action, "typing_on") != 0 &&
			strcmp(action, "typing_off") != 0)) {
		invalid_param(f, a, IG,
			      "(#100) Param sender_action must be one of {MARK_SEEN, TYPING_ON, "
			      "TYPING_OFF}",
			      NULL);
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "recipient_id", id);
	answer_signal(f, a, IG, out);
}

/*
 * A template send (type "template"): template.name and template.language.code
 * are required strings; components, when present, is an array whose "body"
 * component has "parameters" of {"type":"text","text":<non-empty>}. Whether
 * the template exists is not checked (any name is "approved").
 */
static bool check_template(struct fake *f, const cJSON *doc, struct answer *a)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "template");
	const char *name = json_str(t, "name");
	const char *code = json_str(cJSON_GetObjectItemCaseSensitive(t, "language"), "code");
	if (!name || !*name) {
		invalid_param(f, a, WA, "(#100) The parameter template['name'] is required.", NULL);
		return false;
	}
	if (!code || !*code) {
		invalid_param(f, a, WA, "(#100) The parameter template['language'] is required.",
			      NULL);
		return false;
	}
	const cJSON *comps = cJSON_GetObjectItemCaseSensitive(t, "components"), *c, *p;
	if (comps && !cJSON_IsArray(comps)) {
		invalid_param(f, a, WA, NULL, "Param template['components'] must be an array.");
		return false;
	}
	cJSON_ArrayForEach(c, comps)
	{
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "parameters"))
		{
			const char *pt = json_str(p, "type"), *text = json_str(p, "text");
			if (!pt || strcmp(pt, "text") != 0 || !text || !*text) {
				invalid_param(
				    f, a, WA, NULL,
				    "Param template['components'][]['parameters'] must be "
				    "{type: text, text: non-empty}.");
				return false;
			}
		}
	}
	return true;
}

/* False, with the refusal in a, when a WhatsApp send is malformed. */
static bool check_whatsapp(struct fake *f, const cJSON *doc, struct answer *a)
{
	const char *product = json_str(doc, "messaging_product");
	const char *rtype = json_str(doc, "recipient_type");
	const char *type = json_str(doc, "type");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(doc, "text");
	const char *body = json_str(text, "body");
	const char *to = json_str(doc, "to");
	char details[160];
	size_t n;

	if (!product || strcmp(product, "whatsapp") != 0) {
		invalid_param(f, a, WA, NULL, "Param messaging_product must be \"whatsapp\".");
		return false;
	}
	if (!to || !*to) {
		invalid_param(f, a, WA, "(#100) The parameter to is required.", NULL);
		return false;
	}
	if (rtype && strcmp(rtype, "individual") != 0 && strcmp(rtype, "group") != 0) {
		invalid_param(f, a, WA, NULL,
			      "Param recipient_type must be one of {INDIVIDUAL, GROUP}.");
		return false;
	}
	if (type && strcmp(type, "template") == 0)
		return check_template(f, doc, a);
	if ((type && strcmp(type, "text") != 0) || (json_has(doc, "type") && !type)) {
		snprintf(details, sizeof(details),
			 "fake_graph sends type \"text\" or \"template\" only (got \"%.60s\").",
			 type ? type : "?");
		invalid_param(f, a, WA, NULL, details);
		return false;
	}
	if (!body) {
		invalid_param(f, a, WA, "(#100) The parameter text['body'] is required.", NULL);
		return false;
	}
	n = utf8_count(body, strlen(body));
	if (n == 0) {
		invalid_param(f, a, WA, NULL, "Param text['body'] must be non-empty.");
		return false;
	}
	if (n > WA_MAX_CHARS) {
		snprintf(details, sizeof(details),
			 "Param text['body'] must be at most %d characters long (got %zu).",
			 WA_MAX_CHARS, n);
		invalid_param(f, a, WA, NULL, details);
		return false;
	}
	return true;
}

static void whatsapp(struct fake *f, const cJSON *doc, struct answer *a)
{
	const char *to;
	char *wa_id, *wamid;
	cJSON *out, *c, *m;

	if (json_str(doc, "status") && !strcmp(json_str(doc, "status"), "read") &&
	    !json_has(doc, "to")) {
		read_receipt(f, doc, a);
		return;
	}
	if (!check_whatsapp(f, doc, a))
		return;
	a->step = standin_take_step(&f->s, "whatsapp", "any");
	if (apply_step(f, a, WA, a->step))
		return;
	to = json_str(doc, "to");
	wa_id = digits_of(to);
	wamid = json_str(a->step, "message_id") ? xstrdup(json_str(a->step, "message_id"))
		: f->message_id                 ? xstrdup(f->message_id)
						: new_wamid(f, wa_id);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "messaging_product", "whatsapp");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "input", to);
	cJSON_AddStringToObject(c, "wa_id", wa_id);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "contacts"), c);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "id", wamid);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "messages"), m);
	answer_json(a, 200, out);
	f->sent[WA]++;
	free(wamid);
	free(wa_id);
}

static bool check_instagram(struct fake *f, const cJSON *doc, struct answer *a)
{
	const cJSON *recipient = cJSON_GetObjectItemCaseSensitive(doc, "recipient");
	const cJSON *message = cJSON_GetObjectItemCaseSensitive(doc, "message");
	const char *id = json_str(recipient, "id");
	const char *text = json_str(message, "text");
	char msg[128];
	size_t n;

	if (!recipient) {
		invalid_param(f, a, IG, "(#100) The parameter recipient is required", NULL);
		return false;
	}
	if (!id || !*id) {
		invalid_param(
		    f, a, IG,
		    "(#100) Param recipient[id] must be a valid ID string (e.g., \"123\")", NULL);
		return false;
	}
	if (!message) {
		invalid_param(f, a, IG, "(#100) The parameter message is required", NULL);
		return false;
	}
	if (!text || !*text) {
		invalid_param(f, a, IG,
			      "(#100) Message cannot be empty, must provide valid attachment or "
			      "text",
			      NULL);
		return false;
	}
	n = f->ig_bytes ? strlen(text) : utf8_count(text, strlen(text));
	if (n > IG_MAX_CHARS) {
		snprintf(msg, sizeof(msg),
			 "(#100) Length of param message[text] must be less than or equal to %d",
			 IG_MAX_CHARS);
		invalid_param(f, a, IG, msg, NULL);
		return false;
	}
	return true;
}

static void instagram(struct fake *f, const cJSON *doc, const char *account, struct answer *a)
{
	const char *id;
	char *mid;
	cJSON *out;

	if (json_has(doc, "sender_action") && !json_has(doc, "message")) {
		sender_action(f, doc, a);
		return;
	}
	if (!check_instagram(f, doc, a))
		return;
	a->step = standin_take_step(&f->s, "instagram", "any");
	if (apply_step(f, a, IG, a->step))
		return;
	id = json_str(cJSON_GetObjectItemCaseSensitive(doc, "recipient"), "id");
	mid = json_str(a->step, "message_id") ? xstrdup(json_str(a->step, "message_id"))
	      : f->message_id                 ? xstrdup(f->message_id)
					      : new_mid(f, account);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "recipient_id", id);
	cJSON_AddStringToObject(out, "message_id", mid);
	answer_json(a, 200, out);
	f->sent[IG]++;
	free(mid);
}

/* The access token: the bearer header, or ?access_token= as in Meta's curl examples. */
static bool has_token(struct evhttp_request *req)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq params;
	bool found = false;

	if (standin_bearer(req))
		return true;
	if (!q)
		return false;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(q, &params) == 0) {
		const char *t = evhttp_find_header(&params, "access_token");

		found = t && *t;
	}
	evhttp_clear_headers(&params);
	return found;
}

static void send_message(struct fake *f, struct evhttp_request *req, const char *body, size_t len,
			 cJSON *entry, const char *account, struct answer *a)
{
	cJSON *doc = NULL;
	enum platform p;

	doc = standin_is_json(req) ? cJSON_ParseWithLength(body, len) : NULL;
	/* Which error shape fits is only known from the body. */
	p = doc && !json_has(doc, "messaging_product") &&
		    (json_has(doc, "recipient") || json_has(doc, "message"))
		? IG
		: WA;
	if (!has_token(req)) {
		struct err_spec spec = {401, 190, 0, NULL, NULL, NULL};

		cJSON_AddNullToObject(entry, "platform");
		graph_error(f, a, GRAPH, &spec);
	} else if (!cJSON_IsObject(doc)) {
		cJSON_AddNullToObject(entry, "platform");
		invalid_param(f, a, GRAPH,
			      standin_is_json(req)
				  ? "(#100) The request body is not a JSON object."
				  : "(#100) Content-Type must be application/json.",
			      NULL);
	} else if (p == WA && !json_has(doc, "messaging_product")) {
		cJSON_AddNullToObject(entry, "platform");
		invalid_param(f, a, WA, "(#100) The parameter messaging_product is required.",
			      NULL);
	} else if (p == WA) {
		cJSON_AddStringToObject(entry, "platform", "whatsapp");
		whatsapp(f, doc, a);
	} else {
		cJSON_AddStringToObject(entry, "platform", "instagram");
		instagram(f, doc, account, a);
	}
	cJSON_Delete(doc);
}

/*
 * The {id} of ".../{id}/messages" (caller frees), or NULL for any other
 * path: whatever comes before is the configured base URL's path.
 */
static char *send_path_account(const char *path)
{
	size_t n = strlen(path);
	const char *end, *start;

	if (n < 10 || strcmp(path + n - 9, "/messages") != 0)
		return NULL;
	end = path + n - 9;
	for (start = end; start > path && start[-1] != '/'; start--)
		;
	if (start == end || start == path)
		return NULL;
	return xstrndup(start, (size_t)(end - start));
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	struct answer a = ANSWER_INIT;
	char *account, *msg, *path, *body;
	size_t len;
	cJSON *entry;

	if (!(entry = standin_begin(&f->s, req, NULL, &path, &body, &len)))
		return;
	account = send_path_account(path);
	json_add_str_or_null(entry, "account_id", account);
	if (!account || !standin_is_post(req))
		cJSON_AddNullToObject(entry, "platform");
	if (!account) {
		struct err_spec spec = {404, 2500, 0, NULL, NULL, NULL};

		msg = xasprintf("Unknown path components: %s", path);
		spec.message = msg;
		graph_error(f, &a, GRAPH, &spec);
		free(msg);
	} else if (!standin_is_post(req)) {
		struct err_spec spec = {400, 100, 33, NULL, NULL, "GraphMethodException"};

		msg =
		    xasprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot "
			      "be loaded due to missing permissions, or does not support this "
			      "operation.",
			      standin_method(req), account);
		spec.message = msg;
		graph_error(f, &a, GRAPH, &spec);
		free(msg);
	} else {
		send_message(f, req, body, len, entry, account, &a);
	}
	standin_answer(&f->s, req, entry, &a);
	free(account);
	free(body);
	free(path);
}

/* ---------------------------------------------------------------- script and stats */

static const struct step_key step_keys[] = {
    {"for", ST_STR},        {"times", ST_NUM},       {"delay_ms", ST_NUM},
    {"drop", ST_BOOL},      {"status", ST_NUM},      {"meta_code", ST_NUM},
    {"subcode", ST_NUM},    {"message", ST_STR},     {"details", ST_STR},
    {"type", ST_STR},       {"retry_after", ST_NUM}, {"retry_after_ms", ST_NUM},
    {"message_id", ST_STR}, {NULL, ST_ANY},
};

static const char *check_step(const cJSON *step)
{
	const char *why = check_step_keys(step, step_keys);
	const char *f = json_str(step, "for");
	double code = json_num(step, "meta_code", 1);

	if (*why)
		return why;
	if (f && strcmp(f, "whatsapp") && strcmp(f, "instagram") && strcmp(f, "any") &&
	    strcmp(f, "signals"))
		return "\"for\" must be \"whatsapp\", \"instagram\", \"signals\" or \"any\"";
	if (code < 1 || code != (double)(long)code)
		return "\"meta_code\" must be a positive whole number";
	if (json_has(step, "meta_code") && json_num(step, "status", 0) == 200)
		return "a \"meta_code\" needs an error status, not 200 (Meta answers errors with "
		       "4xx/5xx)";
	if (json_has(step, "message_id") && !*json_str(step, "message_id"))
		return "\"message_id\" must not be empty";
	return "";
}

static void stats(struct standin *s, cJSON *out)
{
	struct fake *f = s->owner;

	cJSON_AddNumberToObject(out, "whatsapp_sent", (double)f->sent[WA]);
	cJSON_AddNumberToObject(out, "instagram_sent", (double)f->sent[IG]);
	cJSON_AddNumberToObject(out, "signals", (double)f->signals);
}

static void reset(struct standin *s)
{
	struct fake *f = s->owner;

	f->sent[WA] = 0;
	f->sent[IG] = 0;
	f->signals = 0;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *to)
{
	fprintf(to, "usage: fake_graph --listen HOST:PORT [--log FILE] [--ig-bytes] "
		    "[--message-id ID]\n");
}

static int take_option(void *owner, int c, const char *arg)
{
	struct fake *f = owner;

	switch (c) {
	case 'b': f->ig_bytes = true; break;
	case 'm':
		if (!*arg) {
			usage(stderr);
			return 2;
		}
		f->message_id = arg;
		break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ig-bytes", no_argument, NULL, 'b'},
	    {"message-id", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};

	struct fake f = {.s = {.stats = stats, .reset = reset, .check_step = check_step}};
	int rc = standin_setup(&f.s, "fake_graph", argc, argv, opts, take_option, usage, &f);

	if (rc >= 0)
		return rc;
	rc = standin_serve(&f.s, handle, &f);
	libevent_global_shutdown();
	return rc;
}
