#ifndef PARLEY_COMMANDS_H
#define PARLEY_COMMANDS_H
/*
 * The sub-commands of the parley binary. Each takes the arguments after its
 * own name (argv[0] is the command name) and returns the process exit status:
 * 0 success, 1 runtime failure, 2 bad usage or invalid configuration (README,
 * Commands).
 */

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

int cmd_migrate(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_capture(int argc, char **argv);
/* Administration (src/cli/admin_cli.c is their shared frame). */
int cmd_tenant(int argc, char **argv);
int cmd_channel(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_credits(int argc, char **argv);
int cmd_conversation(int argc, char **argv);
int cmd_leads(int argc, char **argv);
/* Meeting booking (issue #9): src/cli/cmd_google.c, src/cli/cmd_meeting.c. */
int cmd_google(int argc, char **argv);
int cmd_meeting(int argc, char **argv);
/* Events out (issue #18): src/cli/cmd_endpoint.c. */
int cmd_endpoint(int argc, char **argv);

/*
 * Shared option handling: parses "-c FILE", "--config FILE", "--config=FILE"
 * out of argv, removing them; returns the path (pointing into argv) or NULL.
 * Returns 0, or -1 after printing a usage error.
 */
int cli_take_config(int *argc, char **argv, const char **path);

/*
 * The options of a command without the admin frame (capture, migrate,
 * replay): -c/--config FILE into *path (cli_take_config), then the long
 * options of opts (at most CLI_MAX_OPTS, ended by {0}): a value, or a flag
 * when flag is set; and --help or -h. Operands are then argv[optind..].
 * Returns CLI_GO; EXIT_OK after --help (usage on stdout); EXIT_USAGE after a
 * bad option (usage on stderr, after getopt's message).
 */
#include <stdbool.h>
#include <stdio.h>
#define CLI_GO       (-1)
#define CLI_MAX_OPTS 8
struct cli_opt {
	const char *name;
	const char **value;
	bool *flag;
};
int cli_options(int *argc, char **argv, const struct cli_opt *opts, void (*usage)(FILE *f),
		const char **path);

/* True when argv (after the command's name, up to "--") has --help or -h:
 * the command prints its usage on stdout and exits 0. */
#include <stdbool.h>
bool cli_wants_help(int argc, char **argv);

struct config;
/*
 * Loads the configuration a command needs (config_load's need mask); on
 * failure prints "parley: <reason>" to stderr and returns -1, the caller then
 * exits EXIT_USAGE. On success the caller owns *cfg (config_free).
 */
int cli_load_config(const char *path, unsigned need, struct config *cfg);

#endif
