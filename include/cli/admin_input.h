#ifndef PARLEY_ADMIN_INPUT_H
#define PARLEY_ADMIN_INPUT_H
/*
 * What operators type into the administration commands, checked before any
 * of it reaches the database: identifiers, counts, names, platforms, access
 * tokens (from files, never argv), and the ids parley makes up itself.
 *
 * Checks return NULL when the value is fine, else a static message naming
 * the rule (to follow "parley tenant add: --id "), compared by identity in
 * tests.
 */
#include <stdbool.h>
#include <stddef.h>

/* Tenant, channel and agent ids: 1 to 50 characters (the columns are
 * VARCHAR(50)) of letters, digits, '.', '_' and '-', starting with a letter
 * or digit, so that they can be typed, quoted and grepped without surprise. */
const char *admin_check_id(const char *s);

/* Free text stored as given (company, channel and agent names, prompt ids):
 * not empty, at most max bytes, valid UTF-8, no control characters. */
const char *admin_check_text(const char *s, size_t max);

/* An email address as far as a typo check goes: one '@' with text on both
 * sides, no blanks or control characters, at most 255 bytes. */
const char *admin_check_email(const char *s);

/* A platform's id for a channel (meta_phone_number_id): WhatsApp and
 * Instagram ids are Meta's numeric ids; a webchat widget id is 1 to 100
 * characters like admin_check_id's. */
const char *admin_check_meta_id(const char *platform, const char *s);

/* "whatsapp", "instagram" or "webchat". */
bool admin_platform_known(const char *s);

/* Parses a whole decimal number in [min, max] (no sign, blanks or suffix);
 * 0 on success, -1 otherwise. */
int admin_parse_count(const char *s, long min, long max, long *out);

/*
 * Reads an access token from path, or standard input for "-", and cleans it
 * (admin_token_clean). Returns the token (caller frees) or NULL with *err
 * set: a static message, or for a file that cannot be read, NULL *err and
 * errno set.
 */
char *admin_read_token(const char *path, const char **err);

/*
 * Reads the text of a message a person sends (`conversation send
 * --text-file`) from path, or standard input for "-": at most max bytes,
 * valid UTF-8 without NUL bytes, not blank; trailing white space (the file's
 * last new line) is dropped. Returns it (caller frees) or NULL with *err
 * set: a static message, or for a file that cannot be read, NULL *err and
 * errno set.
 */
char *admin_read_message(const char *path, size_t max, const char **err);

/* A new id: prefix followed by 16 random lowercase hex digits (OpenSSL's
 * RAND_bytes), e.g. "ch_3f9a0c1b2d4e5f60". Caller frees. Aborts if the
 * random generator fails, as on out-of-memory: there is nothing to recover. */
char *admin_new_id(const char *prefix);

#endif
