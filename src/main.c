/*
 * parley: WhatsApp, Instagram and webchat messages in, AI agent replies out.
 * This file only dispatches to the sub-commands (include/cli/commands.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "json.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    {"serve", cmd_serve, "run the daemon in the foreground"},
    {"migrate", cmd_migrate, "apply database migrations (--status lists them)"},
    {"check-config", cmd_check_config, "validate the configuration and print it"},
    {"replay", cmd_replay, "sign and POST captured webhook files"},
    {"capture", cmd_capture, "write stored raw webhooks as replayable files"},
    {"tenant", cmd_tenant, "add, list and show tenants"},
    {"channel", cmd_channel, "add and list channels, replace access tokens"},
    {"agent", cmd_agent, "link a new agent to a channel, list agents"},
    {"credits", cmd_credits, "add and show a tenant's credits"},
    {"conversation", cmd_conversation, "list conversations, show transcripts"},
    {"leads", cmd_leads, "list extracted leads, show a conversation's history"},
    {"meeting", cmd_meeting, "list and cancel booked meetings"},
    {"endpoint", cmd_endpoint, "the tenants' signed event webhooks (add, list, test, ...)"},
    {"google", cmd_google, "connect a tenant's Google Calendar, show its state"},
};

static void help(FILE *f)
{
	fprintf(f, "usage: parley COMMAND [-c FILE] [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-13s %s\n  %-13s %s\n", "help", "show this help", "--version",
		"print the version");
	fprintf(f, "\nThe configuration is read from -c FILE, $PARLEY_CONFIG or "
		   "/etc/parley/parley.conf.\n");
}

int main(int argc, char **argv)
{
	/* Writes to closed sockets and pipes are errors we handle, not deaths. */
	signal(SIGPIPE, SIG_IGN);
	json_init();

	if (argc < 2) {
		help(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		help(stdout);
		return EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("parley %s\n", PARLEY_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(name, commands[i].name) != 0)
			continue;
		return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "parley: unknown command '%s' (try 'parley help')\n", name);
	return EXIT_USAGE;
}
