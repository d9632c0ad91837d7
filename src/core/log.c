#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"

static enum log_level current_level = LOG_LEVEL_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;
static FILE *out_stream; /* NULL: stderr; test_log.c, which includes this file, sets it */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	current_level = level;
}
void log_set_format(enum log_format format)
{
	current_format = format;
}

static const char *log_level_name(enum log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

int log_parse_level(const char *name, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_parse_format(const char *name, enum log_format *out)
{
	if (strcmp(name, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(name, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

bool log_enabled(enum log_level level)
{
	return level >= current_level;
}

static void timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Emits each key=value of ctx as a JSON field; a word without '=' is kept as "ctx". */
static void json_context(struct strbuf *sb, const char *ctx)
{
	const char *p = ctx;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		strbuf_puts(sb, ",\"");
		if (eq) {
			strbuf_json_escape(sb, p, (size_t)(eq - p));
			strbuf_puts(sb, "\":\"");
			strbuf_json_escape(sb, eq + 1, len - (size_t)(eq - p) - 1);
		} else {
			strbuf_puts(sb, "ctx\":\"");
			strbuf_json_escape(sb, p, len);
		}
		strbuf_putc(sb, '"');
		p += len;
	}
}

void log_write(enum log_level level, const char *ctx, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	/* A text line is one line whatever the message holds (libpq's errors
	 * end in newlines, for one); JSON escapes instead. */
	if (current_format == LOG_FORMAT_TEXT)
		for (char *p = msg; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';

	char ts[40];
	timestamp(ts, sizeof ts);

	struct strbuf line = STRBUF_INIT;
	if (current_format == LOG_FORMAT_JSON) {
		strbuf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
			      log_level_name(level));
		strbuf_json_escape(&line, msg, strlen(msg));
		strbuf_putc(&line, '"');
		if (ctx)
			json_context(&line, ctx);
		strbuf_puts(&line, "}\n");
	} else {
		strbuf_printf(&line, "%s %-5s %s", ts, log_level_name(level), msg);
		if (ctx && *ctx)
			strbuf_printf(&line, " [%s]", ctx);
		strbuf_putc(&line, '\n');
	}
	/* One fwrite per line keeps lines whole when several processes share stderr. */
	FILE *f = out_stream ? out_stream : stderr;
	fwrite(line.buf, 1, line.len, f);
	fflush(f);
	strbuf_free(&line);
}
