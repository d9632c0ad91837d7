#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "client_addr.h"
#include "encoding.h"
#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

#define DEFAULT_PATH "/etc/parley/parley.conf"
/* A config file is a few KiB; the caps stop `-c /dev/zero` from eating memory. */
#define MAX_FILE_BYTES       (1024 * 1024)
#define MAX_CREDENTIAL_BYTES (64 * 1024)
/* How much of an offending word an error message repeats. */
#define MAX_SHOWN 64

enum type { T_STRING, T_INT, T_BOOL, T_ENUM };

/* Checks on string values beyond "no control characters". */
enum check { C_NONE, C_URL, C_ADDR, C_ADDR_OR_EMPTY, C_LIST, C_ORIGINS, C_NETWORKS };

enum flag {
	F_SECRET = 1 << 0,   /* masked in dumps, never echoed, may come from credentials */
	F_CONNINFO = 1 << 1, /* only the password inside the libpq string is masked */
	F_RELOAD = 1 << 2,   /* re-read on SIGHUP (docs/operations.md) */
};

struct key {
	const char *section;
	const char *name;
	enum type type;
	const char *def; /* text, parsed like any other source so defaults obey the rules */
	long min, max;   /* T_INT */
	int (*accept)(const char *value); /* T_ENUM: 1 when value is allowed */
	const char *allowed;              /* T_ENUM: the allowed values, for messages */
	enum check check;                 /* T_STRING */
	unsigned need;                    /* enum config_need bits that require it */
	unsigned flags;
	const char *alias_env; /* a second, lower-precedence variable name */
	size_t offset;
};

static int accept_level(const char *value)
{
	enum log_level level;
	return log_parse_level(value, &level) == 0;
}

static int accept_format(const char *value)
{
	enum log_format format;
	return log_parse_format(value, &format) == 0;
}

/* The table reads best as one row per key, so the formatter keeps out. */
/* clang-format off */
#define FIELD(f) offsetof(struct config, f)
#define STR(sec, nm, def_, chk, need_, flags_, f)                                                  \
	{.section = sec, .name = nm, .type = T_STRING, .def = def_, .check = chk,                  \
	 .need = need_, .flags = flags_, .offset = FIELD(f)}
#define INT(sec, nm, def_, lo, hi, f)                                                              \
	{.section = sec, .name = nm, .type = T_INT, .def = def_, .min = lo, .max = hi,             \
	 .offset = FIELD(f)}
#define BOOL(sec, nm, def_, f)                                                                     \
	{.section = sec, .name = nm, .type = T_BOOL, .def = def_, .offset = FIELD(f)}
#define ENUM(sec, nm, def_, acc, allowed_, flags_, f)                                              \
	{.section = sec, .name = nm, .type = T_ENUM, .def = def_, .accept = acc,                   \
	 .allowed = allowed_, .flags = flags_, .offset = FIELD(f)}

#define NEED_DB    (CONFIG_NEED_DATABASE | CONFIG_NEED_SERVE)
#define NEED_SERVE CONFIG_NEED_SERVE

/* README, Configuration. Rows of one section stay together: config_dump prints
 * them in this order. */
static const struct key keys[] = {
	STR("server", "listen", "127.0.0.1:8080", C_ADDR, 0, 0, server_listen),
	STR("server", "internal_listen", "", C_ADDR_OR_EMPTY, 0, 0, server_internal_listen),
	INT("server", "max_body_bytes", "4194304", 1024, 67108864, server_max_body_bytes),
	INT("server", "keep_raw_days", "7", 0, 3650, server_keep_raw_days),
	STR("server", "trusted_proxies", "", C_NETWORKS, 0, 0, server_trusted_proxies),
	/* limits: docs/protocol.md, README Configuration */
	INT("server", "request_timeout_seconds", "30", 1, 3600, server_request_timeout_seconds),
	INT("server", "max_connections", "10000", 1, 1000000, server_max_connections),

	STR("database", "url", "", C_NONE, NEED_DB, F_SECRET | F_CONNINFO, database_url),
	/* SPEC 11: LISTEN/NOTIFY and migrate's session lock; "" = database.url */
	STR("database", "listen_url", "", C_NONE, 0, F_SECRET | F_CONNINFO, database_listen_url),
	STR("database", "password", "", C_NONE, 0, F_SECRET, database_password),
	INT("database", "connections", "4", 1, 64, database_connections),

	STR("meta", "app_secret", "", C_LIST, NEED_SERVE, F_SECRET, meta_app_secret),
	STR("meta", "verify_token", "", C_NONE, NEED_SERVE, F_SECRET, meta_verify_token),
	STR("meta", "whatsapp_url", "https://graph.facebook.com/v24.0", C_URL, 0, 0,
	    meta_whatsapp_url),
	STR("meta", "instagram_url", "https://graph.instagram.com/v24.0", C_URL, 0, 0,
	    meta_instagram_url),

	{.section = "openai", .name = "api_key", .type = T_STRING, .def = "", .flags = F_SECRET,
	 .alias_env = "OPENAI_API_KEY", .offset = FIELD(openai_api_key)},
	STR("openai", "url", "https://api.openai.com/v1", C_URL, 0, 0, openai_url),
	STR("openai", "model", "", C_NONE, 0, 0, openai_model),
	INT("openai", "timeout_seconds", "60", 1, 600, openai_timeout_seconds),
	INT("openai", "max_in_flight", "256", 1, 10000, openai_max_in_flight),

	INT("replies", "debounce_ms", "1500", 0, 600000, replies_debounce_ms),
	INT("replies", "max_attempts", "5", 1, 20, replies_max_attempts),
	/* credits columns are INTEGER >= 0 */
	INT("replies", "credits_per_reply", "1", 0, INT_MAX, replies_credits_per_reply),
	INT("replies", "max_tool_rounds", "4", 1, 16, replies_max_tool_rounds),
	BOOL("replies", "read_receipts", "true", replies_read_receipts),
	BOOL("replies", "typing", "true", replies_typing),

	STR("webchat", "secret", "", C_NONE, 0, F_SECRET, webchat_secret),
	STR("webchat", "allowed_origins", "", C_ORIGINS, 0, 0, webchat_allowed_origins),
	INT("webchat", "max_messages_per_minute", "600", 1, 1000000,
	    webchat_max_messages_per_minute),

	BOOL("extraction", "enabled", "true", extraction_enabled),
	INT("extraction", "every_messages", "4", 1, 10000, extraction_every_messages),
	INT("extraction", "idle_seconds", "120", 0, 86400, extraction_idle_seconds),
	STR("extraction", "prompt_id", "", C_NONE, 0, 0, extraction_prompt_id),
	INT("extraction", "credits", "0", 0, INT_MAX, extraction_credits),

	BOOL("handoff", "enabled", "true", handoff_enabled),
	/* at most a year; `conversation pause` takes --minutes in the same range */
	INT("handoff", "pause_minutes", "60", 1, 525600, handoff_pause_minutes),

	STR("google", "client_id", "", C_NONE, 0, 0, google_client_id),
	STR("google", "client_secret", "", C_NONE, 0, F_SECRET, google_client_secret),
	STR("google", "token_url", "https://oauth2.googleapis.com/token", C_URL, 0, 0,
	    google_token_url),
	STR("google", "calendar_url", "https://www.googleapis.com/calendar/v3", C_URL, 0, 0,
	    google_calendar_url),
	STR("google", "calendar_id", "primary", C_NONE, 0, 0, google_calendar_id),
	INT("google", "default_duration_minutes", "30", 5, 1440, google_default_duration_minutes),
	INT("google", "max_bookings_per_conversation", "2", 0, 100,
	    google_max_bookings_per_conversation),

	/* events out: SPEC 10, README Events out */
	INT("events", "timeout_seconds", "10", 1, 300, events_timeout_seconds),
	INT("events", "max_age_hours", "72", 1, 8760, events_max_age_hours),
	INT("events", "max_in_flight_per_endpoint", "4", 1, 1000,
	    events_max_in_flight_per_endpoint),
	INT("events", "disable_after_hours", "24", 1, 8760, events_disable_after_hours),
	INT("events", "keep_days", "7", 1, 3650, events_keep_days),
	BOOL("events", "allow_http", "false", events_allow_http),
	BOOL("events", "allow_private_targets", "false", events_allow_private_targets),

	ENUM("log", "level", "info", accept_level, "debug, info, warn, error", F_RELOAD,
	     log_level),
	ENUM("log", "format", "text", accept_format, "text, json", 0, log_format),
};
/* clang-format on */

#define NKEYS (sizeof keys / sizeof keys[0])

/* Where a value comes from: `where` prefixes errors, `origin` is kept for dumps. */
struct source {
	const char *where;
	const char *origin;
};

static char **str_field(const struct config *cfg, const struct key *k)
{
	return (char **)((char *)cfg + k->offset);
}

static long *long_field(const struct config *cfg, const struct key *k)
{
	return (long *)((char *)cfg + k->offset);
}

static bool *bool_field(const struct config *cfg, const struct key *k)
{
	return (bool *)((char *)cfg + k->offset);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static __attribute__((format(printf, 3, 4))) int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Copies at most MAX_SHOWN bytes of s into buf (MAX_SHOWN + 4 bytes) for an
 * error message: control bytes become '?' so hostile input cannot move the
 * terminal's cursor, and a cut is marked with "...".
 */
static const char *shown(char *buf, const char *s, size_t len)
{
	size_t n = len < MAX_SHOWN ? len : MAX_SHOWN;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	strcpy(buf + n, len > n ? "..." : "");
	return buf;
}

static const struct key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Returns the table's copy of the section name, which outlives the parse. */
static const char *find_section(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(keys[i].section) == len && memcmp(keys[i].section, name, len) == 0)
			return keys[i].section;
	return NULL;
}

static void env_name(const struct key *k, char *buf, size_t len)
{
	int n = snprintf(buf, len, "PARLEY_%s_%s", k->section, k->name);
	for (int i = 0; i < n && (size_t)i < len; i++)
		if (buf[i] >= 'a' && buf[i] <= 'z')
			buf[i] = (char)(buf[i] - 'a' + 'A');
}

/* ---- value checks: each returns NULL or a static reason ---- */

static bool valid_port(const char *s)
{
	long port = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || port > 65535)
			return false;
		port = port * 10 + (*s - '0');
	}
	return port >= 1 && port <= 65535;
}

/* host:port or [v6]:port; a bare "::1:80" is refused because its port is a guess. */
static bool valid_addr(const char *s)
{
	const char *colon;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1 || close[1] != ':')
			return false;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
			return false;
	}
	if (strpbrk(s, " \t"))
		return false;
	return valid_port(colon + 1);
}

/* Returns the length of the http(s):// prefix, 0 when there is none. */
static size_t scheme_len(const char *s)
{
	if (strncmp(s, "http://", 7) == 0)
		return 7;
	if (strncmp(s, "https://", 8) == 0)
		return 8;
	return 0;
}

static bool valid_url(const char *s)
{
	size_t n = scheme_len(s);
	return n && s[n] && s[n] != '/' && !strpbrk(s, " \t");
}

/* A CORS origin is scheme://host[:port] and nothing more, or "*". */
static bool valid_origin(const char *s)
{
	if (strcmp(s, "*") == 0)
		return true;
	return valid_url(s) && !strchr(s + scheme_len(s), '/');
}

static bool has_control(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return true;
	}
	return false;
}

/* ---- storing one value ---- */

static __attribute__((format(printf, 4, 5))) int
bad_value(char *err, size_t errlen, const struct source *src, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return fail(err, errlen, "%s: %s", src->where, msg);
}

static int set_int(struct config *cfg, const struct key *k, const char *value,
		   const struct source *src, char *err, size_t errlen)
{
	char buf[MAX_SHOWN + 4];
	const char *v = shown(buf, value, strlen(value));
	char *end;
	/* strtol would skip leading blanks and accept "0x10"; insist on digits. */
	const char *digits = value + (*value == '-' || *value == '+');
	if (*digits < '0' || *digits > '9')
		return bad_value(err, errlen, src, "%s.%s: '%s' is not a whole number", k->section,
				 k->name, v);
	errno = 0;
	long n = strtol(value, &end, 10);
	if (*end)
		return bad_value(err, errlen, src, "%s.%s: '%s' is not a whole number", k->section,
				 k->name, v);
	if ((errno == ERANGE && n < 0) || n < k->min)
		return bad_value(err, errlen, src, "%s.%s: %s is below the minimum %ld", k->section,
				 k->name, v, k->min);
	if (errno == ERANGE || n > k->max)
		return bad_value(err, errlen, src, "%s.%s: %s is above the maximum %ld", k->section,
				 k->name, v, k->max);
	*long_field(cfg, k) = n;
	return 0;
}

static int set_bool(struct config *cfg, const struct key *k, const char *value,
		    const struct source *src, char *err, size_t errlen)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0 || strcasecmp(value, no[i]) == 0) {
			*bool_field(cfg, k) = strcasecmp(value, yes[i]) == 0;
			return 0;
		}
	}
	char buf[MAX_SHOWN + 4];
	return bad_value(err, errlen, src,
			 "%s.%s: '%s' is not a boolean (use true/false, yes/no, on/off, 1/0)",
			 k->section, k->name, shown(buf, value, strlen(value)));
}

/* Returns NULL when the string is acceptable for k, else why not. */
static const char *check_string(const struct key *k, const char *value)
{
	if (k->check == C_ADDR_OR_EMPTY && !*value)
		return NULL; /* internal_listen: empty means "serve health on listen" */
	switch (k->check) {
	case C_URL: return valid_url(value) ? NULL : "is not an http:// or https:// URL";
	case C_ADDR_OR_EMPTY:
	case C_ADDR:
		return valid_addr(value) ? NULL : "is not host:port or [ipv6]:port (port 1-65535)";
	case C_LIST:
	case C_ORIGINS:
	case C_NETWORKS:
	case C_NONE: break;
	}
	return NULL;
}

/* Lists: "" means unset, but a value of only commas is a mistake worth naming. */
static int check_list(const struct key *k, const char *value, const struct source *src, char *err,
		      size_t errlen)
{
	char **items;
	size_t n = config_split_list(value, &items);
	int rc = 0;
	if (*value && n == 0)
		rc = bad_value(err, errlen, src, "%s.%s: has only empty entries between commas",
			       k->section, k->name);
	for (size_t i = 0; rc == 0 && k->check == C_ORIGINS && i < n; i++) {
		char buf[MAX_SHOWN + 4];
		if (!valid_origin(items[i]))
			rc = bad_value(err, errlen, src,
				       "%s.%s: '%s' is not * or an origin (http(s)://host[:port])",
				       k->section, k->name, shown(buf, items[i], strlen(items[i])));
	}
	config_free_list(items);
	struct client_nets nets;
	char bad[MAX_SHOWN + 1], buf[MAX_SHOWN + 4];
	if (rc == 0 && k->check == C_NETWORKS) {
		if (client_addr_parse_nets(value, &nets, bad, sizeof bad) < 0)
			rc = bad_value(err, errlen, src,
				       "%s.%s: '%s' is not an IPv4 or IPv6 address or CIDR network",
				       k->section, k->name, shown(buf, bad, strlen(bad)));
		else
			client_addr_nets_free(&nets);
	}
	return rc;
}

static int set_string(struct config *cfg, const struct key *k, const char *value,
		      const struct source *src, char *err, size_t errlen)
{
	char buf[MAX_SHOWN + 4];
	if (k->type == T_ENUM && !k->accept(value))
		return bad_value(err, errlen, src, "%s.%s: '%s' is not one of %s", k->section,
				 k->name, shown(buf, value, strlen(value)), k->allowed);
	const char *why = check_string(k, value);
	if (why)
		return bad_value(err, errlen, src, "%s.%s: '%s' %s", k->section, k->name,
				 shown(buf, value, strlen(value)), why);
	if ((k->check == C_LIST || k->check == C_ORIGINS || k->check == C_NETWORKS) &&
	    check_list(k, value, src, err, errlen) < 0)
		return -1;
	size_t len = strlen(value);
	/* URLs are joined as "{url}/…/messages", "{url}/responses"
	 * (docs/protocol.md); a trailing slash would double the '/'. */
	if (k->check == C_URL)
		while (len > scheme_len(value) + 1 && value[len - 1] == '/')
			len--;
	char **field = str_field(cfg, k);
	free(*field);
	*field = xstrndup(value, len);
	return 0;
}

static int set_value(struct config *cfg, const struct key *k, const char *value,
		     const struct source *src, char *err, size_t errlen)
{
	/* Control characters would break dumps and logs; say so without the value. */
	if (has_control(value))
		return bad_value(err, errlen, src, "%s.%s: contains a control character",
				 k->section, k->name);
	int rc;
	switch (k->type) {
	case T_INT: rc = set_int(cfg, k, value, src, err, errlen); break;
	case T_BOOL: rc = set_bool(cfg, k, value, src, err, errlen); break;
	default: rc = set_string(cfg, k, value, src, err, errlen); break;
	}
	if (rc == 0) {
		size_t i = (size_t)(k - keys);
		free(cfg->origin[i]);
		cfg->origin[i] = xstrdup(src->origin);
	}
	return rc;
}

/* ---- reading files ---- */

/*
 * Reads all of path into a new NUL-terminated buffer. Returns 0, or -1 with
 * errno set (EFBIG when the file holds more than max bytes).
 */
static int read_all(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct strbuf sb = STRBUF_INIT;
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || sb.len + (size_t)n > max) {
			int saved = n < 0 ? errno : EFBIG;
			close(fd);
			if (n == 0) {
				*len = sb.len;
				*out = strbuf_detach(&sb);
				return 0;
			}
			strbuf_free(&sb);
			errno = saved;
			return -1;
		}
		strbuf_append(&sb, chunk, (size_t)n);
	}
}

static const char *read_error(int e)
{
	return e == EFBIG ? "file too large" : strerror(e);
}

/* ---- the INI parser ---- */

struct parser {
	struct config *cfg;
	const char *path;
	unsigned lineno;
	const char *section;    /* the table's copy; NULL before the first header */
	unsigned set_at[NKEYS]; /* line that set each key, 0 when none did */
	char *err;
	size_t errlen;
};

static __attribute__((format(printf, 2, 3))) int parse_error(struct parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return fail(p->err, p->errlen, "%s:%u: %s", p->path, p->lineno, msg);
}

/* A '#' or ';' opens a comment only at the start or after a blank, so "pa#ss" survives. */
static size_t comment_start(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((s[i] == '#' || s[i] == ';') && (i == 0 || is_blank(s[i - 1])))
			return i;
	return len;
}

static size_t trim_end(const char *s, size_t len)
{
	while (len && is_blank(s[len - 1]))
		len--;
	return len;
}

/* Is s[0..len) empty apart from blanks and a trailing comment? */
static bool only_comment(const char *s, size_t len)
{
	while (len && is_blank(*s)) {
		s++;
		len--;
	}
	return len == 0 || *s == '#' || *s == ';';
}

/* Parses the text after '=' (already trimmed) into *out; returns NULL or a reason. */
static const char *parse_value(const char *s, size_t len, char **out)
{
	if (len == 0 || s[0] != '"') {
		*out = xstrndup(s, trim_end(s, comment_start(s, len)));
		return NULL;
	}
	struct strbuf sb = STRBUF_INIT;
	size_t i = 1;
	for (; i < len && s[i] != '"'; i++) {
		if (s[i] == '\\' && i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\'))
			i++;
		strbuf_putc(&sb, s[i]);
	}
	if (i >= len) {
		strbuf_free(&sb);
		return "unterminated quoted value";
	}
	if (!only_comment(s + i + 1, len - i - 1)) {
		strbuf_free(&sb);
		return "unexpected text after the closing quote";
	}
	*out = strbuf_detach(&sb);
	return NULL;
}

static int parse_section(struct parser *p, const char *s, size_t len)
{
	const char *close = memchr(s, ']', len);
	if (!close || !only_comment(close + 1, len - (size_t)(close - s) - 1))
		return parse_error(p, "malformed section header (expected [name])");
	const char *name = s + 1;
	while (name < close && is_blank(*name))
		name++;
	size_t n = trim_end(name, (size_t)(close - name));
	p->section = find_section(name, n);
	if (!p->section) {
		char buf[MAX_SHOWN + 4];
		return parse_error(p, "unknown section [%s]", shown(buf, name, n));
	}
	return 0;
}

static int parse_assignment(struct parser *p, const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);
	size_t klen = eq ? trim_end(s, (size_t)(eq - s)) : 0;
	if (klen == 0)
		return parse_error(p, "malformed line (expected key = value)");
	if (!p->section)
		return parse_error(p, "key outside any section");
	char *name = xstrndup(s, klen);
	const struct key *k = find_key(p->section, name);
	char buf[MAX_SHOWN + 4];
	int rc = 0;
	if (!k)
		rc = parse_error(p, "unknown key '%s' in [%s]", shown(buf, name, klen), p->section);
	else if (p->set_at[k - keys])
		rc = parse_error(p, "duplicate key '%s' (first set at line %u)", k->name,
				 p->set_at[k - keys]);
	free(name);
	if (rc < 0)
		return rc;

	const char *v = eq + 1;
	while (v < s + len && is_blank(*v))
		v++;
	char *value;
	const char *why = parse_value(v, len - (size_t)(v - s), &value);
	if (why)
		return parse_error(p, "%s.%s: %s", k->section, k->name, why);
	char *where = xasprintf("%s:%u", p->path, p->lineno);
	struct source src = {where, where};
	rc = set_value(p->cfg, k, value, &src, p->err, p->errlen);
	p->set_at[k - keys] = p->lineno;
	free(where);
	free(value);
	return rc;
}

static int parse_line(struct parser *p, const char *s, size_t len)
{
	if (memchr(s, '\0', len))
		return parse_error(p, "NUL byte in line");
	while (len && is_blank(*s)) {
		s++;
		len--;
	}
	len = trim_end(s, len);
	if (len == 0 || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return parse_section(p, s, len);
	return parse_assignment(p, s, len);
}

static int parse_text(struct config *cfg, const char *path, const char *text, size_t len, char *err,
		      size_t errlen)
{
	struct parser p = {.cfg = cfg, .path = path, .err = err, .errlen = errlen};
	/* Windows editors write a byte-order mark; it is not part of the first line. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		text += 3;
		len -= 3;
	}
	const char *end = text + len;
	while (text < end) {
		const char *nl = memchr(text, '\n', (size_t)(end - text));
		size_t n = nl ? (size_t)(nl - text) : (size_t)(end - text);
		p.lineno++;
		if (parse_line(&p, text, n) < 0)
			return -1;
		text += n + (nl != NULL);
	}
	return 0;
}

/* ---- the sources, lowest precedence first ---- */

static int apply_defaults(struct config *cfg, char *err, size_t errlen)
{
	struct source src = {"default", "default"};
	for (size_t i = 0; i < NKEYS; i++)
		if (set_value(cfg, &keys[i], keys[i].def, &src, err, errlen) < 0)
			return -1;
	return 0;
}

static int apply_file(struct config *cfg, const char *path, bool named, char *err, size_t errlen)
{
	char *text;
	size_t len;
	if (read_all(path, MAX_FILE_BYTES, &text, &len) < 0) {
		int e = errno;
		if (e == ENOENT && !named)
			return 0; /* no file at the default place: configured by environment */
		return fail(err, errlen, "cannot read %s: %s", path, read_error(e));
	}
	cfg->path = xstrdup(path);
	int rc = parse_text(cfg, path, text, len, err, errlen);
	free(text);
	return rc;
}

static int apply_credential(struct config *cfg, const struct key *k, const char *dir, char *err,
			    size_t errlen)
{
	char *path = xasprintf("%s/%s.%s", dir, k->section, k->name);
	char *text = NULL;
	size_t len;
	int rc = 0;
	if (read_all(path, MAX_CREDENTIAL_BYTES, &text, &len) < 0) {
		int e = errno;
		if (e != ENOENT)
			rc =
			    fail(err, errlen, "cannot read credential %s: %s", path, read_error(e));
	} else if (memchr(text, '\0', len)) {
		rc = fail(err, errlen, "credential %s: contains a NUL byte", path);
	} else {
		/* `echo secret > file` and systemd-creds add a newline that is not the secret's. */
		while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			text[--len] = '\0';
		char *where = xasprintf("credential %s", path);
		struct source src = {where, where};
		/* An empty file is a mistake (LoadCredential= of the wrong file), not a
		 * way to clear a value: the environment is there for that. */
		if (len == 0)
			rc = fail(err, errlen, "%s: %s.%s: is empty", where, k->section, k->name);
		else
			rc = set_value(cfg, k, text, &src, err, errlen);
		free(where);
	}
	free(text);
	free(path);
	return rc;
}

static int apply_credentials(struct config *cfg, char *err, size_t errlen)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	if (!dir || !*dir)
		return 0;
	for (size_t i = 0; i < NKEYS; i++)
		if ((keys[i].flags & F_SECRET) &&
		    apply_credential(cfg, &keys[i], dir, err, errlen) < 0)
			return -1;
	return 0;
}

static int apply_env_var(struct config *cfg, const struct key *k, const char *name,
			 bool empty_is_unset, char *err, size_t errlen)
{
	const char *value = getenv(name);
	if (!value || (empty_is_unset && !*value))
		return 0;
	char where[128], origin[128];
	snprintf(where, sizeof where, "environment %s", name);
	snprintf(origin, sizeof origin, "env %s", name);
	struct source src = {where, origin};
	return set_value(cfg, k, value, &src, err, errlen);
}

static int apply_env(struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		char name[96];
		if (k->alias_env && apply_env_var(cfg, k, k->alias_env, true, err, errlen) < 0)
			return -1;
		env_name(k, name, sizeof name);
		if (apply_env_var(cfg, k, name, false, err, errlen) < 0)
			return -1;
	}
	return 0;
}

static int check_required(const struct config *cfg, unsigned need, const char *path, char *err,
			  size_t errlen)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		char name[96];
		if (!(k->need & need) || **str_field(cfg, k))
			continue;
		env_name(k, name, sizeof name);
		if (k->flags & F_SECRET)
			return fail(err, errlen,
				    "%s.%s is required (set it in %s, %s or the credential %s.%s)",
				    k->section, k->name, path, name, k->section, k->name);
		return fail(err, errlen, "%s.%s is required (set it in %s or %s)", k->section,
			    k->name, path, name);
	}
	return 0;
}

/* ---- secrets: strength, and the database password ---- */

/*
 * Secrets that guard an endpoint (the webhook signature, the subscription
 * handshake, the widget's session tokens) must not be guessable, and must not
 * be the example file's placeholder, which a copied example would otherwise
 * put into production (docs/operations.md, Deployment). 16 bytes is the least
 * a random token needs; Meta's app secrets are 32. openai.api_key and
 * google.client_secret are issued by their vendors and not ours to judge. The
 * placeholders are config/parley.conf.example's; any of them is refused for
 * any of these keys, so a placeholder pasted into the wrong key is caught too.
 */
#define MIN_SECRET_BYTES 16

static const struct {
	const char *section, *name;
} strong_secrets[] = {
    {"meta", "app_secret"},
    {"meta", "verify_token"},
    {"webchat", "secret"},
};

static const char *const placeholders[] = {
    "REPLACE_WITH_THE_META_APP_SECRET",
    "REPLACE_WITH_A_RANDOM_VERIFY_TOKEN",
    "REPLACE_WITH_A_RANDOM_WEBCHAT_SECRET",
};

static bool is_placeholder(const char *s)
{
	for (size_t i = 0; i < sizeof placeholders / sizeof placeholders[0]; i++)
		if (strcmp(s, placeholders[i]) == 0)
			return true;
	return false;
}

/* Dumps say "env NAME" where errors say "environment NAME". */
static char *origin_where(const char *origin)
{
	if (strncmp(origin, "env ", 4) == 0)
		return xasprintf("environment %s", origin + 4);
	return xstrdup(origin);
}

/* Returns NULL when value (one secret, or a list for C_LIST) is strong enough, else why not. */
static char *weak_secret(const struct key *k, const char *value)
{
	char **items;
	size_t n = 1;
	if (k->check == C_LIST) {
		n = config_split_list(value, &items);
	} else {
		items = xcalloc(2, sizeof *items);
		items[0] = xstrdup(value);
	}
	char *why = NULL;
	for (size_t i = 0; !why && i < n; i++) {
		const char *problem = NULL;
		if (is_placeholder(items[i]))
			problem = "the example file's placeholder, not a secret";
		else if (strlen(items[i]) < MIN_SECRET_BYTES)
			problem = "shorter than 16 bytes";
		if (problem && n > 1)
			why = xasprintf("entry %zu of %zu is %s", i + 1, n, problem);
		else if (problem)
			why = xasprintf("is %s", problem);
	}
	config_free_list(items);
	return why;
}

static int check_secrets(const struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof strong_secrets / sizeof strong_secrets[0]; i++) {
		const struct key *k = find_key(strong_secrets[i].section, strong_secrets[i].name);
		const char *value = *str_field(cfg, k);
		if (!*value)
			continue; /* required ones were checked; webchat.secret is optional */
		char *why = weak_secret(k, value);
		if (!why)
			continue;
		size_t at = (size_t)(k - keys);
		char *where = origin_where(cfg->origin[at] ? cfg->origin[at] : "default");
		fail(err, errlen, "%s: %s.%s: %s", where, k->section, k->name, why);
		free(where);
		free(why);
		return -1;
	}
	return 0;
}

/* libpq URIs take percent-encoding; everything but RFC 3986's unreserved bytes is encoded. */
static void put_uri_encoded(struct strbuf *sb, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			strbuf_putc(sb, (char)c);
		else
			strbuf_printf(sb, "%%%02X", c);
	}
}

static bool is_uri(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

/*
 * Appends password to a conninfo as its last parameter: libpq lets a later
 * parameter override an earlier one, in URIs (over user:PASS@ too) and in
 * key=value strings alike. The result holds the password and is masked by
 * config_dump like any other.
 */
static char *conninfo_with_password(const char *conninfo, const char *password)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, conninfo);
	if (is_uri(conninfo)) {
		size_t len = strlen(conninfo);
		/* "…?" and "…&" already end in a separator; "?&" would be refused. */
		if (!strchr(conninfo, '?'))
			strbuf_putc(&sb, '?');
		else if (conninfo[len - 1] != '?' && conninfo[len - 1] != '&')
			strbuf_putc(&sb, '&');
		strbuf_puts(&sb, "password=");
		put_uri_encoded(&sb, password);
	} else {
		strbuf_puts(&sb, " password='");
		for (const char *p = password; *p; p++) {
			if (*p == '\\' || *p == '\'')
				strbuf_putc(&sb, '\\');
			strbuf_putc(&sb, *p);
		}
		strbuf_putc(&sb, '\'');
	}
	return strbuf_detach(&sb);
}

/* Does libpq read back exactly password from conninfo? */
static bool libpq_takes_password(const char *conninfo, const char *password)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &msg);
	bool same = false;
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0)
			same = o->val && strcmp(o->val, password) == 0;
	PQconninfoFree(opts);
	PQfreemem(msg);
	return same;
}

/*
 * Every connection string gets database.password, so a future second one
 * cannot miss it. A url whose end swallows what follows (a dangling
 * backslash, an open quote) would turn the password into part of another
 * value, and libpq's complaint about it into a log line quoting it: the
 * merged string is parsed here first, and refused unless libpq reads the
 * password back intact.
 */
static int merge_password(struct config *cfg, char *err, size_t errlen)
{
	if (!*cfg->database_password)
		return 0;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		char **field = str_field(cfg, k);
		if (!(k->flags & F_CONNINFO) || !**field)
			continue;
		char *merged = conninfo_with_password(*field, cfg->database_password);
		if (!libpq_takes_password(merged, cfg->database_password)) {
			free(merged);
			char *where = origin_where(cfg->origin[i] ? cfg->origin[i] : "default");
			fail(err, errlen,
			     "%s: %s.%s: libpq cannot parse it with database.password added (check "
			     "its quotes and backslashes)",
			     where, k->section, k->name);
			free(where);
			return -1;
		}
		free(*field);
		*field = merged;
	}
	return 0;
}

static int load(const char *path, unsigned need, struct config *cfg, char *err, size_t errlen)
{
	bool named = path != NULL;
	if (!path) {
		const char *env = getenv("PARLEY_CONFIG");
		named = env && *env;
		path = named ? env : DEFAULT_PATH;
	}
	if (apply_defaults(cfg, err, errlen) < 0 || apply_file(cfg, path, named, err, errlen) < 0 ||
	    apply_credentials(cfg, err, errlen) < 0 || apply_env(cfg, err, errlen) < 0 ||
	    check_required(cfg, need, path, err, errlen) < 0)
		return -1;
	/* Only serve relies on these secrets; the admin commands and replay do not. */
	if ((need & CONFIG_NEED_SERVE) && check_secrets(cfg, err, errlen) < 0)
		return -1;
	/* Commands that never connect (replay) have no use for the url and no reason to fail on it.
	 */
	if (need & (CONFIG_NEED_DATABASE | CONFIG_NEED_SERVE)) {
		/* Unset, the session work goes where everything else does. */
		if (!*cfg->database_listen_url) {
			free(cfg->database_listen_url);
			cfg->database_listen_url = xstrdup(cfg->database_url);
		}
		return merge_password(cfg, err, errlen);
	}
	return 0;
}

int config_load(const char *path, unsigned need, struct config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->origin = xcalloc(NKEYS, sizeof *cfg->origin);
	if (load(path, need, cfg, err, errlen) < 0) {
		config_free(cfg);
		return -1;
	}
	return 0;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].type == T_STRING || keys[i].type == T_ENUM) {
			char *v = *str_field(cfg, &keys[i]);
			if (keys[i].flags & F_SECRET)
				xfree_secret(v);
			else
				free(v);
		}
		if (cfg->origin)
			free(cfg->origin[i]);
	}
	free(cfg->origin);
	free(cfg->path);
	memset(cfg, 0, sizeof *cfg);
}

/* ---- dumping ---- */

#define MASK "********"

/*
 * Is this conninfo keyword a secret? libpq has password, sslpassword (the
 * client key's passphrase) and oauth_client_secret; matching on the words
 * keeps a keyword added by a later libpq masked too. Case is ignored
 * because masking too much is harmless.
 */
static bool secret_param(const char *kw, size_t len)
{
	static const char *const words[] = {"password", "secret"};
	for (size_t w = 0; w < 2; w++) {
		size_t n = strlen(words[w]);
		for (size_t i = 0; i + n <= len; i++)
			if (strncasecmp(kw + i, words[w], n) == 0)
				return true;
	}
	return false;
}

/* A URI's query keyword as libpq sees it: percent-decoded, so pass%77ord is password. */
static bool secret_uri_param(const char *kw, size_t len)
{
	char *decoded = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (kw[i] == '%' && i + 2 < len &&
		    (hi = encoding_hex_value((unsigned char)kw[i + 1])) >= 0 &&
		    (lo = encoding_hex_value((unsigned char)kw[i + 2])) >= 0) {
			decoded[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			decoded[n++] = kw[i];
		}
	}
	bool secret = secret_param(decoded, n);
	free(decoded);
	return secret;
}

/* Masks the secrets of a postgresql:// URI: user:PASS@ and ?password=PASS and the like. */
static char *mask_uri(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = strstr(s, "://") + 3;
	size_t auth = strcspn(p, "@/");
	const char *colon = memchr(p, ':', auth);
	if (p[auth] == '@' && colon) {
		strbuf_append(&sb, s, (size_t)(colon + 1 - s));
		strbuf_puts(&sb, MASK);
		p += auth;
	} else {
		strbuf_append(&sb, s, (size_t)(p - s));
	}
	const char *q = strchr(p, '?');
	if (!q) {
		strbuf_puts(&sb, p);
		return strbuf_detach(&sb);
	}
	strbuf_append(&sb, p, (size_t)(q - p));
	while (*q) {
		/* q points at '?' or '&'; copy it and the parameter after it */
		size_t n = 1 + strcspn(q + 1, "&");
		const char *eq = memchr(q + 1, '=', n - 1);
		if (eq && secret_uri_param(q + 1, (size_t)(eq - q - 1))) {
			strbuf_append(&sb, q, (size_t)(eq + 1 - q));
			strbuf_puts(&sb, MASK);
		} else {
			strbuf_append(&sb, q, n);
		}
		q += n;
	}
	return strbuf_detach(&sb);
}

/* Length of one conninfo value (quoted '...' with \ escapes, or up to a blank); 0 if bad. */
static size_t conninfo_value_len(const char *s)
{
	size_t i = 0;
	if (*s != '\'') {
		while (s[i] && !is_blank(s[i]))
			i += s[i] == '\\' && s[i + 1] ? 2 : 1;
		return i;
	}
	for (i = 1; s[i] && s[i] != '\''; i++)
		if (s[i] == '\\' && s[i + 1])
			i++;
	return s[i] == '\'' ? i + 1 : 0;
}

/*
 * Masks password=... (and every secret_param) in a "key=value key='v a l'"
 * conninfo. A string that does not parse is masked whole: better an
 * unhelpful dump than a leak.
 */
static char *mask_keywords(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = s;
	while (*p) {
		const char *start = p;
		while (is_blank(*p))
			p++;
		if (!*p) {
			strbuf_puts(&sb, start);
			break;
		}
		size_t kw = strcspn(p, "= \t");
		bool secret = secret_param(p, kw);
		p += kw;
		while (is_blank(*p))
			p++;
		if (kw == 0 || *p != '=') {
			strbuf_free(&sb);
			return xstrdup(MASK);
		}
		p++;
		while (is_blank(*p))
			p++;
		size_t vlen = conninfo_value_len(p);
		if (vlen == 0 && *p) {
			strbuf_free(&sb);
			return xstrdup(MASK);
		}
		strbuf_append(&sb, start, (size_t)(p - start));
		if (secret)
			strbuf_puts(&sb, MASK);
		else
			strbuf_append(&sb, p, vlen);
		p += vlen;
	}
	return strbuf_detach(&sb);
}

static char *mask_conninfo(const char *s)
{
	if (is_uri(s))
		return mask_uri(s);
	return mask_keywords(s);
}

/* Quotes a value that would not read back as itself unquoted. */
static char *quote_if_needed(const char *s)
{
	size_t len = strlen(s);
	if (len && !is_blank(s[0]) && !is_blank(s[len - 1]) && s[0] != '"' && !strpbrk(s, "#;"))
		return xstrdup(s);
	struct strbuf sb = STRBUF_INIT;
	strbuf_putc(&sb, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_putc(&sb, '\\');
		strbuf_putc(&sb, *s);
	}
	strbuf_putc(&sb, '"');
	return strbuf_detach(&sb);
}

static char *display_value(const struct config *cfg, const struct key *k)
{
	if (k->type == T_INT)
		return xasprintf("%ld", *long_field(cfg, k));
	if (k->type == T_BOOL)
		return xstrdup(*bool_field(cfg, k) ? "true" : "false");
	const char *v = *str_field(cfg, k);
	if (!v)
		v = "";
	if ((k->flags & F_SECRET) && !*v)
		return xstrdup("(unset)");
	if (k->flags & F_CONNINFO)
		return mask_conninfo(v);
	if (k->flags & F_SECRET)
		return xstrdup(MASK);
	return quote_if_needed(v);
}

char *config_dump(const struct config *cfg)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_printf(&sb, "# parley configuration; file: %s\n", cfg->path ? cfg->path : "(none)");
	const char *section = NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		if (!section || strcmp(section, k->section) != 0) {
			section = k->section;
			strbuf_printf(&sb, "\n[%s]\n", section);
		}
		char *v = display_value(cfg, k);
		size_t start = sb.len;
		strbuf_printf(&sb, "%s = %s", k->name, v);
		free(v);
		/* Align the origins so a reader can scan them as a column. */
		while (sb.len - start < 48)
			strbuf_putc(&sb, ' ');
		const char *origin = cfg->origin && cfg->origin[i] ? cfg->origin[i] : "default";
		strbuf_printf(&sb, " # from %s\n", origin);
	}
	return strbuf_detach(&sb);
}

/* ---- lists ---- */

size_t config_split_list(const char *value, char ***out)
{
	size_t n = 0, cap = 4;
	char **list = xmalloc(cap * sizeof *list);
	const char *p = value ? value : "";
	while (*p) {
		const char *end = strchrnul(p, ',');
		const char *s = p;
		while (s < end && is_blank(*s))
			s++;
		size_t len = trim_end(s, (size_t)(end - s));
		if (len) {
			if (n + 1 >= cap)
				list = xrealloc(list, (cap *= 2) * sizeof *list);
			list[n++] = xstrndup(s, len);
		}
		p = *end ? end + 1 : end;
	}
	list[n] = NULL;
	*out = list;
	return n;
}

void config_free_list(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}
