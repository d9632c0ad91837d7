#ifndef PARLEY_MIGRATE_H
#define PARLEY_MIGRATE_H
/*
 * Schema migrations: sql/migrations/NNNN_name.sql applied in name order, each
 * in its own transaction, recorded with a SHA-256 of its content in
 * schema_migrations. A session advisory lock serialises concurrent runs, so a
 * second process waits and then finds nothing to do. An applied file whose
 * content changed is refused: a migration is history, not a draft.
 *
 * The functions are not history: sql/functions/<area>.sql, every CREATE OR
 * REPLACE FUNCTION, edited in place. After the versioned files, in the same
 * locked run, each function file whose SHA-256 differs from the one recorded
 * in schema_functions (or that was never applied) runs again in its own
 * transaction with check_function_bodies off, as pg_dump's output does;
 * every one runs again when a versioned migration was applied in the run.
 *
 * This runs from the `parley migrate` command, not from the serving loop, so
 * it uses libpq synchronously.
 */
#include <libpq-fe.h>
#include <stdio.h>

/*
 * Finds the migrations directory: $PARLEY_MIGRATIONS_DIR, the source tree
 * next to the running binary (build/parley → sql/migrations), a relocatable
 * install (bin/parley → share/parley/migrations), then the compiled-in data
 * directory. Returns a new string (caller frees) or NULL when none exists.
 */
char *migrate_find_dir(void);

/*
 * Applies every pending migration in dir, then every new or changed function
 * file, printing one line per applied file to out. Returns 0, or -1 with a one-line reason in err.
 */
int migrate_apply(PGconn *conn, const char *dir, FILE *out, char *err, size_t errlen);

/* Prints "applied|pending|CHANGED|MISSING  name  [time]" lines, then
 * "applied|changed|pending|MISSING  functions/name  [time]" ones. Same
 * returns: -1 only for a changed versioned migration. */
int migrate_status(PGconn *conn, const char *dir, FILE *out, char *err, size_t errlen);

/*
 * The schema check of `parley serve` and the admin commands (README,
 * Commands): the database must have exactly this parley's migrations (no
 * fewer: "run parley migrate"; none it does not know: a rollback, refused)
 * and its function files as they are (sql/functions: a changed or new file
 * means "run parley migrate"; a recorded file this parley no longer has is
 * ignored). struct migrate_expect holds the files' names and checksums.
 */
struct migrate_expect;

/* Loads them from migrate_find_dir(); NULL with a one-line reason. */
struct migrate_expect *migrate_expect_load(char *err, size_t errlen);
void migrate_expect_free(struct migrate_expect *x);
/* How many versioned migrations this parley has. */
size_t migrate_expect_count(const struct migrate_expect *x);

/* The statement whose result migrate_expect_compare judges. */
extern const char MIGRATE_EXPECT_SQL[];

/*
 * Judges MIGRATE_EXPECT_SQL's result res, or its error err ("message
 * (SQLSTATE xxxxx)"; undefined_table means never migrated). 0 when the
 * database matches, with a summary in why; -1 with the one line to log or
 * print ("database has 11 of 13 migrations: run parley migrate").
 */
int migrate_expect_compare(const struct migrate_expect *x, const PGresult *res, const char *err,
			   char *why, size_t whylen);

/* The same, synchronously, for the admin commands: 0 when it matches, -1
 * with the line in why, 1 when the files cannot be found (not checked, with
 * the reason in why). */
int migrate_check_conn(PGconn *conn, char *why, size_t whylen);

#endif
