#ifndef PARLEY_XALLOC_H
#define PARLEY_XALLOC_H
/*
 * Allocation that aborts on out-of-memory. parley has one OOM policy: log and
 * abort. Callers therefore never check these for NULL. Every pointer returned
 * is owned by the caller and released with free().
 */
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Frees a string that held a secret (token, key, Authorization header) after
 * overwriting it, so the bytes do not linger in freed memory. NULL is fine. */
void xfree_secret(char *s);

#endif
