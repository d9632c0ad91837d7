#ifndef PARLEY_ENCODING_H
#define PARLEY_ENCODING_H
/*
 * Digit values of the text encodings parley reads: the one copy of each,
 * for percent-encoding, signature headers, JSON \u escapes, chunk sizes and
 * webchat tokens.
 */

/* 0-15 for 0-9, a-f, A-F; -1 for anything else. */
int encoding_hex_value(unsigned char c);
/* 0-63 in the base64url alphabet (RFC 4648 section 5: A-Z a-z 0-9 - _);
 * -1 for anything else, '=' and the standard alphabet's + and / included. */
int encoding_b64url_value(unsigned char c);

#endif
