#include <stdio.h>
#include <string.h>

#include "commands.h"

int cli_take_config(int *argc, char **argv, const char **path)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "parley %s: %s needs a FILE\n", argv[0], a);
				return -1;
			}
			*path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			*path = a + 9;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}
