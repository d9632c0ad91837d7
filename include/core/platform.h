#ifndef PARLEY_PLATFORM_H
#define PARLEY_PLATFORM_H
/*
 * The platforms a channel belongs to, and their names: the values of
 * phone_numbers.platform and of "platform" in ingest events. Parsing,
 * sending, storing and the admin commands all speak these.
 */

enum platform { PLATFORM_WHATSAPP, PLATFORM_INSTAGRAM, PLATFORM_WEBCHAT };

/* "whatsapp", "instagram", "webchat"; "?" for a value outside the enum. */
const char *platform_name(enum platform p);

/* "whatsapp" → PLATFORM_WHATSAPP …; -1 when name is NULL or unknown. */
int platform_from_name(const char *name, enum platform *out);

#endif
