#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"

int cmd_check_config(int argc, char **argv)
{
	const char *path = NULL;
	if (cli_wants_help(argc, argv)) {
		printf("usage: parley check-config [-c FILE]\n"
		       "Validates the configuration (file, environment, credentials) and prints\n"
		       "it with secrets masked; exit 0 valid, 2 invalid.\n");
		return EXIT_OK;
	}
	if (cli_take_config(&argc, argv, &path) < 0)
		return EXIT_USAGE;
	if (argc > 1) {
		fprintf(stderr,
			"parley check-config: unexpected argument '%s'\n"
			"usage: parley check-config [-c FILE]\n",
			argv[1]);
		return EXIT_USAGE;
	}
	struct config cfg = {0};
	if (cli_load_config(path, CONFIG_NEED_SERVE, &cfg) < 0)
		return EXIT_USAGE;
	char *dump = config_dump(&cfg);
	fputs(dump, stdout);
	printf("# configuration is valid\n");
	free(dump);
	config_free(&cfg);
	return EXIT_OK;
}
