#!/usr/bin/env bash
# The topology test (SPEC 11, issue #19; `make check-topology`, README Tests,
# docs/operations.md "What the topology test runs"). On this one machine,
# from Debian's packages: a PostgreSQL primary and its synchronous streaming
# standby (initdb, pg_basebackup -R), PgBouncer in transaction pooling mode in
# front of the primary, two `parley serve` processes behind HAProxy (health
# check GET /readyz), and the OpenAI and Graph stand-ins. A client that
# delivers every body again until it gets a 2xx, as Meta does
# (tests/lib/chaos_load.py), posts signed webhooks through HAProxy for
# TOPOLOGY_SECONDS while, in turn:
#
#   PgBouncer step  database.url through PgBouncer, database.listen_url
#                   direct: process A is killed (SIGKILL) and started again
#   switch          both processes restarted one at a time (SIGTERM, as an
#                   upgrade would) onto the multi-host url naming both
#                   PostgreSQL servers (target_session_attrs=read-write)
#   kill            process B is killed (SIGKILL) and started again
#   failover        the primary stops (pg_ctl stop -m immediate), the standby
#                   is promoted; parley finds it by itself
#
# Then, on the new primary: every message answered 200 stored exactly once,
# sequences contiguous, every customer message answered by one reply, no
# reply sent twice (the Graph stand-in's sends), credits adding up, nothing
# pending (tests/lib/loadcheck.sh); and a one-screen report. Exit 0 when
# every check passed, 1 otherwise; every process and directory it made is
# gone when it exits, however it exits (also on SIGINT/SIGTERM). As root,
# PostgreSQL and PgBouncer run as the postgres user (as in the integration
# tests). TOPOLOGY_RATE bodies/s (default 50; every fifth body carries two
# messages) over TOPOLOGY_CUSTOMERS conversations (default 100).
set -u
here=$(cd "$(dirname "$0")" && pwd)
export TEST_TMP
TEST_TMP=$(mktemp -d /tmp/parley-topology.XXXXXX)
chmod 755 "$TEST_TMP"
# testlib.sh wants these from the integration runner; this test starts its
# own PostgreSQL servers and uses neither.
export PG_ADMIN_DSN= PG_ROOT= PG_PORT=$((15432 + RANDOM % 5000))
# shellcheck source=../lib/testlib.sh
. "$here/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"
. "$TESTS_DIR/lib/pgbouncer.sh"
. "$TESTS_DIR/lib/replica.sh"
. "$TESTS_DIR/lib/loadcheck.sh"
T_NAME=topology

SECONDS_LOAD=${TOPOLOGY_SECONDS:-60}
RATE=${TOPOLOGY_RATE:-50}
CUSTOMERS=${TOPOLOGY_CUSTOMERS:-100}
HAPROXY_BIN=${HAPROXY_BIN:-$(command -v haproxy 2>/dev/null || echo /usr/sbin/haproxy)}
CREDITS=100000
# A killed process's reply claims are taken over after 5 s, not 30.
export PARLEY_TEST_LEASE_SECONDS=5
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
t_start=$(date +%s)

HAP_PID= LOAD_PID=
topo_cleanup() {
	trap '' INT TERM # a second signal (timeout(1) sends one to the group too) must not cut it short
	[ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null
	[ -n "$HAP_PID" ] && kill "$HAP_PID" 2>/dev/null
	_t_cleanup
	wait 2>/dev/null
	pgb_stop
	REP_KEEP=${TOPOLOGY_KEEP:-} rep_cleanup
	if [ -n "${TOPOLOGY_KEEP:-}" ]; then echo "# kept $TEST_TMP"; else rm -rf "$TEST_TMP"; fi
	return 0
}
trap topo_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
	_t_report fail "$1"
	finish
	exit 1
}
# launch VAR CONF WHAT: start_parley CONF (die saying WHAT when it does
# not come up); its pid into the variable VAR.
launch() {
	start_parley "$2" || die "$3"
	printf -v "$1" %s "$PARLEY_PID"
}
# crash VAR: kill -9 the parley whose pid VAR holds, and reap it.
crash() {
	kill -9 "${!1}"
	wait "${!1}" 2>/dev/null
}
# to_multi VAR CONF NAME: SIGTERM parley NAME (pid in VAR), checked clean,
# then started again on the multi-host url (CONF.multi).
to_multi() {
	stop_parley "${!1}"
	eq "$3 stops cleanly under load" 0 $?
	launch "$1" "$2.multi" "parley $3 starts on the multi-host url"
}

for b in "$HAPROXY_BIN" "$PGB_BIN" "$PG_BIN/initdb" "$PARLEY_BIN"; do
	[ -x "$b" ] || die "$b is missing (run 'make deps')"
done
[ "$SECONDS_LOAD" -ge 20 ] 2>/dev/null || die "TOPOLOGY_SECONDS must be a whole number >= 20"

# --- PostgreSQL: a primary and a synchronous standby
rep_primary || die "the primary starts"
sql "host=127.0.0.1 port=$REP_P_PORT user=postgres dbname=postgres" "CREATE DATABASE parley_topo"
rep_standby || die "pg_basebackup -R makes a standby that streams"
rep_synchronous || die "the standby is synchronous"
_t_report ok "a primary (port $REP_P_PORT) and its synchronous standby (port $REP_S_PORT)"
P_DSN="host=127.0.0.1 port=$REP_P_PORT user=postgres dbname=parley_topo"
S_DSN="host=127.0.0.1 port=$REP_S_PORT user=postgres dbname=parley_topo"
MULTI="postgresql://postgres@127.0.0.1:$REP_P_PORT,127.0.0.1:$REP_S_PORT/parley_topo?target_session_attrs=read-write"

# --- PgBouncer in front of the primary
PG_PORT=$REP_P_PORT PGB_POOL_SIZE=4 pgb_start || die "pgbouncer starts"
POOLED="host=127.0.0.1 port=$PGB_PORT user=postgres dbname=parley_topo"
eq "PgBouncer reaches the primary" f "$(sql "$POOLED" "SELECT pg_is_in_recovery()")"

# --- stand-ins: replies take a while, so that a kill finds some in flight
start_standin fake_openai --delay-ms 200 || die "fake_openai starts"
openai_pid=$STANDIN_PID OPENAI=$STANDIN_URL
start_standin fake_graph || die "fake_graph starts"
graph_pid=$STANDIN_PID GRAPH=$STANDIN_URL
curl -sS -d '[{"delay_ms":100,"times":1000000}]' "$GRAPH/_script" >/dev/null

# --- parley: A and B through PgBouncer (LISTEN and migrate direct), and the
# same two on the multi-host url for the later steps (same ports).
conf_a=$(reply_config "$POOLED" database listen_url "$MULTI" database connections 4 \
	openai timeout_seconds 10 replies debounce_ms 300)
conf_b=$(reply_config "$POOLED" database listen_url "$MULTI" database connections 4 \
	openai timeout_seconds 10 replies debounce_ms 300)
for c in "$conf_a" "$conf_b"; do
	cp "$c" "$c.multi"
	conf_set "$c.multi" database url "$MULTI"
done
ok "parley migrate (its session lock on listen_url)" "$PARLEY_BIN" migrate -c "$conf_a"
seed_channels "$P_DSN"
sql "$P_DSN" "UPDATE credits SET remaining_credits = $CREDITS, total_used = 0" >/dev/null
port_a=$(parley_url "$conf_a") port_a=${port_a##*:}
port_b=$(parley_url "$conf_b") port_b=${port_b##*:}
launch pid_a "$conf_a" "parley A starts"
launch pid_b "$conf_b" "parley B starts"

# --- HAProxy, a plain foreground process with its own config
HAP_PORT=$(free_port)
cat >"$TEST_TMP/haproxy.cfg" <<CFG
global
	maxconn 2000
	log stdout format raw local0 info
defaults
	mode http
	log global
	option httplog
	timeout connect 1s
	timeout client 30s
	timeout server 30s
	retries 2
	option redispatch
frontend meta
	bind 127.0.0.1:$HAP_PORT
	default_backend parley
backend parley
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 300ms fall 2 rise 2
	server a 127.0.0.1:$port_a check
	server b 127.0.0.1:$port_b check
CFG
ok "the HAProxy config is valid" "$HAPROXY_BIN" -c -q -f "$TEST_TMP/haproxy.cfg"
"$HAPROXY_BIN" -db -f "$TEST_TMP/haproxy.cfg" >"$TEST_TMP/haproxy.log" 2>&1 &
HAP_PID=$!
HAP="http://127.0.0.1:$HAP_PORT"
up=
for _ in $(seq 1 100); do
	up=$(curl -sS -o /dev/null -w '%{http_code}' "$HAP/readyz" 2>/dev/null)
	[ "$up" = 200 ] && break
	sleep 0.1
done
eq "HAProxy answers /readyz through parley" 200 "$up"

# --- the load, through HAProxy only
out="$TEST_TMP/load"
mkdir -p "$out"
python3 "$TESTS_DIR/lib/chaos_load.py" --url "$HAP" --out "$out" --tag TOPO \
	--customers "$CUSTOMERS" --rate "$RATE" --seconds "$SECONDS_LOAD" --settle 90 \
	--senders 16 >"$out/summary" 2>&1 &
LOAD_PID=$!
t0=$(date +%s%N)
echo "# setup took $(($(date +%s) - t_start)) s"
# at PERCENT: sleeps until that share of TOPOLOGY_SECONDS after the load started.
at() {
	local ms=$((SECONDS_LOAD * $1 * 10 - ($(date +%s%N) - t0) / 1000000))
	[ "$ms" -gt 0 ] && sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	return 0
}
# step WHAT: a timestamped line of what happens now, also kept in steps
# (seconds since the load started, tab, WHAT) for the report.
step() {
	local t
	local now
	now=$(date +%s%N)
	t=$(printf '%.1f' "$((now - t0))e-9")
	printf '# %6s s  %s\n' "$t" "$1"
	printf '%s\t%s\n' "$(printf '%.3f' "${now}e-9")" "$1" >>"$TEST_TMP/steps"
}
step "load starts"

at 10
step "PgBouncer: kill -9 parley A"
crash pid_a
at 20
step "PgBouncer: parley A started again"
launch pid_a "$conf_a" "parley A starts again"

at 30
step "switch to the multi-host url: SIGTERM B, B started on it"
to_multi pid_b "$conf_b" B
sleep 1 # HAProxy sees B up (rise 2 × 300 ms) before A goes
step "switch to the multi-host url: SIGTERM A, A started on it"
to_multi pid_a "$conf_a" A

at 45
step "kill -9 parley B"
crash pid_b
at 55
step "parley B started again"
launch pid_b "$conf_b.multi" "parley B starts again"

at 65
step "the primary stops (pg_ctl stop -m immediate)"
rep_stop_primary || die "the primary stops"
at 75
step "the standby is promoted"
rep_promote || die "the standby is promoted"
tp=$(date +%s%N)
ready_ms=
for _ in $(seq 1 300); do
	if [ "$(curl -sS -o /dev/null -w '%{http_code}' "$HAP/readyz")" = 200 ]; then
		ready_ms=$((($(date +%s%N) - tp) / 1000000))
		break
	fi
	sleep 0.05
done
step "ready through HAProxy ${ready_ms:-never} ms after the promotion"
ok "parley ready again after the promotion" test -n "$ready_ms"
at 100
step "no new bodies; retries go on"

wait "$LOAD_PID"
rc=$?
LOAD_PID=
step "the load ended"
eq "the load client ran" 0 $rc
summary=$(cat "$out/summary")
echo "# $summary"
kv() { sed -nE "s/.* $1=([^ ]+).*/\\1/p" "$out/summary"; }
eq "every message got its 200 in the end" 0 "$(wc -l <"$out/unacked")"
ok "the faults were felt (retries: $(kv retries))" test "$(kv retries)" -gt 0

dsn=$S_DSN # the new primary
eq "the new primary is the promoted standby" f "$(sql "$dsn" "SELECT pg_is_in_recovery()")"
ok "both LISTEN connections are on the new primary" wait_for "$dsn" \
	"SELECT count(*) >= 2 FROM pg_stat_activity WHERE datname = 'parley_topo' AND query LIKE 'LISTEN%'" t
load_drained "$dsn"
step "the replies drained"
kill "$HAP_PID" 2>/dev/null
wait "$HAP_PID" 2>/dev/null
HAP_PID=
stop_parley "$pid_a"
eq "parley A stops cleanly" 0 $?
stop_parley "$pid_b"
eq "parley B stops cleanly" 0 $?
curl -sS "$GRAPH/_requests" >"$out/graph.json"
load_checks "$dsn" "$out" "$GRAPH" "$CREDITS"
ok "the stand-ins lived through it" kill -0 "$openai_pid" "$graph_pid"
step "checked"

# --- the report
q() { sql "$dsn" "$1"; }
acked=$(wc -l <"$out/acked")
stored=$(q "SELECT count(*) FROM messages m JOIN chaos_acked a ON a.wamid = m.platform_message_id")
lost=$(q "SELECT count(*) FROM chaos_acked a WHERE NOT EXISTS
          (SELECT 1 FROM messages m WHERE m.platform_message_id = a.wamid)")
dup_stored=$(q "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) n FROM messages WHERE sender = 'user'
                GROUP BY platform_message_id HAVING count(*) > 1) x")
dup_sent=$(q "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) n FROM chaos_graph WHERE status = 200
              GROUP BY customer, text HAVING count(*) > 1) x")
replies=$(q "SELECT count(*) FILTER (WHERE status = 'sent') || ' sent, '
                    || count(*) FILTER (WHERE status = 'failed') || ' failed (send outcome unknown: a kill)'
             FROM messages WHERE sender = 'agent'")
gaps=$(q "SELECT count(*) FROM (SELECT conversation_id FROM messages GROUP BY conversation_id
          HAVING min(sequence_no) <> 1 OR max(sequence_no) <> count(*) OR count(DISTINCT sequence_no) <> count(*)) x")
credits=$(q "SELECT remaining_credits || ' left + ' || total_used || ' used = '
                    || (remaining_credits + total_used) FROM credits WHERE user_id = 'acme'")
# Attempts without a 2xx, by the step they followed (the client's clock
# starts a few ms after the steps' one).
per_step=$(awk -F'\t' -v c0="$(cat "$out/started")" -v t0="$(printf '%.3f' "${t0}e-9")" '
	BEGIN { n = 0 }
	NR == FNR { t[n] = $1 - t0; w[n++] = $2; next }
	$6 != "-" { k = split($6, f, ","); for (i = 1; i <= k; i++) { s = 0
		for (j = 0; j < n; j++) if (f[i] + c0 - t0 >= t[j]) s = j; c[s]++ } }
	END { for (j = 0; j < n; j++) printf "%7.1f s  %-58s %5d\n", t[j], w[j], c[j] + 0 }' \
	"$TEST_TMP/steps" "$out/bodies")
finish >"$TEST_TMP/result"
r() { printf '%-12s%s\n' "$1" "$2"; }
echo
echo "================ parley topology test: $(date -u '+%Y-%m-%d %H:%M UTC') ================"
r topology "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') primary + synchronous standby, PgBouncer $("$PGB_BIN" --version | awk 'NR==1{print $2}'),"
r "" "HAProxy $("$HAPROXY_BIN" -v | awk 'NR==1{print $3}') -> 2 x parley serve, stand-in OpenAI and Graph"
r load "$SECONDS_LOAD s at $RATE bodies/s over $CUSTOMERS conversations, each body retried until 2xx"
echo "steps, and the attempts without a 2xx that followed each:"
printf '%s\n' "$per_step"
r requests "$(kv posts) posts of $(kv bodies) bodies ($(kv messages) messages): HTTP $(kv codes), $(kv conn_errors) without an answer"
r 2xx "$(kv acked) messages acked; $(kv retries) retries; $(kv redelivered) redelivered after a 2xx"
r unavailable "longest $(kv longest_unavailable_s) s without a 2xx; longest a body waited $(kv longest_wait_s) s"
r failover "ready through HAProxy ${ready_ms:-never} ms after the promotion"
r stored "$stored of $acked acked messages; sequences with a gap or repeat: $gaps"
r lost "$lost"
r duplicated "$dup_stored stored twice, $dup_sent sent to Graph twice"
r replies "$replies; Graph sends $(q "SELECT count(*) FROM chaos_graph")"
r credits "$credits (started at $CREDITS)"
r checks "$(cat "$TEST_TMP/result"), $(($(date +%s) - t_start)) s in all"
[ "$T_FAIL" = 0 ]
