#!/usr/bin/env bash
# `make bench-scale`: does parley stay as fast when its tables are full?
# One throwaway PostgreSQL 15 (tests/lib/pg.sh, durable commits) holds two
# databases migrated alike: "empty" (seed_channels only) and "scale",
# preloaded by tests/bench/scale.sql (1,000 tenants, 1M conversations, 10M
# messages with delivery statuses, 7 days of raw bodies, extractions,
# meetings at SCALE=1). In the same run, on both where it applies:
#
#   1. ingestion: closed loop with BENCH_WIDE_CONNS (64) senders, throughput
#      and p99, empty then scale then empty then scale (the better of each
#      pair: the machine is shared);
#   2. admin reads on the scale database: `conversation list` of the tenant
#      with 10,000 conversations, `conversation show` of a 1,000-message
#      conversation, `leads list`, `meeting list` (median wall time of the
#      command, and the statement's own time from EXPLAIN ANALYZE);
#   3. the janitor at that size: an open loop at SCALE_JANITOR_RATE while the
#      raw-body pruning statement runs batch after batch until the backlog is
#      gone, against the same open loop without it;
#   4. the reply drain of REPLY_CONVERSATIONS (2000) due conversations,
#      empty and scale;
#   4b. the cost to ingestion of conversations_agent_recent (0023, 0026): parley_ingest_batch()
#      on a database of its own, with and without it, alternately;
#   5. bytes on disk per stored message, by relation.
#
# Environment (all optional):
#   SCALE=1                 size of the preload (0.1 = a tenth)
#   BENCH_SECONDS=10        each ingestion phase
#   BENCH_WIDE_CONNS=64     senders in the ingestion phases
#   BENCH_CONNS=8           parley database.connections
#   SCALE_JANITOR_RATE=500  webhooks/s of the open loop in step 3
#   SCALE_JANITOR_BATCH=1000   rows per pruning statement (parley's janitor: 1000)
#   SCALE_JANITOR_PAUSE_MS=200 pause between statements (parley's after a full batch: 200)
#   SCALE_SKIP=             space-separated steps to skip: ingest admin janitor drain index
#   SCALE_INDEX_BATCHES=300 calls of 32 webhooks per measurement in step 4b
#   PG_SHARED_BUFFERS=      shared_buffers for the server (stock 128MB if unset)
#   BENCH_KEEP=1            keep /tmp/parley-scale.* (logs, outputs)
#
# Exit 0 when the bench ran (missed targets are reported as MISS), 1 when
# something broke.
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_build bench-scale loadgen
bench_init bench-scale parley-scale

SCALE=${SCALE:-1}
SECS=${BENCH_SECONDS:-10}
WIDE=${BENCH_WIDE_CONNS:-64}
CONN=${BENCH_CONNS:-8}
JRATE=${SCALE_JANITOR_RATE:-500}
JBATCH=${SCALE_JANITOR_BATCH:-1000}
JPAUSE=${SCALE_JANITOR_PAUSE_MS:-200}
NREPLY=${REPLY_CONVERSATIONS:-2000}
SKIP=" ${SCALE_SKIP:-} "
skip() { [[ "$SKIP" == *" $1 "* ]]; }
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

PARLEY_PID= CLIENT_PID= OPENAI_PID= GRAPH_PID= PRUNE_PID=
BENCH_PID_VARS="CLIENT_PID PRUNE_PID PARLEY_PID OPENAI_PID GRAPH_PID"
fail() {
	echo "bench-scale: FAILED: $*" >&2
	exit 1
}
say() { echo "bench-scale: $*"; }
now() { echo "$EPOCHREALTIME"; }
since_ms() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", (b - a) * 1000}'; }
res() { sed -nE "s/^RESULT .* $2=([^ ]+).*/\1/p" "$1" | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}'; }
verdict() { awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN{ok = op == ">=" ? x >= t : x <= t; print ok ? "PASS" : "MISS"}'; }

[ -n "${PG_SHARED_BUFFERS:-}" ] && export PG_EXTRA_CONF="shared_buffers = '$PG_SHARED_BUFFERS'
${PG_EXTRA_CONF:-}"
say "starting PostgreSQL"
pg_start || fail "PostgreSQL did not start"
sql "$PG_ADMIN_DSN" "ALTER SYSTEM SET log_checkpoints = on" >/dev/null
sql "$PG_ADMIN_DSN" "ALTER SYSTEM SET log_autovacuum_min_duration = 0" >/dev/null
sql "$PG_ADMIN_DSN" "SELECT pg_reload_conf()" >/dev/null
checkpoint() { sql "$PG_ADMIN_DSN" "CHECKPOINT" >/dev/null; }

# A parley config for database $1: nothing leaves the machine, no reply
# becomes due during the ingestion phases.
conf_for() {
	local c
	c=$(new_config "$(tcp_dsn "$1")") || return 1
	conf_set "$c" database connections "$CONN"
	conf_set "$c" meta whatsapp_url "http://127.0.0.1:9/v24.0"
	conf_set "$c" meta instagram_url "http://127.0.0.1:9/v24.0"
	conf_set "$c" openai url "http://127.0.0.1:9/v1"
	conf_set "$c" replies debounce_ms 600000
	conf_set "$c" log level warn
	# parley's own janitor stays out of the measured phases (it would prune
	# the preload's backlog during them); step 3 runs its statement itself.
	conf_set "$c" server keep_raw_days 3650
	echo "$c"
}

declare -A CONF
for db in empty scale; do
	sql "$PG_ADMIN_DSN" "CREATE DATABASE $db" >/dev/null || fail "CREATE DATABASE $db"
	CONF[$db]=$(conf_for "$db") || fail "config"
	"$PARLEY_BIN" migrate -c "${CONF[$db]}" >"$TEST_TMP/migrate-$db.out" 2>&1 \
		|| { cat "$TEST_TMP/migrate-$db.out" >&2; fail "parley migrate ($db)"; }
	seed_channels "$(tcp_dsn "$db")" >/dev/null || fail "seed ($db)"
done
SDSN=$(tcp_dsn scale)
EDSN=$(tcp_dsn empty)

say "preloading the scale database, SCALE=$SCALE ($(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg))"
t0=$(now)
psql -X -q -v ON_ERROR_STOP=1 -v scale="$SCALE" -f "$here/scale.sql" "$SDSN" >"$TEST_TMP/preload.out" 2>&1 \
	|| { cat "$TEST_TMP/preload.out" >&2; fail "preload"; }
PRELOAD_S=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.0f", b - a}')
grep '^scale:' "$TEST_TMP/preload.out" | sed 's/^/bench-scale: /'
checkpoint
read -r N_CONV N_MSG N_MDS N_RAW N_EXT N_MTG <<<"$(sql "$SDSN" "SELECT
	(SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),
	(SELECT count(*) FROM message_delivery_status), (SELECT count(*) FROM webhook_raw),
	(SELECT count(*) FROM extractions), (SELECT count(*) FROM meetings)" | tr '|' ' ')"
DB_MB=$(sql "$SDSN" "SELECT pg_database_size('scale') / 1048576")
say "preloaded in ${PRELOAD_S} s: $N_CONV conversations, $N_MSG messages, $N_MDS statuses," \
	"$N_RAW raw bodies, $N_EXT extractions, $N_MTG meetings; database $DB_MB MB"

# ------------------------------------------------------------- 1. ingestion
declare -A ING_RPS ING_P99
ingest_once() { # DB ROUND
	local db=$1 out="$TEST_TMP/ingest-$1-$2.out" url rps p99
	start_parley "${CONF[$db]}" >/dev/null || fail "parley serve ($db)"
	url="$(parley_url "${CONF[$db]}")/webhooks/meta"
	"$LOADGEN" -u "$url" -l warmup -T "w$db$2$$" -m closed -c "$WIDE" -t 2 -k 1000 -n 60000 \
		>"$TEST_TMP/warm-$db-$2.out" 2>&1 || { cat "$TEST_TMP/warm-$db-$2.out" >&2; fail "loadgen warm-up ($db)"; }
	checkpoint
	"$LOADGEN" -u "$url" -l "ingest-$db" -T "i$db$2$$" -m closed -c "$WIDE" -t "$SECS" -k 1000 \
		-n $((SECS * 12000 + 20000)) >"$out" 2>&1 || { cat "$out" >&2; fail "loadgen ($db)"; }
	stop_parley "$PARLEY_PID" || fail "parley exited non-zero ($db)"
	PARLEY_PID=
	[ "$(res "$out" non200)" = 0 ] && [ "$(res "$out" errors)" = 0 ] || { cat "$out" >&2; fail "ingest ($db): requests not answered 200"; }
	rps=$(res "$out" rps)
	p99=$(res "$out" p99_ms)
	say "  ingest $db round $2: $rps/s, p99 $p99 ms"
	# the better of the rounds (shared machine): highest rate, lowest p99
	if [ -z "${ING_RPS[$db]:-}" ] || awk -v a="$rps" -v b="${ING_RPS[$db]}" 'BEGIN{exit !(a > b)}'; then ING_RPS[$db]=$rps; fi
	if [ -z "${ING_P99[$db]:-}" ] || awk -v a="$p99" -v b="${ING_P99[$db]}" 'BEGIN{exit !(a < b)}'; then ING_P99[$db]=$p99; fi
}
if ! skip ingest; then
	say "[1/5] ingestion, $WIDE senders, ${SECS}s, empty and scale alternately, two rounds"
	for round in 1 2; do
		ingest_once empty "$round"
		ingest_once scale "$round"
	done
fi

# ------------------------------------------------------------ 2. admin reads
declare -A ADM_MS ADM_EXEC
BIG_TENANT_CONVS=$(sql "$SDSN" "SELECT count(*) FROM conversations JOIN agents USING (agent_id) WHERE user_id = 'acme'")
BIG_CONV_MSGS=$(sql "$SDSN" "SELECT count(*) FROM messages WHERE conversation_id = 'scale-big'")
LEADS=$(sql "$SDSN" "SELECT count(*) FROM extractions WHERE user_id = 'acme' AND is_latest")
MEETINGS=$(sql "$SDSN" "SELECT count(*) FROM meetings WHERE user_id = 'acme'")
# admin_time NAME ARGS...: median wall time of 5 runs of `parley ARGS` (after
# one warm-up run), output to /dev/null.
admin_time() {
	local name=$1 i t ts=()
	shift
	"$PARLEY_BIN" "$@" -c "${CONF[scale]}" >/dev/null 2>"$TEST_TMP/admin-$name.err" \
		|| { cat "$TEST_TMP/admin-$name.err" >&2; fail "parley $*"; }
	for i in 1 2 3 4 5; do
		t=$(now)
		"$PARLEY_BIN" "$@" -c "${CONF[scale]}" >/dev/null 2>&1
		ts+=("$(since_ms "$t")")
	done
	ADM_MS[$name]=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 3p)
}
# explain_time NAME SQL: the statement's execution time (EXPLAIN ANALYZE,
# best of 3), the plan kept in TEST_TMP.
explain_time() {
	local name=$1 q=$2 i best= t
	for i in 1 2 3; do
		psql -X -q -At "$SDSN" -c "EXPLAIN (ANALYZE, BUFFERS) $q" >"$TEST_TMP/plan-$name.txt" 2>&1 \
			|| { cat "$TEST_TMP/plan-$name.txt" >&2; fail "explain $name"; }
		t=$(sed -nE 's/^Execution Time: ([0-9.]+) ms/\1/p' "$TEST_TMP/plan-$name.txt")
		[ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a < b)}' && best=$t
	done
	ADM_EXEC[$name]=$best
}
if ! skip admin; then
	say "[2/5] admin reads: tenant acme ($BIG_TENANT_CONVS conversations, $LEADS leads, $MEETINGS meetings), conversation scale-big ($BIG_CONV_MSGS messages)"
	admin_time list conversation list --tenant acme
	admin_time list_json conversation list --tenant acme --json
	admin_time show conversation show scale-big
	admin_time leads leads list --tenant acme
	admin_time meetings meeting list --tenant acme
	admin_time tenants tenant list
	t=$(now)
	for _ in 1 2 3 4 5; do psql -X -q -At "$SDSN" -c "SELECT 1" >/dev/null; done
	PSQL_FLOOR=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", (b - a) * 1000 / 5}')
	# The commands' own statements (src/cli/cmd_*.c), their columns cut
	# down to what decides the plan.
	explain_time list "SELECT c.conversation_id FROM agents a JOIN phone_numbers p ON p.id = a.phone_number_id
		CROSS JOIN LATERAL ((SELECT * FROM conversations c WHERE c.agent_id = a.agent_id
		                       AND c.last_message_at IS NOT NULL
		                      ORDER BY c.last_message_at DESC, c.conversation_id LIMIT 50)
		                    UNION ALL
		                    (SELECT * FROM conversations c WHERE c.agent_id = a.agent_id
		                       AND c.last_message_at IS NULL ORDER BY c.conversation_id LIMIT 50)) c
		WHERE a.user_id = 'acme' ORDER BY c.last_message_at DESC NULLS LAST, c.conversation_id LIMIT 50"
	explain_time show "SELECT m.sequence_no, m.text, d.status FROM messages m
		LEFT JOIN message_delivery_status d USING (message_id)
		WHERE m.conversation_id = 'scale-big' ORDER BY m.sequence_no"
	explain_time leads "SELECT e.lead_status_tag, e.conversation_id FROM extractions e
		JOIN conversations c USING (conversation_id) WHERE e.user_id = 'acme' AND e.is_latest
		ORDER BY e.total_score DESC NULLS LAST, e.extracted_at DESC, e.conversation_id"
	explain_time meetings "SELECT meeting_id FROM meetings WHERE user_id = 'acme'
		ORDER BY meeting_time, meeting_id"
	for k in list show leads meetings; do
		say "  $k: command ${ADM_MS[$k]} ms, statement ${ADM_EXEC[$k]} ms"
	done
fi

# ---------------------------------------------------------------- 3. janitor
# The janitor's statements (serve.c: parley_prune_raw_webhooks every minute;
# event_worker.c: parley_prune_events) run here back to back, as fast as the
# database allows, so that the whole backlog goes during one open loop.
J_BASE_P99= J_BASE_MAX= J_P99= J_MAX= J_BATCHES=0 J_ROWS=0 J_BATCH_MAX=0 J_BATCH_MED=0 J_EVENTS_MS=
if ! skip janitor; then
	BACKLOG=$(sql "$SDSN" "SELECT count(*) FROM webhook_raw WHERE received_at < now() - interval '7 days'")
	JSECS=$((SECS < 10 ? 10 : SECS))
	NSTMT=$((BACKLOG / JBATCH + 2))
	# The open loop with pruning lasts as long as the pruning should, and more.
	JRUN=$(awk -v n="$NSTMT" -v p="$JPAUSE" -v s="$JSECS" 'BEGIN{t = int(n * (p / 1000 + 0.15)) + 5; print (t < s ? s : (t > 300 ? 300 : t))}')
	say "[3/5] janitor: open loop at $JRATE/s for ${JSECS}s without, then for ${JRUN}s with the pruning of $BACKLOG raw bodies ($JBATCH per statement, ${JPAUSE} ms apart)"
	start_parley "${CONF[scale]}" >/dev/null || fail "parley serve (janitor)"
	url="$(parley_url "${CONF[scale]}")/webhooks/meta"
	"$LOADGEN" -v -u "$url" -l jbase -T "jb$$" -m open -r "$JRATE" -c 8 -C 1024 -t "$JSECS" -k 1000 \
		>"$TEST_TMP/janitor-base.out" 2>&1 || { cat "$TEST_TMP/janitor-base.out" >&2; fail "loadgen (janitor baseline)"; }
	"$LOADGEN" -v -u "$url" -l jrun -T "jr$$" -m open -r "$JRATE" -c 8 -C 1024 -t "$JRUN" -k 1000 \
		>"$TEST_TMP/janitor-run.out" 2>&1 &
	CLIENT_PID=$!
	sleep 1
	# One session, as parley's janitor has one connection: each statement
	# is its own transaction, timed by psql (no process start per batch).
	{
		echo '\timing on'
		for _ in $(seq 1 "$NSTMT"); do
			echo "SELECT 'raw', parley_prune_raw_webhooks(7, $JBATCH);"
			echo "SELECT 'sleep', pg_sleep($JPAUSE / 1000.0);"
		done
		echo "SELECT 'events', parley_prune_events(30 * 86400, 10000);"
	} | psql -X -q -At -F' ' "$SDSN" >"$TEST_TMP/janitor-batches.txt" 2>&1 &
	PRUNE_PID=$!
	wait "$PRUNE_PID" || { cat "$TEST_TMP/janitor-batches.txt" >&2; fail "pruning"; }
	PRUNE_PID=
	wait "$CLIENT_PID" || { cat "$TEST_TMP/janitor-run.out" >&2; fail "loadgen (janitor)"; }
	CLIENT_PID=
	stop_parley "$PARLEY_PID" || fail "parley exited non-zero (janitor)"
	PARLEY_PID=
	J_BASE_P99=$(res "$TEST_TMP/janitor-base.out" p99_ms)
	J_BASE_MAX=$(res "$TEST_TMP/janitor-base.out" max_ms)
	J_P99=$(res "$TEST_TMP/janitor-run.out" p99_ms)
	J_MAX=$(res "$TEST_TMP/janitor-run.out" max_ms)
	# psql prints "raw N" then "Time: X ms" for each statement.
	awk '/^(raw|events|sleep) / {k = $1; n = $2} /^Time: / {print k, n, $2}' "$TEST_TMP/janitor-batches.txt" >"$TEST_TMP/janitor-times.txt"
	read -r J_BATCHES J_ROWS J_BATCH_MAX J_TOTAL_MS <<<"$(awk '$1 == "raw" && $2 > 0 {n++; r += $2; t += $3; if ($3 > m) m = $3}
		END {printf "%d %d %.0f %.0f\n", n, r, m, t}' "$TEST_TMP/janitor-times.txt")"
	J_BATCH_MED=$(awk '$1 == "raw" && $2 > 0 {print $3}' "$TEST_TMP/janitor-times.txt" | sort -n | awk '{d[NR] = $1} END {printf "%.0f", (NR ? d[int((NR + 1) / 2)] : 0)}')
	J_EMPTY_MS=$(awk '$1 == "raw" && $2 == 0 {printf "%.1f", $3; exit}' "$TEST_TMP/janitor-times.txt")
	J_EVENTS_MS=$(awk '$1 == "events" {print $3}' "$TEST_TMP/janitor-times.txt")
	LEFT=$(sql "$SDSN" "SELECT count(*) FROM webhook_raw WHERE received_at < now() - interval '7 days'")
	say "  without: p99 $J_BASE_P99 ms, max $J_BASE_MAX ms; with: p99 $J_P99 ms, max $J_MAX ms;" \
		"$J_BATCHES batches, $J_ROWS rows in $J_TOTAL_MS ms (slowest $J_BATCH_MAX ms, median $J_BATCH_MED ms), $LEFT left"
	grep -E "^loadgen: jrun second" "$TEST_TMP/janitor-run.out" | awk '{print "bench-scale:   " $0}' | head -30
fi

# ------------------------------------------------------------ 4. reply drain
declare -A DRAIN
drain_once() { # DB
	local db=$1 dsn c t0 done_at sent i
	dsn=$(tcp_dsn "$db")
	c=$(new_config "$dsn") || fail "config"
	conf_set "$c" database connections 8
	conf_set "$c" meta whatsapp_url "$GRAPH/v24.0"
	conf_set "$c" openai api_key sk-bench
	conf_set "$c" openai url "$OPENAI/v1"
	conf_set "$c" openai max_in_flight 1000
	conf_set "$c" openai timeout_seconds 30
	conf_set "$c" log level warn
	conf_set "$c" server keep_raw_days 3650
	psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<SQL || fail "drain seed ($db)"
UPDATE credits SET remaining_credits = $NREPLY WHERE user_id = 'acme';
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no,
                           openai_conversation_id, reply_due_at)
SELECT 'rb-' || i, 'ag-wa', (31000000000 + i)::text, 1, 'conv_bench_' || i, now()
  FROM generate_series(1, $NREPLY) i;
INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, triggers_reply, author)
SELECT 'rbm-' || i, 'rb-' || i, 'user', 'Question ' || i, 'sent', 1, true, 'customer'
  FROM generate_series(1, $NREPLY) i;
SQL
	checkpoint
	t0=$(now)
	start_parley "$c" >/dev/null || fail "parley serve (drain $db)"
	done_at=
	for i in $(seq 1 1200); do
		sent=$(sql "$dsn" "SELECT count(*) FROM messages WHERE conversation_id >= 'rb-' AND conversation_id < 'rb.'
		                     AND sender = 'agent' AND status = 'sent'")
		[ "$sent" -ge "$NREPLY" ] && { done_at=$EPOCHREALTIME; break; }
		sleep 0.05
	done
	stop_parley "$PARLEY_PID"
	PARLEY_PID=
	[ -n "$done_at" ] || fail "drain ($db): $sent of $NREPLY replies sent in 60 s"
	grep -q ' error ' "$c.log" && { grep ' error ' "$c.log" | head -5 >&2; fail "drain ($db): errors logged"; }
	DRAIN[$db]=$(awk -v a="$t0" -v b="$done_at" 'BEGIN{printf "%.2f", b - a}')
	say "  drain $db: ${DRAIN[$db]} s"
}
if ! skip drain; then
	say "[4/5] reply drain: $NREPLY conversations, OpenAI 1 s each, max_in_flight 1000, empty then scale"
	start_standin fake_openai --delay-ms 1000 >/dev/null || fail "fake_openai"
	OPENAI_PID=$STANDIN_PID OPENAI=$STANDIN_URL
	start_standin fake_graph >/dev/null || fail "fake_graph"
	GRAPH_PID=$STANDIN_PID GRAPH=$STANDIN_URL
	drain_once empty
	drain_once scale
	SENDS=$(curl -sS "$GRAPH/_stats" | jq '.whatsapp_sent')
	[ "$SENDS" = $((2 * NREPLY)) ] || fail "drain: the Graph stand-in received $SENDS sends, not $((2 * NREPLY))"
fi

# ------------------------------------------- 4b. the new index's ingest cost
# conversations_agent_recent (0023, partial since 0026), A/B on a database of its own:
# parley_ingest_batch() as parley calls it (32 text webhooks per call and
# transaction, one psql session, the arguments built beforehand), with the
# index and without, alternately, twice each: time and WAL per webhook.
declare -A IDX_US IDX_WAL
if ! skip index; then
	IDB=idxcost
	sql "$PG_ADMIN_DSN" "CREATE DATABASE $IDB" >/dev/null || fail "CREATE DATABASE $IDB"
	c=$(conf_for "$IDB") || fail "config"
	"$PARLEY_BIN" migrate -c "$c" >/dev/null 2>&1 || fail "parley migrate ($IDB)"
	IDSN=$(tcp_dsn "$IDB")
	seed_channels "$IDSN" >/dev/null || fail "seed ($IDB)"
	IBATCHES=${SCALE_INDEX_BATCHES:-300}
	say "[4b] cost of conversations_agent_recent to ingestion: 4 x $IBATCHES calls of 32 webhooks, with and without"
	bench_batches "$IDSN" $((5 * IBATCHES)) 32 1000 idx short || fail "index-cost batches"
	idx_run() { # FIRST_BATCH -> "us_per_webhook wal_bytes_per_webhook"
		local lsn0 lsn1 t0 t1
		lsn0=$(sql "$IDSN" "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
		t0=$EPOCHREALTIME
		for b in $(seq "$1" $(($1 + IBATCHES - 1))); do
			echo "SELECT count(*) FROM bench_batches b, unnest(parley_ingest_batch(b.objects, b.events, b.raws, 600000)) WHERE b.id = $b;"
		done | psql -X -q -At "$IDSN" >/dev/null || fail "index-cost run"
		t1=$EPOCHREALTIME
		lsn1=$(sql "$IDSN" "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
		awk -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" -v w="$((lsn1 - lsn0))" -v n="$((IBATCHES * 32))" \
			'BEGIN{printf "%.0f %.0f\n", t * 1e6 / n, w / n}'
	}
	idx_run 1 >/dev/null # warm-up: the 1,000 conversations exist from here on
	first=$((IBATCHES + 1))
	for round in 1 2; do
		for v in with without; do
			if [ "$v" = without ]; then
				sql "$IDSN" "DROP INDEX conversations_agent_recent" >/dev/null || fail "drop index"
			fi
			checkpoint
			read -r us wal <<<"$(idx_run "$first")"
			first=$((first + IBATCHES))
			[ "$v" = without ] && { sql "$IDSN" "CREATE INDEX conversations_agent_recent ON conversations
				(agent_id, last_message_at DESC, conversation_id) WHERE last_message_at IS NOT NULL" >/dev/null \
				|| fail "create index"; }
			say "  $v the index, round $round: $us us and $wal WAL bytes per webhook"
			if [ -z "${IDX_US[$v]:-}" ] || [ "$us" -lt "${IDX_US[$v]}" ]; then IDX_US[$v]=$us; fi
			if [ -z "${IDX_WAL[$v]:-}" ] || [ "$wal" -lt "${IDX_WAL[$v]}" ]; then IDX_WAL[$v]=$wal; fi
		done
	done
fi

# ------------------------------------------------------- 5. bytes per message
say "[5/5] bytes on disk per stored message"
sql "$SDSN" "VACUUM (ANALYZE) messages, message_delivery_status, webhook_raw" >/dev/null
psql -X -q -At -F' ' "$SDSN" >"$TEST_TMP/bytes.txt" <<'SQL' || fail "sizes"
WITH n AS (SELECT count(*)::numeric AS m FROM messages),
rels AS (
    SELECT c.relname AS tbl, 'heap+toast' AS part, c.relname AS name,
           pg_table_size(c.oid) AS bytes
      FROM pg_class c WHERE c.relname IN ('messages', 'message_delivery_status', 'webhook_raw')
    UNION ALL
    SELECT t.relname, 'index', i.relname, pg_relation_size(i.oid)
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
     WHERE t.relname IN ('messages', 'message_delivery_status', 'webhook_raw'))
SELECT tbl, part, name, bytes, round(bytes / n.m, 1) FROM rels, n ORDER BY bytes DESC;
SQL
BYTES_PER_MSG=$(awk '{s += $5} END {printf "%.0f", s}' "$TEST_TMP/bytes.txt")

# ------------------------------------------------------------------ summary
echo
echo "== parley bench-scale: SCALE=$SCALE, $(nproc) CPUs, PostgreSQL $(sql "$PG_ADMIN_DSN" "SHOW server_version")," \
	"shared_buffers $(sql "$PG_ADMIN_DSN" "SHOW shared_buffers") =="
echo "preload: $N_CONV conversations, $N_MSG messages, $N_MDS delivery statuses, $N_RAW raw bodies," \
	"$N_EXT extractions, $N_MTG meetings; $DB_MB MB; generated in $PRELOAD_S s"
echo
printf '%-52s %12s %12s %8s %12s %6s\n' "measure" "empty" "scale" "ratio" "target" "result"
if ! skip ingest; then
	r=$(ratio "${ING_RPS[scale]}" "${ING_RPS[empty]}")
	printf '%-52s %12s %12s %7sx %12s %6s\n' "ingest webhooks/s, $WIDE senders (better of 2)" "${ING_RPS[empty]}" "${ING_RPS[scale]}" "$r" ">= 0.90x" "$(verdict "$r" ">=" 0.9)"
	r=$(ratio "${ING_P99[empty]}" "${ING_P99[scale]}")
	printf '%-52s %12s %12s %7sx %12s %6s\n' "ingest p99 ms, $WIDE senders (empty/scale)" "${ING_P99[empty]}" "${ING_P99[scale]}" "$r" ">= 0.90x" "$(verdict "$r" ">=" 0.9)"
fi
if ! skip drain; then
	r=$(ratio "${DRAIN[scale]}" "${DRAIN[empty]}")
	printf '%-52s %12s %12s %7sx %12s %6s\n' "reply drain s, $NREPLY conversations (scale/empty)" "${DRAIN[empty]}" "${DRAIN[scale]}" "$r" "<= 1.10x" "$(verdict "$r" "<=" 1.1)"
fi
if ! skip admin; then
	adm() { printf '%-52s %12s %12s %8s %12s %6s\n' "$1" "" "${ADM_MS[$2]} ms" "" "<= 50 ms" "$(verdict "${ADM_MS[$2]}" "<=" 50)"
		printf '%-52s %12s %12s %8s %12s %6s\n' "  its statement (EXPLAIN ANALYZE, best of 3)" "" "${ADM_EXEC[$2]:-} ms" "" "<= 50 ms" "$(verdict "${ADM_EXEC[$2]}" "<=" 50)"; }
	adm "conversation list, $BIG_TENANT_CONVS conversations" list
	adm "conversation show, $BIG_CONV_MSGS messages" show
	adm "leads list, $LEADS leads" leads
	adm "meeting list, $MEETINGS meetings" meetings
	printf '%-52s %12s %12s %8s %12s %6s\n' "tenant list (a command's floor: start, connect)" "" "${ADM_MS[tenants]} ms" "" "" "(info)"
	printf '%-52s %12s %12s %8s %12s %6s\n' "psql -c 'SELECT 1' (the machine's floor)" "" "$PSQL_FLOOR ms" "" "" "(info)"
fi
if ! skip janitor; then
	printf '%-52s %12s %12s %8s %12s %6s\n' "ingest max ms at $JRATE/s, without / with pruning" "$J_BASE_MAX" "$J_MAX" "" "<= 100 ms" "$(verdict "$J_MAX" "<=" 100)"
	printf '%-52s %12s %12s %8s %12s %6s\n' "ingest p99 ms at $JRATE/s, without / with pruning" "$J_BASE_P99" "$J_P99" "" "" "(info)"
	printf '%-52s %12s %12s %8s %12s %6s\n' "pruning: batches of $JBATCH, slowest / median ms" "" "$J_BATCH_MAX / $J_BATCH_MED" "" "" "(info)"
	printf '%-52s %12s %12s %8s %12s %6s\n' "pruning: rows deleted, total ms" "" "$J_ROWS / $J_TOTAL_MS" "" "" "(info)"
	printf '%-52s %12s %12s %8s %12s %6s\n' "pruning with nothing left to prune, ms" "" "$J_EMPTY_MS" "" "" "(info)"
	printf '%-52s %12s %12s %8s %12s %6s\n' "event pruning (parley_prune_events) ms" "" "$J_EVENTS_MS" "" "" "(info)"
fi
if ! skip index; then
	printf '%-52s %12s %12s %7sx %12s %6s\n' "ingest SQL us/webhook, without / with 0023's index" "${IDX_US[without]}" "${IDX_US[with]}" "$(ratio "${IDX_US[with]}" "${IDX_US[without]}")" "" "(info)"
	printf '%-52s %12s %12s %7sx %12s %6s\n' "ingest WAL bytes/webhook, without / with it" "${IDX_WAL[without]}" "${IDX_WAL[with]}" "$(ratio "${IDX_WAL[with]}" "${IDX_WAL[without]}")" "" "(info)"
fi
echo
echo "bytes on disk per stored message: $BYTES_PER_MSG (heap + TOAST + indexes of messages, message_delivery_status, webhook_raw, over $N_MSG messages)"
awk '{printf "  %-24s %-10s %-44s %8.0f MB %8.1f B/msg\n", $1, $2, $3, $4 / 1048576, $5}' "$TEST_TMP/bytes.txt"
echo
echo "BENCH_SCALE scale=$SCALE preload_s=$PRELOAD_S messages=$N_MSG ingest_empty=${ING_RPS[empty]:-} ingest_scale=${ING_RPS[scale]:-}" \
	"p99_empty=${ING_P99[empty]:-} p99_scale=${ING_P99[scale]:-} drain_empty=${DRAIN[empty]:-} drain_scale=${DRAIN[scale]:-}" \
	"list_ms=${ADM_MS[list]:-} show_ms=${ADM_MS[show]:-} leads_ms=${ADM_MS[leads]:-} meetings_ms=${ADM_MS[meetings]:-}" \
	"janitor_max_ms=$J_MAX janitor_base_max_ms=$J_BASE_MAX bytes_per_message=$BYTES_PER_MSG"
exit 0
