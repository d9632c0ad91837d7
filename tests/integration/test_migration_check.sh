#!/usr/bin/env bash
# The schema check (issue #21 item 2): `parley serve` is not ready while the
# database lacks this parley's migrations or function files, or has a
# migration it does not know, and says so in one log line; it becomes ready
# without a restart once `parley migrate` ran. The admin commands refuse
# with the same line and exit 1.
. "$(dirname "$0")/../lib/testlib.sh"

n=$(ls "$REPO_DIR"/sql/migrations/*.sql | wc -l)
dsn=$(new_db)
conf=$(new_config "$dsn")
url=$(parley_url "$conf")

readyz() { curl -sS -o "$TEST_TMP/readyz.body" -w '%{http_code}' "$url/readyz"; }
# Waits up to 10 s until /readyz answers WANT.
wait_ready() { wait_until "$1" readyz; }
# Waits up to 10 s until the log has LINE (fixed string).
wait_log() { retry grep -qF -- "$1" "$conf.log"; }
wa_text "wamid.MC1" 31612345678 "hello" >"$TEST_TMP/wa.json"

# --- A database never migrated.
line0="database has 0 of $n migrations: run parley migrate"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "empty database: the log says what to do" wait_log "$line0"
eq "empty database: /readyz 503" 503 "$(readyz)"
contains "empty database: /readyz says why" "$line0" "$(cat "$TEST_TMP/readyz.body")"
eq "empty database: a webhook gets 503" 503 "$(post_signed "$url" "$TEST_TMP/wa.json")"
sleep 4.5 # two re-checks at least
eq "empty database: the line is logged once, not per re-check" 1 "$(grep -cF -- "$line0" "$conf.log")"
eq "empty database: not 'ready'" 0 "$(grep -c '"ready"\| ready$' "$conf.log")"

out=$("$PARLEY_BIN" tenant list -c "$conf" 2>&1)
eq "empty database: tenant list exits 1" 1 $?
eq "empty database: tenant list says the same" "parley tenant list: $line0" "$out"
out=$("$PARLEY_BIN" capture -c "$conf" --out "$TEST_TMP/cap" 2>&1)
eq "empty database: capture exits 1" 1 $?
contains "empty database: capture says the same" "$line0" "$out"
ok "empty database: check-config needs no database" "$PARLEY_BIN" check-config -c "$conf"

# --- Half migrated: the first 5 files only (a copy of the tree's), as an
# older parley left it (without today's function files, which name tables
# of later migrations).
mkdir -p "$TEST_TMP/half" "$TEST_TMP/no-functions"
ls "$REPO_DIR"/sql/migrations/*.sql | head -5 | xargs -I{} cp {} "$TEST_TMP/half/"
ok "half: migrate the first 5" env PARLEY_MIGRATIONS_DIR="$TEST_TMP/half" \
	PARLEY_FUNCTIONS_DIR="$TEST_TMP/no-functions" "$PARLEY_BIN" migrate -c "$conf"
line5="database has 5 of $n migrations: run parley migrate"
out=$("$PARLEY_BIN" conversation list --tenant 1 -c "$conf" 2>&1)
eq "half: conversation list exits 1" 1 $?
eq "half: conversation list says how many" "parley conversation list: $line5" "$out"
ok "half: the log has the new state once it changed" wait_log "$line5"
eq "half: still 503" 503 "$(readyz)"

# --- `parley migrate` while serve runs: ready without a restart.
ok "migrate while serve runs" "$PARLEY_BIN" migrate -c "$conf"
ok "migrated: /readyz 200 without a restart" wait_ready 200
contains "migrated: the log says the schema matches" \
	"database has all $n migrations" "$(cat "$conf.log")"
ok "migrated: READY logged" wait_log " ready"
eq "migrated: a webhook gets 200" 200 "$(post_signed "$url" "$TEST_TMP/wa.json")"
ok "migrated: tenant list works" "$PARLEY_BIN" tenant list -c "$conf"

# --- A migration this parley does not know (a rollback of the binary):
# refused by the admin commands, and by serve at its next reconnect.
sql "$dsn" "INSERT INTO schema_migrations (name, checksum) VALUES ('0999_future.sql', 'x')"
line_new="database has migration 0999_future that this parley does not know: upgrade parley or restore"
out=$("$PARLEY_BIN" tenant list -c "$conf" 2>&1)
eq "newer database: tenant list exits 1" 1 $?
eq "newer database: tenant list says so" "parley tenant list: $line_new" "$out"
out=$("$PARLEY_BIN" migrate -c "$conf" 2>&1)
eq "newer database: migrate itself still runs" 0 $?
sql "$dsn" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'parley'" >/dev/null
ok "newer database: serve refuses it after a reconnect" wait_log "$line_new"
ok "newer database: /readyz 503" wait_ready 503
contains "newer database: /readyz says why" "$line_new" "$(cat "$TEST_TMP/readyz.body")"
eq "newer database: a webhook gets 503" 503 "$(post_signed "$url" "$TEST_TMP/wa.json")"
sql "$dsn" "DELETE FROM schema_migrations WHERE name = '0999_future.sql'"
ok "restored: ready again" wait_ready 200

# --- A function file changed since it was applied: run parley migrate.
sql "$dsn" "UPDATE schema_functions SET checksum = 'x' WHERE name = 'ingest.sql'"
out=$("$PARLEY_BIN" tenant list -c "$conf" 2>&1)
eq "stale functions: tenant list exits 1" 1 $?
contains "stale functions: names the file" "(functions/ingest.sql changed): run parley migrate" "$out"
ok "stale functions: migrate fixes it" "$PARLEY_BIN" migrate -c "$conf"
ok "stale functions: tenant list works again" "$PARLEY_BIN" tenant list -c "$conf"

stop_parley "$pid"
eq "SIGTERM: exit 0" 0 $?
finish
