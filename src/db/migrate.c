#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "pgerr.h"
#include "xalloc.h"

/* Any constant will do as long as every parley uses the same one. */
#define MIGRATE_LOCK_SQL_KEY "7089063035365"

struct migration {
	char *name;
	char *sql;
	char checksum[65];
};

struct migration_set {
	struct migration *items;
	size_t n;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* libpq messages end in newlines; we promise one line. */
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = (p[1] ? ' ' : '\0');
}

/* A failed statement's primary message and SQLSTATE: its DETAIL and
 * CONTEXT may quote row values (docs/operations.md, Logs). */
static void set_result_err(char *err, size_t errlen, const PGresult *r)
{
	char *text = pgerr_result_text(r);
	set_err(err, errlen, "%s", text);
	free(text);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *migrate_find_dir(void)
{
	const char *env = getenv("PARLEY_MIGRATIONS_DIR");
	if (env && *env)
		return is_dir(env) ? xstrdup(env) : NULL;

	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			static const char *const rel[] = {"../sql/migrations",
							  "../../sql/migrations",
							  "../share/parley/migrations"};
			for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
				char *cand = xasprintf("%s/%s", exe, rel[i]);
				if (is_dir(cand))
					return cand;
				free(cand);
			}
		}
	}
	char *installed = xasprintf("%s/migrations", PARLEY_DATADIR);
	if (is_dir(installed))
		return installed;
	free(installed);
	return NULL;
}

/*
 * The function files' directory for a migrations directory:
 * $PARLEY_FUNCTIONS_DIR, else its sibling "functions" (sql/functions,
 * share/parley/functions). A new string, or NULL when there is none.
 */
static char *migrate_functions_dir(const char *migrations_dir)
{
	const char *env = getenv("PARLEY_FUNCTIONS_DIR");
	if (env && *env)
		return is_dir(env) ? xstrdup(env) : NULL;
	/* The two directories travel together: sql/{migrations,functions} in
	 * the tree, share/parley/{migrations,functions} when installed. */
	char *cand = xasprintf("%s/../functions", migrations_dir);
	if (is_dir(cand))
		return cand;
	free(cand);
	return NULL;
}

/* The order function files run in: common.sql first, then by name. strcmp's
 * contract. */
static int migrate_function_order(const char *a, const char *b)
{
	/* common.sql holds what the other files' functions call; with
	 * check_function_bodies off the order matters little, but a fixed one
	 * keeps every run alike. */
	bool ca = strcmp(a, "common.sql") == 0, cb = strcmp(b, "common.sql") == 0;
	if (ca != cb)
		return ca ? -1 : 1;
	return strcmp(a, b);
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct migration *)a)->name, ((const struct migration *)b)->name);
}

static int by_function_order(const void *a, const void *b)
{
	return migrate_function_order(((const struct migration *)a)->name,
				      ((const struct migration *)b)->name);
}

static void set_free(struct migration_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->items[i].name);
		free(set->items[i].sql);
	}
	free(set->items);
	set->items = NULL;
	set->n = 0;
}

static int load_set(const char *dir, struct migration_set *set,
		    int (*order)(const void *, const void *), char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		set_err(err, errlen, "cannot open directory %s: %s", dir, strerror(errno));
		return -1;
	}
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".sql") != 0 || de->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		size_t sqllen = 0;
		char *sql = file_read(path, &sqllen);
		if (!sql) {
			set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
			free(path);
			closedir(d);
			set_free(set);
			return -1;
		}
		free(path);
		if (set->n == cap) {
			cap = cap ? cap * 2 : 16;
			set->items = xrealloc(set->items, cap * sizeof *set->items);
		}
		struct migration *m = &set->items[set->n++];
		m->name = xstrdup(de->d_name);
		m->sql = sql;
		sha256_hex(sql, sqllen, m->checksum);
	}
	closedir(d);
	if (set->n)
		qsort(set->items, set->n, sizeof *set->items, order);
	return 0;
}

/* Runs a statement with no parameters whose result we only need to succeed. */
static int exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		set_result_err(err, errlen, r);
		rc = -1;
	}
	PQclear(r);
	return rc;
}

static const char *applied_checksum(PGresult *applied, const char *name)
{
	for (int i = 0; i < PQntuples(applied); i++)
		if (strcmp(PQgetvalue(applied, i, 0), name) == 0)
			return PQgetvalue(applied, i, 1);
	return NULL;
}

static bool in_set(const struct migration_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->items[i].name, name) == 0)
			return true;
	return false;
}

/* table is schema_migrations or schema_functions, never input. */
static PGresult *query_applied(PGconn *conn, const char *table, char *err, size_t errlen)
{
	char *q = xasprintf("SELECT name, checksum, "
			    "to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS') "
			    "FROM %s ORDER BY name",
			    table);
	PGresult *r = PQexec(conn, q);
	free(q);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		set_result_err(err, errlen, r);
		PQclear(r);
		return NULL;
	}
	return r;
}

/* Refuses to go on when an applied migration's file changed since. */
static int verify_applied(const struct migration_set *set, PGresult *applied, char *err,
			  size_t errlen)
{
	for (size_t i = 0; i < set->n; i++) {
		const char *sum = applied_checksum(applied, set->items[i].name);
		if (sum && strcmp(sum, set->items[i].checksum) != 0) {
			set_err(err, errlen,
				"migration %s was changed after it was applied "
				"(recorded sha256 %.12s…, file now %.12s…); "
				"restore the file and put the change in a new migration",
				set->items[i].name, sum, set->items[i].checksum);
			return -1;
		}
	}
	return 0;
}

/* Records a versioned migration; a second run would fail on the key, as it
 * should (the lock makes that impossible anyway). */
static const char RECORD_MIGRATION[] =
    "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)";
/* Records a function file; its row is the one whose checksum may change. */
static const char RECORD_FUNCTIONS[] =
    "INSERT INTO schema_functions (name, checksum) VALUES ($1, $2)"
    " ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()";

/* Runs one file and records it with record_sql, in one transaction.
 * functions: a function file, run as pg_dump's output is, without checking
 * bodies, so that a body may name what a later file defines. */
static int apply_one(PGconn *conn, const struct migration *m, bool functions, char *err,
		     size_t errlen)
{
	char inner[1024];
	if (exec_ok(conn, "BEGIN", err, errlen) < 0)
		return -1;
	if ((functions &&
	     exec_ok(conn, "SET LOCAL check_function_bodies = off", inner, sizeof inner) < 0) ||
	    exec_ok(conn, m->sql, inner, sizeof inner) < 0) {
		set_err(err, errlen, "%s%s: %s", functions ? "functions/" : "", m->name, inner);
		exec_ok(conn, "ROLLBACK", inner, sizeof inner);
		return -1;
	}
	const char *params[2] = {m->name, m->checksum};
	PGresult *r = PQexecParams(conn, functions ? RECORD_FUNCTIONS : RECORD_MIGRATION, 2, NULL,
				   params, NULL, NULL, 0);
	bool inserted = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!inserted) {
		char *text = pgerr_result_text(r);
		set_err(err, errlen, "%s%s: recording it failed: %s", functions ? "functions/" : "",
			m->name, text);
		free(text);
	}
	PQclear(r);
	if (!inserted) {
		exec_ok(conn, "ROLLBACK", inner, sizeof inner);
		return -1;
	}
	if (exec_ok(conn, "COMMIT", inner, sizeof inner) < 0) {
		set_err(err, errlen, "%s%s: commit failed: %s", functions ? "functions/" : "",
			m->name, inner);
		return -1;
	}
	return 0;
}

/* Both sets of files, or -1 with the reason. */
static int load_both(const char *dir, struct migration_set *set, struct migration_set *fns,
		     char *err, size_t errlen)
{
	char *fdir = migrate_functions_dir(dir);
	if (!fdir) {
		set_err(err, errlen,
			"no function files next to %s (sql/functions; set PARLEY_FUNCTIONS_DIR)",
			dir);
		return -1;
	}
	int rc = load_set(dir, set, by_name, err, errlen);
	if (rc == 0 && (rc = load_set(fdir, fns, by_function_order, err, errlen)) < 0)
		set_free(set);
	free(fdir);
	return rc;
}

int migrate_apply(PGconn *conn, const char *dir, FILE *out, char *err, size_t errlen)
{
	struct migration_set set = {0}, fns = {0};
	if (load_both(dir, &set, &fns, err, errlen) < 0)
		return -1;

	int rc = -1;
	PGresult *applied = NULL, *fapplied = NULL;
	/* The lock is taken before the tables exist, so that two first runs
	 * do not race on creating them. It is released when we unlock or the
	 * session ends, whichever comes first. */
	if (exec_ok(conn, "SET client_min_messages = warning", err, errlen) < 0 ||
	    exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_SQL_KEY ")", err, errlen) < 0)
		goto out;
	if (exec_ok(conn,
		    "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    " name TEXT PRIMARY KEY,"
		    " checksum TEXT NOT NULL,"
		    " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
		    err, errlen) < 0)
		goto unlock;
	/* The function files' own record: unlike a migration's, a row here is
	 * updated when its file changes. Kept apart so that schema_migrations
	 * stays the immutable history it always was. */
	if (exec_ok(conn,
		    "CREATE TABLE IF NOT EXISTS schema_functions ("
		    " name TEXT PRIMARY KEY,"
		    " checksum TEXT NOT NULL,"
		    " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
		    err, errlen) < 0)
		goto unlock;
	if (!(applied = query_applied(conn, "schema_migrations", err, errlen)) ||
	    !(fapplied = query_applied(conn, "schema_functions", err, errlen)))
		goto unlock;
	if (verify_applied(&set, applied, err, errlen) < 0)
		goto unlock;

	size_t done = 0;
	for (size_t i = 0; i < set.n; i++) {
		if (applied_checksum(applied, set.items[i].name))
			continue;
		if (apply_one(conn, &set.items[i], false, err, errlen) < 0)
			goto unlock;
		fprintf(out, "applied %s\n", set.items[i].name);
		done++;
	}
	/* A versioned migration applied now may have dropped a function (to
	 * change its signature) or, by mistake, replaced one: every file then
	 * runs again, so that the files always have the last word. */
	bool all = done > 0;
	size_t fdone = 0;
	for (size_t i = 0; i < fns.n; i++) {
		const char *sum = applied_checksum(fapplied, fns.items[i].name);
		if (!all && sum && strcmp(sum, fns.items[i].checksum) == 0)
			continue;
		if (apply_one(conn, &fns.items[i], true, err, errlen) < 0)
			goto unlock;
		fprintf(out, "applied functions/%s\n", fns.items[i].name);
		fdone++;
	}
	if (done == 0 && fdone == 0)
		fprintf(out, "up to date (%zu migrations, %zu function files applied)\n", set.n,
			fns.n);
	rc = 0;
unlock:;
	char ignored[256];
	exec_ok(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_SQL_KEY ")", ignored,
		sizeof ignored);
out:
	PQclear(applied);
	PQclear(fapplied);
	set_free(&set);
	set_free(&fns);
	return rc;
}

static const char *applied_when(PGresult *applied, const char *name)
{
	for (int r = 0; applied && r < PQntuples(applied); r++)
		if (strcmp(PQgetvalue(applied, r, 0), name) == 0)
			return PQgetvalue(applied, r, 2);
	return "";
}

/* 1 when the table exists, 0 when not, -1 on error. */
static int table_exists(PGconn *conn, const char *table, char *err, size_t errlen)
{
	const char *params[1] = {table};
	PGresult *r = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params,
				   NULL, NULL, 0);
	int rc = -1;
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	else
		set_result_err(err, errlen, r);
	PQclear(r);
	return rc;
}

/* Lists the function files: applied, changed (applied again by the next
 * migrate), pending (never applied here), MISSING (recorded, file gone). */
static void status_functions(const struct migration_set *fns, PGresult *fapplied, FILE *out)
{
	size_t todo = 0;
	for (size_t i = 0; i < fns->n; i++) {
		const struct migration *m = &fns->items[i];
		const char *sum = fapplied ? applied_checksum(fapplied, m->name) : NULL;
		if (!sum)
			fprintf(out, "pending  functions/%s\n", m->name);
		else if (strcmp(sum, m->checksum) != 0)
			fprintf(out,
				"changed  functions/%s  %s  (applied again by the next migrate)\n",
				m->name, applied_when(fapplied, m->name));
		else
			fprintf(out, "applied  functions/%s  %s\n", m->name,
				applied_when(fapplied, m->name));
		todo += !sum || strcmp(sum, m->checksum) != 0;
	}
	for (int r = 0; fapplied && r < PQntuples(fapplied); r++)
		if (!in_set(fns, PQgetvalue(fapplied, r, 0)))
			fprintf(out, "MISSING  functions/%s  (applied, but no such file)\n",
				PQgetvalue(fapplied, r, 0));
	fprintf(out, "%zu function files up to date, %zu to apply\n", fns->n - todo, todo);
}

int migrate_status(PGconn *conn, const char *dir, FILE *out, char *err, size_t errlen)
{
	struct migration_set set = {0}, fns = {0};
	if (load_both(dir, &set, &fns, err, errlen) < 0)
		return -1;

	int rc = -1;
	PGresult *applied = NULL, *fapplied = NULL;
	int have = table_exists(conn, "schema_migrations", err, errlen);
	int fhave = have < 0 ? -1 : table_exists(conn, "schema_functions", err, errlen);
	if (have < 0 || fhave < 0)
		goto out;
	if (have && !(applied = query_applied(conn, "schema_migrations", err, errlen)))
		goto out;
	if (fhave && !(fapplied = query_applied(conn, "schema_functions", err, errlen)))
		goto out;

	size_t pending = 0, changed = 0;
	for (size_t i = 0; i < set.n; i++) {
		const struct migration *m = &set.items[i];
		const char *sum = applied ? applied_checksum(applied, m->name) : NULL;
		if (!sum) {
			fprintf(out, "pending  %s\n", m->name);
			pending++;
			continue;
		}
		bool same = strcmp(sum, m->checksum) == 0;
		fprintf(out, "%s  %s  %s\n", same ? "applied" : "CHANGED", m->name,
			applied_when(applied, m->name));
		changed += !same;
	}
	for (int r = 0; applied && r < PQntuples(applied); r++)
		if (!in_set(&set, PQgetvalue(applied, r, 0)))
			fprintf(out, "MISSING  %s  (applied, but no such file in %s)\n",
				PQgetvalue(applied, r, 0), dir);
	fprintf(out, "%zu applied, %zu pending%s\n", set.n - pending, pending,
		changed ? ", some applied files CHANGED since" : "");
	status_functions(&fns, fapplied, out);
	rc = 0;
	if (changed) {
		set_err(err, errlen, "%zu applied migration(s) changed since they were applied",
			changed);
		rc = -1;
	}
out:
	PQclear(applied);
	PQclear(fapplied);
	set_free(&set);
	set_free(&fns);
	return rc;
}

/* What this parley expects of the database: its migration files and its
 * function files, by name and checksum. */
struct migrate_expect {
	struct migration_set set, fns;
};

const char MIGRATE_EXPECT_SQL[] = "SELECT 'm', name, checksum FROM schema_migrations"
				  " UNION ALL SELECT 'f', name, checksum FROM schema_functions"
				  " ORDER BY 1, 2";

struct migrate_expect *migrate_expect_load(char *err, size_t errlen)
{
	char *dir = migrate_find_dir();
	if (!dir) {
		set_err(err, errlen, "no migrations directory found (set PARLEY_MIGRATIONS_DIR)");
		return NULL;
	}
	struct migrate_expect *x = xcalloc(1, sizeof *x);
	int rc = load_both(dir, &x->set, &x->fns, err, errlen);
	free(dir);
	if (rc < 0) {
		free(x);
		return NULL;
	}
	return x;
}

void migrate_expect_free(struct migrate_expect *x)
{
	if (!x)
		return;
	set_free(&x->set);
	set_free(&x->fns);
	free(x);
}

size_t migrate_expect_count(const struct migrate_expect *x)
{
	return x->set.n;
}

static const struct migration *find_in(const struct migration_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->items[i].name, name) == 0)
			return &set->items[i];
	return NULL;
}

/* A migration's name as people write it: without ".sql". */
static int name_len(const char *name)
{
	size_t n = strlen(name);
	if (n > 4 && strcmp(name + n - 4, ".sql") == 0)
		n -= 4;
	return (int)n;
}

int migrate_expect_compare(const struct migrate_expect *x, const PGresult *res, const char *err,
			   char *why, size_t whylen)
{
	size_t n = x->set.n;
	if (err) {
		char state[6];
		/* No schema_migrations (or schema_functions): never migrated. */
		if (pgerr_text_state(err, state) && strcmp(state, "42P01") == 0)
			set_err(why, whylen, "database has 0 of %zu migrations: run parley migrate",
				n);
		else
			set_err(why, whylen, "cannot read the database's migrations: %s", err);
		return -1;
	}
	size_t have = 0, fn_ok = 0;
	const char *fn_bad = NULL;
	bool fn_changed = false;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *kind = PQgetvalue(res, r, 0), *name = PQgetvalue(res, r, 1),
			   *sum = PQgetvalue(res, r, 2);
		if (*kind == 'f') {
			/* A function file this parley has no longer is left alone
			 * (migrate --status shows it MISSING): its functions are
			 * not ones this parley calls. */
			const struct migration *m = find_in(&x->fns, name);
			if (m && strcmp(m->checksum, sum) == 0)
				fn_ok++;
			else if (m && !fn_bad) {
				fn_bad = m->name;
				fn_changed = true;
			}
			continue;
		}
		const struct migration *m = find_in(&x->set, name);
		if (!m) {
			set_err(why, whylen,
				"database has migration %.*s that this parley does not know: "
				"upgrade parley or restore",
				name_len(name), name);
			return -1;
		}
		if (strcmp(m->checksum, sum) != 0) {
			set_err(why, whylen,
				"database has migration %.*s with other content than this parley's "
				"file (recorded sha256 %.12s…, file %.12s…): restore the file",
				name_len(name), name, sum, m->checksum);
			return -1;
		}
		have++;
	}
	if (have < n) {
		set_err(why, whylen, "database has %zu of %zu migrations: run parley migrate", have,
			n);
		return -1;
	}
	if (fn_ok < x->fns.n) {
		if (!fn_bad)
			for (size_t i = 0; i < x->fns.n && !fn_bad; i++) {
				bool seen = false;
				for (int r = 0; r < PQntuples(res) && !seen; r++)
					seen = *PQgetvalue(res, r, 0) == 'f' &&
					       strcmp(PQgetvalue(res, r, 1),
						      x->fns.items[i].name) == 0;
				if (!seen)
					fn_bad = x->fns.items[i].name;
			}
		set_err(why, whylen,
			"database has %zu of %zu function files as this parley has them "
			"(functions/%s %s): run parley migrate",
			fn_ok, x->fns.n, fn_bad ? fn_bad : "?",
			fn_changed ? "changed" : "not applied");
		return -1;
	}
	set_err(why, whylen, "database has all %zu migrations and %zu function files", n, x->fns.n);
	return 0;
}

int migrate_check_conn(PGconn *conn, char *why, size_t whylen)
{
	struct migrate_expect *x = migrate_expect_load(why, whylen);
	if (!x)
		return 1;
	PGresult *r = PQexec(conn, MIGRATE_EXPECT_SQL);
	char *text = NULL;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		text = pgerr_result_text(r);
	int rc = migrate_expect_compare(x, r, text, why, whylen);
	free(text);
	PQclear(r);
	migrate_expect_free(x);
	return rc;
}
