#ifndef PARLEY_UTF8_H
#define PARLEY_UTF8_H
/*
 * UTF-8: the one place that knows how characters are encoded. Well-formed
 * means Unicode table 3-7: no overlong forms, no surrogates, nothing above
 * U+10FFFF. Every function reads at most len (or avail) bytes; for a
 * NUL-terminated string avail may be SIZE_MAX, because NUL is never a
 * continuation byte and so ends any sequence it interrupts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Length (1..4) of the well-formed sequence at s; 0 when ill-formed, with
 * *bad (when not NULL) set to the length of the maximal ill-formed subpart,
 * which is what one U+FFFD replaces. avail >= 1.
 */
size_t utf8_seq(const char *s, size_t avail, size_t *bad);

/* Like utf8_seq, also storing the code point in *cp when well-formed. */
size_t utf8_decode(const char *s, size_t avail, uint32_t *cp);

/* Characters of NUL-terminated s, or -1 when it is not well-formed. */
long utf8_valid_chars(const char *s);

/*
 * Characters in s[0..len), counted as bytes that are not continuation bytes
 * (as a terminal or PostgreSQL sees well-formed text). Does not validate.
 */
size_t utf8_count(const char *s, size_t len);

/* The longest prefix of s[0..len) of at most max bytes that ends on a
 * character boundary: len when it fits. */
size_t utf8_cut(const char *s, size_t len, size_t max);

/* Bytes of the first max_chars characters of s[0..len) (counted as
 * utf8_count does): len when it has no more. */
size_t utf8_cut_chars(const char *s, size_t len, size_t max_chars);

#endif
