#!/usr/bin/env bash
# Chaos (issue #15): two `parley serve` processes on one database under a
# steady stream of signed webhooks from a client that, like Meta, delivers a
# body again until it gets a 2xx (tests/lib/chaos_load.py), while one process
# is killed with SIGKILL and restarted, PostgreSQL is restarted, and the
# other process is stopped with SIGTERM and restarted. Afterwards, whatever
# the timing was: every message answered 200 is stored exactly once,
# sequences are contiguous, no reply was stored or sent twice, credits add
# up, and nothing is left pending. About a minute (longer under ASan).
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/loadcheck.sh"

# Load: CHAOS_SECONDS of new webhooks at CHAOS_RATE bodies/s over
# CHAOS_CUSTOMERS conversations; the faults are spread over that time.
CHAOS_SECONDS=${CHAOS_SECONDS:-20}
CHAOS_RATE=${CHAOS_RATE:-25}
CHAOS_CUSTOMERS=${CHAOS_CUSTOMERS:-40}
CREDITS=100000
# A killed process's claims are taken over after this, not after 30 s.
export PARLEY_TEST_LEASE_SECONDS=5
t_start=$(date +%s)

start_standin fake_openai || { finish; exit 1; }
openai_pid=$STANDIN_PID OPENAI=$STANDIN_URL
start_standin fake_graph || { finish; exit 1; }
graph_pid=$STANDIN_PID GRAPH=$STANDIN_URL
# Sends and answers take a little while, so that a kill finds some on the
# wire, and one in fifteen fails in a way that is retried (Graph: Meta's
# rate limit or a 503; OpenAI: a 500).
steps() { # steps STEP FAILURE FAILURE: 1000 steps, every 15th a failure, in turn
	local i sep=
	printf '['
	for i in $(seq 1 1000); do
		if ((i % 15)); then printf '%s%s' "$sep" "$1"
		elif ((i % 30)); then printf '%s%s' "$sep" "$2"
		else printf '%s%s' "$sep" "$3"; fi
		sep=,
	done
	printf ']'
}
curl -sS -d "$(steps '{"delay_ms":200}' '{"status":400,"meta_code":130429}' '{"status":503}')" \
	"$GRAPH/_script" >/dev/null
curl -sS -d "$(steps '{"delay_ms":200}' '{"status":500}' '{"status":503}')" "$OPENAI/_script" >/dev/null

dsn=$(new_db)
conf_a=$(new_config "$dsn")
conf_b=$(new_config "$dsn")
for conf in "$conf_a" "$conf_b"; do
	conf_set "$conf" meta whatsapp_url "$GRAPH/v24.0"
	conf_set "$conf" openai api_key sk-test
	conf_set "$conf" openai url "$OPENAI/v1"
	conf_set "$conf" openai timeout_seconds 10
	conf_set "$conf" replies debounce_ms 300
	# Only replies spend credits here, so that they can be counted.
	conf_set "$conf" extraction enabled false
done
ok "migrate" "$PARLEY_BIN" migrate -c "$conf_a"
seed_channels "$dsn"
sql "$dsn" "UPDATE credits SET remaining_credits = $CREDITS, total_used = 0" >/dev/null
url_a=$(parley_url "$conf_a")
url_b=$(parley_url "$conf_b")
start_parley "$conf_a" || { finish; exit 1; }
pid_a=$PARLEY_PID
start_parley "$conf_b" || { finish; exit 1; }
pid_b=$PARLEY_PID

out="$TEST_TMP/chaos"
mkdir -p "$out"
python3 "$TESTS_DIR/lib/chaos_load.py" --url "$url_a" --url "$url_b" --out "$out" \
	--secret test-meta-app-secret \
	--customers "$CHAOS_CUSTOMERS" --rate "$CHAOS_RATE" --seconds "$CHAOS_SECONDS" \
	--settle 90 >"$out/summary" 2>&1 &
load_pid=$!

# at SECONDS: sleeps until that many seconds after the load started.
t0=$(date +%s%N)
at() {
	local ms=$(($1 * 1000 - ($(date +%s%N) - t0) / 1000000))
	[ "$ms" -gt 0 ] && sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	return 0
}

at $((CHAOS_SECONDS * 3 / 20))
kill -9 "$pid_a"
wait "$pid_a" 2>/dev/null
at $((CHAOS_SECONDS * 5 / 20))
start_parley "$conf_a" || { finish; exit 1; }
pid_a=$PARLEY_PID
at $((CHAOS_SECONDS * 8 / 20))
pg_pause
at $((CHAOS_SECONDS * 10 / 20))
pg_resume
at $((CHAOS_SECONDS * 13 / 20))
stop_parley "$pid_b"
eq "SIGTERM under load, after the database restart: exit 0" 0 $?
at $((CHAOS_SECONDS * 15 / 20))
start_parley "$conf_b" || { finish; exit 1; }
pid_b=$PARLEY_PID

wait "$load_pid"
eq "the load client ran" 0 $?
summary=$(cat "$out/summary")
echo "# $summary"
conn_errors=$(sed -nE 's/.* conn_errors=([0-9]+) .*/\1/p' "$out/summary")
codes=$(sed -nE 's/.* codes=([^ ]+) .*/\1/p' "$out/summary")
ok "the faults were felt: connection errors ($conn_errors) and 503s ($codes)" \
	test "${conn_errors:-0}" -gt 0 -a -n "$(echo "$codes" | grep -E '(^|,)503:')"
eq "every message got its 200 in the end" 0 "$(wc -l <"$out/unacked")"

load_drained "$dsn"
stop_parley "$pid_a"
eq "process A stops cleanly" 0 $?
stop_parley "$pid_b"
eq "process B stops cleanly" 0 $?

load_checks "$dsn" "$out" "$GRAPH" "$CREDITS"
echo "# in $(($(date +%s) - t_start)) s"

ok "the stand-ins lived through it" kill -0 "$openai_pid" "$graph_pid"
finish
