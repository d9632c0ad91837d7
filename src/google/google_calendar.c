#include "google_calendar.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json.h"
#include "strbuf.h"
#include "xalloc.h"

/* ---- times ------------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm, no TZ environment, no locale. */
static long long days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

int gcal_time_parse(const char *s, time_t *t, int *offset)
{
	if (!s)
		return -1;
	size_t len = strnlen(s, GCAL_TIME_MAX + 1);
	if (len > GCAL_TIME_MAX || len < 16)
		return -1;
	int y, mo, d, h, mi, sec = 0;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi))
		return -1;
	const char *p = s + 16;
	if (*p == ':') {
		if (digits(p + 1, 2, &sec))
			return -1;
		p += 3;
		if (*p == '.' || *p == ',') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			while (*p >= '0' && *p <= '9')
				p++;
		}
	}
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	if (sec == 60)
		sec = 59; /* a leap second is the second before the next minute */
	int off = 0, rc = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return -1;
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else if (*p == '\0') {
		rc = -2;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	long long secs = days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec - off;
	if (secs < 0)
		return -1;
	*t = (time_t)secs;
	*offset = off;
	return rc;
}

void gcal_time_format(time_t t, int offset, char out[GCAL_TIME_BUF])
{
	time_t local = t + offset;
	struct tm tm;
	gmtime_r(&local, &tm);
	size_t n = strftime(out, GCAL_TIME_BUF, "%Y-%m-%dT%H:%M:%S", &tm);
	if (offset == 0) {
		snprintf(out + n, GCAL_TIME_BUF - n, "Z");
		return;
	}
	int a = offset < 0 ? -offset : offset;
	snprintf(out + n, GCAL_TIME_BUF - n, "%c%02d:%02d", offset < 0 ? '-' : '+', a / 3600,
		 a % 3600 / 60);
}

/* ---- ids, URLs, validation ---------------------------------------------- */

char *gcal_event_id(const char *meeting_id)
{
	static const char alphabet[] = "0123456789abcdefghijklmnopqrstuv";
	size_t n = meeting_id ? strlen(meeting_id) : 0;
	if (n == 0 || n > 200)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | (unsigned char)meeting_id[i];
		bits += 8;
		while (bits >= 5) {
			strbuf_putc(&sb, alphabet[(acc >> (bits - 5)) & 31]);
			bits -= 5;
		}
	}
	if (bits > 0)
		strbuf_putc(&sb, alphabet[(acc << (5 - bits)) & 31]);
	return strbuf_detach(&sb);
}

char *gcal_request_id(const char *meeting_id)
{
	return xasprintf("parley-%s", meeting_id);
}

/* Percent-encodes s for a URL path segment or a form value (RFC 3986
 * unreserved characters stay, everything else is %XX). */
static char *gcal_url_escape(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			strbuf_putc(&sb, (char)*p);
		else
			strbuf_printf(&sb, "%%%02X", *p);
	}
	return strbuf_detach(&sb);
}

char *gcal_events_url(const char *calendar_url, const char *calendar_id, const char *event_id,
		      const char *query)
{
	struct strbuf sb = STRBUF_INIT;
	char *cal = gcal_url_escape(calendar_id);
	strbuf_printf(&sb, "%s/calendars/%s/events", calendar_url, cal);
	free(cal);
	if (event_id) {
		char *ev = gcal_url_escape(event_id);
		strbuf_printf(&sb, "/%s", ev);
		free(ev);
	}
	if (query)
		strbuf_printf(&sb, "?%s", query);
	return strbuf_detach(&sb);
}

const char *gcal_check_timezone(const char *name, const char *zoneinfo_dir)
{
	if (!name || !*name)
		return "is empty";
	size_t n = strnlen(name, 65);
	if (n > 64)
		return "is too long for a time zone name";
	if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
		return "is not an IANA time zone name such as Europe/Amsterdam";
	int segments = 1;
	size_t seg_len = 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c == '/') {
			if (seg_len == 0 || ++segments > 3)
				return "is not an IANA time zone name such as Europe/Amsterdam";
			seg_len = 0;
			continue;
		}
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '+'))
			return "is not an IANA time zone name such as Europe/Amsterdam";
		seg_len++;
	}
	if (seg_len == 0)
		return "is not an IANA time zone name such as Europe/Amsterdam";
	struct stat st;
	if (!zoneinfo_dir || stat(zoneinfo_dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL; /* no database to ask: the pattern has to do */
	char *path = xasprintf("%s/%s", zoneinfo_dir, name);
	int found = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	free(path);
	return found ? NULL : "is not a known IANA time zone";
}

static bool atext(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

const char *gcal_check_email(const char *email)
{
	if (!email || !*email)
		return "is empty";
	size_t n = strnlen(email, 255);
	if (n > 254)
		return "is too long for an email address";
	const char *at = strchr(email, '@');
	if (!at || strchr(at + 1, '@'))
		return "is not an email address (one '@' expected)";
	if (at == email)
		return "is not an email address (nothing before '@')";
	for (const char *p = email; p < at; p++) {
		if (*p == '.') {
			if (p == email || p + 1 == at || p[1] == '.')
				return "is not an email address (misplaced '.')";
		} else if (!atext(*p)) {
			return "is not an email address (bad character)";
		}
	}
	const char *dom = at + 1;
	if (!*dom || !strchr(dom, '.'))
		return "is not an email address (no domain)";
	size_t label = 0;
	for (const char *p = dom;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return "is not an email address (bad domain)";
			if (*p == '\0')
				break;
			label = 0;
			continue;
		}
		bool ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || (*p == '-' && label > 0);
		if (!ok)
			return "is not an email address (bad domain)";
		label++;
	}
	return NULL;
}

/* ---- OAuth token refresh ---------------------------------------------------- */

char *gcal_token_request(const char *client_id, const char *client_secret,
			 const char *refresh_token)
{
	char *id = gcal_url_escape(client_id);
	char *secret = gcal_url_escape(client_secret);
	char *token = gcal_url_escape(refresh_token);
	char *body = xasprintf("grant_type=refresh_token&client_id=%s&client_secret=%s"
			       "&refresh_token=%s",
			       id, secret, token);
	free(id);
	xfree_secret(secret);
	xfree_secret(token);
	return body;
}

/* A token as it may go into an Authorization header: printable ASCII
 * without blanks, at most 4096 bytes. */
static bool token_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 4096)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7F)
			return false;
	return true;
}

/* At most max bytes of s with control characters and non-ASCII replaced:
 * Google's (or anyone's) error text goes into logs and the database. */
static void clean_text(struct strbuf *sb, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];
		strbuf_putc(sb, c < 0x20 || c >= 0x7F ? '?' : (char)c);
	}
}

enum gcal_token_outcome gcal_token_parse(long status, const char *body, size_t len,
					 char **access_token, long *expires_in,
					 char **refresh_token, char **why)
{
	*access_token = NULL;
	*refresh_token = NULL;
	*why = NULL;
	*expires_in = 0;
	cJSON *root = cJSON_ParseWithLength(body, len);
	if (status >= 200 && status < 300) {
		const char *at =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "access_token"));
		cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
		const char *rt =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "refresh_token"));
		if (!token_ok(at)) {
			cJSON_Delete(root);
			*why = xstrdup("the token answer has no usable access_token");
			return GCAL_TOKEN_FINAL;
		}
		double secs = 3600;
		if (cJSON_IsNumber(exp))
			secs = exp->valuedouble;
		else if (cJSON_IsString(exp))
			secs = strtod(exp->valuestring, NULL);
		if (!(secs >= 60)) /* also NaN */
			secs = 60;
		if (secs > 86400)
			secs = 86400;
		*expires_in = (long)secs;
		*access_token = xstrdup(at);
		if (token_ok(rt))
			*refresh_token = xstrdup(rt);
		cJSON_Delete(root);
		return GCAL_TOKEN_OK;
	}
	const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "error"));
	const char *desc =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "error_description"));
	struct strbuf sb = STRBUF_INIT;
	if (code) {
		clean_text(&sb, code, 64);
		if (desc) {
			strbuf_puts(&sb, ": ");
			clean_text(&sb, desc, 200);
		}
	} else {
		strbuf_printf(&sb, "HTTP %ld from the token endpoint", status);
	}
	*why = strbuf_detach(&sb);
	enum gcal_token_outcome o = code && strcmp(code, "invalid_grant") == 0 ? GCAL_TOKEN_REVOKED
				    : status == 408 || status == 429 || status >= 500
					? GCAL_TOKEN_RETRYABLE
					: GCAL_TOKEN_FINAL;
	cJSON_Delete(root);
	return o;
}

/* ---- Calendar errors ------------------------------------------------------- */

void gcal_error_reason(const char *body, size_t len, char *out, size_t outlen)
{
	out[0] = '\0';
	if (!body || len == 0 || len > 64 * 1024)
		return;
	cJSON *root = cJSON_ParseWithLength(body, len);
	cJSON *errors = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "error"), "errors");
	const char *reason = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(errors, 0), "reason"));
	if (reason) {
		struct strbuf sb = STRBUF_INIT;
		clean_text(&sb, reason, outlen - 1);
		snprintf(out, outlen, "%s", strbuf_str(&sb));
		strbuf_free(&sb);
	}
	cJSON_Delete(root);
}

bool gcal_retryable_403(long status, const char *body, size_t len)
{
	if (status != 403)
		return false;
	char reason[64];
	gcal_error_reason(body, len, reason, sizeof reason);
	return strcmp(reason, "rateLimitExceeded") == 0 ||
	       strcmp(reason, "userRateLimitExceeded") == 0;
}

/* ---- freeBusy -------------------------------------------------------------- */

char *gcal_freebusy_request(const char *calendar_id, time_t from, time_t to)
{
	char a[GCAL_TIME_BUF], b[GCAL_TIME_BUF];
	gcal_time_format(from, 0, a);
	gcal_time_format(to, 0, b);
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "timeMin", a);
	cJSON_AddStringToObject(root, "timeMax", b);
	cJSON_AddStringToObject(root, "timeZone", "UTC");
	cJSON *items = cJSON_AddArrayToObject(root, "items");
	cJSON *item = cJSON_CreateObject();
	cJSON_AddStringToObject(item, "id", calendar_id);
	cJSON_AddItemToArray(items, item);
	return json_print(root);
}

static int by_start(const void *a, const void *b)
{
	const struct gcal_interval *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

const char *gcal_freebusy_parse(const char *body, size_t len, const char *calendar_id,
				struct gcal_interval **busy, size_t *n)
{
	*busy = NULL;
	*n = 0;
	cJSON *root = cJSON_ParseWithLength(body, len);
	const char *why = NULL;
	cJSON *cal = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "calendars"), calendar_id);
	cJSON *errors = cJSON_GetObjectItemCaseSensitive(cal, "errors");
	cJSON *list = cJSON_GetObjectItemCaseSensitive(cal, "busy");
	if (!cJSON_IsObject(cal)) {
		why = "the answer does not mention the calendar";
		goto out;
	}
	if (cJSON_GetArraySize(errors) > 0) {
		why = "Google could not read the calendar";
		goto out;
	}
	if (list && !cJSON_IsArray(list)) {
		why = "the busy list is malformed";
		goto out;
	}
	int count = cJSON_GetArraySize(list);
	if (count > GCAL_MAX_BUSY) {
		why = "too many busy intervals";
		goto out;
	}
	if (count > 0)
		*busy = xcalloc((size_t)count, sizeof **busy);
	cJSON *it;
	cJSON_ArrayForEach(it, list)
	{
		int off;
		struct gcal_interval iv;
		const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "start"));
		const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "end"));
		if (gcal_time_parse(s, &iv.start, &off) != 0 ||
		    gcal_time_parse(e, &iv.end, &off) != 0 || iv.end <= iv.start) {
			why = "a busy interval is malformed";
			free(*busy);
			*busy = NULL;
			*n = 0;
			goto out;
		}
		(*busy)[(*n)++] = iv;
	}
	if (*n > 1)
		qsort(*busy, *n, sizeof **busy, by_start);
out:
	cJSON_Delete(root);
	return why;
}

bool gcal_overlaps(const struct gcal_interval *busy, size_t n, time_t start, time_t end)
{
	for (size_t i = 0; i < n; i++)
		if (busy[i].start < end && start < busy[i].end)
			return true;
	return false;
}

size_t gcal_free_slots(const struct gcal_interval *busy, size_t n, time_t from, time_t to,
		       long duration, long step, int offset, time_t not_before,
		       struct gcal_interval *out, size_t max)
{
	if (duration <= 0 || step <= 0 || to <= from)
		return 0;
	time_t c = from > not_before ? from : not_before;
	long long r = ((long long)c + offset) % step;
	if (r < 0)
		r += step;
	if (r)
		c += step - r;
	size_t count = 0;
	for (; c + duration <= to; c += step) {
		if (gcal_overlaps(busy, n, c, c + duration))
			continue;
		if (count < max)
			out[count] = (struct gcal_interval){c, c + duration};
		count++;
	}
	return count;
}

/* ---- events ------------------------------------------------------------------ */

static void add_time(cJSON *root, const char *key, time_t t, const char *tz)
{
	char buf[GCAL_TIME_BUF];
	gcal_time_format(t, 0, buf);
	cJSON *o = cJSON_AddObjectToObject(root, key);
	cJSON_AddStringToObject(o, "dateTime", buf);
	cJSON_AddStringToObject(o, "timeZone", tz);
}

char *gcal_event_request(const struct gcal_event_spec *spec)
{
	cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "id", spec->event_id);
	cJSON_AddStringToObject(root, "summary", spec->title);
	if (spec->description)
		cJSON_AddStringToObject(root, "description", spec->description);
	add_time(root, "start", spec->start, spec->timezone);
	add_time(root, "end", spec->end, spec->timezone);
	cJSON *attendees = cJSON_AddArrayToObject(root, "attendees");
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "email", spec->attendee_email);
	if (spec->attendee_name && *spec->attendee_name)
		cJSON_AddStringToObject(a, "displayName", spec->attendee_name);
	cJSON_AddItemToArray(attendees, a);
	cJSON_AddBoolToObject(cJSON_AddObjectToObject(root, "reminders"), "useDefault", 1);
	cJSON *priv =
	    cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "extendedProperties"), "private");
	cJSON_AddStringToObject(priv, "parley_meeting_id", spec->meeting_id);
	if (spec->conversation_id)
		cJSON_AddStringToObject(priv, "parley_conversation_id", spec->conversation_id);
	cJSON *req = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "conferenceData"),
					     "createRequest");
	cJSON_AddStringToObject(req, "requestId", spec->request_id);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(req, "conferenceSolutionKey"), "type",
				"hangoutsMeet");
	return json_print(root);
}

/* A link we are willing to hand to a customer: https, printable, bounded. */
static char *link_or_null(const char *s)
{
	if (!s || strncmp(s, "https://", 8) != 0 || strlen(s) > 2048 || !token_ok(s))
		return NULL;
	return xstrdup(s);
}

int gcal_event_parse(const char *body, size_t len, struct gcal_event *ev)
{
	memset(ev, 0, sizeof *ev);
	cJSON *root = cJSON_ParseWithLength(body, len);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "id"));
	if (!cJSON_IsObject(root) || !id || !*id || strlen(id) > 1024) {
		cJSON_Delete(root);
		return -1;
	}
	ev->id = xstrdup(id);
	const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "status"));
	struct strbuf sb = STRBUF_INIT;
	clean_text(&sb, status ? status : "", 32);
	ev->status = strbuf_detach(&sb);
	ev->meet_link = link_or_null(
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "hangoutLink")));
	cJSON *conf = cJSON_GetObjectItemCaseSensitive(root, "conferenceData");
	cJSON *ep;
	cJSON_ArrayForEach(ep, cJSON_GetObjectItemCaseSensitive(conf, "entryPoints"))
	{
		const char *type =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ep, "entryPointType"));
		if (ev->meet_link || !type || strcmp(type, "video") != 0)
			continue;
		ev->meet_link =
		    link_or_null(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ep, "uri")));
	}
	const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(conf, "createRequest"), "status"),
	    "statusCode"));
	clean_text(&sb, code ? code : "", 32);
	ev->conference = strbuf_detach(&sb);
	cJSON_Delete(root);
	return 0;
}

void gcal_event_clear(struct gcal_event *ev)
{
	free(ev->id);
	free(ev->status);
	free(ev->meet_link);
	free(ev->conference);
	memset(ev, 0, sizeof *ev);
}
