#ifndef PARLEY_LOG_H
#define PARLEY_LOG_H
/*
 * One line per event on stderr (journald adds its own timestamps, but we keep
 * ours for plain terminals and files). Two formats:
 *   text: 2026-11-28T02:40:00.123Z info  webhook: stored 3 messages [req=ab12 tenant=acme]
 *   json: {"ts":"…","level":"info","msg":"stored 3 messages","req":"ab12","tenant":"acme"}
 * The context is a string of space-separated key=value pairs; it becomes
 * fields in JSON. Levels are checked before anything is formatted.
 * Never pass a secret, token or full message text at info or above.
 */
#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/* Returns 0 and sets *out for "debug", "info", "warn", "error"; -1 otherwise. */
int log_parse_level(const char *name, enum log_level *out);
int log_parse_format(const char *name, enum log_format *out);

bool log_enabled(enum log_level level);
/* ctx may be NULL. Formats and writes one line. */
void log_write(enum log_level level, const char *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(level, ctx, ...)                                                                    \
	do {                                                                                       \
		if (log_enabled(level))                                                            \
			log_write(level, ctx, __VA_ARGS__);                                        \
	} while (0)
#define log_debug(ctx, ...) LOG_AT(LOG_LEVEL_DEBUG, ctx, __VA_ARGS__)
#define log_info(ctx, ...)  LOG_AT(LOG_LEVEL_INFO, ctx, __VA_ARGS__)
#define log_warn(ctx, ...)  LOG_AT(LOG_LEVEL_WARN, ctx, __VA_ARGS__)
#define log_error(ctx, ...) LOG_AT(LOG_LEVEL_ERROR, ctx, __VA_ARGS__)

#endif
