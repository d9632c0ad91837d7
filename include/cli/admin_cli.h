#ifndef PARLEY_ADMIN_CLI_H
#define PARLEY_ADMIN_CLI_H
/*
 * The frame the administration commands (tenant, channel, agent, credits,
 * conversation) share: dispatch to a sub-command ("tenant add"), -c FILE, the
 * common options --json and --help, one-line errors with the exit statuses of
 * README, Commands, the configuration and a blocking database connection
 * (src/db/pgsync.c). Each sub-command checks its own options before it connects,
 * so that bad usage exits 2 without touching the database.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "config.h"
#include "pgsync.h"

/* One run of a sub-command; admin_dispatch owns it and closes it. */
struct admin_cmd {
	char *name;              /* "parley tenant add", for messages */
	const char *usage;       /* what follows the name in its usage line */
	const char *config_path; /* -c FILE; NULL: $PARLEY_CONFIG or the default */
	bool json;               /* --json */
	struct config cfg;       /* loaded by admin_connect */
	bool cfg_loaded;
	PGconn *conn; /* NULL until admin_connect */
};

struct admin_sub {
	const char *name;                                         /* "add" */
	int (*run)(struct admin_cmd *cmd, int argc, char **argv); /* argv[0] = name */
	const char *usage;
};

/*
 * Runs the sub-command named by argv[1] of the group argv[0] ("tenant").
 * No sub-command, or an unknown one: a usage error (exit 2); "help": the
 * group's usage on stdout (exit 0). Returns the exit status.
 */
int admin_dispatch(const struct admin_sub *subs, size_t n, int argc, char **argv);

/* What admin_options and the command frames below return when the command
 * may go on. */
#define ADMIN_GO (-1)

/*
 * One option of a sub-command, besides the common --json and --help. Set
 * exactly one of the destinations; the table ends with {NULL}:
 *
 *     bool active = false;
 *     const char *tenant = NULL, *limit = "50";
 *     const struct admin_opt opts[] = {
 *         {"tenant", .value = &tenant},
 *         {"active", .flag = &active},
 *         {"limit", .value = &limit},
 *         {NULL},
 *     };
 */
struct admin_opt {
	const char *name;    /* "tenant", for --tenant */
	const char **value;  /* --name V: *value = V (the last one given wins) */
	bool *flag;          /* --name, without a value: *flag = true */
	const char **values; /* --name V, repeatable: values[(*count)++] = V, */
	size_t *count;       /* in order; values has room for argc of them */
	const char *refused; /* --name[=V] is a usage error that says this */
};

/*
 * getopt_long over the common options and opts (NULL: none), storing each
 * option's value where its entry says. Options and operands may mix;
 * operands are then argv[optind..]. Returns ADMIN_GO; EXIT_OK after
 * printing the usage for --help; or EXIT_USAGE after a one-line usage error
 * (an unknown option, a missing value, a refused option).
 */
int admin_options(struct admin_cmd *cmd, int argc, char **argv, const struct admin_opt *opts);

/* Prints "parley tenant add: <message> (try '... --help')" and returns 2. */
int admin_usage_error(struct admin_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints "parley tenant add: <message>" and returns 1. */
int admin_fail(struct admin_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A database failure nobody anticipated: prints it and returns 1. */
int admin_db_fail(struct admin_cmd *cmd, const struct pgsync_error *e);

/*
 * Loads the configuration (database.url is needed) and connects, with the
 * session in UTC so that the times shown and the defaults written agree
 * with what parley serve writes. Returns 0, or the exit status after
 * printing why (2: invalid configuration, 1: no connection).
 */
int admin_connect(struct admin_cmd *cmd);

/*
 * The checks most sub-commands make before they connect: no operands after
 * the options, and --tenant (NULL when not given) present if required and a
 * valid id. Returns 0 to go on, else the exit status after a usage error.
 */
int admin_check_args(struct admin_cmd *cmd, int argc, char **argv, const char *tenant,
		     bool tenant_required);

/* After admin_connect: 0 when the tenant exists, else the exit status after
 * saying "no tenant 'ID'" (or the database failure). */
int admin_tenant_known(struct admin_cmd *cmd, const char *tenant);

/*
 * The one operand of a command about one object, after the options:
 * exactly one, a valid id (errors name it: "which conversation? give its
 * ID", "conversation id 'x' …"), and --tenant (NULL when not given) a valid
 * id. Returns 0 with *id set, else the exit status after a usage error.
 */
int admin_check_operand(struct admin_cmd *cmd, int argc, char **argv, const char *what,
			const char *tenant, const char **id);

/*
 * The whole frame of "WHAT ID [--tenant T]" with no other option: parses
 * the common options and --tenant, checks them (admin_check_operand) and
 * connects. Returns ADMIN_GO, or the exit status to return at once
 * (EXIT_OK after --help).
 */
int admin_id_command(struct admin_cmd *cmd, int argc, char **argv, const char *what,
		     const char **id, const char **tenant);

/*
 * The whole frame of a command whose only option is --tenant and that takes
 * no operand: parses, checks (admin_check_args), connects and, with a
 * tenant, checks that it exists. Returns ADMIN_GO, or the exit status to
 * return at once (EXIT_OK after --help).
 */
int admin_tenant_command(struct admin_cmd *cmd, int argc, char **argv, bool tenant_required,
			 const char **tenant);

/* Prints "no endpoint 'ID'" ("... for tenant 'T'" with a tenant) and
 * returns 1. */
int admin_no_object(struct admin_cmd *cmd, const char *what, const char *id, const char *tenant);

/*
 * The statement of a command about one object (a WHAT ID [--tenant T]
 * command): sql whose n params start with the object's id ($1) and the
 * tenant ($2, NULL: any tenant). Returns the result when it has rows (the
 * caller PQclear-s it); else NULL with *rc the exit status after saying
 * what went wrong: admin_no_object, or the database failure.
 */
PGresult *admin_object_exec(struct admin_cmd *cmd, const char *what, const char *sql, int n,
			    const char *const *params, int *rc);

/*
 * A whole "WHAT ID [--tenant T]" command that runs one statement:
 * admin_id_command, then sql with $1 the id and $2 the tenant through
 * admin_object_exec. Returns ADMIN_GO with *id and *res (the caller
 * PQclear-s it), or the exit status to return at once.
 */
int admin_id_exec(struct admin_cmd *cmd, int argc, char **argv, const char *what, const char *sql,
		  const char **id, PGresult **res);

/* Runs sql with its n params and prints every row it returns: a table, or
 * with --json an array of objects (admin_out.h). Returns the exit status. */
int admin_print_rows(struct admin_cmd *cmd, const char *sql, int n, const char *const *params);

/* Ends an open transaction after a failure (ignoring errors: the
 * connection may be gone). */
void admin_rollback(struct admin_cmd *cmd);

/* `conversation archive` (src/cli/cmd_conversation_archive.c). */
int conversation_archive(struct admin_cmd *cmd, int argc, char **argv);

#endif
