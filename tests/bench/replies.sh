#!/usr/bin/env bash
# `make bench`, reply path: REPLY_CONVERSATIONS conversations (default 2000)
# each with one unanswered customer message, the stand-in OpenAI taking
# REPLY_OPENAI_MS (default 1000) per response, openai.max_in_flight =
# REPLY_MAX_IN_FLIGHT (default 1000). Reports the time until every reply is
# sent against the ideal, 1 s x ceil(conversations / max_in_flight), and
# parley's peak RSS and CPU. Targets: drain <= 1.5x ideal, RSS <= 64 MB, no
# errors. Exit 1 only when something broke.
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_build bench
bench_init bench parley-rbench
N=${REPLY_CONVERSATIONS:-2000}
DELAY=${REPLY_OPENAI_MS:-1000}
INFLIGHT=${REPLY_MAX_IN_FLIGHT:-1000}

PARLEY_PID= OPENAI_PID= GRAPH_PID=
BENCH_PID_VARS="PARLEY_PID OPENAI_PID GRAPH_PID"
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

echo "bench: reply drain: $N conversations, OpenAI ${DELAY} ms per response, max_in_flight $INFLIGHT"
# BENCH_PGSS=1: where PostgreSQL's time went, by statement (pg_stat_statements).
[ -n "${BENCH_PGSS:-}" ] && export PG_EXTRA_CONF="shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all"
pg_start || exit 1
start_standin fake_openai --delay-ms "$DELAY" || exit 1
OPENAI_PID=$STANDIN_PID OPENAI=$STANDIN_URL
start_standin fake_graph || exit 1
GRAPH_PID=$STANDIN_PID GRAPH=$STANDIN_URL

dsn=$(new_db)
conf=$(new_config "$dsn")
conf_set "$conf" database connections "${REPLY_DB_CONNECTIONS:-8}"
conf_set "$conf" meta whatsapp_url "$GRAPH/v24.0"
conf_set "$conf" openai api_key sk-bench
conf_set "$conf" openai url "$OPENAI/v1"
conf_set "$conf" openai max_in_flight "$INFLIGHT"
conf_set "$conf" openai timeout_seconds 30
conf_set "$conf" log level "${BENCH_LOG_LEVEL:-warn}"
"$PARLEY_BIN" migrate -c "$conf" >/dev/null || exit 1
seed_channels "$dsn"
# The conversations exist and are due before parley starts, so the drain
# measures the reply path alone (ingestion has its own bench).
psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<SQL || exit 1
UPDATE credits SET remaining_credits = $N WHERE user_id = 'acme';
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no,
                           openai_conversation_id, reply_due_at)
SELECT 'rb-' || i, 'ag-wa', (31000000000 + i)::text, 1, 'conv_bench_' || i, now()
  FROM generate_series(1, $N) i;
INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, triggers_reply)
SELECT 'rbm-' || i, 'rb-' || i, 'user', 'Question ' || i, 'sent', 1, true
  FROM generate_series(1, $N) i;
SQL

# BENCH_TRACE=1: CPU (ms) of PostgreSQL's processes and the stand-ins since
# a mark, to tell where the time of the drain went.
trace_cpu() {
	local p
	awk -v s="$(pg_cpu)" -v mark="${1:-}" -v tck="$(getconf CLK_TCK)" \
		'BEGIN { if (mark == "") print s; else printf "trace: cpu postgres %d ms\n", (s - mark) * 1000 / tck }'
	for p in "fake_openai:$OPENAI_PID" "fake_graph:$GRAPH_PID"; do
		[ -n "${1:-}" ] && awk -v n="${p%%:*}" -v tck="$(getconf CLK_TCK)" \
			'{ printf "trace: cpu %s %d ms (whole run)\n", n, ($14 + $15) * 1000 / tck }' "/proc/${p#*:}/stat"
	done
}
pg_cpu0=
[ -n "${BENCH_TRACE:-}" ] && pg_cpu0=$(trace_cpu "")
t0=$(date +%s.%N)
[ -n "${BENCH_TRACE:-}" ] && echo "trace: t0 $(date -u +%T.%N)"
start_parley "$conf" || exit 1
done_at=
for _ in $(seq 1 1200); do
	sent=$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'sent'")
	[ "$sent" -ge "$N" ] && { done_at=$(date +%s.%N); break; }
	sleep 0.05
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PARLEY_PID/status")
read -r ut st < <(awk '{print $14, $15}' "/proc/$PARLEY_PID/stat")
[ -n "${BENCH_TRACE:-}" ] && trace_cpu "$pg_cpu0"
tck=$(getconf CLK_TCK)
failed=$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status <> 'sent'")
errors=$(grep -c ' error ' "$conf.log" || true)
sends=$(curl -sS "$GRAPH/_stats" | jq '.whatsapp_sent')
if [ -n "${BENCH_TRACE:-}" ]; then
	# When each call reached the stand-ins, in seconds from parley's start.
	for s in "$OPENAI" "$GRAPH"; do
		curl -sS "$s/_requests" | jq -r --arg t0 "$t0" '.[] | "\(.path) \((.time_ms / 1000) - ($t0 | tonumber))"' |
			awk '{ split($1, a, "/"); k = a[length(a)]; n[k]++; if (!(k in lo) || $2 < lo[k]) lo[k] = $2; if ($2 > hi[k]) hi[k] = $2;
			       b = int($2 * 10) / 10; h[k " " b]++ }
			     END { for (k in n) printf "trace: %-14s %5d calls, first %.2f s, last %.2f s\n", k, n[k], lo[k], hi[k];
			           for (x in h) print "trace-hist: " x " " h[x] }' | sort
	done
fi
stop_parley "$PARLEY_PID"; rc=$?
if [ -n "${BENCH_PGSS:-}" ]; then
	sql "$dsn" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
	sql "$dsn" "SELECT 'pgss: ' || calls || ' calls ' || round(total_exec_time) || ' ms ' ||
	                   round((total_exec_time / calls)::numeric, 3) || ' ms/call ' ||
	                   regexp_replace(left(query, 110), '\s+', ' ', 'g')
	              FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 25"
fi
PARLEY_PID=

[ -n "$done_at" ] || { echo "bench: replies did not drain in 60 s ($sent of $N)"; exit 1; }
awk -v t0="$t0" -v t1="$done_at" -v n="$N" -v inflight="$INFLIGHT" -v delay="$DELAY" \
    -v hwm="$hwm" -v cpu="$(( (ut + st) * 1000 / tck ))" -v failed="$failed" -v errors="$errors" \
    -v sends="$sends" -v rc="$rc" 'BEGIN {
	drain = t1 - t0; ideal = delay / 1000 * int((n + inflight - 1) / inflight)
	printf "\n== reply drain: %d conversations, OpenAI %d ms, max_in_flight %d ==\n", n, delay, inflight
	printf "%-40s %10s %12s %8s\n", "target", "measured", "target", "result"
	printf "%-40s %8.2f s %12s %8s\n", "time to send every reply", drain, "", ""
	printf "%-40s %9.2fx %12s %8s\n", "drain / ideal (" ideal " s)", drain / ideal, "<= 1.50x", drain / ideal <= 1.5 ? "PASS" : "MISS"
	printf "%-40s %7.1f MB %12s %8s\n", "peak RSS (VmHWM)", hwm / 1024, "<= 64 MB", hwm / 1024 <= 64 ? "PASS" : "MISS"
	printf "%-40s %10d %12s %8s\n", "replies not sent, errors logged", failed + errors, "0", failed + errors == 0 ? "PASS" : "MISS"
	printf "%-40s %7d ms %12s %8s\n", "parley CPU (whole run)", cpu, "", "(info)"
	printf "%-40s %10d %12s %8s\n", "sends received by the Graph stand-in", sends, n, sends == n ? "PASS" : "MISS"
	printf "BENCH_REPLIES drain_s=%.3f ideal_s=%.1f ratio=%.2f hwm_kb=%d cpu_ms=%d failed=%d sends=%d\n", drain, ideal, drain / ideal, hwm, cpu, failed, sends
	exit (rc != 0 || failed + errors > 0 || sends != n)
}'
