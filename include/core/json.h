#ifndef PARLEY_JSON_H
#define PARLEY_JSON_H
/*
 * cJSON under parley's one allocation policy. After json_init, cJSON
 * allocates through xmalloc, so its functions that build or print return
 * NULL only for a reason other than memory (parsing bad input), and nobody
 * checks a print for NULL.
 */
#include <cjson/cJSON.h>

/* Makes cJSON allocate with xmalloc (aborting on out-of-memory). Once, at
 * start-up, before any other cJSON call: main(), and the main() of every
 * test, stand-in and fuzz target that uses cJSON. */
void json_init(void);

/* root printed without whitespace, then deleted; caller frees the text. */
char *json_print(cJSON *root);

/* A copy of o's string member key (case-sensitive), NULL when it is absent
 * or not a string; caller frees. */
char *json_dup_string(const cJSON *o, const char *key);

#endif
