#!/usr/bin/env bash
# `make bench`: parley's webhook ingestion against PostgreSQL's own ceiling on
# this machine, in one run. See tests/bench/README.md for what each figure
# means.
#
#   1. a throwaway PostgreSQL 15 (tests/lib/pg.sh), synchronous_commit on;
#   2. baseline: pgbench, a single-row INSERT (text id UNIQUE + ~500-byte
#      jsonb) with BENCH_CONNS clients over TCP, -M prepared;
#   3. information: pgbench calling parley_ingest_batch() directly with
#      BENCH_SQL_BATCH webhooks per call, the very SQL parley sends (what the
#      database alone can do for parley's storage, with no HTTP at all);
#   4. parley serve with database.connections = BENCH_CONNS: warm-up, closed
#      loop (max webhooks/s), open loop at half that rate (latency), a hot
#      conversation (information); then the stored rows are checked against
#      the 200s.
#
# Environment (all optional):
#   BENCH_SECONDS=10        duration of each measured phase
#   BENCH_CONNS=8           pgbench clients = parley database.connections
#   BENCH_HTTP_CONNS=64     loadgen connections (senders) in the closed loop
#   BENCH_CUSTOMERS=1000    wa_ids the webhooks are spread over
#   BENCH_WARMUP_SECONDS=2  closed-loop warm-up, not reported
#   BENCH_HOT_SECONDS=3     one-hot-conversation run; 0 skips it
#   BENCH_WIDE_SECONDS=0    closed loop with BENCH_WIDE_CONNS (16*CONNS) senders
#                           (information: batches at their largest); 0 skips it
#   BENCH_PGSS=1            pg_stat_statements in the bench's cluster: the
#                           closed loop's top-level statements, then a 3 s
#                           closed loop with track = all (nested statements
#                           of parley_ingest_batch); 0 leaves it out
#   BENCH_SQL_BASELINE=1    0 skips step 3
#   BENCH_SQL_BATCH=32      webhooks per parley_ingest_batch() call in step 3
#   BENCH_KEEP=1            keep the temporary directory (parley log, outputs)
#   BENCH_LOG_LEVEL=        parley's log level (its default, info, if unset; warn
#                           leaves out the line per webhook)
#   BENCH_OTHER_ENDPOINT=1  another tenant has an enabled events-out endpoint, so
#                           emission takes its per-tenant check rather than the
#                           "no endpoint at all" shortcut (README, Events out)
#
# Exit 0 when the bench ran, whatever the figures (missed targets are
# reported, not failed); 1 when something broke: a tool failed, parley
# answered other than 200, or the stored rows do not match the 200s.
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_build bench loadgen
command -v psql >/dev/null || { echo "bench: psql missing (make deps)" >&2; exit 1; }

bench_init bench parley-bench
PGBENCH=${PGBENCH:-$PG_BIN/pgbench}
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench || true)
[ -x "$PGBENCH" ] || { echo "bench: pgbench missing (make deps)" >&2; exit 1; }

# BENCH_OTHER_ENDPOINT=1: an endpoint of a tenant the bench's webhooks do not
# belong to (it receives nothing; parley serve has no receiver to reach).
seed_other_endpoint() {
	[ "${BENCH_OTHER_ENDPOINT:-0}" = 1 ] || return 0
	psql -X -q -v ON_ERROR_STOP=1 "$1" -c "INSERT INTO users (user_id, email) VALUES ('other', 'o@x.test');
		INSERT INTO event_endpoints (endpoint_id, user_id, url, secret)
		VALUES ('ep_other', 'other', 'https://example.com/hook', 'whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=')" \
		|| fail "seed the other tenant's endpoint"
}

SECS=${BENCH_SECONDS:-10}
CONN=${BENCH_CONNS:-8}
HTTP_CONNS=${BENCH_HTTP_CONNS:-64}
CUSTOMERS=${BENCH_CUSTOMERS:-1000}
WARMUP=${BENCH_WARMUP_SECONDS:-2}
HOT_SECS=${BENCH_HOT_SECONDS:-3}
WIDE_CONNS=${BENCH_WIDE_CONNS:-$((16 * CONN))}
WIDE_SECS=${BENCH_WIDE_SECONDS:-0}
PGSS=${BENCH_PGSS:-1}
SQL_BASELINE=${BENCH_SQL_BASELINE:-1}
SQL_BATCH=${BENCH_SQL_BATCH:-32}
JOBS=$((CONN < 2 ? 1 : 2))
TCK=$(getconf CLK_TCK)
NCPU=$(nproc)

PARLEY_PID=
CLIENT_PID=
BENCH_PID_VARS="CLIENT_PID PARLEY_PID SNAP_PID"

fail() {
	echo "bench: FAILED: $*" >&2
	if [ -n "${CONF:-}" ] && [ -f "$CONF.log" ]; then
		echo "--- last lines of the parley log:" >&2
		tail -20 "$CONF.log" >&2
	fi
	exit 1
}

# ------------------------------------------------------------ measurement

# The snapshots below run while the load runs, with the CPU readers of
# tests/bench/lib.sh, fork only pgrep, and ask PostgreSQL through one psql
# kept open for the phase (a coprocess, connected before the load starts).
# A psql started for each snapshot (a process and a new backend) stalled
# every answer of the open loop for up to ~100 ms at its first and last
# second, which made most of its p99: 26-128 ms with it, 14 ms with no
# snapshot at all, in the same session.
# (snap_open, snap_query and snap_close: tests/bench/lib.sh.)

KTHREADS=0
[ "$(cat /proc/2/comm 2>/dev/null)" = kthreadd ] && KTHREADS=1

declare -A S
# snap NAME [CLIENT_PID]: machine, PostgreSQL, parley and client CPU; WAL.
# Kernel threads (children of kthreadd: block I/O completion, ext4 journaling
# for the WAL fsyncs) are charged to no process of ours; in a container PID 2
# is an ordinary process and nothing is counted there.
snap() {
	local p=$1 cpu f wal
	read -r cpu <"/proc/stat"
	read -r -a f <<<"$cpu" # cpu user nice system idle iowait irq softirq steal
	S[$p.t]=$EPOCHREALTIME
	S[$p.busy]=$((f[1] + f[2] + f[3] + f[6] + f[7] + f[8]))
	S[$p.total]=$((S[$p.busy] + f[4] + f[5]))
	ACC=0
	[ "$KTHREADS" = 1 ] && proc_cpu_add $(pgrep -P 2)
	S[$p.kernel]=$((f[6] + f[7] + ACC))
	ACC=0
	pg_cpu_add
	S[$p.pg]=$ACC
	ACC=0
	[ -n "$PARLEY_PID" ] && proc_cpu_add "$PARLEY_PID"
	S[$p.parley]=$ACC
	ACC=0
	[ -n "${2:-}" ] && proc_cpu_add "$2"
	S[$p.client]=$ACC
	# With SNAP_DSN (a parley database): webhooks stored so far, from the
	# raw bodies' sequence (one per webhook; not transactional, so cheap and
	# exact to the batches in flight).
	if [ -n "${SNAP_DSN:-}" ]; then
		snap_open "$SNAP_DSN" || fail "snapshots: no psql session"
		snap_query wal "SELECT wal_sync, wal_write, wal_records,
		        pg_current_wal_lsn() - '0/0'::pg_lsn, (SELECT last_value FROM webhook_raw_raw_id_seq)
		        FROM pg_stat_wal"
	else
		snap_open "$PG_ADMIN_DSN" || fail "snapshots: no psql session"
		snap_query wal "SELECT wal_sync, wal_write, wal_records,
		        pg_current_wal_lsn() - '0/0'::pg_lsn, '' FROM pg_stat_wal"
	fi
	IFS='|' read -r "S[$p.sync]" "S[$p.write]" "S[$p.records]" "S[$p.lsn]" "S[$p.n]" <<<"$wal"
}

# window PHASE OPS_PER_SECOND: per-op figures between snapshots PHASE.a and
# PHASE.b (taken in the steady middle of the phase) into D[PHASE.*]. The
# operations are the webhooks stored between the snapshots when they were
# counted (SNAP_DSN), else OPS_PER_SECOND times the window: on a loaded
# machine the rate in the window can differ from the phase's average.
declare -A D
window() {
	local ph=$1 rate=$2 a=$1.a b=$1.b
	if [ -n "${S[$a.n]}" ] && [ -n "${S[$b.n]}" ]; then
		rate=$(awk -v n="$((S[$b.n] - S[$a.n]))" -v x="${S[$b.t]}" -v y="${S[$a.t]}" 'BEGIN{print n / (x - y)}')
	fi
	read -r "D[$ph.busy]" "D[$ph.pg]" "D[$ph.parley]" "D[$ph.client]" "D[$ph.walkb]" \
		"D[$ph.syncs]" "D[$ph.per_sync]" "D[$ph.records]" "D[$ph.kernel]" "D[$ph.other]" < <(awk \
		-v dt="$(awk -v x="${S[$b.t]}" -v y="${S[$a.t]}" 'BEGIN{print x-y}')" \
		-v rate="$rate" -v tck="$TCK" -v ncpu="$NCPU" \
		-v busy="$((S[$b.busy] - S[$a.busy]))" -v total="$((S[$b.total] - S[$a.total]))" \
		-v pg="$((S[$b.pg] - S[$a.pg]))" -v parley="$((S[$b.parley] - S[$a.parley]))" \
		-v client="$((S[$b.client] - S[$a.client]))" -v kernel="$((S[$b.kernel] - S[$a.kernel]))" \
		-v lsn="$(awk -v x="${S[$b.lsn]}" -v y="${S[$a.lsn]}" 'BEGIN{print x-y}')" \
		-v sync="$((S[$b.sync] - S[$a.sync]))" -v rec="$((S[$b.records] - S[$a.records]))" \
		'BEGIN {
			ops = rate * dt; if (ops < 1) ops = 1
			ms = 1000 / tck                      # one tick in ms
			syncs = sync / dt
			# A client that ended before the second snapshot (the snapshots
			# themselves are slow on a loaded machine) reads as 0 there: "?".
			cl = client < 0 ? "?" : sprintf("%.0f", client * ms / ops * 1000)
			if (client < 0) client = 0
			other = busy - pg - parley - client - kernel; if (other < 0) other = 0
			printf "%.0f %.0f %.0f %s %.0f %.0f %.1f %.1f %.0f %.0f\n",
				100 * busy / (total ? total : 1),
				pg * ms / ops * 1000, parley * ms / ops * 1000, cl,
				lsn / ops, syncs, (syncs > 0 ? rate / syncs : 0), rec / ops,
				100 * kernel / (total ? total : 1), 100 * other / (total ? total : 1)
		}')
}

# run_sampled PHASE OUT CMD...: runs CMD in the background (stdout+stderr to
# OUT), snapshots PHASE.a one second after it started measuring and PHASE.b
# one second before its end, then waits; returns CMD's status.
run_sampled() {
	local ph=$1 out=$2 lead=1 span i
	shift 2
	snap_open "${SNAP_DSN:-$PG_ADMIN_DSN}" || fail "snapshots: no psql session" # before the load: no connecting during it
	"$@" >"$out" 2>&1 &
	CLIENT_PID=$!
	# loadgen says when its clock starts (bodies built, connections up).
	if [ "$(basename "$1")" = loadgen ]; then
		for i in $(seq 1 3000); do
			grep -q '^loadgen: started' "$out" 2>/dev/null && break
			kill -0 "$CLIENT_PID" 2>/dev/null || break
			sleep 0.01
		done
	fi
	span=$(awk -v s="$SECS" 'BEGIN{print (s >= 4 ? s - 2 : s * 0.5)}')
	[ "$SECS" -lt 4 ] && lead=$(awk -v s="$SECS" 'BEGIN{print s * 0.25}')
	sleep "$lead"
	snap "$ph.a" "$CLIENT_PID"
	sleep "$span"
	snap "$ph.b" "$CLIENT_PID"
	wait "$CLIENT_PID"
	local rc=$?
	CLIENT_PID=
	return $rc
}

# Value of KEY in the RESULT line of a loadgen output file.
res() { sed -nE "s/^RESULT .* $2=([^ ]+).*/\1/p" "$1" | tail -1; }

pgbench_run() { # DBNAME SCRIPT OUT PHASE
	run_sampled "$4" "$3" "$PGBENCH" -n -M prepared -f "$2" -c "$CONN" -j "$JOBS" -T "$SECS" \
		-h 127.0.0.1 -p "$PG_PORT" -U postgres "$1"
}

checkpoint() { sql "$PG_ADMIN_DSN" "CHECKPOINT" >/dev/null; }

fmt_ms() { awk -v x="$1" 'BEGIN{printf (x < 10 ? "%.2f" : "%.1f"), x}'; }

# ------------------------------------------------------------------- start

echo "bench: starting PostgreSQL"
# pg_stat_statements: tracking top-level statements costs each statement a
# hash lookup and a spinlock, in every phase alike (the INSERT ceiling too).
[ "$PGSS" = 1 ] && export PG_EXTRA_CONF="shared_preload_libraries = 'pg_stat_statements'"
pg_start || fail "PostgreSQL did not start"
PGVER=$(sql "$PG_ADMIN_DSN" "SHOW server_version")
SYNC=$(sql "$PG_ADMIN_DSN" "SHOW synchronous_commit")
FSYNC=$(sql "$PG_ADMIN_DSN" "SHOW fsync")
WSM=$(sql "$PG_ADMIN_DSN" "SHOW wal_sync_method")
SB=$(sql "$PG_ADMIN_DSN" "SHOW shared_buffers")
[ "$SYNC" = on ] && [ "$FSYNC" = on ] || fail "durable commits expected (synchronous_commit=$SYNC fsync=$FSYNC)"
# Diagnostics only: checkpoints and autovacuum runs in the server log, so a
# latency spike can be matched to them.
sql "$PG_ADMIN_DSN" "ALTER SYSTEM SET log_autovacuum_min_duration = 0" >/dev/null
sql "$PG_ADMIN_DSN" "ALTER SYSTEM SET log_checkpoints = on" >/dev/null
sql "$PG_ADMIN_DSN" "SELECT pg_reload_conf()" >/dev/null
# Lines in the server log: LOGLINE_<phase> and LOGEND_<phase> bracket each
# loadgen phase.
log_lines() { wc -l <"$PG_ROOT/server.log" 2>/dev/null || echo 0; }
for db in bench_pgbench bench_sql bench_parley; do
	sql "$PG_ADMIN_DSN" "CREATE DATABASE $db" >/dev/null || fail "CREATE DATABASE $db"
done

echo "bench: $NCPU CPUs, PostgreSQL $PGVER (synchronous_commit=$SYNC, fsync=$FSYNC," \
	"wal_sync_method=$WSM, shared_buffers=$SB), $CONN connections, ${SECS}s per phase"

# -------------------------------------------- 1. baseline: single-row INSERT

psql -X -q -v ON_ERROR_STOP=1 "$(tcp_dsn bench_pgbench)" <<'SQL' || fail "baseline table"
CREATE TABLE bench_messages (
    id TEXT NOT NULL UNIQUE,
    payload JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
SQL
# A WhatsApp text webhook as jsonb (~480 bytes), its ids varying per row so
# the server parses a fresh document each time, as it does for parley.
cat >"$TEST_TMP/insert.sql" <<'SQL'
\set r random(1, 9000000000000000000)
INSERT INTO bench_messages (id, payload) VALUES ('wamid.HBgLpgbench' || :client_id || '.' || :r, ('{"object":"whatsapp_business_account","entry":[{"id":"100000000000001","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Customer 42"},"wa_id":"31610000042"}],"messages":[{"from":"31610000042","id":"wamid.HBgLpgbench' || :r || '","timestamp":"1767261660","type":"text","text":{"body":"Hi! Do you have the blue jacket in size M?"}}]},"field":"messages"}]}]}')::jsonb);
SQL
echo "bench: [1/5] pgbench single-row INSERT, $CONN clients, ${SECS}s"
checkpoint
pgbench_run bench_pgbench "$TEST_TMP/insert.sql" "$TEST_TMP/pgbench.out" pgb \
	|| { cat "$TEST_TMP/pgbench.out" >&2; fail "pgbench"; }
PG_TPS=$(sed -nE 's/^tps = ([0-9.]+) .*without.*/\1/p' "$TEST_TMP/pgbench.out")
PG_LAT=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' "$TEST_TMP/pgbench.out")
PG_N=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$TEST_TMP/pgbench.out")
[ -n "$PG_TPS" ] && [ "$(sql "$(tcp_dsn bench_pgbench)" "SELECT count(*) FROM bench_messages")" = "$PG_N" ] \
	|| { cat "$TEST_TMP/pgbench.out" >&2; fail "pgbench gave no result or its rows do not match"; }
window pgb "$PG_TPS"

# ------------------- 2. information: parley_ingest_batch() directly, batched

new_conf() { # DB -> path; parley config for DB over TCP
	local c
	c=$(new_config "$(tcp_dsn "$1")") || return 1
	# Nothing may leave the machine, and no reply may become due during the
	# bench (the ingest SQL still sets reply_due_at and notifies).
	sed -i "s/^\[database\]$/[database]\nconnections = $CONN/" "$c"
	cat >>"$c" <<CONF
whatsapp_url = http://127.0.0.1:9/v24.0
instagram_url = http://127.0.0.1:9/v24.0
[openai]
url = http://127.0.0.1:9/v1
[replies]
debounce_ms = 600000
CONF
	# BENCH_LOG_LEVEL=warn: without info's line per webhook (what it costs).
	if [ -n "${BENCH_LOG_LEVEL:-}" ]; then conf_set "$c" log level "$BENCH_LOG_LEVEL"; fi
	echo "$c"
}

SQL_TPS=
if [ "$SQL_BASELINE" = 1 ]; then
	c=$(new_conf bench_sql) || fail "config"
	"$PARLEY_BIN" migrate -c "$c" >"$TEST_TMP/migrate-sql.out" 2>&1 \
		|| { cat "$TEST_TMP/migrate-sql.out" >&2; fail "parley migrate (bench_sql)"; }
	seed_channels "$(tcp_dsn bench_sql)" || fail "seed (bench_sql)"
	seed_other_endpoint "$(tcp_dsn bench_sql)"
	# The arguments parley sends for SQL_BATCH text webhooks (events JSON as
	# ingest_events_json() writes it, raw bodies as BYTEA), built before the
	# run so that only parley_ingest_batch() itself is measured: enough
	# batches for twice the INSERT ceiling, each webhook's id used once.
	NBATCH=$(awk -v t="$PG_TPS" -v s="$SECS" -v b="$SQL_BATCH" 'BEGIN{printf "%d", 2 * t * s / b + 100}')
	echo "bench: [2/5] building $NBATCH batches of $SQL_BATCH webhooks for parley_ingest_batch()"
	bench_batches "$(tcp_dsn bench_sql)" "$NBATCH" "$SQL_BATCH" "$CUSTOMERS" sql || fail "bench batches"
	cat >"$TEST_TMP/ingest.sql" <<'SQL'
SELECT count(*) FROM bench_batches b, unnest(parley_ingest_batch(b.objects, b.events, b.raws, 600000))
 WHERE b.id = (SELECT nextval('bench_batch_seq'));
SQL
	echo "bench: [2/5] pgbench calling parley_ingest_batch() directly, $SQL_BATCH webhooks per call, $CONN clients, ${SECS}s"
	checkpoint
	SNAP_DSN=$(tcp_dsn bench_sql) pgbench_run bench_sql "$TEST_TMP/ingest.sql" "$TEST_TMP/pgbench-sql.out" sql \
		|| { cat "$TEST_TMP/pgbench-sql.out" >&2; fail "pgbench (parley_ingest_batch)"; }
	SQL_CALLS=$(sed -nE 's/^tps = ([0-9.]+) .*without.*/\1/p' "$TEST_TMP/pgbench-sql.out")
	SQL_LAT=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' "$TEST_TMP/pgbench-sql.out")
	[ -n "$SQL_CALLS" ] || { cat "$TEST_TMP/pgbench-sql.out" >&2; fail "pgbench (parley_ingest_batch) gave no result"; }
	[ "$(sql "$(tcp_dsn bench_sql)" "SELECT last_value < $NBATCH FROM bench_batch_seq")" = t ] \
		|| fail "pgbench (parley_ingest_batch) ran out of batches"
	SQL_TPS=$(awk -v t="$SQL_CALLS" -v b="$SQL_BATCH" 'BEGIN{print t * b}')
	window sql "$SQL_TPS"
fi

# ------------------------------------------------------------------ parley

CONF=$(new_conf bench_parley) || fail "config"
PDSN=$(tcp_dsn bench_parley)
"$PARLEY_BIN" migrate -c "$CONF" >"$TEST_TMP/migrate.out" 2>&1 \
	|| { cat "$TEST_TMP/migrate.out" >&2; fail "parley migrate"; }
seed_channels "$PDSN" || fail "seed"
seed_other_endpoint "$PDSN"
[ "$PGSS" = 1 ] && { sql "$PDSN" "CREATE EXTENSION pg_stat_statements" >/dev/null || fail "pg_stat_statements"; }
# pgss_top OUT LIMIT WEBHOOKS: bench_parley's statements since the last
# reset, by total time: calls, time and WAL per webhook, blocks dirtied.
pgss_reset() { [ "$PGSS" = 1 ] && sql "$PDSN" "SELECT pg_stat_statements_reset()" >/dev/null; }
pgss_top() {
	[ "$PGSS" = 1 ] || return 0
	sql "$PDSN" "SELECT format('%8s %9s %9s %9s %9s %9s  %s', 'calls/wh', 'ms/call', 'us/wh', 'WAL B/wh', 'FPI/1k wh', 'dirty/1k', 'statement')
	       UNION ALL (SELECT format('%8s %9s %9s %9s %9s %9s  %s', round(calls::numeric / $3, 3),
	              round((total_exec_time / calls)::numeric, 3), round((total_exec_time * 1000 / $3)::numeric, 1),
	              round(wal_bytes / $3), round(wal_fpi * 1000.0 / $3), round(shared_blks_dirtied * 1000.0 / $3),
	              regexp_replace(left(query, 90), '\s+', ' ', 'g'))
	         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
	        WHERE d.datname = 'bench_parley' AND query !~* 'pg_stat_statements'
	        ORDER BY total_exec_time DESC LIMIT $2)" >"$1"
}
start_parley "$CONF" || fail "parley serve did not start"
URL="$(parley_url "$CONF")/webhooks/meta"
# Bodies for the closed loop: twice what the INSERT baseline managed, so a
# parley at 2x the ceiling would still not run out (loadgen says if it does).
NBODIES=$(awk -v t="$PG_TPS" -v s="$SECS" 'BEGIN{printf "%d", 2 * t * s + 10000}')
OK_TOTAL=0

loadgen_phase() { # PHASE LABEL ARGS...
	local ph=$1 label=$2 out="$TEST_TMP/loadgen-$1.out"
	shift 2
	declare -g "LOGLINE_$ph=$(log_lines)"
	SNAP_DSN=$PDSN run_sampled "$ph" "$out" "$LOADGEN" -v -u "$URL" -l "$label" -T "$ph$$" "$@" \
		|| { cat "$out" >&2; fail "loadgen ($label)"; }
	declare -g "LOGEND_$ph=$(log_lines)"
	grep -q '^RESULT ' "$out" || { cat "$out" >&2; fail "loadgen ($label) gave no result"; }
	grep '^# ' "$out" | sed 's/^# /bench:   /'
	kill -0 "$PARLEY_PID" 2>/dev/null || fail "parley died during $label"
	OK_TOTAL=$((OK_TOTAL + $(res "$out" ok)))
	local bad=$(($(res "$out" non200) + $(res "$out" errors)))
	[ "$bad" = 0 ] || { grep -v '^RESULT' "$out" >&2; fail "$label: $bad requests not answered 200"; }
	[ "$(res "$out" exhausted)" = 0 ] || echo "bench: note: $label ran out of pre-built bodies; its rate is a lower bound"
}

echo "bench: [3/5] parley warm-up, ${WARMUP}s"
SAVE_SECS=$SECS
SECS=$WARMUP loadgen_phase warm warmup -m closed -c "$HTTP_CONNS" -t "$WARMUP" -k "$CUSTOMERS" \
	-n "$(awk -v t="$PG_TPS" -v s="$WARMUP" 'BEGIN{printf "%d", 2 * t * s + 10000}')"

echo "bench: [4/5] parley closed loop, $HTTP_CONNS HTTP connections, ${SECS}s"
checkpoint
pgss_reset
CPU0=$(proc_cpu "$PARLEY_PID")
# The targets' per-webhook costs are read over the whole closed loop (the
# snapshots before it starts and after it ended): on a loaded machine the
# snapshots themselves take seconds, and the steady-middle window can then
# miss most of the phase.
SNAP_DSN=$PDSN snap closedall.a
loadgen_phase closed max-throughput -m closed -c "$HTTP_CONNS" -t "$SECS" -k "$CUSTOMERS" -n "$NBODIES"
CPU1=$(proc_cpu "$PARLEY_PID")
SNAP_DSN=$PDSN snap closedall.b
MAX_RPS=$(res "$TEST_TMP/loadgen-closed.out" rps)
CLOSED_OK=$(res "$TEST_TMP/loadgen-closed.out" ok)
pgss_top "$TEST_TMP/pgss-closed.out" 6 "$CLOSED_OK"
window closed "$MAX_RPS"
window closedall "$MAX_RPS"
# parley's CPU over the whole closed run (not only the window), µs per webhook.
PARLEY_CPU_US=$(awk -v d="$((CPU1 - CPU0))" -v tck="$TCK" -v n="$CLOSED_OK" \
	'BEGIN{printf "%.0f", d * 1000 / tck / (n ? n : 1) * 1000}')

HALF=$(awk -v r="$MAX_RPS" 'BEGIN{printf "%d", r / 2}')
[ "$HALF" -ge 1 ] || HALF=1
echo "bench: [5/5] parley open loop at ${HALF}/s (half the maximum), ${SECS}s"
checkpoint
loadgen_phase open half-rate -m open -r "$HALF" -c "$CONN" -C 1024 -t "$SECS" -k "$CUSTOMERS"
window open "$HALF"

HOT_RPS=
if [ "$HOT_SECS" != 0 ]; then
	echo "bench: [info] one hot conversation, closed loop, ${HOT_SECS}s"
	SECS=$HOT_SECS loadgen_phase hot hot-conversation -m closed -c "$HTTP_CONNS" -t "$HOT_SECS" -k 1 \
		-n "$(awk -v t="$PG_TPS" -v s="$HOT_SECS" 'BEGIN{printf "%d", t * s + 10000}')"
	HOT_RPS=$(res "$TEST_TMP/loadgen-hot.out" rps)
fi
# Meta delivers concurrently and asks only for a median under 250 ms
# (docs/protocol.md, Answers): with more senders than the closed loop's,
# batches grow to their limit and the CPU is used to the full.
WIDE_RPS=
if [ "$WIDE_SECS" != 0 ]; then
	echo "bench: [info] closed loop, $WIDE_CONNS HTTP connections, ${WIDE_SECS}s"
	checkpoint
	SECS=$WIDE_SECS loadgen_phase wide many-senders -m closed -c "$WIDE_CONNS" -t "$WIDE_SECS" \
		-k "$CUSTOMERS" -n "$(awk -v t="$PG_TPS" -v s="$WIDE_SECS" 'BEGIN{printf "%d", 2 * t * s + 10000}')"
	WIDE_RPS=$(res "$TEST_TMP/loadgen-wide.out" rps)
	SECS=$WIDE_SECS window wide "$WIDE_RPS"
fi
# Nested statements: where parley_ingest_batch's time goes (track = all
# costs every statement inside it a lookup, so no target is read here).
if [ "$PGSS" = 1 ]; then
	echo "bench: [info] closed loop with pg_stat_statements.track = all, 3s"
	sql "$PG_ADMIN_DSN" "ALTER SYSTEM SET pg_stat_statements.track = 'all'" >/dev/null
	sql "$PG_ADMIN_DSN" "SELECT pg_reload_conf()" >/dev/null
	sleep 0.2
	pgss_reset
	SECS=3 loadgen_phase nested pgss-nested -m closed -c "$HTTP_CONNS" -t 3 \
		-k "$CUSTOMERS" -n "$(awk -v t="$PG_TPS" 'BEGIN{printf "%d", 6 * t + 10000}')"
	pgss_top "$TEST_TMP/pgss-nested.out" 16 "$(res "$TEST_TMP/loadgen-nested.out" ok)"
	sql "$PG_ADMIN_DSN" "ALTER SYSTEM RESET pg_stat_statements.track" >/dev/null
	sql "$PG_ADMIN_DSN" "SELECT pg_reload_conf()" >/dev/null
fi
SECS=$SAVE_SECS

HWM_KB=$(sed -nE 's/^VmHWM:\s+([0-9]+) kB/\1/p' "/proc/$PARLEY_PID/status")
RSS_KB=$(sed -nE 's/^VmRSS:\s+([0-9]+) kB/\1/p' "/proc/$PARLEY_PID/status")

# ------------------------------------------------------------- correctness

MSGS=$(sql "$PDSN" "SELECT count(*) FROM messages")
RAWS=$(sql "$PDSN" "SELECT count(*) FROM webhook_raw")
CONVS=$(sql "$PDSN" "SELECT count(*) FROM conversations")
# Per conversation: sequence_no is 1..n with no gap or repeat, and the
# counter agrees.
BAD_SEQ=$(sql "$PDSN" "SELECT count(*) FROM conversations c
	LEFT JOIN (SELECT conversation_id, count(*) n, count(DISTINCT sequence_no) d,
	                  min(sequence_no) lo, max(sequence_no) hi
	             FROM messages GROUP BY conversation_id) m USING (conversation_id)
	WHERE m.n IS NULL OR m.n <> m.d OR m.lo <> 1 OR m.hi <> m.n OR c.last_sequence_no <> m.n")
LOG_ERRORS=$(grep -c ' error ' "$CONF.log" || true)
stop_parley "$PARLEY_PID"
PARLEY_RC=$?
PARLEY_PID=
BROKEN=
[ "$MSGS" = "$OK_TOTAL" ] || BROKEN="$BROKEN messages=$MSGS but $OK_TOTAL webhooks answered 200;"
[ "$RAWS" = "$OK_TOTAL" ] || BROKEN="$BROKEN webhook_raw=$RAWS but $OK_TOTAL webhooks answered 200;"
[ "$BAD_SEQ" = 0 ] || BROKEN="$BROKEN $BAD_SEQ conversations with a broken sequence;"
[ "$CONVS" -le "$CUSTOMERS" ] || BROKEN="$BROKEN $CONVS conversations for $CUSTOMERS customers;"
[ "$PARLEY_RC" = 0 ] || BROKEN="$BROKEN parley exited $PARLEY_RC on SIGTERM;"
[ "$LOG_ERRORS" = 0 ] || BROKEN="$BROKEN $LOG_ERRORS error lines in the parley log;"

# ----------------------------------------------------------------- summary

r() { res "$TEST_TMP/loadgen-$1.out" "$2"; }
RATIO=$(awk -v a="$MAX_RPS" -v b="$PG_TPS" 'BEGIN{printf "%.2f", a / b}')
OPEN_P99=$(r open p99_ms)
OPEN_RPS=$(r open rps)
HWM_MB=$(awk -v k="$HWM_KB" 'BEGIN{printf "%.1f", k / 1024}')
verdict() { awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN{ok = op == ">=" ? x >= t : x <= t; print ok ? "PASS" : "MISS"}'; }

echo
echo "== parley bench: $NCPU CPUs, PostgreSQL $PGVER, synchronous_commit=$SYNC, $CONN database connections, ${SECS}s per phase =="
echo
printf '%-46s %12s %9s %9s %9s %9s\n' "run" "per second" "p50 ms" "p90 ms" "p99 ms" "max ms"
printf '%-46s %12.0f %9s %9s %9s %9s\n' "pgbench single-row INSERT ($CONN clients)" "$PG_TPS" "avg $(fmt_ms "$PG_LAT")" "" "" ""
[ -n "$SQL_TPS" ] && printf '%-46s %12.0f %9s %9s %9s %9s\n' "parley SQL alone, $SQL_BATCH per call (info)" "$SQL_TPS" "avg $(fmt_ms "$SQL_LAT")" "" "" ""
printf '%-46s %12.0f %9s %9s %9s %9s\n' "parley closed loop ($HTTP_CONNS HTTP conns)" "$MAX_RPS" \
	"$(fmt_ms "$(r closed p50_ms)")" "$(fmt_ms "$(r closed p90_ms)")" "$(fmt_ms "$(r closed p99_ms)")" "$(fmt_ms "$(r closed max_ms)")"
printf '%-46s %12.0f %9s %9s %9s %9s\n' "parley open loop at $HALF/s (half max)" "$OPEN_RPS" \
	"$(fmt_ms "$(r open p50_ms)")" "$(fmt_ms "$(r open p90_ms)")" "$(fmt_ms "$OPEN_P99")" "$(fmt_ms "$(r open max_ms)")"
[ -n "$HOT_RPS" ] && printf '%-46s %12.0f %9s %9s %9s %9s\n' "parley, one hot conversation (info)" "$HOT_RPS" \
	"$(fmt_ms "$(r hot p50_ms)")" "$(fmt_ms "$(r hot p90_ms)")" "$(fmt_ms "$(r hot p99_ms)")" "$(fmt_ms "$(r hot max_ms)")"
[ -n "$WIDE_RPS" ] && printf '%-46s %12.0f %9s %9s %9s %9s\n' "parley closed loop ($WIDE_CONNS HTTP conns, info)" "$WIDE_RPS" \
	"$(fmt_ms "$(r wide p50_ms)")" "$(fmt_ms "$(r wide p90_ms)")" "$(fmt_ms "$(r wide p99_ms)")" "$(fmt_ms "$(r wide max_ms)")"
echo
echo "Where the time goes (steady middle of each run; postgres, parley, client: CPU us per operation,"
echo " an operation being a webhook answered 200, or a pgbench transaction; WAL: bytes per operation)"
echo "(CPU busy, kernel and other: % of all $NCPU CPUs; kernel = irq/softirq and kernel threads; other = processes"
echo " that are not part of the bench)"
printf '%-26s %5s %7s %6s %9s %7s %7s %10s %9s %10s\n' "run" "busy" "kernel" "other" "postgres" "parley" "client" "WAL B/op" "fsyncs/s" "ops/fsync"
NOISY=
diag() {
	printf '%-26s %4s%% %6s%% %5s%% %9s %7s %7s %10s %9s %10s\n' "$1" "${D[$2.busy]}" "${D[$2.kernel]}" "${D[$2.other]}" "${D[$2.pg]}" \
		"$([ "$2" = pgb ] || [ "$2" = sql ] && echo - || echo "${D[$2.parley]}")" \
		"${D[$2.client]}" "${D[$2.walkb]}" "${D[$2.syncs]}" "${D[$2.per_sync]}"
	[ "${D[$2.other]}" -lt 5 ] || NOISY="$NOISY $1 (${D[$2.other]}%);"
}
diag "pgbench INSERT" pgb
[ -n "$SQL_TPS" ] && diag "parley SQL alone" sql
diag "parley closed loop" closed
diag "parley open loop (half)" open
[ -n "$WIDE_RPS" ] && diag "parley $WIDE_CONNS senders" wide
[ -z "$NOISY" ] || echo "WARNING: other processes used the CPU during:$NOISY the figures are disturbed; run again on a quiet machine"
# A missed latency target: when it happened, and what the server did then.
if [ "$(verdict "$OPEN_P99" "<=" 10)" = MISS ]; then
	echo
	echo "open loop: seconds with an answer slower than 10 ms (by scheduled send time):"
	sed -nE 's/^loadgen: half-rate second ([0-9]+): ([0-9]+) answered, max ([0-9.]+) ms$/\1 \2 \3/p' \
		"$TEST_TMP/loadgen-open.out" | awk '$3 > 10 {printf "  second %2d: %5d answered, slowest %8.1f ms\n", $1, $2, $3}'
	echo "server log during the open loop (checkpoints, autovacuum, anything else):"
	tail -n +"$((LOGLINE_open + 1))" "$PG_ROOT/server.log" | head -n "$((LOGEND_open - LOGLINE_open))" \
		| sed 's/^/  /' | head -20
fi
echo
printf '%-40s %14s %12s   %s\n' "target" "measured" "target" "result"
printf '%-40s %13sx %12s   %s\n' "throughput / pgbench INSERT ceiling" "$RATIO" ">= 0.75x" "$(verdict "$RATIO" ">=" 0.75)"
printf '%-40s %11s us %12s   %s\n' "PostgreSQL CPU per webhook (closed)" "${D[closedall.pg]}" "<= 60 us" "$(verdict "${D[closedall.pg]}" "<=" 60)"
printf '%-40s %11s us %12s   %s\n' "parley CPU per webhook (closed)" "$PARLEY_CPU_US" "<= 30 us" "$(verdict "$PARLEY_CPU_US" "<=" 30)"
printf '%-40s %11s ms %12s   %s\n' "p99 latency at half the maximum rate" "$(fmt_ms "$OPEN_P99")" "<= 10 ms" "$(verdict "$OPEN_P99" "<=" 10)"
printf '%-40s %11s MB %12s   %s\n' "peak RSS (VmHWM)" "$HWM_MB" "<= 16 MB" "$(verdict "$HWM_KB" "<=" 16384)"
printf '%-40s %12s B %12s   %s\n' "WAL per webhook (closed)" "${D[closedall.walkb]}" "" "(info)"
[ -n "$WIDE_RPS" ] && printf '%-40s %13sx %12s   %s\n' "$WIDE_CONNS senders / INSERT ceiling" \
	"$(awk -v a="$WIDE_RPS" -v b="$PG_TPS" 'BEGIN{printf "%.2f", a / b}')" "" "(info)"
[ -n "$SQL_TPS" ] && printf '%-40s %13sx %12s   %s\n' "parley SQL alone / INSERT ceiling" \
	"$(awk -v a="$SQL_TPS" -v b="$PG_TPS" 'BEGIN{printf "%.2f", a / b}')" "" "(info)"
[ -n "$SQL_TPS" ] && printf '%-40s %13sx %12s   %s\n' "throughput / parley SQL alone" \
	"$(awk -v a="$MAX_RPS" -v b="$SQL_TPS" 'BEGIN{printf "%.2f", a / b}')" "" "(info)"
if [ "$PGSS" = 1 ]; then
	echo
	echo "pg_stat_statements, closed loop (top level; per webhook answered 200):"
	sed 's/^/  /' "$TEST_TMP/pgss-closed.out"
	echo "pg_stat_statements, 3 s closed loop with track = all (nested statements included):"
	sed 's/^/  /' "$TEST_TMP/pgss-nested.out"
fi
echo
echo "correctness: $OK_TOTAL webhooks answered 200; $MSGS messages and $RAWS raw bodies stored;" \
	"$CONVS conversations, $BAD_SEQ with a sequence gap; parley exit $PARLEY_RC; RSS at end $((RSS_KB / 1024)) MB"
echo "BENCH ratio=$RATIO max_rps=$MAX_RPS pgbench_tps=$PG_TPS ingest_sql_tps=${SQL_TPS:-} half_rate=$HALF" \
	"open_p50_ms=$(r open p50_ms) open_p99_ms=$OPEN_P99 closed_p99_ms=$(r closed p99_ms) hwm_kb=$HWM_KB" \
	"parley_cpu_us=$PARLEY_CPU_US pg_cpu_us=${D[closedall.pg]} wal_bytes=${D[closedall.walkb]} window_pg_cpu_us=${D[closed.pg]} open_pg_cpu_us=${D[open.pg]} hot_rps=${HOT_RPS:-} wide_rps=${WIDE_RPS:-}"
if [ -n "$BROKEN" ]; then
	fail "correctness:$BROKEN"
fi
exit 0
