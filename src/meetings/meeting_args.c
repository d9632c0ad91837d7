#include "meeting_args.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

static cJSON *prop(cJSON *props, const char *name, const char *type, bool nullable,
		   const char *description)
{
	cJSON *p = cJSON_AddObjectToObject(props, name);
	if (nullable) {
		const char *types[] = {type, "null"};
		cJSON_AddItemToObject(p, "type", cJSON_CreateStringArray(types, 2));
	} else {
		cJSON_AddStringToObject(p, "type", type);
	}
	cJSON_AddStringToObject(p, "description", description);
	return p;
}

/* A strict function tool: every property required, nothing else allowed
 * (docs/protocol.md, Meeting tools: strict schemas need both). */
static cJSON *tool(cJSON *tools, const char *name, const char *description, cJSON **props)
{
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "type", "function");
	cJSON_AddStringToObject(t, "name", name);
	cJSON_AddStringToObject(t, "description", description);
	cJSON_AddBoolToObject(t, "strict", 1);
	cJSON *params = cJSON_AddObjectToObject(t, "parameters");
	cJSON_AddStringToObject(params, "type", "object");
	*props = cJSON_AddObjectToObject(params, "properties");
	cJSON_AddItemToArray(tools, t);
	return params;
}

static void finish_tool(cJSON *params, cJSON *props)
{
	cJSON *req = cJSON_AddArrayToObject(params, "required");
	cJSON *p;
	cJSON_ArrayForEach(p, props) cJSON_AddItemToArray(req, cJSON_CreateString(p->string));
	cJSON_AddBoolToObject(params, "additionalProperties", 0);
}

char *meeting_args_tools(long default_duration_minutes)
{
	char dur[160];
	snprintf(dur, sizeof dur,
		 "Length of the meeting in minutes (%d-%d); null for the default of %ld.",
		 MEETING_MIN_DURATION, MEETING_MAX_DURATION, default_duration_minutes);
	cJSON *tools = cJSON_CreateArray();
	cJSON *props;
	cJSON *params =
	    tool(tools, MEETING_TOOL_AVAILABILITY,
		 "Find free times in the business's calendar for a meeting with the customer "
		 "(a demo or a call). Returns free slots between start and end; offer the customer "
		 "a few of them.",
		 &props);
	prop(props, "start", "string", false,
	     "Beginning of the range to search, RFC 3339 with the customer's UTC offset, e.g. "
	     "2026-01-05T09:00:00+01:00.");
	prop(props, "end", "string", false,
	     "End of the range to search (at most 14 days after start), RFC 3339 with UTC "
	     "offset.");
	prop(props, "duration_minutes", "integer", true, dur);
	finish_tool(params, props);

	params = tool(tools, MEETING_TOOL_BOOK,
		      "Book a video meeting (Google Meet) with the customer in the business's "
		      "calendar once they agreed on a time and gave their name and email. The "
		      "customer gets an invitation by email. Returns the confirmed time and the "
		      "Meet link, or why the booking was not made.",
		      &props);
	prop(props, "start", "string", false,
	     "Start of the meeting, RFC 3339 with the customer's UTC offset, e.g. "
	     "2026-01-05T10:30:00+01:00.");
	prop(props, "duration_minutes", "integer", true, dur);
	prop(props, "timezone", "string", false,
	     "The customer's IANA time zone, e.g. Europe/Amsterdam.");
	prop(props, "customer_name", "string", false, "The customer's name.");
	prop(props, "customer_email", "string", false,
	     "The customer's email address, for the invitation.");
	prop(props, "title", "string", true,
	     "Title of the meeting, e.g. \"Product demo\"; null for \"Meeting with <name>\".");
	finish_tool(params, props);
	return json_print(tools);
}

/* ---- argument checks -------------------------------------------------------- */

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* The arguments as a JSON object; NULL with why when they are not one. */
static cJSON *parse_args(const char *json, size_t len, char *why, size_t whylen)
{
	if (!json || len > MEETING_ARGS_MAX_BYTES) {
		say(why, whylen, "the arguments are missing or too long");
		return NULL;
	}
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		say(why, whylen, "the arguments are not a JSON object");
		return NULL;
	}
	return root;
}

/* An RFC 3339 time with a UTC offset, or -1 with why. */
static int arg_time(cJSON *root, const char *key, time_t *t, int *offset, char *why, size_t whylen)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	if (!cJSON_IsString(v)) {
		say(why, whylen,
		    "%s is required: an RFC 3339 time with a UTC offset, e.g. "
		    "2026-01-05T10:00:00+01:00",
		    key);
		return -1;
	}
	int rc = gcal_time_parse(v->valuestring, t, offset);
	if (rc == -2) {
		say(why, whylen, "%s must include the UTC offset, e.g. 2026-01-05T10:00:00+01:00",
		    key);
		return -1;
	}
	if (rc != 0) {
		say(why, whylen,
		    "%s is not a valid RFC 3339 time such as 2026-01-05T10:00:00+01:00", key);
		return -1;
	}
	return 0;
}

/* duration_minutes: an integer in bounds, or null/absent for the default. */
static int arg_duration(cJSON *root, long dflt, long *out, char *why, size_t whylen)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "duration_minutes");
	if (!v || cJSON_IsNull(v)) {
		*out = dflt;
		return 0;
	}
	double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
	if (!(d >= MEETING_MIN_DURATION && d <= MEETING_MAX_DURATION) || d != (double)(long)d) {
		say(why, whylen, "duration_minutes must be a whole number from %d to %d, or null",
		    MEETING_MIN_DURATION, MEETING_MAX_DURATION);
		return -1;
	}
	*out = (long)d;
	return 0;
}

/* Characters in valid UTF-8 without control characters (C0, DEL, C1);
 * -1 when s is not. */
static long plain_chars(const char *s)
{
	long n = 0;
	while (*s) {
		uint32_t cp;
		size_t k = utf8_decode(s, SIZE_MAX, &cp);
		if (k == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
			return -1;
		s += k;
		n++;
	}
	return n;
}

/* A text argument trimmed of surrounding blanks; NULL (with why) when it
 * is missing (and required), empty, too long or not plain text. *present
 * says whether the model sent a value at all. */
static char *arg_text(cJSON *root, const char *key, long max, bool required, char *why,
		      size_t whylen, bool *present)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	*present = v && !cJSON_IsNull(v);
	if (!*present) {
		if (required)
			say(why, whylen, "%s is required", key);
		return NULL;
	}
	if (!cJSON_IsString(v)) {
		say(why, whylen, "%s must be a string", key);
		return NULL;
	}
	const char *s = v->valuestring;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	char *out = xstrndup(s, n);
	long chars = plain_chars(out);
	if (chars <= 0 || chars > max) {
		say(why, whylen,
		    chars == 0  ? "%s is empty"
		    : chars < 0 ? "%s must be plain text (UTF-8, no control characters)"
				: "%s is too long",
		    key);
		free(out);
		return NULL;
	}
	return out;
}

int meeting_args_availability(const char *json, size_t len, time_t now, long default_duration,
			      struct meeting_availability *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof *out);
	cJSON *root = parse_args(json, len, why, whylen);
	if (!root)
		return -1;
	int rc = -1, off_end;
	time_t from, to;
	if (arg_time(root, "start", &from, &out->offset, why, whylen) < 0 ||
	    arg_time(root, "end", &to, &off_end, why, whylen) < 0 ||
	    arg_duration(root, default_duration, &out->duration, why, whylen) < 0)
		goto done;
	if (to <= from) {
		say(why, whylen, "end must be after start");
		goto done;
	}
	if (to - from > (time_t)MEETING_MAX_RANGE_DAYS * 86400) {
		say(why, whylen, "the range is longer than %d days; ask for a shorter one",
		    MEETING_MAX_RANGE_DAYS);
		goto done;
	}
	if (to <= now + MEETING_MIN_LEAD_SECONDS) {
		say(why, whylen, "the range is in the past");
		goto done;
	}
	out->from = from > now ? from : now;
	out->to = to;
	rc = 0;
done:
	cJSON_Delete(root);
	return rc;
}

void meeting_booking_clear(struct meeting_booking *b)
{
	free(b->timezone);
	free(b->customer_name);
	free(b->customer_email);
	free(b->title);
	memset(b, 0, sizeof *b);
}

int meeting_args_booking(const char *json, size_t len, time_t now, long default_duration,
			 const char *zoneinfo_dir, struct meeting_booking *out, char *why,
			 size_t whylen)
{
	memset(out, 0, sizeof *out);
	cJSON *root = parse_args(json, len, why, whylen);
	if (!root)
		return -1;
	bool present;
	const char *bad;
	if (arg_time(root, "start", &out->start, &out->offset, why, whylen) < 0 ||
	    arg_duration(root, default_duration, &out->duration, why, whylen) < 0)
		goto fail;
	if (out->start < now + MEETING_MIN_LEAD_SECONDS) {
		say(why, whylen,
		    out->start < now ? "start is in the past"
				     : "start is too soon; book at least %d minutes ahead",
		    MEETING_MIN_LEAD_SECONDS / 60);
		goto fail;
	}
	if (out->start > now + (time_t)MEETING_MAX_AHEAD_DAYS * 86400) {
		say(why, whylen, "start is more than a year ahead");
		goto fail;
	}
	if (!(out->timezone = arg_text(root, "timezone", 64, true, why, whylen, &present)))
		goto fail;
	if ((bad = gcal_check_timezone(out->timezone, zoneinfo_dir))) {
		say(why, whylen, "timezone %s", bad);
		goto fail;
	}
	if (!(out->customer_name =
		  arg_text(root, "customer_name", MEETING_NAME_MAX, true, why, whylen, &present)))
		goto fail;
	if (!(out->customer_email =
		  arg_text(root, "customer_email", 254, true, why, whylen, &present)))
		goto fail;
	if ((bad = gcal_check_email(out->customer_email))) {
		say(why, whylen, "customer_email %s", bad);
		goto fail;
	}
	out->title = arg_text(root, "title", MEETING_TITLE_MAX, false, why, whylen, &present);
	if (!out->title && present)
		goto fail;
	if (!out->title)
		out->title = xasprintf("Meeting with %s", out->customer_name);
	cJSON_Delete(root);
	return 0;
fail:
	cJSON_Delete(root);
	meeting_booking_clear(out);
	return -1;
}

/* ---- outputs ----------------------------------------------------------------- */

char *meeting_args_error(const char *code, const char *message)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "ok", 0);
	cJSON_AddStringToObject(root, "error", code);
	cJSON_AddStringToObject(root, "message", message);
	return json_print(root);
}

static void add_time(cJSON *o, const char *key, time_t t, int offset)
{
	char buf[GCAL_TIME_BUF];
	gcal_time_format(t, offset, buf);
	cJSON_AddStringToObject(o, key, buf);
}

char *meeting_args_slots(const struct meeting_availability *a, const struct gcal_interval *slots,
			 size_t n, size_t total)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "ok", 1);
	add_time(root, "from", a->from, a->offset);
	add_time(root, "to", a->to, a->offset);
	cJSON_AddNumberToObject(root, "duration_minutes", (double)a->duration);
	cJSON *list = cJSON_AddArrayToObject(root, "free_slots");
	for (size_t i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateObject();
		add_time(s, "start", slots[i].start, a->offset);
		add_time(s, "end", slots[i].end, a->offset);
		cJSON_AddItemToArray(list, s);
	}
	if (total == 0) {
		cJSON_AddStringToObject(root, "note", "No free time of that length in this range.");
	} else if (total > n) {
		char note[96];
		snprintf(note, sizeof note, "Only the first %zu of %zu free slots are listed.", n,
			 total);
		cJSON_AddStringToObject(root, "note", note);
	}
	return json_print(root);
}

char *meeting_args_booked(const struct meeting_booking *b, const char *meeting_id,
			  const char *meet_link, bool already)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "ok", 1);
	cJSON_AddBoolToObject(root, "booked", 1);
	cJSON_AddStringToObject(root, "meeting_id", meeting_id);
	add_time(root, "start", b->start, b->offset);
	add_time(root, "end", b->start + b->duration * 60, b->offset);
	add_time(root, "start_utc", b->start, 0);
	cJSON_AddNumberToObject(root, "duration_minutes", (double)b->duration);
	cJSON_AddStringToObject(root, "timezone", b->timezone);
	cJSON_AddStringToObject(root, "title", b->title);
	cJSON_AddStringToObject(root, "invited", b->customer_email);
	if (meet_link)
		cJSON_AddStringToObject(root, "meet_link", meet_link);
	else
		cJSON_AddNullToObject(root, "meet_link");
	if (already)
		cJSON_AddStringToObject(root, "note", "This meeting was already booked.");
	else if (!meet_link)
		cJSON_AddStringToObject(root, "note",
					"Google is still creating the Meet link; it is in the "
					"invitation email.");
	return json_print(root);
}
