/*
 * fake_google: a stand-in for the Google endpoints parley calls to book
 * meetings (issue #9, docs/protocol.md, Google Calendar): the OAuth token
 * refresh and the Calendar API's freeBusy.query, events.insert, events.get and
 * events.delete, for the end-to-end tests and `make demo`. One process, one
 * libevent loop, no threads, nothing persisted.
 *
 *   fake_google --listen HOST:PORT [--log FILE] [--client-id ID]
 *               [--client-secret S] [--expires-in N]
 *
 *   --listen         address to serve; port 0 picks a free one. Once serving,
 *                    prints exactly one line "listening on HOST:PORT".
 *   --log FILE       appends one line per request (and start/stop) to FILE.
 *   --client-id ID, --client-secret S
 *                    the OAuth client parley must present; without them any.
 *   --expires-in N   lifetime of issued access tokens in seconds (3599).
 *
 * SIGTERM or SIGINT: exits 0 after freeing everything.
 *
 * API (parley's google.token_url = http://HOST:PORT/token, calendar_url =
 * http://HOST:PORT/calendar/v3):
 *
 *   POST /token  form-encoded grant_type=refresh_token, client_id,
 *     client_secret, refresh_token → 200 {"access_token":"ya29.fake-…",
 *     "expires_in":N,"scope":…,"token_type":"Bearer"}. Any refresh token is
 *     good unless revoked (/_revoke): then 400 {"error":"invalid_grant",
 *     "error_description":"Token has been expired or revoked."}. A wrong
 *     client: 401 invalid_client. Other grant types: 400
 *     unsupported_grant_type.
 *   Calendar calls need "Authorization: Bearer <an access token issued here,
 *     not expired>", else 401 authError "Invalid Credentials".
 *   POST /calendar/v3/freeBusy {"timeMin","timeMax","items":[{"id"}]} →
 *     {"kind":"calendar#freeBusy","timeMin","timeMax","calendars":{id:
 *     {"busy":[{"start","end"}…]}}}: the preloaded busy intervals (/_busy)
 *     and the calendar's events that are not cancelled, overlapping the
 *     range, clipped to it, in UTC. A calendar id other than "primary" or
 *     one with '@' gets "errors":[{"domain":"global","reason":"notFound"}].
 *   POST /calendar/v3/calendars/{cal}/events?conferenceDataVersion=1 →
 *     the Event (id given or made up, status confirmed, htmlLink, iCalUID,
 *     organizer, attendees with responseStatus). With conferenceDataVersion
 *     =1 and conferenceData.createRequest of type hangoutsMeet it gets a
 *     Meet conference: hangoutLink, conferenceData.entryPoints (video),
 *     conferenceSolution, conferenceId, createRequest.status.statusCode
 *     "success". Without conferenceDataVersion=1 the request is ignored, as
 *     Google does. Errors: an id that exists (cancelled ones too) 409
 *     duplicate "The requested identifier already exists."; an id not in
 *     base32hex (a-v, 0-9, 5-1024 long) 400 invalid; end not after start
 *     400 timeRangeEmpty; an attendee without email 400 required.
 *   GET /calendar/v3/calendars/{cal}/events/{id} → the Event (a cancelled
 *     one too, with status "cancelled"), or 404 notFound.
 *   DELETE /calendar/v3/calendars/{cal}/events/{id} → 204, the event
 *     becomes cancelled; again: 410 deleted; unknown: 404 notFound.
 *   Errors use Google's body {"error":{"errors":[{"domain","reason",
 *   "message"}],"code","message"}}; other paths 404 notFound.
 *
 * Test endpoints (bodies JSON; errors {"error":"…"}): the usual
 * GET /_requests, POST /_script, GET /_script, POST /_reset (also forgets
 * tokens, revocations, busy intervals and events), GET /_stats (adds
 * tokens_issued, events_inserted, events_deleted, freebusy), and
 *   POST /_busy    {"calendar":"primary","busy":[{"start","end"}…]} adds
 *                  busy intervals (RFC 3339) to a calendar
 *   POST /_revoke  {"refresh_token":"…"}: that token gets invalid_grant
 *   POST /_expire  every access token issued so far expires now (the next
 *                  Calendar call with one gets 401)
 *   GET  /_events  {"<calendar>":[event…]} every event, cancelled too
 *
 * Script steps: each request (after its authorization and body checked out)
 * uses the first remaining step meant for it. Keys, all optional:
 *   "for": "token"|"freebusy"|"insert"|"get"|"delete"|"any" (default any)
 *   "times": N, "delay_ms": N, "drop": true   as in the other stand-ins
 *   "status": N          answer HTTP N with Google's error body (500/503
 *                        backendError, 429 rateLimitExceeded, 403
 *                        rateLimitExceeded in domain usageLimits, 401
 *                        authError, 400 badRequest, 404 notFound, 409
 *                        duplicate, 410 deleted); on /token the OAuth
 *                        body {"error","error_description"}
 *   "reason", "message"  override the error's reason and message
 *   "retry_after": S     Retry-After: ceil(S)
 *   "apply": true        insert/delete: do it, then answer "status" anyway
 *                        (an answer lost after the work was done)
 *   "error": "invalid_grant"|"invalid_client"   /token: that OAuth error
 *   "expires_in": N      /token: this lifetime for the token issued
 *   "conference_pending": true   insert: the conference is still "pending"
 *                        (no link yet); the next GET finds it "success"
 */
#include <getopt.h>

#include "google_calendar.h"
#include "standin_common.h"

#define MEET_ICON                                                                                  \
	"https://fonts.gstatic.com/s/i/productlogos/meet_2020q4/v6/web-512dp/"                     \
	"logo_meet_2020q4_color_2x_web_512dp.png"
#define OWNER "owner@fake-google.test"

struct token {
	struct token *next;
	char *access_token;
	char *refresh_token;
	long long expires_ms;
};

struct fake {
	struct standin s;
	const char *client_id, *client_secret;
	long expires_in;
	struct token *tokens;
	cJSON *revoked;   /* array of refresh tokens */
	cJSON *calendars; /* {"<id>": {"busy": [[start, end]…], "events": {"<id>": event}}} */
	long tokens_issued, inserted, deleted, freebusy;
};

/* ---------------------------------------------------------------- errors */

static void google_error(struct answer *a, int status, const char *domain, const char *reason,
			 const char *message)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON *e = cJSON_AddObjectToObject(doc, "error");
	cJSON *errors = cJSON_AddArrayToObject(e, "errors");
	cJSON *one = cJSON_CreateObject();

	cJSON_AddStringToObject(one, "domain", domain);
	cJSON_AddStringToObject(one, "reason", reason);
	cJSON_AddStringToObject(one, "message", message);
	cJSON_AddItemToArray(errors, one);
	cJSON_AddNumberToObject(e, "code", status);
	cJSON_AddStringToObject(e, "message", message);
	answer_json(a, status, doc);
}

static void oauth_error(struct answer *a, int status, const char *error, const char *description)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "error", error);
	cJSON_AddStringToObject(doc, "error_description", description);
	answer_json(a, status, doc);
}

static void not_found(struct answer *a)
{
	google_error(a, 404, "global", "notFound", "Not Found");
}

static void scripted_error(struct answer *a, const cJSON *step, bool token_endpoint)
{
	int status = (int)json_num(step, "status", 400);
	const char *reason = json_str(step, "reason");
	const char *msg = json_str(step, "message");
	const char *domain = "global";
	const char *dflt_reason, *dflt_msg;
	char generic[96];

	if (token_endpoint) {
		snprintf(generic, sizeof(generic), "HTTP %d (scripted by fake_google).", status);
		oauth_error(a, status,
			    reason          ? reason
			    : status == 429 ? "rate_limit_exceeded"
			    : status >= 500 ? "internal_failure"
					    : "invalid_request",
			    msg ? msg : generic);
		return;
	}
	switch (status) {
	case 500:
	case 503: dflt_reason = "backendError", dflt_msg = "Backend Error"; break;
	case 429: dflt_reason = "rateLimitExceeded", dflt_msg = "Rate Limit Exceeded"; break;
	case 403:
		domain = "usageLimits";
		dflt_reason = "rateLimitExceeded", dflt_msg = "Rate Limit Exceeded";
		break;
	case 401: dflt_reason = "authError", dflt_msg = "Invalid Credentials"; break;
	case 404: dflt_reason = "notFound", dflt_msg = "Not Found"; break;
	case 409:
		dflt_reason = "duplicate", dflt_msg = "The requested identifier already exists.";
		break;
	case 410: dflt_reason = "deleted", dflt_msg = "Resource has been deleted"; break;
	case 400: dflt_reason = "badRequest", dflt_msg = "Bad Request"; break;
	default:
		snprintf(generic, sizeof(generic), "HTTP %d (scripted by fake_google).", status);
		dflt_reason = "backendError", dflt_msg = generic;
	}
	google_error(a, status, domain, reason ? reason : dflt_reason, msg ? msg : dflt_msg);
}

static void retry_headers(struct answer *a, const cJSON *step)
{
	char v[32];

	if (json_has(step, "retry_after")) {
		double secs = json_num(step, "retry_after", 0);
		long whole = (long)secs;

		snprintf(v, sizeof(v), "%ld", whole + ((double)whole < secs));
		answer_header(a, "Retry-After", v);
	}
}

/* Delay, drop or error from a step; true when the step decided the answer. */
static bool apply_step(struct answer *a, const cJSON *step, bool token_endpoint)
{
	double status;

	if (!step)
		return false;
	if (json_has(step, "delay_ms"))
		a->delay_ms = (long)json_num(step, "delay_ms", 0);
	if (json_true(step, "drop")) {
		a->status = 0;
		return true;
	}
	retry_headers(a, step);
	status = json_num(step, "status", 0);
	if (status && status != 200 && status != 204) {
		scripted_error(a, step, token_endpoint);
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- tokens */

static void token_endpoint(struct fake *f, struct evhttp_request *req, const char *body,
			   struct answer *a)
{
	struct evkeyvalq form;
	const char *grant, *id, *secret, *refresh, *ct = standin_header(req, "Content-Type");
	const cJSON *v;
	cJSON *doc;
	struct token *t;
	long expires = f->expires_in;
	char *rnd;

	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
		oauth_error(a, 400, "invalid_request",
			    "Content-Type must be application/x-www-form-urlencoded");
		return;
	}
	memset(&form, 0, sizeof(form));
	if (evhttp_parse_query_str(body, &form) != 0) {
		oauth_error(a, 400, "invalid_request", "Malformed form body");
		evhttp_clear_headers(&form);
		return;
	}
	grant = evhttp_find_header(&form, "grant_type");
	id = evhttp_find_header(&form, "client_id");
	secret = evhttp_find_header(&form, "client_secret");
	refresh = evhttp_find_header(&form, "refresh_token");
	if (!grant || strcmp(grant, "refresh_token") != 0) {
		oauth_error(a, 400, "unsupported_grant_type", "Invalid grant_type: ");
		goto out;
	}
	if (!id || !secret || (f->client_id && strcmp(id, f->client_id) != 0) ||
	    (f->client_secret && strcmp(secret, f->client_secret) != 0)) {
		oauth_error(a, 401, "invalid_client", "The OAuth client was not found.");
		goto out;
	}
	if (!refresh || !*refresh) {
		oauth_error(a, 400, "invalid_request", "Missing required parameter: refresh_token");
		goto out;
	}
	cJSON_ArrayForEach(v, f->revoked)
	{
		if (cJSON_IsString(v) && strcmp(v->valuestring, refresh) == 0) {
			oauth_error(a, 400, "invalid_grant", "Token has been expired or revoked.");
			goto out;
		}
	}
	a->step = standin_take_step(&f->s, "token", "any");
	if (a->step && json_str(a->step, "error")) {
		const char *e = json_str(a->step, "error");

		if (json_has(a->step, "delay_ms"))
			a->delay_ms = (long)json_num(a->step, "delay_ms", 0);
		if (!strcmp(e, "invalid_grant"))
			oauth_error(a, 400, "invalid_grant", "Token has been expired or revoked.");
		else
			oauth_error(a, 401, "invalid_client", "The OAuth client was not found.");
		goto out;
	}
	if (apply_step(a, a->step, true))
		goto out;
	if (a->step && json_has(a->step, "expires_in"))
		expires = (long)json_num(a->step, "expires_in", 3599);
	t = xcalloc(1, sizeof(*t));
	rnd = standin_random_text(
	    &f->s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 40);
	t->access_token = xasprintf("ya29.fake-%s", rnd);
	free(rnd);
	t->refresh_token = xstrdup(refresh);
	t->expires_ms = clock_wall_ms() + expires * 1000;
	t->next = f->tokens;
	f->tokens = t;
	f->tokens_issued++;
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "access_token", t->access_token);
	cJSON_AddNumberToObject(doc, "expires_in", (double)expires);
	cJSON_AddStringToObject(doc, "scope", "https://www.googleapis.com/auth/calendar");
	cJSON_AddStringToObject(doc, "token_type", "Bearer");
	answer_json(a, 200, doc);
out:
	evhttp_clear_headers(&form);
}

/* A Calendar call's token: issued here and not expired. */
static bool authorized(struct fake *f, struct evhttp_request *req, struct answer *a)
{
	const char *tok = standin_bearer(req);
	struct token *t;

	for (t = f->tokens; tok && t; t = t->next)
		if (strcmp(t->access_token, tok) == 0 && t->expires_ms > clock_wall_ms())
			return true;
	google_error(a, 401, "global", "authError", "Invalid Credentials");
	return false;
}

/* ---------------------------------------------------------------- calendars */

static cJSON *calendar(struct fake *f, const char *id)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(f->calendars, id);

	if (!c) {
		c = cJSON_AddObjectToObject(f->calendars, id);
		cJSON_AddArrayToObject(c, "busy");
		cJSON_AddObjectToObject(c, "events");
	}
	return c;
}

static bool calendar_exists(const char *id)
{
	return !strcmp(id, "primary") || strchr(id, '@');
}

static bool time_of(const cJSON *o, const char *key, time_t *t)
{
	int off;

	return gcal_time_parse(json_str(o, key), t, &off) == 0;
}

static void add_interval(cJSON *arr, time_t s, time_t e)
{
	char a[GCAL_TIME_BUF], b[GCAL_TIME_BUF];
	cJSON *iv = cJSON_CreateObject();

	gcal_time_format(s, 0, a);
	gcal_time_format(e, 0, b);
	cJSON_AddStringToObject(iv, "start", a);
	cJSON_AddStringToObject(iv, "end", b);
	cJSON_AddItemToArray(arr, iv);
}

/* Whether end comes after start; if not, answers 400 timeRangeEmpty. */
static bool range_ok(time_t start, time_t end, struct answer *a)
{
	if (end > start)
		return true;
	google_error(a, 400, "calendar", "timeRangeEmpty", "The specified time range is empty.");
	return false;
}

static void freebusy(struct fake *f, const cJSON *doc, struct answer *a)
{
	time_t from, to, s, e;
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items"), *it, *iv, *ev;
	cJSON *out, *cals;

	if (!time_of(doc, "timeMin", &from) || !time_of(doc, "timeMax", &to)) {
		google_error(a, 400, "global", "badRequest", "Bad Request");
		return;
	}
	if (!range_ok(from, to, a))
		return;
	if (!cJSON_IsArray(items) || cJSON_GetArraySize(items) > 50) {
		google_error(a, 400, "global", "required", "Required");
		return;
	}
	a->step = standin_take_step(&f->s, "freebusy", "any");
	if (apply_step(a, a->step, false))
		return;
	f->freebusy++;
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "kind", "calendar#freeBusy");
	cJSON_AddStringToObject(out, "timeMin", json_str(doc, "timeMin"));
	cJSON_AddStringToObject(out, "timeMax", json_str(doc, "timeMax"));
	cals = cJSON_AddObjectToObject(out, "calendars");
	cJSON_ArrayForEach(it, items)
	{
		const char *id = json_str(it, "id");
		cJSON *entry, *busy, *c;

		if (!id || cJSON_GetObjectItemCaseSensitive(cals, id))
			continue;
		entry = cJSON_AddObjectToObject(cals, id);
		if (!calendar_exists(id)) {
			cJSON *errors = cJSON_AddArrayToObject(entry, "errors");
			cJSON *e1 = cJSON_CreateObject();

			cJSON_AddStringToObject(e1, "domain", "global");
			cJSON_AddStringToObject(e1, "reason", "notFound");
			cJSON_AddItemToArray(errors, e1);
			cJSON_AddArrayToObject(entry, "busy");
			continue;
		}
		busy = cJSON_AddArrayToObject(entry, "busy");
		c = calendar(f, id);
		cJSON_ArrayForEach(iv, cJSON_GetObjectItemCaseSensitive(c, "busy"))
		{
			s = (time_t)cJSON_GetArrayItem(iv, 0)->valuedouble;
			e = (time_t)cJSON_GetArrayItem(iv, 1)->valuedouble;
			if (s < to && from < e)
				add_interval(busy, s > from ? s : from, e < to ? e : to);
		}
		cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(c, "events"))
		{
			const char *st = json_str(ev, "status");

			if (st && !strcmp(st, "cancelled"))
				continue;
			if (!time_of(cJSON_GetObjectItemCaseSensitive(ev, "start"), "dateTime",
				     &s) ||
			    !time_of(cJSON_GetObjectItemCaseSensitive(ev, "end"), "dateTime", &e))
				continue;
			if (s < to && from < e)
				add_interval(busy, s > from ? s : from, e < to ? e : to);
		}
	}
	answer_json(a, 200, out);
}

static bool base32hex_id(const char *id)
{
	size_t n = strlen(id), i;

	if (n < 5 || n > 1024)
		return false;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'v') || (id[i] >= '0' && id[i] <= '9')))
			return false;
	return true;
}

/* abc-defg-hij from the stand-in's randomness. */
static char *meet_code(struct fake *f)
{
	char *r = standin_random_text(&f->s, "abcdefghijklmnopqrstuvwxyz", 10);
	char *code = xasprintf("%.3s-%.4s-%.3s", r, r + 3, r + 7);

	free(r);
	return code;
}

/* Completes a conference: link, entry point, solution, status success. */
static void conference_ready(struct fake *f, cJSON *ev)
{
	cJSON *conf = cJSON_GetObjectItemCaseSensitive(ev, "conferenceData");
	cJSON *status = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(conf, "createRequest"), "status");
	char *code = meet_code(f);
	char *uri = xasprintf("https://meet.google.com/%s", code);
	char *label = xasprintf("meet.google.com/%s", code);
	cJSON *eps = cJSON_AddArrayToObject(conf, "entryPoints");
	cJSON *ep = cJSON_CreateObject();
	cJSON *sol = cJSON_AddObjectToObject(conf, "conferenceSolution");

	cJSON_ReplaceItemInObjectCaseSensitive(status, "statusCode", cJSON_CreateString("success"));
	cJSON_AddStringToObject(ep, "entryPointType", "video");
	cJSON_AddStringToObject(ep, "uri", uri);
	cJSON_AddStringToObject(ep, "label", label);
	cJSON_AddItemToArray(eps, ep);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(sol, "key"), "type", "hangoutsMeet");
	cJSON_AddStringToObject(sol, "name", "Google Meet");
	cJSON_AddStringToObject(sol, "iconUri", MEET_ICON);
	cJSON_AddStringToObject(conf, "conferenceId", code);
	cJSON_AddStringToObject(ev, "hangoutLink", uri);
	free(code);
	free(uri);
	free(label);
}

static bool query_has(struct evhttp_request *req, const char *key, const char *value)
{
	struct evkeyvalq q;
	const char *uri = evhttp_request_get_uri(req), *v;
	const char *qs = strchr(uri, '?');
	bool yes = false;

	if (!qs)
		return false;
	memset(&q, 0, sizeof(q));
	if (evhttp_parse_query_str(qs + 1, &q) == 0) {
		v = evhttp_find_header(&q, key);
		yes = v && !strcmp(v, value);
	}
	evhttp_clear_headers(&q);
	return yes;
}

static void insert(struct fake *f, struct evhttp_request *req, const char *cal_id, cJSON *doc,
		   struct answer *a)
{
	cJSON *cal = calendar(f, cal_id), *events = cJSON_GetObjectItemCaseSensitive(cal, "events");
	const char *id = json_str(doc, "id");
	const cJSON *att, *create;
	cJSON *ev, *attendees, *org;
	time_t s, e;
	char *made = NULL, *link;
	char stamp[GCAL_TIME_BUF];
	bool apply;

	if (!time_of(cJSON_GetObjectItemCaseSensitive(doc, "start"), "dateTime", &s) ||
	    !time_of(cJSON_GetObjectItemCaseSensitive(doc, "end"), "dateTime", &e)) {
		google_error(a, 400, "global", "required", "Missing time.");
		return;
	}
	if (!range_ok(s, e, a))
		return;
	if (json_has(doc, "id") && (!id || !base32hex_id(id))) {
		google_error(a, 400, "global", "invalid", "Invalid resource id value.");
		return;
	}
	cJSON_ArrayForEach(att, cJSON_GetObjectItemCaseSensitive(doc, "attendees"))
	{
		if (!json_str(att, "email")) {
			google_error(a, 400, "global", "required", "Missing attendee email.");
			return;
		}
	}
	create = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(doc, "conferenceData"), "createRequest");
	if (create && query_has(req, "conferenceDataVersion", "1")) {
		const char *type = json_str(
		    cJSON_GetObjectItemCaseSensitive(create, "conferenceSolutionKey"), "type");

		if (!type || strcmp(type, "hangoutsMeet") != 0) {
			google_error(a, 400, "global", "invalid", "Invalid conference type value.");
			return;
		}
	}
	if (id && cJSON_GetObjectItemCaseSensitive(events, id)) {
		google_error(a, 409, "global", "duplicate",
			     "The requested identifier already exists.");
		return;
	}
	a->step = standin_take_step(&f->s, "insert", "any");
	apply = json_true(a->step, "apply");
	if (apply_step(a, a->step, false) && !apply)
		return;
	if (!id)
		id = made = standin_random_text(&f->s, "abcdefghijklmnopqrstuv0123456789", 26);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "kind", "calendar#event");
	cJSON_AddStringToObject(ev, "etag", "\"3181161784712000\"");
	cJSON_AddStringToObject(ev, "id", id);
	cJSON_AddStringToObject(ev, "status", "confirmed");
	link = xasprintf("https://www.google.com/calendar/event?eid=%s", id);
	cJSON_AddStringToObject(ev, "htmlLink", link);
	free(link);
	gcal_time_format((time_t)(clock_wall_ms() / 1000), 0, stamp);
	cJSON_AddStringToObject(ev, "created", stamp);
	cJSON_AddStringToObject(ev, "updated", stamp);
	json_echo(ev, doc, "summary", cJSON_CreateString("(No title)"));
	if (json_has(doc, "description"))
		json_echo(ev, doc, "description", NULL);
	org = cJSON_AddObjectToObject(ev, "creator");
	cJSON_AddStringToObject(org, "email", OWNER);
	cJSON_AddBoolToObject(org, "self", 1);
	org = cJSON_AddObjectToObject(ev, "organizer");
	cJSON_AddStringToObject(org, "email", OWNER);
	cJSON_AddBoolToObject(org, "self", 1);
	json_echo(ev, doc, "start", NULL);
	json_echo(ev, doc, "end", NULL);
	link = xasprintf("%s@google.com", id);
	cJSON_AddStringToObject(ev, "iCalUID", link);
	free(link);
	cJSON_AddNumberToObject(ev, "sequence", 0);
	attendees = cJSON_AddArrayToObject(ev, "attendees");
	cJSON_ArrayForEach(att, cJSON_GetObjectItemCaseSensitive(doc, "attendees"))
	{
		cJSON *one = cJSON_Duplicate(att, true);

		if (!json_has(one, "responseStatus"))
			cJSON_AddStringToObject(one, "responseStatus", "needsAction");
		cJSON_AddItemToArray(attendees, one);
	}
	if (json_has(doc, "extendedProperties"))
		json_echo(ev, doc, "extendedProperties", NULL);
	json_echo(ev, doc, "reminders", cJSON_CreateObject());
	if (create && query_has(req, "conferenceDataVersion", "1")) {
		cJSON *conf = cJSON_AddObjectToObject(ev, "conferenceData");
		cJSON *cr = cJSON_AddObjectToObject(conf, "createRequest");

		json_echo(cr, create, "requestId", cJSON_CreateString(""));
		json_echo(cr, create, "conferenceSolutionKey", cJSON_CreateObject());
		cJSON_AddStringToObject(cJSON_AddObjectToObject(cr, "status"), "statusCode",
					"pending");
		if (!json_true(a->step, "conference_pending"))
			conference_ready(f, ev);
	}
	cJSON_AddStringToObject(ev, "eventType", "default");
	cJSON_AddItemToObject(events, id, ev);
	f->inserted++;
	if (!apply)
		answer_json(a, 200, cJSON_Duplicate(ev, true));
	free(made);
}

static cJSON *event_of(struct fake *f, const char *cal_id, const char *id)
{
	cJSON *cal = cJSON_GetObjectItemCaseSensitive(f->calendars, cal_id);

	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cal, "events"),
						id);
}

static void get_event(struct fake *f, const char *cal_id, const char *id, struct answer *a)
{
	cJSON *ev = event_of(f, cal_id, id);
	const char *code;

	if (!ev) {
		not_found(a);
		return;
	}
	a->step = standin_take_step(&f->s, "get", "any");
	if (apply_step(a, a->step, false))
		return;
	code = json_str(
	    cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(ev, "conferenceData"), "createRequest"),
		"status"),
	    "statusCode");
	if (code && !strcmp(code, "pending"))
		conference_ready(f, ev);
	answer_json(a, 200, cJSON_Duplicate(ev, true));
}

static void delete_event(struct fake *f, const char *cal_id, const char *id, struct answer *a)
{
	cJSON *ev = event_of(f, cal_id, id);
	const char *st = json_str(ev, "status");
	bool apply;

	if (!ev) {
		not_found(a);
		return;
	}
	if (st && !strcmp(st, "cancelled")) {
		google_error(a, 410, "global", "deleted", "Resource has been deleted");
		return;
	}
	a->step = standin_take_step(&f->s, "delete", "any");
	apply = json_true(a->step, "apply");
	if (apply_step(a, a->step, false) && !apply)
		return;
	cJSON_ReplaceItemInObjectCaseSensitive(ev, "status", cJSON_CreateString("cancelled"));
	f->deleted++;
	if (!apply) {
		a->status = 204;
		free(a->body);
		a->body = NULL;
	}
}

/* "/calendar/v3/calendars/{cal}/events[/{id}]": the decoded ids, or false. */
static bool events_path(const char *path, char **cal, char **id)
{
	static const char prefix[] = "/calendar/v3/calendars/";
	const char *p = path + sizeof(prefix) - 1, *slash;
	char *raw;

	*cal = *id = NULL;
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return false;
	slash = strchr(p, '/');
	if (!slash || slash == p || strncmp(slash, "/events", 7) != 0)
		return false;
	raw = xstrndup(p, (size_t)(slash - p));
	*cal = evhttp_uridecode(raw, 0, NULL);
	free(raw);
	p = slash + 7;
	if (*p == '\0')
		return true;
	if (*p != '/' || !p[1] || strchr(p + 1, '/')) {
		free(*cal);
		*cal = NULL;
		return false;
	}
	*id = evhttp_uridecode(p + 1, 0, NULL);
	return true;
}

/* ---------------------------------------------------------------- controls */

static cJSON *control_body(struct evhttp_request *req)
{
	size_t len;
	char *body = standin_body(req, &len);
	cJSON *doc = cJSON_ParseWithLength(body, len);

	free(body);
	return doc;
}

/* The controls beyond standin_control's; true when path was one. */
static bool controls(struct standin *st, struct evhttp_request *req, const char *path)
{
	struct fake *f = st->owner;
	bool post = standin_is_post(req);
	cJSON *doc, *busy, *out;
	const cJSON *iv;
	struct token *t;

	if (!strcmp(path, "/_busy") && post) {
		doc = control_body(req);
		const char *cal = json_str(doc, "calendar");

		busy = cJSON_CreateArray();
		cJSON_ArrayForEach(iv, cJSON_GetObjectItemCaseSensitive(doc, "busy"))
		{
			time_t s, e;
			double pair[2];

			if (!time_of(iv, "start", &s) || !time_of(iv, "end", &e) || e <= s) {
				cJSON_Delete(busy);
				cJSON_Delete(doc);
				reply_error(req, 400, "busy intervals need RFC 3339 start < end");
				return true;
			}
			pair[0] = (double)s;
			pair[1] = (double)e;
			cJSON_AddItemToArray(busy, cJSON_CreateDoubleArray(pair, 2));
		}
		out = cJSON_GetObjectItemCaseSensitive(calendar(f, cal ? cal : "primary"), "busy");
		while (cJSON_GetArraySize(busy) > 0)
			cJSON_AddItemToArray(out, cJSON_DetachItemFromArray(busy, 0));
		cJSON_Delete(busy);
		cJSON_Delete(doc);
		reply_json(req, 200, cJSON_CreateObject());
		return true;
	}
	if (!strcmp(path, "/_revoke") && post) {
		doc = control_body(req);
		if (!json_str(doc, "refresh_token")) {
			cJSON_Delete(doc);
			reply_error(req, 400, "{\"refresh_token\": \"…\"} expected");
			return true;
		}
		cJSON_AddItemToArray(f->revoked,
				     cJSON_CreateString(json_str(doc, "refresh_token")));
		cJSON_Delete(doc);
		reply_json(req, 200, cJSON_CreateObject());
		return true;
	}
	if (!strcmp(path, "/_expire") && post) {
		for (t = f->tokens; t; t = t->next)
			t->expires_ms = 0;
		reply_json(req, 200, cJSON_CreateObject());
		return true;
	}
	if (!strcmp(path, "/_events") && evhttp_request_get_command(req) == EVHTTP_REQ_GET) {
		const cJSON *cal, *ev;

		out = cJSON_CreateObject();
		cJSON_ArrayForEach(cal, f->calendars)
		{
			cJSON *list = cJSON_AddArrayToObject(out, cal->string);

			cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(cal, "events"))
			    cJSON_AddItemToArray(list, cJSON_Duplicate(ev, true));
		}
		reply_json(req, 200, out);
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- dispatch */

static void handle(struct evhttp_request *req, void *arg)
{
	struct fake *f = arg;
	struct answer a = ANSWER_INIT;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char *cal = NULL, *id = NULL, *path, *body;
	cJSON *entry, *doc = NULL;
	size_t len;

	if (!(entry = standin_begin(&f->s, req, controls, &path, &body, &len)))
		return;
	if (!strcmp(path, "/token")) {
		if (cmd == EVHTTP_REQ_POST)
			token_endpoint(f, req, body, &a);
		else
			oauth_error(&a, 405, "invalid_request", "Method not allowed");
	} else if (strncmp(path, "/calendar/v3/", 13) != 0) {
		not_found(&a);
	} else if (!authorized(f, req, &a)) {
		/* answered 401 */
	} else if (!strcmp(path, "/calendar/v3/freeBusy") && cmd == EVHTTP_REQ_POST) {
		doc = cJSON_ParseWithLength(body, len);
		if (!standin_is_json(req) || !cJSON_IsObject(doc))
			google_error(&a, 400, "global", "parseError", "Parse Error");
		else
			freebusy(f, doc, &a);
	} else if (events_path(path, &cal, &id)) {
		if (!id && cmd == EVHTTP_REQ_POST) {
			doc = cJSON_ParseWithLength(body, len);
			if (!standin_is_json(req) || !cJSON_IsObject(doc))
				google_error(&a, 400, "global", "parseError", "Parse Error");
			else
				insert(f, req, cal, doc, &a);
		} else if (id && cmd == EVHTTP_REQ_GET) {
			get_event(f, cal, id, &a);
		} else if (id && cmd == EVHTTP_REQ_DELETE) {
			delete_event(f, cal, id, &a);
		} else {
			google_error(&a, 405, "global", "httpMethodNotAllowed",
				     "Method Not Allowed");
		}
	} else {
		not_found(&a);
	}
	standin_answer(&f->s, req, entry, &a);
	cJSON_Delete(doc);
	free(cal);
	free(id);
	free(body);
	free(path);
}

/* ---------------------------------------------------------------- script and stats */

static const struct step_key step_keys[] = {
    {"for", ST_STR},    {"times", ST_NUM},  {"delay_ms", ST_NUM},   {"drop", ST_BOOL},
    {"status", ST_NUM}, {"reason", ST_STR}, {"message", ST_STR},    {"retry_after", ST_NUM},
    {"apply", ST_BOOL}, {"error", ST_STR},  {"expires_in", ST_NUM}, {"conference_pending", ST_BOOL},
    {NULL, ST_ANY},
};

static const char *check_step(const cJSON *step)
{
	const char *why = check_step_keys(step, step_keys);
	const char *f = json_str(step, "for"), *e = json_str(step, "error");
	static const char *const targets[] = {"token",  "freebusy", "insert", "get",
					      "delete", "any",      NULL};
	int i;

	if (*why)
		return why;
	for (i = 0; f && targets[i]; i++)
		if (!strcmp(f, targets[i]))
			break;
	if (f && !targets[i])
		return "\"for\" must be \"token\", \"freebusy\", \"insert\", \"get\", \"delete\" "
		       "or "
		       "\"any\"";
	if (e && strcmp(e, "invalid_grant") && strcmp(e, "invalid_client"))
		return "\"error\" must be \"invalid_grant\" or \"invalid_client\"";
	if (json_true(step, "apply") && !json_has(step, "status") && !json_true(step, "drop"))
		return "\"apply\" needs a \"status\" (or \"drop\") to answer after doing the work";
	if (json_has(step, "expires_in") && json_num(step, "expires_in", 0) < 0)
		return "\"expires_in\" must not be negative";
	return "";
}

static void stats(struct standin *s, cJSON *out)
{
	struct fake *f = s->owner;

	cJSON_AddNumberToObject(out, "tokens_issued", (double)f->tokens_issued);
	cJSON_AddNumberToObject(out, "events_inserted", (double)f->inserted);
	cJSON_AddNumberToObject(out, "events_deleted", (double)f->deleted);
	cJSON_AddNumberToObject(out, "freebusy", (double)f->freebusy);
}

static void free_tokens(struct fake *f)
{
	while (f->tokens) {
		struct token *t = f->tokens;

		f->tokens = t->next;
		free(t->access_token);
		free(t->refresh_token);
		free(t);
	}
}

static void reset(struct standin *s)
{
	struct fake *f = s->owner;

	free_tokens(f);
	cJSON_Delete(f->revoked);
	cJSON_Delete(f->calendars);
	f->revoked = cJSON_CreateArray();
	f->calendars = cJSON_CreateObject();
	f->tokens_issued = f->inserted = f->deleted = f->freebusy = 0;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *to)
{
	fprintf(to, "usage: fake_google --listen HOST:PORT [--log FILE] [--client-id ID]\n"
		    "                   [--client-secret S] [--expires-in N]\n");
}

static int take_option(void *owner, int c, const char *arg)
{
	struct fake *f = owner;

	switch (c) {
	case 'i': f->client_id = arg; break;
	case 's': f->client_secret = arg; break;
	case 'e':
		return standin_count(arg, &f->expires_in,
				     "fake_google: --expires-in wants seconds");
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"client-id", required_argument, NULL, 'i'},
	    {"client-secret", required_argument, NULL, 's'},
	    {"expires-in", required_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};

	struct fake f = {.s = {.stats = stats, .reset = reset, .check_step = check_step},
			 .expires_in = 3599};
	int rc = standin_setup(&f.s, "fake_google", argc, argv, opts, take_option, usage, &f);

	if (rc >= 0)
		return rc;
	f.revoked = cJSON_CreateArray();
	f.calendars = cJSON_CreateObject();
	rc = standin_serve(&f.s, handle, &f);
	free_tokens(&f);
	cJSON_Delete(f.revoked);
	cJSON_Delete(f.calendars);
	libevent_global_shutdown();
	return rc;
}
