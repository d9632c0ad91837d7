#ifndef PARLEY_CONFIG_H
#define PARLEY_CONFIG_H
/*
 * parley.conf: INI, `key = value`, `[section]`, `;`/`#` comments (README,
 * Configuration). The keys are one table in config.c (type, default, bounds,
 * required, secret, reloadable). Values come, lowest precedence first, from:
 * built-in defaults, the file, files in $CREDENTIALS_DIRECTORY named
 * `<section>.<key>` (secrets only; systemd LoadCredential=), and the
 * environment `PARLEY_<SECTION>_<KEY>` (plus OPENAI_API_KEY for
 * openai.api_key, below PARLEY_OPENAI_API_KEY).
 *
 * File syntax, decided here so that every tool agrees:
 *  - Sections and keys are lower case and matched exactly. Unknown sections
 *    and keys, duplicate keys, keys before any [section] and lines that are
 *    not `key = value` are errors naming file:line.
 *  - Blanks around keys and values are trimmed; CRLF line endings and a
 *    UTF-8 byte-order mark at the very start are accepted (Windows editors).
 *    A NUL byte anywhere, a control character in a value, or a file over
 *    1 MiB is an error. Lines may be of any length within that.
 *  - A line whose first non-blank character is `;` or `#` is a comment. In
 *    a value, `;` or `#` starts a comment only at the value's start or after
 *    a blank: `a#b` stays whole, `a #b` is `a`.
 *  - A value in double quotes is taken verbatim (blanks, `#`, `;`
 *    included); inside it `\"` is a quote and `\\` a backslash. Only
 *    blanks and a comment may follow the closing quote.
 * Environment: only the names the table defines are looked up, so other
 * PARLEY_* variables (PARLEY_CONFIG, PARLEY_MIGRATIONS_DIR, ...) are ignored
 * without a warning. A set PARLEY_* variable wins even when empty (that is
 * how a file value is cleared); an empty OPENAI_API_KEY counts as unset,
 * because shells often export it empty. Credential files have their
 * trailing CRs and LFs stripped (`echo` and editors add them) and nothing
 * else: other blanks are part of the secret; a credential that is empty
 * after that, or holds a NUL or another control byte, is an error.
 * An empty PARLEY_CONFIG counts as unset.
 * Values are checked where they are set, so an error names the source that
 * supplied the bad value (file:line, "environment NAME", "credential FILE")
 * even if a later source would have replaced it. URLs must be http(s) and
 * lose trailing slashes (the code appends "/responses" etc.).
 * Error messages never contain the value of a secret key.
 *
 * Secrets (docs/operations.md, Deployment): with CONFIG_NEED_SERVE,
 * meta.app_secret (each entry), meta.verify_token and webchat.secret (when
 * set) must be at least 16 bytes and not one of the example file's
 * placeholders; the error names the source of the effective value.
 * database.password, when set, is merged into database.url as its last
 * `password` parameter (so it wins over one inside the URL), which is the
 * string every connection uses; with CONFIG_NEED_DATABASE or CONFIG_NEED_SERVE
 * only (the others do not connect), and a url that libpq would not read the
 * password back from intact (a dangling backslash, an open quote) is an error.
 *
 * A struct config owns every string in it; config_free() releases them.
 */
#include <stdbool.h>
#include <stddef.h>

struct config {
	char *path; /* file the values came from; NULL when none was read */

	char *server_listen;
	char *server_internal_listen; /* "" when unset */
	long server_max_body_bytes;
	long server_keep_raw_days;
	char *server_trusted_proxies;        /* "" when none: X-Forwarded-For is ignored */
	long server_request_timeout_seconds; /* headers and body must arrive within this */
	long server_max_connections;         /* client connections on server.listen */

	char *database_url; /* with database_password merged in: what libpq gets */
	/* A direct connection (no PgBouncer) for LISTEN and migrate's session
	 * lock; database_url when unset, password merged in likewise. */
	char *database_listen_url;
	long database_connections;
	char *database_password; /* "" when unset */

	char *meta_app_secret; /* comma-separated list, see meta_app_secrets */
	char *meta_verify_token;
	char *meta_whatsapp_url;
	char *meta_instagram_url;

	char *openai_api_key;
	char *openai_url;
	char *openai_model;
	long openai_timeout_seconds;
	long openai_max_in_flight;

	long replies_debounce_ms;
	long replies_max_attempts;
	long replies_credits_per_reply;
	long replies_max_tool_rounds;
	bool replies_read_receipts; /* mark the answered messages read (SPEC 9.1) */
	bool replies_typing;        /* show typing while a reply is produced */

	char *webchat_secret;
	char *webchat_allowed_origins;
	long webchat_max_messages_per_minute; /* per widget, per process */

	bool extraction_enabled;
	long extraction_every_messages;
	long extraction_idle_seconds;
	char *extraction_prompt_id;
	long extraction_credits;

	bool handoff_enabled;       /* offer escalate_to_human (9.3) */
	long handoff_pause_minutes; /* a person's message pauses the AI this long */

	char *google_client_id;
	char *google_client_secret;
	char *google_token_url;
	char *google_calendar_url;
	char *google_calendar_id;
	long google_default_duration_minutes;
	long google_max_bookings_per_conversation;

	long events_timeout_seconds;
	long events_max_age_hours;
	long events_max_in_flight_per_endpoint;
	long events_disable_after_hours;
	long events_keep_days;
	bool events_allow_http;
	bool events_allow_private_targets;

	char *log_level;  /* validated: debug|info|warn|error */
	char *log_format; /* validated: text|json */

	/* Private to config.c: where each value came from, one per table row. */
	char **origin;
};

/* What a command needs beyond a syntactically valid file. */
enum config_need {
	CONFIG_NEED_NOTHING = 0,
	CONFIG_NEED_DATABASE = 1 << 0, /* database.url */
	CONFIG_NEED_SERVE = 1 << 1,    /* everything `parley serve` cannot start without */
};

/*
 * Loads path (NULL: $PARLEY_CONFIG, else /etc/parley/parley.conf; a missing
 * default file is not an error, a missing named file is), applies the
 * credentials directory and the environment, validates types and bounds and
 * the keys `need` requires. On success returns 0 and fills *cfg (caller calls
 * config_free). On failure returns -1, leaves *cfg empty, and writes one line
 * into err such as "parley.conf:12: unknown key 'lisen' in [server]".
 */
int config_load(const char *path, unsigned need, struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);

/*
 * Writes the effective configuration as INI to out (caller frees), one
 * `key = value` per line under its section, secrets shown as "********"
 * (or "(unset)" when empty; database.url keeps its shape with only the
 * secret parameters masked: the URI's user:PASSWORD@ and every parameter
 * whose name holds "password" or "secret", such as password, sslpassword
 * and oauth_client_secret; it is masked whole if it does not parse),
 * followed by a comment naming where each value came from (default,
 * file:line, env NAME, credential FILE). Values that need it are quoted, so
 * a dump without secrets reads back as the same configuration.
 */
char *config_dump(const struct config *cfg);

/*
 * Splits meta.app_secret on commas (spaces trimmed, empties dropped).
 * Returns the count; *out is a NULL-terminated array the caller frees with
 * config_free_list().
 */
size_t config_split_list(const char *value, char ***out);
void config_free_list(char **list);

#endif
