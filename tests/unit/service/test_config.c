/*
 * Tests for src/service/config.c: the INI syntax, every value type and its bounds,
 * the precedence of the sources (default < file < credential <
 * OPENAI_API_KEY < PARLEY_*), required keys, masking in dumps and error
 * messages, and hostile files. Each test writes its own file under /tmp and
 * runs with every variable config.c reads removed from the environment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "xalloc.h"
#include "../unit_main.h"

#define EXAMPLE "config/parley.conf.example"
#define MINIMAL "[database]\nurl = postgresql://p@db/p\n"
/* What `serve` needs besides the database: secrets of 16 bytes or more. */
#define APP_SECRET   "app-secret-16-by"
#define VERIFY_TOKEN "verify-token-16b"
#define SERVE_META   "[meta]\napp_secret = " APP_SECRET "\nverify_token = " VERIFY_TOKEN "\n"

/* Every key of README's Configuration table, written independently of
 * config.c's table. */
static const struct known {
	const char *key;
	const char *env;
	const char *def; /* as config_dump shows it */
} known[] = {
    {"server.listen", "PARLEY_SERVER_LISTEN", "127.0.0.1:8080"},
    {"server.internal_listen", "PARLEY_SERVER_INTERNAL_LISTEN", "\"\""},
    {"server.max_body_bytes", "PARLEY_SERVER_MAX_BODY_BYTES", "4194304"},
    {"server.keep_raw_days", "PARLEY_SERVER_KEEP_RAW_DAYS", "7"},
    {"server.trusted_proxies", "PARLEY_SERVER_TRUSTED_PROXIES", "\"\""},
    {"database.url", "PARLEY_DATABASE_URL", "(unset)"},
    {"database.password", "PARLEY_DATABASE_PASSWORD", "(unset)"},
    {"database.connections", "PARLEY_DATABASE_CONNECTIONS", "4"},
    {"meta.app_secret", "PARLEY_META_APP_SECRET", "(unset)"},
    {"meta.verify_token", "PARLEY_META_VERIFY_TOKEN", "(unset)"},
    {"meta.whatsapp_url", "PARLEY_META_WHATSAPP_URL", "https://graph.facebook.com/v24.0"},
    {"meta.instagram_url", "PARLEY_META_INSTAGRAM_URL", "https://graph.instagram.com/v24.0"},
    {"openai.api_key", "PARLEY_OPENAI_API_KEY", "(unset)"},
    {"openai.url", "PARLEY_OPENAI_URL", "https://api.openai.com/v1"},
    {"openai.model", "PARLEY_OPENAI_MODEL", "\"\""},
    {"openai.timeout_seconds", "PARLEY_OPENAI_TIMEOUT_SECONDS", "60"},
    {"openai.max_in_flight", "PARLEY_OPENAI_MAX_IN_FLIGHT", "256"},
    {"replies.debounce_ms", "PARLEY_REPLIES_DEBOUNCE_MS", "1500"},
    {"replies.max_attempts", "PARLEY_REPLIES_MAX_ATTEMPTS", "5"},
    {"replies.credits_per_reply", "PARLEY_REPLIES_CREDITS_PER_REPLY", "1"},
    {"replies.max_tool_rounds", "PARLEY_REPLIES_MAX_TOOL_ROUNDS", "4"},
    {"webchat.secret", "PARLEY_WEBCHAT_SECRET", "(unset)"},
    {"webchat.allowed_origins", "PARLEY_WEBCHAT_ALLOWED_ORIGINS", "\"\""},
    {"webchat.max_messages_per_minute", "PARLEY_WEBCHAT_MAX_MESSAGES_PER_MINUTE", "600"},
    {"extraction.enabled", "PARLEY_EXTRACTION_ENABLED", "true"},
    {"extraction.every_messages", "PARLEY_EXTRACTION_EVERY_MESSAGES", "4"},
    {"extraction.idle_seconds", "PARLEY_EXTRACTION_IDLE_SECONDS", "120"},
    {"extraction.prompt_id", "PARLEY_EXTRACTION_PROMPT_ID", "\"\""},
    {"extraction.credits", "PARLEY_EXTRACTION_CREDITS", "0"},
    {"google.client_id", "PARLEY_GOOGLE_CLIENT_ID", "\"\""},
    {"google.client_secret", "PARLEY_GOOGLE_CLIENT_SECRET", "(unset)"},
    {"google.token_url", "PARLEY_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"},
    {"google.calendar_url", "PARLEY_GOOGLE_CALENDAR_URL", "https://www.googleapis.com/calendar/v3"},
    {"google.calendar_id", "PARLEY_GOOGLE_CALENDAR_ID", "primary"},
    {"google.default_duration_minutes", "PARLEY_GOOGLE_DEFAULT_DURATION_MINUTES", "30"},
    {"google.max_bookings_per_conversation", "PARLEY_GOOGLE_MAX_BOOKINGS_PER_CONVERSATION", "2"},
    {"log.level", "PARLEY_LOG_LEVEL", "info"},
    {"log.format", "PARLEY_LOG_FORMAT", "text"},
};
#define NKNOWN (sizeof known / sizeof known[0])

static int clean_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < NKNOWN; i++)
		unsetenv(known[i].env);
	unsetenv("OPENAI_API_KEY");
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("PARLEY_CONFIG");
	return 0;
}

/* One load: the temporary file's name (for expected messages), the result. */
struct run {
	char path[64];
	struct config cfg;
	char err[1024];
	int rc;
};

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void temp_file(char path[64], const char *data, size_t len)
{
	strcpy(path, "/tmp/parley-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, data, len);
}

static int load_mem(struct run *r, const char *data, size_t len, unsigned need)
{
	temp_file(r->path, data, len);
	r->err[0] = '\0';
	r->rc = config_load(r->path, need, &r->cfg, r->err, sizeof r->err);
	unlink(r->path);
	return r->rc;
}

static int load_str(struct run *r, const char *text, unsigned need)
{
	return load_mem(r, text, strlen(text), need);
}

static void assert_empty(const struct config *cfg)
{
	static const struct config zero;
	assert_memory_equal(cfg, &zero, sizeof zero);
}

/* Asserts the load failed with exactly this message and left cfg empty. */
static __attribute__((format(printf, 2, 3))) void expect_err(struct run *r, const char *fmt, ...)
{
	char want[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof want, fmt, ap);
	va_end(ap);
	assert_int_equal(r->rc, -1);
	assert_string_equal(r->err, want);
	assert_empty(&r->cfg);
}

/* A file config_load refuses, and the message it gives after "PATH:". */
struct refused {
	const char *text;
	const char *err;
};

/* Loads each file (needing nothing) and asserts its message. */
static void expect_refused(const struct refused *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct run r;
		load_str(&r, cases[i].text, CONFIG_NEED_NOTHING);
		expect_err(&r, "%s:%s", r.path, cases[i].err);
	}
}
#define EXPECT_REFUSED(cases) expect_refused(cases, sizeof cases / sizeof cases[0])

static void expect_ok(struct run *r)
{
	if (r->rc != 0)
		fail_msg("unexpected error: %s", r->err);
}

/* Asserts the load failed and the message contains needle. */
static void expect_err_has(struct run *r, const char *needle)
{
	assert_int_equal(r->rc, -1);
	if (!strstr(r->err, needle))
		fail_msg("error '%s' lacks '%s'", r->err, needle);
	assert_empty(&r->cfg);
}

/*
 * Finds "section.key" in a dump; returns its value (as shown) and sets
 * *origin to the text after "# from ". Both are newly allocated.
 */
static char *dump_entry(const char *dump, const char *dotted, char **origin)
{
	const char *dot = strchr(dotted, '.');
	char *header = xasprintf("\n[%.*s]\n", (int)(dot - dotted), dotted);
	const char *sec = strstr(dump, header);
	free(header);
	assert_non_null(sec);
	char *prefix = xasprintf("\n%s = ", dot + 1);
	const char *line = strstr(sec + 1, prefix);
	assert_non_null(line);
	const char *next = strstr(sec + 1, "\n[");
	assert_true(!next || line < next);
	line += strlen(prefix);
	free(prefix);
	const char *eol = strchr(line, '\n');
	const char *from = strstr(line, " # from ");
	assert_true(from && from < eol);
	if (origin)
		*origin = xstrndup(from + 8, (size_t)(eol - from - 8));
	size_t n = (size_t)(from - line);
	while (n && line[n - 1] == ' ')
		n--;
	return xstrndup(line, n);
}

static void assert_dump_entry(const struct config *cfg, const char *dotted, const char *value,
			      const char *origin)
{
	char *dump = config_dump(cfg);
	char *got_origin;
	char *got = dump_entry(dump, dotted, &got_origin);
	assert_string_equal(got, value);
	if (origin)
		assert_string_equal(got_origin, origin);
	free(got);
	free(got_origin);
	free(dump);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = xmalloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* ---- defaults and types ---- */

static void test_defaults(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.path, r.path);
	assert_string_equal(r.cfg.server_listen, "127.0.0.1:8080");
	assert_string_equal(r.cfg.server_internal_listen, "");
	assert_int_equal(r.cfg.server_max_body_bytes, 4194304);
	assert_int_equal(r.cfg.server_keep_raw_days, 7);
	assert_string_equal(r.cfg.database_url, "");
	assert_int_equal(r.cfg.database_connections, 4);
	assert_string_equal(r.cfg.meta_whatsapp_url, "https://graph.facebook.com/v24.0");
	assert_string_equal(r.cfg.meta_instagram_url, "https://graph.instagram.com/v24.0");
	assert_string_equal(r.cfg.openai_url, "https://api.openai.com/v1");
	assert_string_equal(r.cfg.openai_model, "");
	assert_int_equal(r.cfg.openai_timeout_seconds, 60);
	assert_int_equal(r.cfg.openai_max_in_flight, 256);
	assert_int_equal(r.cfg.replies_debounce_ms, 1500);
	assert_int_equal(r.cfg.replies_max_attempts, 5);
	assert_int_equal(r.cfg.replies_credits_per_reply, 1);
	assert_int_equal(r.cfg.replies_max_tool_rounds, 4);
	assert_string_equal(r.cfg.webchat_allowed_origins, "");
	assert_true(r.cfg.extraction_enabled);
	assert_int_equal(r.cfg.extraction_every_messages, 4);
	assert_int_equal(r.cfg.extraction_idle_seconds, 120);
	assert_string_equal(r.cfg.extraction_prompt_id, "");
	assert_int_equal(r.cfg.extraction_credits, 0);
	assert_true(r.cfg.handoff_enabled);
	assert_int_equal(r.cfg.handoff_pause_minutes, 60);
	assert_string_equal(r.cfg.google_token_url, "https://oauth2.googleapis.com/token");
	assert_string_equal(r.cfg.google_calendar_url, "https://www.googleapis.com/calendar/v3");
	assert_string_equal(r.cfg.google_calendar_id, "primary");
	assert_int_equal(r.cfg.google_default_duration_minutes, 30);
	assert_string_equal(r.cfg.log_level, "info");
	assert_string_equal(r.cfg.log_format, "text");
	config_free(&r.cfg);
}

static void test_dump_shows_every_default(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	char *dump = config_dump(&r.cfg);
	for (size_t i = 0; i < NKNOWN; i++) {
		char *origin;
		char *value = dump_entry(dump, known[i].key, &origin);
		if (strcmp(value, known[i].def) != 0 || strcmp(origin, "default") != 0)
			fail_msg("%s: got '%s' from '%s'", known[i].key, value, origin);
		free(value);
		free(origin);
	}
	free(dump);
	config_free(&r.cfg);
}

static void test_values_of_each_type(void **state)
{
	(void)state;
	struct run r;
	load_str(&r,
		 "[server]\nlisten = 0.0.0.0:9000\nmax_body_bytes = 2048\n"
		 "[openai]\nmodel = gpt-test\n"
		 "[extraction]\nenabled = no\n"
		 "[log]\nlevel = debug\nformat = json\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.server_listen, "0.0.0.0:9000");
	assert_int_equal(r.cfg.server_max_body_bytes, 2048);
	assert_string_equal(r.cfg.openai_model, "gpt-test");
	assert_false(r.cfg.extraction_enabled);
	assert_string_equal(r.cfg.log_level, "debug");
	assert_string_equal(r.cfg.log_format, "json");
	char *where = xasprintf("%s:3", r.path);
	assert_dump_entry(&r.cfg, "server.max_body_bytes", "2048", where);
	free(where);
	config_free(&r.cfg);
}

static void test_int_not_a_number(void **state)
{
	(void)state;
	static const char *const bad[] = {"abc", "12abc", "0x10", "", "1.5", "- 3", "4 k"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct run r;
		char *text = xasprintf("[database]\n\nconnections = %s\n", bad[i]);
		load_str(&r, text, CONFIG_NEED_NOTHING);
		/* the file's value is trimmed, so "4 k" shows as such but "" stays empty */
		expect_err(&r, "%s:3: database.connections: '%s' is not a whole number", r.path,
			   bad[i]);
		free(text);
	}
}

static void test_int_out_of_range(void **state)
{
	(void)state;
	static const struct refused cases[] = {
	    {"[database]\nconnections = 0\n", "2: database.connections: 0 is below the minimum 1"},
	    {"[server]\nkeep_raw_days = -1\n",
	     "2: server.keep_raw_days: -1 is below the minimum 0"},
	    {"[database]\nconnections = 65\n",
	     "2: database.connections: 65 is above the maximum 64"},
	    /* overflow */
	    {"[server]\nmax_body_bytes = 99999999999999999999999\n",
	     "2: server.max_body_bytes: 99999999999999999999999 is above the maximum 67108864"},
	    {"[server]\nmax_body_bytes = -99999999999999999999999\n",
	     "2: server.max_body_bytes: -99999999999999999999999 is below the minimum 1024"},
	};
	EXPECT_REFUSED(cases);
}

/* Each integer key accepts its bounds and refuses one step beyond either. */
static void test_int_bounds_of_every_key(void **state)
{
	(void)state;
	static const struct {
		const char *section, *key;
		long min, max;
	} b[] = {
	    {"server", "max_body_bytes", 1024, 67108864},
	    {"server", "keep_raw_days", 0, 3650},
	    {"database", "connections", 1, 64},
	    {"openai", "timeout_seconds", 1, 600},
	    {"openai", "max_in_flight", 1, 10000},
	    {"replies", "debounce_ms", 0, 600000},
	    {"replies", "max_attempts", 1, 20},
	    {"replies", "credits_per_reply", 0, 2147483647},
	    {"replies", "max_tool_rounds", 1, 16},
	    {"extraction", "every_messages", 1, 10000},
	    {"extraction", "idle_seconds", 0, 86400},
	    {"extraction", "credits", 0, 2147483647},
	    {"handoff", "pause_minutes", 1, 525600},
	    {"google", "default_duration_minutes", 5, 1440},
	};
	for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
		long tries[] = {b[i].min - 1, b[i].min, b[i].max, b[i].max + 1};
		for (size_t t = 0; t < 4; t++) {
			struct run r;
			char *text =
			    xasprintf("[%s]\n%s = %ld\n", b[i].section, b[i].key, tries[t]);
			load_str(&r, text, CONFIG_NEED_NOTHING);
			free(text);
			if (t == 1 || t == 2) {
				expect_ok(&r);
				config_free(&r.cfg);
			} else {
				expect_err_has(&r, t == 0 ? "is below the minimum"
							  : "is above the maximum");
			}
		}
	}
}

static void test_bool_spellings(void **state)
{
	(void)state;
	static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
	static const char *const no[] = {"false", "no", "off", "0", "False", "OFF"};
	for (size_t i = 0; i < 6; i++) {
		struct run r;
		char *text = xasprintf("[extraction]\nenabled = %s\n", no[i]);
		load_str(&r, text, CONFIG_NEED_NOTHING);
		expect_ok(&r);
		assert_false(r.cfg.extraction_enabled);
		config_free(&r.cfg);
		free(text);
		setenv("PARLEY_EXTRACTION_ENABLED", yes[i], 1);
		load_str(&r, "[extraction]\nenabled = off\n", CONFIG_NEED_NOTHING);
		expect_ok(&r);
		assert_true(r.cfg.extraction_enabled);
		config_free(&r.cfg);
		unsetenv("PARLEY_EXTRACTION_ENABLED");
	}
}

static void test_bool_and_enum_invalid(void **state)
{
	(void)state;
	static const struct refused cases[] = {
	    {"[extraction]\nenabled = maybe\n", "2: extraction.enabled: 'maybe' is not a boolean "
						"(use true/false, yes/no, on/off, 1/0)"},
	    {"[log]\nlevel = verbose\n",
	     "2: log.level: 'verbose' is not one of debug, info, warn, error"},
	    {"[log]\nformat = xml\n", "2: log.format: 'xml' is not one of text, json"},
	    /* matched exactly, like log_parse_level */
	    {"[log]\nlevel = INFO\n",
	     "2: log.level: 'INFO' is not one of debug, info, warn, error"},
	};
	EXPECT_REFUSED(cases);
}

static void test_listen_addresses_valid(void **state)
{
	(void)state;
	static const char *const good[] = {"127.0.0.1:8080", "[::1]:8080", "[::]:1",
					   "localhost:65535", "0.0.0.0:80"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct run r;
		char *text =
		    xasprintf("[server]\nlisten = %s\ninternal_listen = %s\n", good[i], good[i]);
		load_str(&r, text, CONFIG_NEED_NOTHING);
		expect_ok(&r);
		assert_string_equal(r.cfg.server_listen, good[i]);
		assert_string_equal(r.cfg.server_internal_listen, good[i]);
		config_free(&r.cfg);
		free(text);
	}
}

static void test_listen_addresses_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {"8080",
					  ":8080",
					  "host:0",
					  "host:65536",
					  "::1:8080",
					  "[::1]8080",
					  "[]:80",
					  "host:",
					  "host:80x",
					  "host:-1",
					  "[::1]:",
					  "a b:80",
					  "host:99999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct run r;
		char *text = xasprintf("[server]\nlisten = %s\n", bad[i]);
		load_str(&r, text, CONFIG_NEED_NOTHING);
		expect_err(
		    &r, "%s:2: server.listen: '%s' is not host:port or [ipv6]:port (port 1-65535)",
		    r.path, bad[i]);
		free(text);
	}
}

static void test_internal_listen_empty_but_listen_not(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "[server]\ninternal_listen =\n", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.server_internal_listen, "");
	config_free(&r.cfg);
	load_str(&r, "[server]\nlisten =\n", CONFIG_NEED_NOTHING);
	expect_err_has(&r, "server.listen: '' is not host:port");
}

static void test_urls(void **state)
{
	(void)state;
	struct run r;
	load_str(&r,
		 "[openai]\nurl = http://127.0.0.1:9999/v1/\n"
		 "[meta]\nwhatsapp_url = https://graph.example//\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	/* trailing slashes go: the code appends "/responses" itself */
	assert_string_equal(r.cfg.openai_url, "http://127.0.0.1:9999/v1");
	assert_string_equal(r.cfg.meta_whatsapp_url, "https://graph.example");
	config_free(&r.cfg);

	static const char *const bad[] = {"ftp://x",    "graph.facebook.com", "https://",
					  "https:///x", "http://a b",         ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *text = xasprintf("[google]\ntoken_url = %s\n", bad[i]);
		load_str(&r, text, CONFIG_NEED_NOTHING);
		expect_err(&r, "%s:2: google.token_url: '%s' is not an http:// or https:// URL",
			   r.path, bad[i]);
		free(text);
	}
}

static void test_allowed_origins(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "[webchat]\nallowed_origins = https://a.example, http://b.example:8080 ,*\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	char **list;
	assert_int_equal(config_split_list(r.cfg.webchat_allowed_origins, &list), 3);
	assert_string_equal(list[1], "http://b.example:8080");
	config_free_list(list);
	config_free(&r.cfg);

	load_str(&r, "[webchat]\nallowed_origins = https://a.example/, *\n", CONFIG_NEED_NOTHING);
	expect_err(&r,
		   "%s:2: webchat.allowed_origins: 'https://a.example/' is not * or an origin "
		   "(http(s)://host[:port])",
		   r.path);
	load_str(&r, "[webchat]\nallowed_origins = example.com\n", CONFIG_NEED_NOTHING);
	expect_err_has(&r, "'example.com' is not * or an origin");
}

static void test_trusted_proxies(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "[server]\ntrusted_proxies = 127.0.0.1, 10.0.0.0/8 ,2001:db8::/32\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.server_trusted_proxies, "127.0.0.1, 10.0.0.0/8 ,2001:db8::/32");
	config_free(&r.cfg);

	load_str(&r, "[server]\ntrusted_proxies = 10.0.0.0/8, proxy.example\n",
		 CONFIG_NEED_NOTHING);
	expect_err(&r,
		   "%s:2: server.trusted_proxies: 'proxy.example' is not an IPv4 or IPv6 address "
		   "or CIDR network",
		   r.path);
	load_str(&r, "[server]\ntrusted_proxies = 10.0.0.0/33\n", CONFIG_NEED_NOTHING);
	expect_err_has(&r, "'10.0.0.0/33' is not an IPv4 or IPv6 address");
	load_str(&r, "[server]\ntrusted_proxies = ,\n", CONFIG_NEED_NOTHING);
	expect_err_has(&r, "only empty entries");
}

static void test_split_list(void **state)
{
	(void)state;
	char **list;
	assert_int_equal(config_split_list(" a , b,,c ,\t", &list), 3);
	assert_string_equal(list[0], "a");
	assert_string_equal(list[1], "b");
	assert_string_equal(list[2], "c");
	assert_null(list[3]);
	config_free_list(list);
	assert_int_equal(config_split_list("", &list), 0);
	assert_null(list[0]);
	config_free_list(list);
	assert_int_equal(config_split_list(NULL, &list), 0);
	config_free_list(list);
	assert_int_equal(config_split_list("1,2,3,4,5,6,7,8,9,10", &list), 10);
	assert_string_equal(list[9], "10");
	config_free_list(list);
	config_free_list(NULL);
}

static void test_app_secret_rotation_list(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "[meta]\napp_secret = old-secret, new-secret\n", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	char **list;
	assert_int_equal(config_split_list(r.cfg.meta_app_secret, &list), 2);
	assert_string_equal(list[0], "old-secret");
	assert_string_equal(list[1], "new-secret");
	config_free_list(list);
	config_free(&r.cfg);
	load_str(&r, "[meta]\napp_secret = \" , ,\"\n", CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: meta.app_secret: has only empty entries between commas", r.path);
}

/* ---- syntax ---- */

static void test_syntax_errors(void **state)
{
	(void)state;
	static const struct refused cases[] = {
	    {"[server]\nlisten = 127.0.0.1:1\n\nlisen = x\n", "4: unknown key 'lisen' in [server]"},
	    /* a key of another section is still unknown here */
	    {"[server]\nconnections = 4\n", "2: unknown key 'connections' in [server]"},
	    /* names are matched exactly */
	    {"[server]\nListen = 127.0.0.1:1\n", "2: unknown key 'Listen' in [server]"},
	    {"# hi\n[sever]\nlisten = x\n", "2: unknown section [sever]"},
	    {"[]\n", "1: unknown section []"},
	    {"[server]\n\nlisten = 127.0.0.1:1\n[log]\n[server]\nlisten = 127.0.0.1:2\n",
	     "6: duplicate key 'listen' (first set at line 3)"},
	    {"; top\nlisten = 127.0.0.1:1\n[server]\n", "2: key outside any section"},
	    /* control bytes are not echoed */
	    {"[server]\nli\x1b[2Jsten = x\n", "2: unknown key 'li?[2Jsten' in [server]"},
	    {"[se\x1brver]\n", "1: unknown section [se?rver]"},
	};
	EXPECT_REFUSED(cases);
}

static void test_section_header_blanks(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "[ server ]  ; main\nlisten = 127.0.0.1:1\n", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	config_free(&r.cfg);
}

static void test_malformed_lines(void **state)
{
	(void)state;
	static const char *const bad[] = {"listen", "= 127.0.0.1:1", "  =", "listen 127.0.0.1:1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct run r;
		char *text = xasprintf("[server]\n%s\n", bad[i]);
		load_str(&r, text, CONFIG_NEED_NOTHING);
		expect_err(&r, "%s:2: malformed line (expected key = value)", r.path);
		free(text);
	}
	static const char *const headers[] = {"[server", "[server] x", "[server]]"};
	for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		struct run r;
		char *text = xasprintf("\n%s\n", headers[i]);
		load_str(&r, text, CONFIG_NEED_NOTHING);
		expect_err(&r, "%s:2: malformed section header (expected [name])", r.path);
		free(text);
	}
}

static void test_quoted_values(void **state)
{
	(void)state;
	struct run r;
	load_str(&r,
		 "[openai]\nmodel = \"  a # b ; c  \"   # comment after the quote\n"
		 "[extraction]\nprompt_id = \"say \\\"hi\\\" \\\\o/ \\n\"\n"
		 "[google]\ncalendar_id = \"\"\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_model, "  a # b ; c  ");
	/* only \" and \\ are escapes; other backslashes stay */
	assert_string_equal(r.cfg.extraction_prompt_id, "say \"hi\" \\o/ \\n");
	assert_string_equal(r.cfg.google_calendar_id, "");
	config_free(&r.cfg);

	load_str(&r, "[openai]\nmodel = \"abc\n", CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: openai.model: unterminated quoted value", r.path);
	load_str(&r, "[openai]\nmodel = \"abc\" def\n", CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: openai.model: unexpected text after the closing quote", r.path);
	/* a quote inside an unquoted value is an ordinary character */
	load_str(&r, "[openai]\nmodel = a\"b\n", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_model, "a\"b");
	config_free(&r.cfg);
}

static void test_comments(void **state)
{
	(void)state;
	struct run r;
	load_str(&r,
		 "; full-line comment\n# another\n   # indented\n[openai]\n"
		 "model = gpt#4;x   # inline comment\n"
		 "url = https://api.example/v1 ; inline\n"
		 "[extraction]\nprompt_id =   # only a comment: empty value\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_model, "gpt#4;x");
	assert_string_equal(r.cfg.openai_url, "https://api.example/v1");
	assert_string_equal(r.cfg.extraction_prompt_id, "");
	config_free(&r.cfg);
}

static void test_blanks_trimmed(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "  [server]\t\n\t listen\t=\t127.0.0.1:81  \n", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.server_listen, "127.0.0.1:81");
	config_free(&r.cfg);
}

/* ---- sources and precedence ---- */

static void test_env_overrides_file(void **state)
{
	(void)state;
	struct run r;
	setenv("PARLEY_DATABASE_CONNECTIONS", "9", 1);
	setenv("PARLEY_OPENAI_MODEL", "", 1); /* set-but-empty clears the file's value */
	load_str(&r, "[database]\nconnections = 8\n[openai]\nmodel = gpt-file\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_int_equal(r.cfg.database_connections, 9);
	assert_string_equal(r.cfg.openai_model, "");
	assert_dump_entry(&r.cfg, "database.connections", "9", "env PARLEY_DATABASE_CONNECTIONS");
	config_free(&r.cfg);
}

static void test_env_error_names_variable(void **state)
{
	(void)state;
	struct run r;
	setenv("PARLEY_DATABASE_CONNECTIONS", "abc", 1);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_err(&r,
		   "environment PARLEY_DATABASE_CONNECTIONS: database.connections: 'abc' is not a "
		   "whole number");
	/* env values are taken verbatim, not trimmed */
	setenv("PARLEY_DATABASE_CONNECTIONS", " 5", 1);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_err_has(&r, "' 5' is not a whole number");
	setenv("PARLEY_DATABASE_CONNECTIONS", "0", 1);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_err(&r, "environment PARLEY_DATABASE_CONNECTIONS: database.connections: 0 is below "
		       "the minimum 1");
}

static void test_env_other_parley_vars_ignored(void **state)
{
	(void)state;
	struct run r;
	setenv("PARLEY_MIGRATIONS_DIR", "/nowhere", 1);
	setenv("PARLEY_SERVER_LISEN", "garbage", 1);
	setenv("PARLEY_NOPE", "x", 1);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	unsetenv("PARLEY_MIGRATIONS_DIR");
	unsetenv("PARLEY_SERVER_LISEN");
	unsetenv("PARLEY_NOPE");
	expect_ok(&r);
	config_free(&r.cfg);
}

static void test_openai_api_key_precedence(void **state)
{
	(void)state;
	struct run r;
	const char *file = "[openai]\napi_key = from-file\n";
	load_str(&r, file, CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_api_key, "from-file");
	config_free(&r.cfg);

	setenv("OPENAI_API_KEY", "from-openai-env", 1);
	load_str(&r, file, CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_api_key, "from-openai-env");
	assert_dump_entry(&r.cfg, "openai.api_key", "********", "env OPENAI_API_KEY");
	config_free(&r.cfg);

	setenv("PARLEY_OPENAI_API_KEY", "from-parley-env", 1);
	load_str(&r, file, CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_api_key, "from-parley-env");
	assert_dump_entry(&r.cfg, "openai.api_key", "********", "env PARLEY_OPENAI_API_KEY");
	config_free(&r.cfg);

	/* an empty OPENAI_API_KEY (a common shell leftover) does not erase the file's */
	unsetenv("PARLEY_OPENAI_API_KEY");
	setenv("OPENAI_API_KEY", "", 1);
	load_str(&r, file, CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_api_key, "from-file");
	config_free(&r.cfg);
}

/* A credentials directory with one file per (name, content) pair. */
struct creds {
	char dir[64];
	char *files[8]; /* owned */
	size_t n;
};

static void creds_add(struct creds *c, const char *name, const char *content)
{
	assert_true(c->n < 8);
	c->files[c->n] = xasprintf("%s/%s", c->dir, name);
	write_file(c->files[c->n++], content, strlen(content));
}

static void creds_open(struct creds *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->dir, "/tmp/parley-test-creds-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	setenv("CREDENTIALS_DIRECTORY", c->dir, 1);
}

static void creds_close(struct creds *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (unlink(c->files[i]) < 0)
			rmdir(c->files[i]);
		free(c->files[i]);
	}
	rmdir(c->dir);
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void test_credentials_directory(void **state)
{
	(void)state;
	struct creds c;
	creds_open(&c);
	creds_add(&c, "meta.app_secret", "from-credential-0123\n");
	creds_add(&c, "database.url", "postgresql://u:credpass@db/p\r\n");
	creds_add(&c, "server.listen", "10.0.0.1:1\n"); /* not a secret: ignored */
	struct run r;
	load_str(&r, "[meta]\napp_secret = from-file\nverify_token = " VERIFY_TOKEN "\n",
		 CONFIG_NEED_SERVE);
	expect_ok(&r);
	assert_string_equal(r.cfg.meta_app_secret, "from-credential-0123");
	assert_string_equal(r.cfg.database_url, "postgresql://u:credpass@db/p");
	assert_string_equal(r.cfg.server_listen, "127.0.0.1:8080");
	char *origin = xasprintf("credential %s/meta.app_secret", c.dir);
	assert_dump_entry(&r.cfg, "meta.app_secret", "********", origin);
	free(origin);
	config_free(&r.cfg);

	/* the environment beats a credential */
	setenv("PARLEY_META_APP_SECRET", "from-env", 1);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.meta_app_secret, "from-env");
	config_free(&r.cfg);
	creds_close(&c);
}

static void test_credentials_errors_name_file(void **state)
{
	(void)state;
	struct creds c;
	creds_open(&c);
	/* a directory where a file should be cannot be read */
	c.files[c.n] = xasprintf("%s/meta.verify_token", c.dir);
	assert_int_equal(mkdir(c.files[c.n++], 0700), 0);
	struct run r;
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_err(&r, "cannot read credential %s/meta.verify_token: Is a directory", c.dir);
	creds_close(&c);

	creds_open(&c);
	creds_add(&c, "webchat.secret", "sec\nret-value\n");
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_err(&r, "credential %s/webchat.secret: webchat.secret: contains a control character",
		   c.dir);
	assert_null(strstr(r.err, "ret-value"));
	creds_close(&c);
}

/* Every secret key of the table can come from the credentials directory
 * (docs/operations.md). */
static void test_credentials_every_secret_key(void **state)
{
	(void)state;
	static const struct {
		const char *key, *value;
		size_t offset;
	} cases[] = {
	    {"database.url", "host=db dbname=p", offsetof(struct config, database_url)},
	    {"meta.app_secret", "cred-app-secret-01", offsetof(struct config, meta_app_secret)},
	    {"meta.verify_token", "cred-verify-token-01",
	     offsetof(struct config, meta_verify_token)},
	    {"openai.api_key", "sk-cred-key", offsetof(struct config, openai_api_key)},
	    {"webchat.secret", "cred-webchat-secret-01", offsetof(struct config, webchat_secret)},
	    {"google.client_secret", "cred-google-secret",
	     offsetof(struct config, google_client_secret)},
	};
	struct creds c;
	creds_open(&c);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		creds_add(&c, cases[i].key, cases[i].value);
	creds_add(&c, "database.password", "cred-db-password");
	struct run r;
	load_str(&r, "", CONFIG_NEED_SERVE);
	expect_ok(&r);
	char *dump = config_dump(&r.cfg);
	assert_null(strstr(dump, "cred-"));
	free(dump);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = *(char **)((char *)&r.cfg + cases[i].offset);
		if (cases[i].offset == offsetof(struct config, database_url))
			assert_true(strncmp(got, cases[i].value, strlen(cases[i].value)) == 0);
		else
			assert_string_equal(got, cases[i].value);
		char *origin = xasprintf("credential %s/%s", c.dir, cases[i].key);
		if (cases[i].offset != offsetof(struct config, database_url))
			assert_dump_entry(&r.cfg, cases[i].key, "********", origin);
		free(origin);
	}
	char *origin = xasprintf("credential %s/database.password", c.dir);
	assert_dump_entry(&r.cfg, "database.password", "********", origin);
	assert_dump_entry(&r.cfg, "database.url", "host=db dbname=p password=********", NULL);
	free(origin);
	config_free(&r.cfg);
	creds_close(&c);
}

/*
 * Credential files: trailing CRs and LFs are not the secret's (echo, editors,
 * systemd-creds add them), every other byte is; an empty one is a mistake.
 */
static void test_credentials_trailing_newline(void **state)
{
	(void)state;
	static const struct {
		const char *content, *want;
	} cases[] = {
	    {"exactly-16-bytes", "exactly-16-bytes"},
	    {"exactly-16-bytes\n", "exactly-16-bytes"},
	    {"exactly-16-bytes\r\n", "exactly-16-bytes"},
	    {"exactly-16-bytes\n\n\r\n", "exactly-16-bytes"},
	    {" blanks kept, \t ", " blanks kept, \t "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct creds c;
		creds_open(&c);
		creds_add(&c, "meta.verify_token", cases[i].content);
		struct run r;
		load_str(&r, MINIMAL "[meta]\napp_secret = " APP_SECRET "\n", CONFIG_NEED_SERVE);
		expect_ok(&r);
		assert_string_equal(r.cfg.meta_verify_token, cases[i].want);
		config_free(&r.cfg);
		creds_close(&c);
	}
	/* 15 bytes and a newline is still 15 bytes */
	struct creds c;
	creds_open(&c);
	creds_add(&c, "meta.verify_token", "fifteen-bytes-1\n");
	struct run r;
	load_str(&r, MINIMAL "[meta]\napp_secret = " APP_SECRET "\n", CONFIG_NEED_SERVE);
	expect_err(&r,
		   "credential %s/meta.verify_token: meta.verify_token: is shorter than 16 bytes",
		   c.dir);
	creds_close(&c);

	static const char *const empty[] = {"", "\n", "\r\n"};
	for (size_t i = 0; i < 3; i++) {
		creds_open(&c);
		creds_add(&c, "webchat.secret", empty[i]);
		load_str(&r, "", CONFIG_NEED_NOTHING);
		expect_err(&r, "credential %s/webchat.secret: webchat.secret: is empty", c.dir);
		creds_close(&c);
	}
	/* a NUL inside is refused, not cut short */
	creds_open(&c);
	c.files[c.n] = xasprintf("%s/meta.app_secret", c.dir);
	write_file(c.files[c.n++], "app-secret-16-by\0tail", 21);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_err(&r, "credential %s/meta.app_secret: contains a NUL byte", c.dir);
	creds_close(&c);
}

/* ---- secrets: strength (docs/operations.md, Deployment) ---- */

static void test_secret_shorter_than_16_bytes(void **state)
{
	(void)state;
	static const struct {
		const char *text, *key;
		unsigned line;
	} cases[] = {
	    {MINIMAL "[meta]\napp_secret = fifteen-bytes-1\nverify_token = " VERIFY_TOKEN "\n",
	     "meta.app_secret: is", 4},
	    {MINIMAL "[meta]\napp_secret = " APP_SECRET "\nverify_token = fifteen-bytes-1\n",
	     "meta.verify_token: is", 5},
	    {MINIMAL SERVE_META "[webchat]\nsecret = fifteen-bytes-1\n", "webchat.secret: is", 7},
	    {MINIMAL "[meta]\napp_secret = " APP_SECRET ", x\nverify_token = " VERIFY_TOKEN "\n",
	     "meta.app_secret: entry 2 of 2 is", 4},
	    {MINIMAL "[meta]\napp_secret = a, " APP_SECRET ", " APP_SECRET
		     "\nverify_token = " VERIFY_TOKEN "\n",
	     "meta.app_secret: entry 1 of 3 is", 4},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct run r;
		load_str(&r, cases[i].text, CONFIG_NEED_SERVE);
		expect_err(&r, "%s:%u: %s shorter than 16 bytes", r.path, cases[i].line,
			   cases[i].key);
		assert_null(strstr(r.err, "fifteen"));
		/* the commands that do not serve do not judge them */
		load_str(&r, cases[i].text, CONFIG_NEED_DATABASE);
		expect_ok(&r);
		config_free(&r.cfg);
	}
	/* exactly 16 bytes is enough; a list of such too; no webchat secret is fine */
	struct run r;
	load_str(&r,
		 MINIMAL "[meta]\napp_secret = 0123456789abcdef, fedcba9876543210\n"
			 "verify_token = 0123456789abcdef\n[webchat]\nsecret = 0123456789abcdef\n",
		 CONFIG_NEED_SERVE);
	expect_ok(&r);
	config_free(&r.cfg);
	load_str(&r, MINIMAL SERVE_META "[webchat]\nsecret = \"\"\n", CONFIG_NEED_SERVE);
	expect_ok(&r);
	config_free(&r.cfg);
	/* bytes, not characters: 8 two-byte characters are 16 bytes */
	load_str(&r,
		 MINIMAL SERVE_META
		 "[webchat]\nsecret = "
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n",
		 CONFIG_NEED_SERVE);
	expect_ok(&r);
	config_free(&r.cfg);
}

static void test_secret_placeholder(void **state)
{
	(void)state;
	static const char *const placeholders[] = {
	    "REPLACE_WITH_THE_META_APP_SECRET",
	    "REPLACE_WITH_A_RANDOM_VERIFY_TOKEN",
	    "REPLACE_WITH_A_RANDOM_WEBCHAT_SECRET",
	};
	static const char *const vars[] = {"PARLEY_META_APP_SECRET", "PARLEY_META_VERIFY_TOKEN",
					   "PARLEY_WEBCHAT_SECRET"};
	static const char *const names[] = {"meta.app_secret", "meta.verify_token",
					    "webchat.secret"};
	/* any placeholder in any of the three keys, so a pasted one is caught too */
	for (size_t p = 0; p < 3; p++) {
		for (size_t v = 0; v < 3; v++) {
			setenv(vars[v], placeholders[p], 1);
			struct run r;
			load_str(&r, MINIMAL SERVE_META, CONFIG_NEED_SERVE);
			char want[256];
			snprintf(want, sizeof want,
				 "environment %s: %s: is the example file's placeholder, not a "
				 "secret",
				 vars[v], names[v]);
			assert_int_equal(r.rc, -1);
			assert_string_equal(r.err, want);
			unsetenv(vars[v]);
		}
	}
	/* one entry of a rotation list */
	struct run r;
	load_str(&r,
		 MINIMAL "[meta]\napp_secret = " APP_SECRET ",REPLACE_WITH_THE_META_APP_SECRET\n"
			 "verify_token = " VERIFY_TOKEN "\n",
		 CONFIG_NEED_SERVE);
	expect_err(&r,
		   "%s:4: meta.app_secret: entry 2 of 2 is the example file's placeholder, not a "
		   "secret",
		   r.path);
}

/* The error names where the value in effect came from; an overridden weak value is fine. */
static void test_secret_error_names_source(void **state)
{
	(void)state;
	struct creds c;
	creds_open(&c);
	creds_add(&c, "meta.app_secret", "short\n");
	struct run r;
	load_str(&r, MINIMAL SERVE_META, CONFIG_NEED_SERVE);
	expect_err(&r, "credential %s/meta.app_secret: meta.app_secret: is shorter than 16 bytes",
		   c.dir);
	/* the environment replaces the weak credential: nothing to refuse */
	setenv("PARLEY_META_APP_SECRET", APP_SECRET, 1);
	load_str(&r, MINIMAL SERVE_META, CONFIG_NEED_SERVE);
	expect_ok(&r);
	config_free(&r.cfg);
	creds_close(&c);
	/* a weak file value replaced by a good credential, as with the example file */
	unsetenv("PARLEY_META_APP_SECRET");
	creds_open(&c);
	creds_add(&c, "meta.verify_token", VERIFY_TOKEN);
	load_str(&r, MINIMAL "[meta]\napp_secret = " APP_SECRET "\nverify_token = x\n",
		 CONFIG_NEED_SERVE);
	expect_ok(&r);
	config_free(&r.cfg);
	creds_close(&c);
	setenv("PARLEY_META_VERIFY_TOKEN", "short", 1);
	load_str(&r, MINIMAL SERVE_META, CONFIG_NEED_SERVE);
	expect_err(&r,
		   "environment PARLEY_META_VERIFY_TOKEN: meta.verify_token: is shorter than 16 "
		   "bytes");
}

/* ---- the database password ---- */

/* The value libpq parses out of conninfo for keyword (NULL if unset); caller frees. */
static char *libpq_value(const char *conninfo, const char *keyword)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	if (!opts)
		fail_msg("libpq cannot parse '%s': %s", conninfo, err ? err : "?");
	char *value = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val)
			value = xstrdup(o->val);
	PQconninfoFree(opts);
	return value;
}

/*
 * database.password reaches libpq intact whatever its bytes and whatever
 * the form of database.url, and wins over a password inside the URL.
 */
static void test_database_password_merged(void **state)
{
	(void)state;
	static const char *const urls[] = {
	    "host=db dbname=p",
	    "host=db password=old dbname=p",
	    "host='d b' dbname = p ",
	    "postgresql://u@db/p",
	    "postgresql://u:old@db/p",
	    "postgres://u@db/p?sslmode=disable",
	    "postgresql://u@db/p?password=old&sslmode=disable",
	    "postgresql://u@db/p?",
	    "postgresql:///p?host=/run/pg&",
	};
	static const char *const passwords[] = {
	    "plain", "q'u\"o\\te s p a c e", "p@ss:w/o?r#d&x=y%41+\xc3\xbc", "\\", "'",
	};
	for (size_t u = 0; u < sizeof urls / sizeof urls[0]; u++) {
		for (size_t p = 0; p < sizeof passwords / sizeof passwords[0]; p++) {
			struct creds c;
			creds_open(&c);
			creds_add(&c, "database.password", passwords[p]);
			setenv("PARLEY_DATABASE_URL", urls[u], 1);
			struct run r;
			load_str(&r, "", CONFIG_NEED_DATABASE);
			expect_ok(&r);
			char *got = libpq_value(r.cfg.database_url, "password");
			if (!got || strcmp(got, passwords[p]) != 0)
				fail_msg("url '%s' + password '%s' gave '%s' (conninfo %s)",
					 urls[u], passwords[p], got ? got : "(none)",
					 r.cfg.database_url);
			free(got);
			/* the rest of the url means what it meant */
			char *want_db = libpq_value(urls[u], "dbname");
			char *got_db = libpq_value(r.cfg.database_url, "dbname");
			assert_string_equal(got_db ? got_db : "-", want_db ? want_db : "-");
			free(want_db);
			free(got_db);
			char *dump = config_dump(&r.cfg);
			if (strlen(passwords[p]) > 2)
				assert_null(strstr(dump, passwords[p]));
			free(dump);
			config_free(&r.cfg);
			creds_close(&c);
		}
	}
	/*
	 * A url whose end would swallow the password (a dangling backslash, an
	 * open quote) or that libpq cannot parse is refused, naming the url's
	 * source and not the password: libpq's own complaint would quote it.
	 */
	static const char *const swallowing[] = {
	    "host=db dbname=p\\",
	    "host=db dbname='p",
	    "host=db dbname='p\\",
	    "garbage",
	};
	for (size_t u = 0; u < sizeof swallowing / sizeof swallowing[0]; u++) {
		struct creds c;
		creds_open(&c);
		creds_add(&c, "database.password", "Swallowed-Pw");
		setenv("PARLEY_DATABASE_URL", swallowing[u], 1);
		struct run r;
		load_str(&r, "", CONFIG_NEED_DATABASE);
		expect_err(&r,
			   "environment PARLEY_DATABASE_URL: database.url: libpq cannot parse it "
			   "with database.password added (check its quotes and backslashes)");
		creds_close(&c);
	}
	unsetenv("PARLEY_DATABASE_URL");
	/* from the file and the environment too; without a url nothing is made up */
	setenv("PARLEY_DATABASE_PASSWORD", "from-env", 1);
	struct run r;
	load_str(&r, "[database]\nurl = host=db\npassword = from-file\n", CONFIG_NEED_DATABASE);
	expect_ok(&r);
	char *got = libpq_value(r.cfg.database_url, "password");
	assert_string_equal(got, "from-env");
	free(got);
	assert_dump_entry(&r.cfg, "database.password", "********", "env PARLEY_DATABASE_PASSWORD");
	config_free(&r.cfg);
	load_str(&r, "", CONFIG_NEED_DATABASE);
	expect_err(&r,
		   "database.url is required (set it in %s, PARLEY_DATABASE_URL or the credential "
		   "database.url)",
		   r.path);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.database_url, "");
	config_free(&r.cfg);
	/* an unset password leaves the url alone */
	unsetenv("PARLEY_DATABASE_PASSWORD");
	load_str(&r, "[database]\nurl = postgresql://u:pw@db/p\n", CONFIG_NEED_DATABASE);
	expect_ok(&r);
	assert_string_equal(r.cfg.database_url, "postgresql://u:pw@db/p");
	config_free(&r.cfg);
}

static void test_required_database(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "[meta]\napp_secret = a\nverify_token = b\n", CONFIG_NEED_DATABASE);
	expect_err(&r,
		   "database.url is required (set it in %s, PARLEY_DATABASE_URL or the credential "
		   "database.url)",
		   r.path);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	config_free(&r.cfg);
	/* DATABASE does not need the serve keys */
	load_str(&r, MINIMAL, CONFIG_NEED_DATABASE);
	expect_ok(&r);
	config_free(&r.cfg);
}

static void test_required_serve(void **state)
{
	(void)state;
	static const struct {
		const char *text, *missing, *env;
	} cases[] = {
	    {"[meta]\napp_secret = a\nverify_token = b\n", "database.url", "PARLEY_DATABASE_URL"},
	    {MINIMAL "[meta]\nverify_token = b\n", "meta.app_secret", "PARLEY_META_APP_SECRET"},
	    {MINIMAL "[meta]\napp_secret = a\n", "meta.verify_token", "PARLEY_META_VERIFY_TOKEN"},
	    {MINIMAL "[meta]\napp_secret = a\nverify_token = \"\"\n", "meta.verify_token",
	     "PARLEY_META_VERIFY_TOKEN"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct run r;
		load_str(&r, cases[i].text, CONFIG_NEED_SERVE);
		expect_err(&r, "%s is required (set it in %s, %s or the credential %s)",
			   cases[i].missing, r.path, cases[i].env, cases[i].missing);
	}
	struct run r;
	load_str(&r, MINIMAL SERVE_META, CONFIG_NEED_SERVE);
	expect_ok(&r);
	config_free(&r.cfg);
}

static void test_required_from_env_only(void **state)
{
	(void)state;
	struct run r;
	setenv("PARLEY_DATABASE_URL", "host=db dbname=p", 1);
	load_str(&r, "", CONFIG_NEED_DATABASE);
	expect_ok(&r);
	assert_string_equal(r.cfg.database_url, "host=db dbname=p");
	config_free(&r.cfg);
}

/* ---- paths ---- */

static void test_missing_named_file(void **state)
{
	(void)state;
	struct config cfg;
	char err[512];
	assert_int_equal(config_load("/tmp/parley-test-no-such-file.conf", CONFIG_NEED_NOTHING,
				     &cfg, err, sizeof err),
			 -1);
	assert_string_equal(
	    err, "cannot read /tmp/parley-test-no-such-file.conf: No such file or directory");
	assert_empty(&cfg);
	assert_int_equal(config_load("/tmp", CONFIG_NEED_NOTHING, &cfg, err, sizeof err), -1);
	assert_string_equal(err, "cannot read /tmp: Is a directory");
}

static void test_parley_config_env(void **state)
{
	(void)state;
	char path[64];
	const char *text = "[database]\nconnections = 7\n";
	temp_file(path, text, strlen(text));
	setenv("PARLEY_CONFIG", path, 1);
	struct config cfg;
	char err[512];
	int rc = config_load(NULL, CONFIG_NEED_NOTHING, &cfg, err, sizeof err);
	unlink(path);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg.path, path);
	assert_int_equal(cfg.database_connections, 7);
	config_free(&cfg);

	/* a missing file named by PARLEY_CONFIG is an error, not a fallback */
	assert_int_equal(config_load(NULL, CONFIG_NEED_NOTHING, &cfg, err, sizeof err), -1);
	char *want = xasprintf("cannot read %s: No such file or directory", path);
	assert_string_equal(err, want);
	free(want);
	/* an explicit path wins over PARLEY_CONFIG */
	struct run r;
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	config_free(&r.cfg);
}

static void test_missing_default_file_is_fine(void **state)
{
	(void)state;
	if (access("/etc/parley/parley.conf", F_OK) == 0)
		skip();
	struct config cfg;
	char err[512];
	setenv("PARLEY_LOG_LEVEL", "warn", 1);
	assert_int_equal(config_load(NULL, CONFIG_NEED_NOTHING, &cfg, err, sizeof err), 0);
	assert_null(cfg.path);
	assert_string_equal(cfg.log_level, "warn");
	config_free(&cfg);
	assert_int_equal(config_load(NULL, CONFIG_NEED_DATABASE, &cfg, err, sizeof err), -1);
	assert_string_equal(err, "database.url is required (set it in /etc/parley/parley.conf, "
				 "PARLEY_DATABASE_URL or the credential database.url)");
}

/* ---- dump ---- */

static void test_dump_masks_secrets(void **state)
{
	(void)state;
	struct run r;
	load_str(&r,
		 "[database]\nurl = postgresql://app:S3cretDbPw@db:5432/p?sslmode=require\n"
		 "[meta]\napp_secret = S3cretApp1-16byte, S3cretApp2-16byte\n"
		 "verify_token = S3cretVerify-16byte\n"
		 "[openai]\napi_key = sk-S3cretKey\n"
		 "[webchat]\nsecret = S3cretWebchat-16byte\n",
		 CONFIG_NEED_SERVE);
	expect_ok(&r);
	char *dump = config_dump(&r.cfg);
	assert_null(strstr(dump, "S3cret"));
	free(dump);
	assert_dump_entry(&r.cfg, "meta.app_secret", "********", NULL);
	assert_dump_entry(&r.cfg, "openai.api_key", "********", NULL);
	assert_dump_entry(&r.cfg, "google.client_secret", "(unset)", "default");
	assert_dump_entry(&r.cfg, "database.url",
			  "postgresql://app:********@db:5432/p?sslmode=require", NULL);
	config_free(&r.cfg);
}

static void test_dump_masks_database_url_forms(void **state)
{
	(void)state;
	static const struct {
		const char *url, *shown;
	} cases[] = {
	    {"postgresql://u@db/p", "postgresql://u@db/p"},
	    {"postgres://u:pw@db/p", "postgres://u:********@db/p"},
	    {"postgresql:///p?host=/run/pg&password=pw&user=u",
	     "postgresql:///p?host=/run/pg&password=********&user=u"},
	    {"host=db password=pw dbname=p", "host=db password=******** dbname=p"},
	    {"host=db password = 'p w\\' x' dbname=p", "host=db password = ******** dbname=p"},
	    {"password=pw", "password=********"},
	    {"host=db dbname=p", "host=db dbname=p"},
	    {"garbage pw", "********"},
	    {"host='unterminated pw", "********"},
	    /* every secret parameter, not only password (README,
	     * Configuration) */
	    {"host=db sslkey=/k.pem sslpassword=pw dbname=p",
	     "host=db sslkey=/k.pem sslpassword=******** dbname=p"},
	    {"host=db sslpassword='p w' password=pw2",
	     "host=db sslpassword=******** password=********"},
	    {"host=db oauth_client_secret=pw oauth_client_id=c",
	     "host=db oauth_client_secret=******** oauth_client_id=c"},
	    {"host=db passfile=/etc/pgpass", "host=db passfile=/etc/pgpass"},
	    {"postgresql://u:pw@db/p?sslpassword=pw2&sslmode=verify-full",
	     "postgresql://u:********@db/p?sslpassword=********&sslmode=verify-full"},
	    {"postgresql://db/p?sslmode=require&SSLPASSWORD=pw",
	     "postgresql://db/p?sslmode=require&SSLPASSWORD=********"},
	    {"postgresql://db/p?oauth_client_secret=pw",
	     "postgresql://db/p?oauth_client_secret=********"},
	    /* libpq decodes the keyword of a URI parameter: pass%77ord is password */
	    {"postgresql://db/p?pass%77ord=pw&ssl%70assword=pw2",
	     "postgresql://db/p?pass%77ord=********&ssl%70assword=********"},
	    {"postgresql://u:pw@h1:5432,h2:5433/p?target_session_attrs=read-write",
	     "postgresql://u:********@h1:5432,h2:5433/p?target_session_attrs=read-write"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		setenv("PARLEY_DATABASE_URL", cases[i].url, 1);
		struct run r;
		load_str(&r, "", CONFIG_NEED_DATABASE);
		expect_ok(&r);
		assert_dump_entry(&r.cfg, "database.url", cases[i].shown,
				  "env PARLEY_DATABASE_URL");
		config_free(&r.cfg);
	}
}

static void test_dump_reads_back(void **state)
{
	(void)state;
	struct run r;
	load_str(&r,
		 "[openai]\nmodel = \" odd # \\\"value\\\" ; \"\n"
		 "[webchat]\nallowed_origins = *\n[log]\nformat = json\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	char *dump = config_dump(&r.cfg);
	struct run back;
	load_str(&back, dump, CONFIG_NEED_NOTHING);
	expect_ok(&back);
	assert_string_equal(back.cfg.openai_model, " odd # \"value\" ; ");
	assert_string_equal(back.cfg.log_format, "json");
	assert_string_equal(back.cfg.server_internal_listen, "");
	free(dump);
	config_free(&back.cfg);
	config_free(&r.cfg);
}

static void test_free_is_idempotent(void **state)
{
	(void)state;
	struct config cfg = {0};
	config_free(&cfg);
	config_free(&cfg);
	struct run r;
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	config_free(&r.cfg);
	assert_empty(&r.cfg);
	config_free(&r.cfg);
	/* a zeroed struct still dumps (every value shown as empty/default) */
	char *dump = config_dump(&cfg);
	assert_non_null(strstr(dump, "[server]"));
	free(dump);
}

/* ---- error messages never leak secrets ---- */

static void test_errors_hide_secret_values(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "[meta]\nverify_token = \"HiddenValue\n", CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: meta.verify_token: unterminated quoted value", r.path);
	setenv("PARLEY_META_APP_SECRET", "Hidden\x01Value", 1);
	load_str(&r, "", CONFIG_NEED_NOTHING);
	expect_err(&r, "environment PARLEY_META_APP_SECRET: meta.app_secret: contains a control "
		       "character");
	unsetenv("PARLEY_META_APP_SECRET");
	load_str(&r, "[meta]\napp_secret HiddenValue\n", CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: malformed line (expected key = value)", r.path);
}

/* ---- the shipped example ---- */

static void test_example_loads(void **state)
{
	(void)state;
	struct config cfg;
	char err[1024];
	if (config_load(EXAMPLE, CONFIG_NEED_DATABASE, &cfg, err, sizeof err) < 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.path, EXAMPLE);
	config_free(&cfg);
}

/* The 1-based line of the example that starts with prefix (after blanks); 0 if none. */
static unsigned example_line(const char *text, const char *prefix, char **rest)
{
	unsigned lineno = 1;
	for (const char *line = text; *line; lineno++) {
		const char *nl = strchrnul(line, '\n');
		const char *p = line + strspn(line, " \t");
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			p += strlen(prefix);
			if (rest)
				*rest = xstrndup(p, (size_t)(nl - p));
			return lineno;
		}
		line = *nl ? nl + 1 : nl;
	}
	return 0;
}

/*
 * The example's placeholders are what serve refuses (docs/operations.md): as
 * shipped, app_secret's, then with that one replaced verify_token's, then the
 * webchat secret the example suggests. Read from the file, so that the
 * placeholders in the file and in config.c cannot drift apart.
 */
static void test_example_placeholders_refused(void **state)
{
	(void)state;
	char *text = read_text(EXAMPLE);
	char *placeholder;
	unsigned app = example_line(text, "app_secret = ", NULL);
	unsigned verify = example_line(text, "verify_token = ", NULL);
	assert_true(app > 0 && verify > 0);
	assert_true(example_line(text, "#   secret = ", &placeholder) > 0);
	free(text);

	struct config cfg;
	char err[1024], want[1024];
	assert_int_equal(config_load(EXAMPLE, CONFIG_NEED_SERVE, &cfg, err, sizeof err), -1);
	snprintf(want, sizeof want,
		 "%s:%u: meta.app_secret: is the example file's placeholder, not a secret", EXAMPLE,
		 app);
	assert_string_equal(err, want);

	setenv("PARLEY_META_APP_SECRET", APP_SECRET, 1);
	assert_int_equal(config_load(EXAMPLE, CONFIG_NEED_SERVE, &cfg, err, sizeof err), -1);
	snprintf(want, sizeof want,
		 "%s:%u: meta.verify_token: is the example file's placeholder, not a secret",
		 EXAMPLE, verify);
	assert_string_equal(err, want);

	setenv("PARLEY_META_VERIFY_TOKEN", VERIFY_TOKEN, 1);
	if (config_load(EXAMPLE, CONFIG_NEED_SERVE, &cfg, err, sizeof err) < 0)
		fail_msg("%s", err);
	config_free(&cfg);
	setenv("PARLEY_WEBCHAT_SECRET", placeholder, 1);
	assert_int_equal(config_load(EXAMPLE, CONFIG_NEED_SERVE, &cfg, err, sizeof err), -1);
	assert_string_equal(err, "environment PARLEY_WEBCHAT_SECRET: webchat.secret: is the "
				 "example file's placeholder, not a secret");
	free(placeholder);
}

/*
 * Uncommenting every "# key = value" line of the example must give a valid
 * file that sets every key, to exactly the built-in default: the example
 * documents all keys and its defaults cannot drift from the code.
 */
static void test_example_documents_every_key(void **state)
{
	(void)state;
	char *text = read_text(EXAMPLE);
	char *out = xmalloc(strlen(text) + 1);
	size_t len = 0;
	for (char *line = text; *line;) {
		char *nl = strchrnul(line, '\n');
		size_t n = (size_t)(nl - line);
		size_t w = strspn(line + 2, "abcdefghijklmnopqrstuvwxyz_");
		bool setting = n > 2 && line[0] == '#' && line[1] == ' ' && w > 0 &&
			       strncmp(line + 2 + w, " =", 2) == 0;
		size_t skip = setting ? 2 : 0;
		memcpy(out + len, line + skip, n - skip);
		len += n - skip;
		out[len++] = '\n';
		line = *nl ? nl + 1 : nl;
	}
	out[len] = '\0';

	struct config plain;
	char err[1024];
	if (config_load(EXAMPLE, CONFIG_NEED_DATABASE, &plain, err, sizeof err) < 0)
		fail_msg("%s", err);
	struct run all;
	load_mem(&all, out, len, CONFIG_NEED_DATABASE);
	expect_ok(&all);
	char *plain_dump = config_dump(&plain);
	char *all_dump = config_dump(&all.cfg);
	for (size_t i = 0; i < NKNOWN; i++) {
		char *origin;
		char *a = dump_entry(plain_dump, known[i].key, NULL);
		char *b = dump_entry(all_dump, known[i].key, &origin);
		if (strcmp(a, b) != 0)
			fail_msg("%s: example says '%s', default is '%s'", known[i].key, b, a);
		if (strncmp(origin, all.path, strlen(all.path)) != 0)
			fail_msg("%s is not documented in the example (from %s)", known[i].key,
				 origin);
		free(a);
		free(b);
		free(origin);
	}
	free(plain_dump);
	free(all_dump);
	config_free(&plain);
	config_free(&all.cfg);
	free(out);
	free(text);
}

/* ---- hostile files ---- */

static void test_long_lines(void **state)
{
	(void)state;
	size_t big = 70000;
	char *model = xmalloc(big + 1);
	memset(model, 'm', big);
	model[big] = '\0';
	char *text = xasprintf("[openai]\nmodel = %s\n", model);
	struct run r;
	load_str(&r, text, CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_model, model);
	config_free(&r.cfg);
	free(text);

	/* an unknown 70000-byte key is named, but only its first 64 bytes */
	text = xasprintf("[openai]\n%s = 1\n", model);
	load_str(&r, text, CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: unknown key '%.64s...' in [openai]", r.path, model);
	free(text);

	text = xasprintf("[openai]\n\n\n%s\n", model);
	load_str(&r, text, CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:4: malformed line (expected key = value)", r.path);
	free(text);
	free(model);
}

static void test_file_too_large(void **state)
{
	(void)state;
	size_t big = 1024 * 1024 + 1;
	char *text = xmalloc(big);
	memset(text, '\n', big);
	struct run r;
	load_mem(&r, text, big, CONFIG_NEED_NOTHING);
	expect_err(&r, "cannot read %s: file too large", r.path);
	/* exactly the limit is fine */
	load_mem(&r, text, big - 1, CONFIG_NEED_NOTHING);
	expect_ok(&r);
	config_free(&r.cfg);
	free(text);
}

static void test_nul_byte(void **state)
{
	(void)state;
	static const char text[] = "[server]\nlisten = 127.0.0.1:1\0 # hidden\n";
	struct run r;
	load_mem(&r, text, sizeof text - 1, CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: NUL byte in line", r.path);
	static const char comment[] = "# a\0b\n";
	load_mem(&r, comment, sizeof comment - 1, CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:1: NUL byte in line", r.path);
}

static void test_crlf_line_endings(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "[server]\r\nlisten = 127.0.0.1:82\r\n\r\n; c\r\n[openai]\r\nmodel = m\r\n",
		 CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.server_listen, "127.0.0.1:82");
	assert_string_equal(r.cfg.openai_model, "m");
	config_free(&r.cfg);
	/* a bare CR inside a value is a control character, not a line end */
	load_str(&r, "[openai]\nmodel = a\rb\n", CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: openai.model: contains a control character", r.path);
}

static void test_utf8_bom(void **state)
{
	(void)state;
	struct run r;
	load_str(&r, "\xEF\xBB\xBF[server]\nlisten = 127.0.0.1:83\n", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.server_listen, "127.0.0.1:83");
	config_free(&r.cfg);
	/* only at the very start; elsewhere it is part of the text */
	load_str(&r, "[server]\n\xEF\xBB\xBFlisten = 127.0.0.1:83\n", CONFIG_NEED_NOTHING);
	expect_err(&r, "%s:2: unknown key '\xEF\xBB\xBFlisten' in [server]", r.path);
	/* UTF-8 in values is fine */
	load_str(&r, "[openai]\nmodel = mod\xC3\xA8le\n", CONFIG_NEED_NOTHING);
	expect_ok(&r);
	assert_string_equal(r.cfg.openai_model, "mod\xC3\xA8le");
	config_free(&r.cfg);
}

static void test_small_error_buffer(void **state)
{
	(void)state;
	struct run r;
	temp_file(r.path, "[sever]\n", 8);
	char err[8];
	assert_int_equal(config_load(r.path, CONFIG_NEED_NOTHING, &r.cfg, err, sizeof err), -1);
	assert_int_equal(strlen(err), sizeof err - 1);
	assert_int_equal(config_load(r.path, CONFIG_NEED_NOTHING, &r.cfg, NULL, 0), -1);
	unlink(r.path);
}

#define T(f) cmocka_unit_test_setup_teardown(f, clean_env, clean_env)

static const struct CMUnitTest tests[] = {
    T(test_defaults),
    T(test_dump_shows_every_default),
    T(test_values_of_each_type),
    T(test_int_not_a_number),
    T(test_int_out_of_range),
    T(test_int_bounds_of_every_key),
    T(test_bool_spellings),
    T(test_bool_and_enum_invalid),
    T(test_listen_addresses_valid),
    T(test_listen_addresses_invalid),
    T(test_internal_listen_empty_but_listen_not),
    T(test_urls),
    T(test_allowed_origins),
    T(test_trusted_proxies),
    T(test_split_list),
    T(test_app_secret_rotation_list),
    T(test_syntax_errors),
    T(test_section_header_blanks),
    T(test_malformed_lines),
    T(test_quoted_values),
    T(test_comments),
    T(test_blanks_trimmed),
    T(test_env_overrides_file),
    T(test_env_error_names_variable),
    T(test_env_other_parley_vars_ignored),
    T(test_openai_api_key_precedence),
    T(test_credentials_directory),
    T(test_credentials_errors_name_file),
    T(test_credentials_every_secret_key),
    T(test_credentials_trailing_newline),
    T(test_secret_shorter_than_16_bytes),
    T(test_secret_placeholder),
    T(test_secret_error_names_source),
    T(test_database_password_merged),
    T(test_required_database),
    T(test_required_serve),
    T(test_required_from_env_only),
    T(test_missing_named_file),
    T(test_parley_config_env),
    T(test_missing_default_file_is_fine),
    T(test_dump_masks_secrets),
    T(test_dump_masks_database_url_forms),
    T(test_dump_reads_back),
    T(test_free_is_idempotent),
    T(test_errors_hide_secret_values),
    T(test_example_loads),
    T(test_example_placeholders_refused),
    T(test_example_documents_every_key),
    T(test_long_lines),
    T(test_file_too_large),
    T(test_nul_byte),
    T(test_crlf_line_endings),
    T(test_utf8_bom),
    T(test_small_error_buffer),
};
UNIT_MAIN(tests)
