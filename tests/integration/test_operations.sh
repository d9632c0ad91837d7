#!/usr/bin/env bash
# Operations (docs/operations.md): the notify protocol, SIGHUP reload, JSON
# logs, metrics format, the internal listener, make install, the systemd unit.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"

# --- systemd notify: READY once listening and the database answered,
# WATCHDOG pings from the loop, STOPPING on SIGTERM.
sock="$TEST_TMP/notify.sock"
nlog="$TEST_TMP/notify.log"
python3 "$TESTS_DIR/lib/notify_listen.py" "$sock" "$nlog" &
npid=$!
for _ in $(seq 1 100); do grep -q LISTENING "$nlog" 2>/dev/null && break; sleep 0.05; done
NOTIFY_SOCKET="$sock" WATCHDOG_USEC=200000 start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
for _ in $(seq 1 100); do grep -q 'READY=1' "$nlog" && break; sleep 0.05; done
contains "READY=1 sent" "READY=1" "$(cat "$nlog")"
sleep 0.5
eq "WATCHDOG=1 pinged at half the interval (several in 0.5 s)" yes \
	"$([ "$(grep -c 'WATCHDOG=1' "$nlog")" -ge 3 ] && echo yes || echo no)"

# --- SIGHUP: the log level changes live; an invalid file is refused.
url=$(parley_url "$conf")
curl -sS -o /dev/null "$url/healthz"
eq "no debug lines at info" 0 "$(grep -c ' debug ' "$conf.log")"
cp "$conf" "$conf.orig"
printf '[log]\nlevel = debug\n' >>"$conf"
kill -HUP "$pid"
for _ in $(seq 1 100); do grep -q 'configuration reloaded' "$conf.log" && break; sleep 0.05; done
contains "SIGHUP reloads" "configuration reloaded (log level debug)" "$(cat "$conf.log")"
contains "RELOADING=1 sent" "RELOADING=1" "$(cat "$nlog")"
curl -sS -o /dev/null "$url/healthz"
sleep 0.1
eq "debug lines after the reload" yes "$(grep -q 'debug GET /healthz' "$conf.log" && echo yes || echo no)"
printf 'bogus line\n' >>"$conf"
kill -HUP "$pid"
for _ in $(seq 1 100); do grep -q 'reload refused' "$conf.log" && break; sleep 0.05; done
contains "an invalid file is refused, naming file:line" "reload refused, keeping the running configuration: $conf:" "$(cat "$conf.log")"
eq "still serving after a refused reload" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$url/healthz")"
cp "$conf.orig" "$conf"

# --- metrics: valid exposition format, every family with HELP and TYPE
metrics=$(curl -sS "$url/metrics")
bad=$(printf '%s\n' "$metrics" | grep -vE '^# (HELP|TYPE) (parley|process)_[a-z0-9_]+ .+$' |
	grep -vE '^(parley|process)_[a-z0-9_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+-]+$' || true)
eq "every metrics line is HELP, TYPE or a parley_ or process_ sample" "" "$bad"
for fam in $(printf '%s\n' "$metrics" | sed -nE 's/^# TYPE ((parley|process)_[a-z0-9_]+) .*/\1/p'); do
	printf '%s\n' "$metrics" | grep -q "^# HELP $fam " || _t_report fail "HELP for $fam"
done
contains "database pool state exported" 'parley_db_connections{state="ready"}' "$metrics"
contains "database query latency exported" 'parley_db_query_duration_seconds_count{result="ok"}' "$metrics"
contains "event-loop lag exported" 'parley_event_loop_lag_seconds_count' "$metrics"

stop_parley "$pid"
eq "SIGTERM: exit 0" 0 $?
sleep 0.1
contains "STOPPING=1 sent" "STOPPING=1" "$(cat "$nlog")"
kill "$npid" 2>/dev/null
wait "$npid" 2>/dev/null

# --- JSON logs: every line one valid JSON object; the internal listener
iport=$(free_port)
printf '[log]\nformat = json\n' >>"$conf"
sed -i "s/^\[server\]$/[server]\ninternal_listen = 127.0.0.1:$iport/" "$conf"
: >"$conf.log"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
eq "internal listener serves /healthz" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$iport/healthz")"
eq "internal listener serves /metrics" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$iport/metrics")"
eq "public listener hides /metrics" 404 "$(curl -sS -o /dev/null -w '%{http_code}' "$url/metrics")"
eq "internal listener does not take webhooks" 404 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$iport/webhooks/meta")"
stop_parley "$pid"
eq "every log line is a JSON object" 0 "$(jq -c 'select(type != "object")' <"$conf.log" 2>&1 | wc -l)"
eq "JSON lines carry ts, level, msg" 0 "$(jq -c 'select(.ts == null or .level == null or .msg == null)' <"$conf.log" | wc -l)"

# --- make install into a DESTDIR; the installed binary migrates a fresh database
stage="$TEST_TMP/stage"
ok "make install DESTDIR PREFIX" make -s -C "$REPO_DIR" install DESTDIR="$stage" PREFIX=/usr
eq "binary installed" yes "$([ -x "$stage/usr/bin/parley" ] && echo yes || echo no)"
eq "migrations installed" "$(ls "$REPO_DIR"/sql/migrations | wc -l)" "$(ls "$stage/usr/share/parley/migrations" | wc -l)"
eq "function files installed" "$(ls "$REPO_DIR"/sql/functions | wc -l)" "$(ls "$stage/usr/share/parley/functions" 2>/dev/null | wc -l)"
contains "unit names the installed binary" "ExecStart=/usr/bin/parley serve" "$(cat "$stage/usr/lib/systemd/system/parley.service")"
dsn2=$(new_db)
out=$(env -u PARLEY_MIGRATIONS_DIR "$stage/usr/bin/parley" migrate -c "$(new_config "$dsn2")" 2>&1)
eq "installed binary migrates a fresh database" 0 $?
contains "from the installed migrations" "applied 0001_seed_schema.sql" "$out"
contains "and the installed function files" "applied functions/common.sql" "$out"

# --- the systemd unit: verified, and hardened to 2.0 or better
if command -v systemd-analyze >/dev/null; then
	unit="$TEST_TMP/parley.service"
	sed "s|/usr/local/bin/parley|$PARLEY_BIN|" "$REPO_DIR/systemd/parley.service" >"$unit"
	ok "systemd-analyze verify" env MANPATH="$stage/usr/share/man:" systemd-analyze verify "$unit"
	ok "systemd-analyze security: exposure 2.0 or lower" \
		systemd-analyze security --offline=true --threshold=20 "$unit"
else
	echo "# systemd-analyze not installed: unit checks skipped"
fi
finish
