#include "platform.h"

#include <stddef.h>
#include <string.h>

const char *platform_name(enum platform p)
{
	switch (p) {
	case PLATFORM_WHATSAPP: return "whatsapp";
	case PLATFORM_INSTAGRAM: return "instagram";
	case PLATFORM_WEBCHAT: return "webchat";
	}
	return "?";
}

int platform_from_name(const char *name, enum platform *out)
{
	static const enum platform all[] = {PLATFORM_WHATSAPP, PLATFORM_INSTAGRAM,
					    PLATFORM_WEBCHAT};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		if (name && strcmp(name, platform_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}
