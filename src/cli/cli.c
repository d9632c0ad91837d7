#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"

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

int cli_options(int *argc, char **argv, const struct cli_opt *opts, void (*usage)(FILE *f),
		const char **path)
{
	if (cli_take_config(argc, argv, path) < 0)
		return EXIT_USAGE;
	/* opts in their order, then --help; an option's val is 256 + its index. */
	struct option lo[CLI_MAX_OPTS + 2];
	size_t n = 0;
	for (; n < CLI_MAX_OPTS && opts[n].name; n++)
		lo[n] =
		    (struct option){opts[n].name, opts[n].flag ? no_argument : required_argument,
				    NULL, 256 + (int)n};
	lo[n] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 1] = (struct option){0, 0, 0, 0};
	int c;
	optind = 1;
	while ((c = getopt_long(*argc, argv, "h", lo, NULL)) != -1) {
		if (c >= 256 && (size_t)(c - 256) < n) {
			const struct cli_opt *o = &opts[c - 256];
			if (o->flag)
				*o->flag = true;
			else
				*o->value = optarg;
		} else if (c == 'h') {
			usage(stdout);
			return EXIT_OK;
		} else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	return CLI_GO;
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int cli_load_config(const char *path, unsigned need, struct config *cfg)
{
	char err[1024];
	if (config_load(path, need, cfg, err, sizeof err) == 0)
		return 0;
	fprintf(stderr, "parley: %s\n", err);
	return -1;
}
