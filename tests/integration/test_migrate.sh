#!/usr/bin/env bash
# parley migrate: applies the schema once, is idempotent, safe to run
# concurrently, refuses tampered history, and rolls back a failing file.
. "$(dirname "$0")/../lib/testlib.sh"

catalogue() {
	sql "$1" "SELECT table_name || '.' || column_name || ' ' || data_type
	          FROM information_schema.columns WHERE table_schema = 'public'
	          ORDER BY 1" | md5sum
}

# A fresh database gets every migration, once.
dsn=$(new_db)
conf=$(new_config "$dsn")
out=$("$PARLEY_BIN" migrate -c "$conf" 2>&1)
eq "first run exits 0" 0 $?
contains "first run applies the seed schema" "applied 0001_seed_schema.sql" "$out"
n_files=$(ls "$REPO_DIR"/sql/migrations/*.sql | wc -l)
eq "every migration recorded" "$n_files" "$(sql "$dsn" 'SELECT count(*) FROM schema_migrations')"
before=$(catalogue "$dsn")
n_fns=$(ls "$REPO_DIR"/sql/functions/*.sql | wc -l)
contains "first run applies the function files" "applied functions/common.sql" "$out"
eq "common.sql runs first of the function files" "applied functions/common.sql" \
	"$(grep -m1 'functions/' <<<"$out")"
eq "every function file recorded" "$n_fns" "$(sql "$dsn" 'SELECT count(*) FROM schema_functions')"

out=$("$PARLEY_BIN" migrate -c "$conf" 2>&1)
eq "second run exits 0" 0 $?
contains "second run has nothing to do" "up to date" "$out"
eq "second run changes no table" "$before" "$(catalogue "$dsn")"
eq "second run records nothing new" "$n_files" "$(sql "$dsn" 'SELECT count(*) FROM schema_migrations')"
eq "second run applies no function file" 0 "$(grep -c 'functions/' <<<"$out")"

out=$("$PARLEY_BIN" migrate --status -c "$conf" 2>&1)
eq "--status exits 0" 0 $?
contains "--status lists applied files" "applied  0001_seed_schema.sql" "$out"
contains "--status counts" "$n_files applied, 0 pending" "$out"
contains "--status lists function files" "applied  functions/replies.sql" "$out"
contains "--status counts function files" "$n_fns function files up to date, 0 to apply" "$out"

# Config from the environment alone, as under systemd with credentials.
out=$(PARLEY_CONFIG= PARLEY_DATABASE_URL="$dsn" "$PARLEY_BIN" migrate --status -c /dev/null 2>&1)
eq "database.url from the environment" 0 $?

# Status on an empty database: everything pending, nothing created.
dsn2=$(new_db)
out=$("$PARLEY_BIN" migrate --status -c "$(new_config "$dsn2")" 2>&1)
contains "--status on an empty database lists pending" "pending  0001_seed_schema.sql" "$out"
eq "--status creates nothing" "" "$(sql "$dsn2" "SELECT to_regclass('schema_migrations')")"

# Concurrent first runs: all succeed, each migration applied exactly once.
dsn3=$(new_db)
conf3=$(new_config "$dsn3")
pids=()
for i in 1 2 3 4; do
	"$PARLEY_BIN" migrate -c "$conf3" >"$TEST_TMP/conc.$i" 2>&1 &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
eq "four concurrent runs all succeed" 0 "$fails"
eq "concurrent runs apply each file once" "$n_files" "$(sql "$dsn3" 'SELECT count(*) FROM schema_migrations')"
eq "exactly one run applied 0001" 1 "$(cat "$TEST_TMP"/conc.* | grep -c 'applied 0001_seed_schema.sql')"
eq "exactly one run applied each function file" "$n_fns" \
	"$(cat "$TEST_TMP"/conc.* | grep -c 'applied functions/')"

# A migration changed after it was applied is refused.
mdir="$TEST_TMP/migrations"
fdir="$TEST_TMP/functions"
mkdir -p "$mdir" "$fdir"
cp "$REPO_DIR"/sql/migrations/*.sql "$mdir"/
cp "$REPO_DIR"/sql/functions/*.sql "$fdir"/
dsn4=$(new_db)
conf4=$(new_config "$dsn4")
ok "copy of the migrations applies" env PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate -c "$conf4"
echo "-- tampered" >>"$mdir/0001_seed_schema.sql"
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate -c "$conf4" 2>&1)
eq "tampered migration: exit 1" 1 $?
contains "tampered migration: named in the error" "0001_seed_schema.sql was changed after it was applied" "$out"
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate --status -c "$conf4" 2>&1)
eq "--status with a tampered file: exit 1" 1 $?
contains "--status marks it CHANGED" "CHANGED  0001_seed_schema.sql" "$out"
cp "$REPO_DIR"/sql/migrations/0001_seed_schema.sql "$mdir/"

# A failing migration leaves nothing behind and stops the run.
cat >"$mdir/9999_bad.sql" <<'SQL'
CREATE TABLE t_half (id int);
SELECT no_such_function();
SQL
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate -c "$conf4" 2>&1)
eq "failing migration: exit 1" 1 $?
contains "failing migration: named in the error" "9999_bad.sql" "$out"
eq "failing migration: rolled back" "" "$(sql "$dsn4" "SELECT to_regclass('t_half')")"
eq "failing migration: not recorded" 0 "$(sql "$dsn4" "SELECT count(*) FROM schema_migrations WHERE name = '9999_bad.sql'")"

# A constraint failure is told by its primary message and SQLSTATE: its
# DETAIL ("Key (k)=(…) already exists") can carry a token or a message.
cat >"$mdir/9999_bad.sql" <<'SQL'
CREATE TABLE t_detail (k text UNIQUE);
INSERT INTO t_detail VALUES ('tok-secret-9931'), ('tok-secret-9931');
SQL
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate -c "$conf4" 2>&1)
eq "constraint failure: exit 1" 1 $?
contains "constraint failure: primary message and SQLSTATE" \
	'9999_bad.sql: duplicate key value violates unique constraint "t_detail_k_key" (SQLSTATE 23505)' "$out"
eq "constraint failure: no DETAIL, no value" 0 "$(grep -c -e 'tok-secret-9931' -e 'DETAIL' <<<"$out" || true)"
rm "$mdir/9999_bad.sql"

# Function files are edited in place: a changed one is applied again, and
# only it, without checking bodies (a body may name what is not there yet).
recorded() { sql "$dsn4" "SELECT checksum || ' ' || applied_at FROM schema_functions WHERE name = '$1'"; }
common_before=$(recorded common.sql)
webchat_before=$(recorded webchat.sql)
cat >>"$fdir/webchat.sql" <<'SQL'
CREATE OR REPLACE FUNCTION parley_test_probe() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM t_not_there_yet
$$;
SQL
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate --status -c "$conf4" 2>&1)
eq "--status with a changed function file: exit 0" 0 $?
contains "--status marks it changed" "changed  functions/webchat.sql" "$out"
contains "--status counts it to apply" "$((n_fns - 1)) function files up to date, 1 to apply" "$out"
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate -c "$conf4" 2>&1)
eq "changed function file: exit 0" 0 $?
eq "changed function file: applied, and nothing else" "applied functions/webchat.sql" "$out"
eq "its function exists (bodies not checked)" 1 \
	"$(sql "$dsn4" "SELECT count(*) FROM pg_proc WHERE proname = 'parley_test_probe'")"
eq "its checksum recorded anew" "$(sha256sum <"$fdir/webchat.sql" | cut -d' ' -f1)" \
	"$(sql "$dsn4" "SELECT checksum FROM schema_functions WHERE name = 'webchat.sql'")"
[ "$(recorded webchat.sql)" != "$webchat_before" ]
eq "its record changed" 0 $?
eq "an unchanged file's record did not" "$common_before" "$(recorded common.sql)"

# A failing function file: rolled back, not recorded, the run fails.
webchat_now=$(recorded webchat.sql)
printf 'CREATE OR REPLACE FUNCTION parley_test_probe() RETURNS bigint LANGUAGE sql AS $$ SELECT 2 $$;\nSELEC broken;\n' >>"$fdir/webchat.sql"
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate -c "$conf4" 2>&1)
eq "failing function file: exit 1" 1 $?
contains "failing function file: named in the error" "functions/webchat.sql:" "$out"
eq "failing function file: rolled back" 1 \
	"$(sql "$dsn4" "SELECT count(*) FROM pg_proc WHERE proname = 'parley_test_probe' AND prosrc LIKE '%t_not_there_yet%'")"
eq "failing function file: not recorded" "$webchat_now" "$(recorded webchat.sql)"
cp "$REPO_DIR"/sql/functions/webchat.sql "$fdir/"

# A versioned migration applied in a run may have dropped or replaced a
# function: every function file runs again after it.
echo "CREATE TABLE t_later (id int);" >"$mdir/9998_later.sql"
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate -c "$conf4" 2>&1)
eq "new migration: exit 0" 0 $?
eq "new migration: it and every function file applied" "$((n_fns + 1))" "$(grep -c '^applied ' <<<"$out")"
rm "$mdir/9998_later.sql"
sql "$dsn4" "DROP TABLE t_later; DELETE FROM schema_migrations WHERE name = '9998_later.sql'"

# A function file that is gone is listed; a migrations directory without
# function files beside it is refused.
mv "$fdir/webchat.sql" "$TEST_TMP/webchat.sql.away"
out=$(PARLEY_MIGRATIONS_DIR="$mdir" "$PARLEY_BIN" migrate --status -c "$conf4" 2>&1)
contains "--status lists a missing function file" "MISSING  functions/webchat.sql" "$out"
mv "$TEST_TMP/webchat.sql.away" "$fdir/webchat.sql"
lone="$TEST_TMP/lone/migrations"
mkdir -p "$lone"
cp "$REPO_DIR"/sql/migrations/*.sql "$lone/"
out=$(PARLEY_MIGRATIONS_DIR="$lone" "$PARLEY_BIN" migrate -c "$conf4" 2>&1)
eq "no function files: exit 1" 1 $?
contains "no function files: says so" "no function files next to $lone" "$out"
out=$(PARLEY_MIGRATIONS_DIR="$lone" PARLEY_FUNCTIONS_DIR="$fdir" "$PARLEY_BIN" migrate -c "$conf4" 2>&1)
eq "PARLEY_FUNCTIONS_DIR names them" "up to date ($n_files migrations, $n_fns function files applied)" "$out"

# A database migrated by a parley from before the function files (functions
# created by the migrations, no schema_functions) upgrades: every file
# runs, and the schema is the same as a fresh one's.
. "$TESTS_DIR/lib/schema.sh"
dsn5=$(new_db)
mkdir -p "$TEST_TMP/nofunctions"
ok "migrations alone apply" env PARLEY_FUNCTIONS_DIR="$TEST_TMP/nofunctions" \
	"$PARLEY_BIN" migrate -c "$(new_config "$dsn5")"
sql "$dsn5" "DROP TABLE schema_functions"
out=$("$PARLEY_BIN" migrate -c "$(new_config "$dsn5")" 2>&1)
eq "upgrade: exit 0" 0 $?
eq "upgrade: every function file applied" "$n_fns" "$(grep -c '^applied functions/' <<<"$out")"
ok "upgrade: same schema as a fresh migrate" diff <(schema_dump "$dsn") <(schema_dump "$dsn5")

# Bad usage and bad configuration: exit 2 with a clear line.
out=$("$PARLEY_BIN" migrate --bogus -c "$conf" 2>&1)
eq "unknown option: exit 2" 2 $?
empty="$TEST_TMP/empty.conf"
: >"$empty"
out=$(env -u PARLEY_DATABASE_URL "$PARLEY_BIN" migrate -c "$empty" 2>&1)
eq "no database.url: exit 2" 2 $?
contains "no database.url: says so" "database.url" "$out"
out=$("$PARLEY_BIN" migrate -c "$TEST_TMP/no-such.conf" 2>&1)
eq "missing config file: exit 2" 2 $?
bad="$TEST_TMP/unreachable.conf"
printf '[database]\nurl = host=127.0.0.1 port=1 dbname=x user=x\n' >"$bad"
out=$("$PARLEY_BIN" migrate -c "$bad" 2>&1)
eq "unreachable database: exit 1" 1 $?
contains "unreachable database: says so" "cannot connect to the database" "$out"
# Several hosts: libpq has a line for each; the error is one line, the first.
printf '[database]\nurl = host=127.0.0.1,127.0.0.2 port=1,2 dbname=x user=x\n' >"$bad"
out=$("$PARLEY_BIN" migrate -c "$bad" 2>&1)
eq "unreachable hosts: exit 1" 1 $?
eq "unreachable hosts: one line, about the first host" "1 yes" \
	"$(wc -l <<<"$out") $(grep -q '127.0.0.1' <<<"$out" && ! grep -q '127.0.0.2' <<<"$out" && echo yes)"

# check-config names file and line of a misspelt key.
typo="$TEST_TMP/typo.conf"
printf '[server]\nlisten = 127.0.0.1:8080\nlisen = 1\n[database]\nurl = %s\n' "$dsn" >"$typo"
out=$("$PARLEY_BIN" check-config -c "$typo" 2>&1)
eq "check-config with a typo: exit 2" 2 $?
contains "check-config names file:line" "$typo:3" "$out"
contains "check-config names the key" "lisen" "$out"
out=$("$PARLEY_BIN" check-config -c "$conf" 2>&1)
eq "check-config on a valid file: exit 0" 0 $?
contains "check-config masks the app secret" "app_secret = ********" "$out"
case "$out" in *test-meta-app-secret*) _t_report fail "check-config never prints a secret" "$out" ;;
*) _t_report ok "check-config never prints a secret" ;; esac

finish
