#!/usr/bin/env bash
# Limits (SPEC §12): per-route body limits checked before a body is buffered,
# the whole-request deadline, server.max_connections, running out of file
# descriptors, and /readyz costing at most one query a second.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"

# --- /readyz answers from the pool's state: 300 polls cost a handful of
# transactions, not 300. A backend's statistics reach pg_stat_database at the
# latest when it exits, so the count is taken with parley stopped.
commits() {
	sleep 0.5
	sql "$dsn" "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}
before=$(commits)
start_parley "$conf" || { finish; exit 1; }
url=$(parley_url "$conf")
# One curl per 50 polls (each URL with its own -o), reusing its connection.
codes=$(for i in $(seq 1 300); do printf -- '-o\n/dev/null\n%s\n' "$url/readyz"; done |
	xargs -d '\n' -n 150 curl -sS -w '%{http_code}\n' | sort | uniq -c | awk '{print $2 "x" $1}')
eq "300 /readyz polls: all 200" 200x300 "$codes"
stop_parley "$PARLEY_PID"
after=$(commits)
# Start-up and shutdown take some queries of their own; one probe a second
# is a few more.
ok "300 /readyz polls cost at most a few queries ($((after - before)))" test $((after - before)) -le 40

finish
