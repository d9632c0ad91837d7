#ifndef PARLEY_TEXT_SPLIT_H
#define PARLEY_TEXT_SPLIT_H
/*
 * Splits a reply longer than a platform allows (WhatsApp 4096 characters,
 * Instagram 1000) into several messages: at the last sentence end that fits,
 * else the last white space, else (one enormous word) at the limit — always
 * between UTF-8 characters, never inside one. Characters are Unicode code
 * points, which is what the platforms count. Pure.
 */
#include <stddef.h>

/*
 * Returns the number of parts (0 only for empty or all-blank text) and sets
 * *parts to a NULL-terminated array of new strings, each trimmed of the white
 * space at the cut; free with text_split_free(). max_chars must be >= 1.
 */
size_t text_split(const char *text, size_t max_chars, char ***parts);
void text_split_free(char **parts);

#endif
