#!/usr/bin/env bash
# Failover (SPEC 11, docs/operations.md, Failover): database.url names a
# primary and its synchronous streaming standby with
# target_session_attrs=read-write. After the primary dies (pg_ctl stop -m
# immediate) /readyz is 503 and webhooks are refused (Meta delivers again);
# once the standby is promoted, parley serve finds it by itself (/readyz 200,
# webhooks stored, the LISTEN connection back) and so do the admin commands;
# no webhook answered 200 is missing. Its own two PostgreSQL instances: the
# runner's one is shared with the other tests.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replica.sh"

trap '_t_cleanup; rep_cleanup' EXIT

# The primary and its synchronous standby (tests/lib/replica.sh): a commit
# (so a 200) waits until the standby has it.
rep_primary || { _t_report fail "the primary starts"; finish; exit 1; }
P_ADMIN="host=127.0.0.1 port=$REP_P_PORT user=postgres dbname=postgres"
sql "$P_ADMIN" "CREATE DATABASE parley_fo"
# Not through ok: its subshell would lose the standby's variables.
rep_standby || { _t_report fail "pg_basebackup -R makes the standby, which streams"; finish; exit 1; }
_t_report ok "pg_basebackup -R makes the standby, which streams"
P_PORT=$REP_P_PORT S_PORT=$REP_S_PORT
ok "  synchronously" rep_synchronous

multi="postgresql://postgres@127.0.0.1:$P_PORT,127.0.0.1:$S_PORT/parley_fo?target_session_attrs=read-write"
P_DSN="host=127.0.0.1 port=$P_PORT user=postgres dbname=parley_fo"
S_DSN="host=127.0.0.1 port=$S_PORT user=postgres dbname=parley_fo"
conf=$(new_config "$multi")
conf_set "$conf" database connections 2
ok "migrate through the multi-host url (the primary)" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$P_DSN"
eq "the standby is read-only" t "$(sql "$S_DSN" "SELECT pg_is_in_recovery()")"
ok "  and has the schema" wait_for "$S_DSN" "SELECT count(*) > 0 FROM schema_migrations" t

start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")
readyz() { curl -sS -o /dev/null -w '%{http_code}' "$url/readyz"; }
eq "/readyz 200 on the primary" 200 "$(readyz)"

N=0
acked=0
# say: one WhatsApp message; counts it when answered 200.
say() {
	N=$((N + 1))
	wa_text "wamid.FO$N" 31600000001 "message $N" >"$TEST_TMP/fo.json"
	local code
	code=$(post_signed "$url" "$TEST_TMP/fo.json")
	[ "$code" = 200 ] && acked=$((acked + 1))
	echo "$code"
}
for _ in 1 2 3 4 5; do say >/dev/null; done
eq "five webhooks answered 200 before the failover" 5 "$acked"

# --- the primary dies
rep_stop_primary
for _ in $(seq 1 100); do [ "$(readyz)" = 503 ] && break; sleep 0.1; done
eq "/readyz 503 while no primary is reachable" 503 "$(readyz)"
eq "a webhook meanwhile is refused (Meta delivers again)" 503 "$(say)"
sleep 1
eq "still 503 a second later (the standby is read-only, not taken)" 503 "$(readyz)"
fails "admin commands fail meanwhile" "$PARLEY_BIN" tenant list -c "$conf"

# --- the standby is promoted; parley finds it by itself
ok "pg_ctl promote" rep_promote
t0=$(date +%s%N)
for _ in $(seq 1 300); do [ "$(readyz)" = 200 ] && break; sleep 0.1; done
t1=$(date +%s%N)
eq "/readyz 200 after the promotion" 200 "$(readyz)"
echo "# ready $(((t1 - t0) / 1000000)) ms after the promotion"
# $(say) ran in a subshell: the next say sends the refused message again, as
# Meta would.
for _ in 1 2 3 4 5; do say >/dev/null; done
eq "webhooks after the failover answered 200" 10 "$acked"
eq "every message answered 200 is on the new primary, once, in order" "$(seq -f 'message %g' 1 10)" \
	"$(sql "$S_DSN" "SELECT text FROM messages ORDER BY sequence_no")"
ok "admin commands find the new primary" "$PARLEY_BIN" tenant list -c "$conf"
ok "the LISTEN connection is back, on the new primary" wait_for "$S_DSN" \
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = 'parley_fo' AND query LIKE 'LISTEN%'" t

stop_parley "$pid"
eq "parley stops cleanly" 0 $?

# --- a first host that takes connections and never answers (a wedged or
# half-dead server): libpq's asynchronous connect has no per-host timeout,
# so after parley's own connect timeout (10 s) the next attempt starts at
# the next host.
cat >"$TEST_TMP/silent.py" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])
PY
python3 "$TEST_TMP/silent.py" >"$TEST_TMP/silent.port" &
_T_PIDS="$_T_PIDS $!"
for _ in $(seq 1 50); do [ -s "$TEST_TMP/silent.port" ] && break; sleep 0.1; done
silent=$(cat "$TEST_TMP/silent.port")
conf2=$(new_config "postgresql://postgres@127.0.0.1:$silent,127.0.0.1:$S_PORT/parley_fo?target_session_attrs=read-write")
conf_set "$conf2" database connections 2
start_parley "$conf2" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf2")
t0=$(date +%s%N)
for _ in $(seq 1 300); do [ "$(readyz)" = 200 ] && break; sleep 0.1; done
t1=$(date +%s%N)
eq "a silent first host: the second one is reached after the connect timeout" 200 "$(readyz)"
echo "# ready after $(((t1 - t0) / 1000000)) ms"
eq "and a webhook is stored" 200 "$(say)"
stop_parley "$pid"
eq "parley stops cleanly" 0 $?
finish
