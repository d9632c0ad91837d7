#!/usr/bin/env bash
# `make bench`, reply path: REPLY_CONVERSATIONS conversations (default 2000)
# each with one unanswered customer message, the stand-in OpenAI taking
# REPLY_OPENAI_MS (default 1000) per response, openai.max_in_flight =
# REPLY_MAX_IN_FLIGHT (default 1000), replies.debounce_ms = REPLY_DEBOUNCE_MS
# (default 200, as the issue's own measurement). Two phases, each on a fresh
# database and a fresh parley: the conversations in 1 tenant, then spread
# over REPLY_TENANTS (default 100). parley is started and ready first; then
# one statement makes every conversation due after the debounce and
# notifies, as ingestion does for a customer message, and the clock starts.
# Reports per phase the time until every reply is sent against the ideal,
# the debounce + 1 s x ceil(conversations / max_in_flight),
# PostgreSQL's CPU per reply (every process of the cluster, backends that
# exited included) and WAL bytes per reply, parley's CPU per reply, the p99 of the time from the
# stand-in OpenAI's answer leaving to the stand-in Graph receiving the send
# (their /_requests "answered_ms" and "time_ms"), peak RSS, and that the
# credits add up. Targets (issue #20, item 3): drain <= 1.1x ideal,
# PostgreSQL <= 0.3 ms and parley <= 0.15 ms of CPU per reply, answer-to-send
# p99 <= 20 ms, RSS <= 64 MB, no errors. Exit 1 only when something broke.
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_build bench
bench_init bench parley-rbench
N=${REPLY_CONVERSATIONS:-2000}
DELAY=${REPLY_OPENAI_MS:-1000}
INFLIGHT=${REPLY_MAX_IN_FLIGHT:-1000}
DEBOUNCE=${REPLY_DEBOUNCE_MS:-200}

PARLEY_PID= OPENAI_PID= GRAPH_PID=
BENCH_PID_VARS="PARLEY_PID OPENAI_PID GRAPH_PID SNAP_PID"
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

echo "bench: reply drain: $N conversations, OpenAI ${DELAY} ms per response, max_in_flight $INFLIGHT"
# BENCH_PGSS=1: where PostgreSQL's time went, by statement (pg_stat_statements),
# planning included: a statement planned at every call (plans = calls) is
# one whose plan the session does not keep.
[ -n "${BENCH_PGSS:-}" ] && export PG_EXTRA_CONF="shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on"
TCK=$(getconf CLK_TCK)

# phase LABEL TENANTS: one drain of N conversations spread over TENANTS
# tenants (agent and WhatsApp number each, credits exactly N in all).
# Prints a BENCH_REPLIES line; returns 1 when something broke.
phase() {
	local label=$1 tenants=$2 dsn conf
	curl -sS -X POST "$OPENAI/_reset" >/dev/null
	curl -sS -X POST "$GRAPH/_reset" >/dev/null
	dsn=$(new_db)
	conf=$(new_config "$dsn")
	conf_set "$conf" database connections "${REPLY_DB_CONNECTIONS:-8}"
	conf_set "$conf" meta whatsapp_url "$GRAPH/v24.0"
	conf_set "$conf" openai api_key sk-bench
	conf_set "$conf" openai url "$OPENAI/v1"
	conf_set "$conf" openai max_in_flight "$INFLIGHT"
	conf_set "$conf" openai timeout_seconds 30
	conf_set "$conf" replies debounce_ms "$DEBOUNCE"
	conf_set "$conf" log level "${BENCH_LOG_LEVEL:-warn}"
	"$PARLEY_BIN" migrate -c "$conf" >/dev/null || return 1
	[ -n "${BENCH_PGSS:-}" ] && sql "$dsn" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
	# The conversations exist, not due yet (ingestion has its own bench).
	# Tenant t (1..TENANTS) has credits for exactly its conversations.
	psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<SQL || return 1
INSERT INTO users (user_id, email, company_name)
SELECT 'rt-' || t, 'ops' || t || '@bench.test', 'Bench ' || t FROM generate_series(1, $tenants) t;
INSERT INTO credits (user_id, remaining_credits)
SELECT 'rt-' || t, (SELECT count(*) FROM generate_series(1, $N) i WHERE (i - 1) % $tenants + 1 = t)
  FROM generate_series(1, $tenants) t;
INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
SELECT 'rp-' || t, 'rt-' || t, 'whatsapp', (106540000000000 + t)::text, 'wa-token', 'Bench ' || t
  FROM generate_series(1, $tenants) t;
INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
SELECT 'ra-' || t, 'rt-' || t, 'rp-' || t, 'pmpt_wa', 'Agent ' || t FROM generate_series(1, $tenants) t;
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no,
                           openai_conversation_id)
SELECT 'rb-' || i, 'ra-' || ((i - 1) % $tenants + 1), (31000000000 + i)::text, 1,
       'conv_bench_' || i
  FROM generate_series(1, $N) i;
INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, triggers_reply)
SELECT 'rbm-' || i, 'rb-' || i, 'user', 'Question ' || i, 'sent', 1, true
  FROM generate_series(1, $N) i;
CHECKPOINT;
SQL
	[ -n "${BENCH_PGSS:-}" ] && sql "$dsn" "SELECT pg_stat_statements_reset()" >/dev/null

	local pg_s pg0 pg1 wal0 wal t0 done_at sent hwm cpu cpu0 failed errors sends credits rc lat due
	# The drain is watched through one session opened before the clock
	# starts: a psql per look (60 in a drain) was counted as ~0.3 ms of
	# PostgreSQL CPU per reply.
	snap_open "$dsn" || return 1
	# parley's start (its connections, each a new backend) is measured on
	# its own and left out of the per-reply figures: a service starts once.
	pg_s=$(pg_cpu)
	start_parley "$conf" || return 1
	sleep 0.5 # every connection of the pool up, the workers idle
	pg_s=$(($(pg_cpu) - pg_s))
	ACC=0
	proc_cpu_add "$PARLEY_PID"
	cpu0=$ACC
	t0=$(date +%s.%N)
	# Every conversation due after the debounce, one notification: what
	# ingestion does for a customer message (parley wakes after the debounce).
	# This statement's own CPU and WAL are not parley's: both are read after
	# it, well before the debounce ends.
	snap_query due "WITH d AS (UPDATE conversations
	                              SET reply_due_at = now() + make_interval(secs => $DEBOUNCE / 1000.0)
	                            RETURNING 1)
	                SELECT count(*) FROM d, pg_notify('parley_reply_due', 'bench')"
	[ "$due" = "$N" ] || { echo "bench: $label: $due of $N conversations made due"; return 1; }
	snap_query wal0 "SELECT pg_current_wal_lsn()"
	pg0=$(pg_cpu)
	done_at=
	for _ in $(seq 1 1200); do
		snap_query sent "SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'sent'"
		[ "$sent" -ge "$N" ] && { done_at=$(date +%s.%N); break; }
		sleep 0.05
	done
	pg1=$(pg_cpu)
	snap_close
	# WAL written per reply: steadier than CPU on a shared machine.
	wal=$(sql "$dsn" "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0')::bigint / $N")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PARLEY_PID/status")
	ACC=0
	proc_cpu_add "$PARLEY_PID"
	cpu=$((ACC - cpu0))
	failed=$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status <> 'sent'")
	errors=$(grep -c ' error ' "$conf.log" || true)
	sends=$(curl -sS "$GRAPH/_stats" | jq '.whatsapp_sent')
	# Credits add up: every tenant spent exactly what it had, none left.
	credits=$(sql "$dsn" "SELECT sum(remaining_credits) || '/' || sum(total_used) FROM credits")
	# From the stand-in OpenAI's answer leaving (answered_ms) to the stand-in
	# Graph receiving the reply's send (time_ms), per conversation; p50 p99 max.
	lat=$(jq -r -n --slurpfile o <(curl -sS "$OPENAI/_requests") --slurpfile g <(curl -sS "$GRAPH/_requests") '
		([$o[0][] | select(.answered_ms != null and .status == 200)
		   | {key: ((.body.conversation | if type == "object" then .id else . end) | ltrimstr("conv_bench_")),
		      value: .answered_ms}] | from_entries) as $ans
		| [$g[0][] | select(.body.type == "text")
		   | ((.body.to | tonumber) - 31000000000 | tostring) as $i
		   | select($ans[$i] != null) | .time_ms - $ans[$i]] | sort
		| if length == 0 then "nan nan nan 0" else
		  "\(.[(length * 0.5 | floor)]) \(.[((length * 0.99 | ceil) - 1)]) \(.[-1]) \(length)" end')
	if [ -n "${BENCH_TRACE:-}" ]; then
		# When each call reached the stand-ins, in seconds from parley's start.
		for s in "$OPENAI" "$GRAPH"; do
			curl -sS "$s/_requests" | jq -r --arg t0 "$t0" '.[] | "\(.path) \((.time_ms / 1000) - ($t0 | tonumber))"' |
				awk -v ph="$label" '{ split($1, a, "/"); k = a[length(a)]; n[k]++; if (!(k in lo) || $2 < lo[k]) lo[k] = $2; if ($2 > hi[k]) hi[k] = $2;
				       b = int($2 * 10) / 10; h[k " " b]++ }
				     END { for (k in n) printf "trace %s: %-14s %5d calls, first %.2f s, last %.2f s\n", ph, k, n[k], lo[k], hi[k];
				           for (x in h) print "trace-hist " ph ": " x " " h[x] }' | sort -k1,3 -k4n
		done
	fi
	stop_parley "$PARLEY_PID"; rc=$?
	PARLEY_PID=
	if [ -n "${BENCH_PGSS:-}" ]; then
		# Where PostgreSQL's time went, per reply, by statement.
		sql "$dsn" "SELECT 'pgss $label: ' || calls || ' calls ' || plans || ' plans ' ||
		                   round(total_exec_time) || ' ms ' ||
		                   round(((total_exec_time + total_plan_time) * 1000 / $N)::numeric) ||
		                   ' us/reply (' || round((total_plan_time * 1000 / $N)::numeric) ||
		                   ' planning) ' || regexp_replace(left(query, 100), '\s+', ' ', 'g')
		              FROM pg_stat_statements
		             ORDER BY total_exec_time + total_plan_time DESC LIMIT 25"
		sql "$dsn" "SELECT 'pgss $label: table ' || relname || ': ' || n_tup_upd || ' updates, ' ||
		                   n_tup_hot_upd || ' HOT, ' || n_tup_ins || ' inserts'
		              FROM pg_stat_user_tables WHERE n_tup_upd + n_tup_ins > 0 ORDER BY relname"
	fi
	[ -n "$done_at" ] || { echo "bench: $label: replies did not drain in 60 s ($sent of $N)"; return 1; }
	# shellcheck disable=SC2086
	awk -v label="$label" -v tenants="$tenants" -v t0="$t0" -v t1="$done_at" -v n="$N" \
	    -v inflight="$INFLIGHT" -v delay="$DELAY" -v hwm="$hwm" -v tck="$TCK" \
	    -v cpu="$cpu" -v pg="$((pg1 - pg0))" -v failed="$failed" -v errors="$errors" \
	    -v sends="$sends" -v credits="$credits" -v rc="$rc" -v lat="$lat" -v wal="$wal" \
	    -v debounce="$DEBOUNCE" -v pg_start="$pg_s" 'BEGIN {
		split(lat, l, " ")
		drain = t1 - t0; ideal = debounce / 1000 + delay / 1000 * int((n + inflight - 1) / inflight)
		printf "BENCH_REPLIES phase=%s tenants=%d drain_s=%.3f ideal_s=%.1f ratio=%.3f pg_ms_per_reply=%.3f parley_ms_per_reply=%.3f answer_to_send_p50_ms=%s answer_to_send_p99_ms=%s answer_to_send_max_ms=%s answer_to_send_n=%s wal_bytes_per_reply=%d hwm_kb=%d failed=%d errors=%d sends=%d credits_left_used=%s pg_start_ms=%d\n",
		       label, tenants, drain, ideal, drain / ideal, pg * 1000 / tck / n, cpu * 1000 / tck / n,
		       l[1], l[2], l[3], l[4], wal, hwm, failed, errors, sends, credits, pg_start * 1000 / tck
		exit (rc != 0 || failed + errors > 0 || sends != n || credits != "0/" n || l[4] != n)
	}'
}

pg_start || exit 1
start_standin fake_openai --delay-ms "$DELAY" || exit 1
OPENAI_PID=$STANDIN_PID OPENAI=$STANDIN_URL
start_standin fake_graph || exit 1
GRAPH_PID=$STANDIN_PID GRAPH=$STANDIN_URL

out=$TEST_TMP/replies.out
status=0
# REPLY_PHASES: LABEL:TENANTS ... (default the two phases).
phases=${REPLY_PHASES:-}
[ -n "$phases" ] || phases="1tenant:1 ${REPLY_TENANTS:-100}tenants:${REPLY_TENANTS:-100}"
for spec in $phases; do
	phase "${spec%%:*}" "${spec#*:}" >"$out.phase" || status=1
	cat "$out.phase"
	cat "$out.phase" >>"$out"
done

# The table: one column per phase.
awk -v n="$N" -v inflight="$INFLIGHT" -v delay="$DELAY" -v debounce="$DEBOUNCE" '
	/^BENCH_REPLIES / { k++; for (i = 2; i <= NF; i++) { split($i, kv, "="); v[k, kv[1]] = kv[2] } }
	function row(name, key, unit, fmt, op, target,   i, s, ok) {
		s = sprintf("%-38s", name)
		ok = 1
		for (i = 1; i <= k; i++) {
			s = s sprintf(" " fmt, v[i, key])
			if (op == "<=" && !(v[i, key] ~ /^[0-9.]+$/ && v[i, key] + 0 <= target)) ok = 0 # "nan": nothing measured
		}
		if (op == "") printf "%s %10s %8s\n", s, "", "(info)"
		else printf "%s %10s %8s\n", s, op " " target unit, ok ? "PASS" : "MISS"
	}
	END {
		if (!k) exit
		printf "\n== reply path: %d conversations, OpenAI %d ms, max_in_flight %d, debounce %d ms ==\n", n, delay, inflight, debounce
		s = sprintf("%-38s", "figure")
		for (i = 1; i <= k; i++) s = s sprintf(" %10s", v[i, "phase"])
		printf "%s %10s %8s\n", s, "target", "result"
		row("time to send every reply (s)", "drain_s", "", "%10.2f", "", 0)
		row("drain / ideal", "ratio", "x", "%10.2f", "<=", 1.1)
		row("PostgreSQL CPU per reply (ms)", "pg_ms_per_reply", " ms", "%10.3f", "<=", 0.3)
		row("parley CPU per reply (ms)", "parley_ms_per_reply", " ms", "%10.3f", "<=", 0.15)
		row("OpenAI answer to Graph send p50 (ms)", "answer_to_send_p50_ms", "", "%10s", "", 0)
		row("OpenAI answer to Graph send p99 (ms)", "answer_to_send_p99_ms", " ms", "%10s", "<=", 20)
		row("OpenAI answer to Graph send max (ms)", "answer_to_send_max_ms", "", "%10s", "", 0)
		row("WAL bytes per reply", "wal_bytes_per_reply", "", "%10d", "", 0)
		row("PostgreSQL CPU, parley starting (ms)", "pg_start_ms", "", "%10d", "", 0)
		row("peak RSS (KB)", "hwm_kb", " KB", "%10d", "<=", 65536)
		row("replies not sent + errors logged", "failed", "", "%10d", "", 0)
		row("credits left/used (want 0/" n ")", "credits_left_used", "", "%10s", "", 0)
	}' "$out"
exit $status
