#ifndef PARLEY_STRBUF_H
#define PARLEY_STRBUF_H
/*
 * A growable byte buffer, always NUL-terminated so that it can be handed to
 * C string APIs. The struct is owned by whoever declared it; strbuf_free()
 * releases the bytes, strbuf_detach() hands them to the caller instead.
 */
#include <stddef.h>

struct strbuf {
	char *buf;  /* NUL-terminated; NULL until the first append */
	size_t len; /* bytes before the NUL */
	size_t cap;
};

#define STRBUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void strbuf_append(struct strbuf *sb, const void *data, size_t len);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as the inside of a JSON string (no quotes added). */
void strbuf_json_escape(struct strbuf *sb, const char *s, size_t len);
/* Returns the bytes (never NULL) and leaves sb empty; caller frees. */
char *strbuf_detach(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);
/* "" when empty, so callers never see NULL. */
const char *strbuf_str(const struct strbuf *sb);

#endif
