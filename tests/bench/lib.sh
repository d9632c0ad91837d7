# Sourced by the bench scripts (tests/bench/*.sh): what they share.
#   bench_build TARGET [loadgen] PARLEY_BIN and PARLEY_BUILD from make, LOADGEN
#   bench_init NAME TMP_PREFIX  TEST_TMP, tests/lib/testlib.sh, the traps
#   bench_cleanup               the exit trap: processes, PostgreSQL, TEST_TMP
#   tcp_dsn DB                  a DSN of the bench's cluster over TCP
#   proc_cpu_add, proc_cpu, proc_cpu_reaped_add, pg_cpu_add, pg_cpu
#                               CPU of processes and of the whole cluster
#   bench_batches DSN NBATCH BATCH CUSTOMERS TAG [short]
#                               the arguments of parley_ingest_batch() calls
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# bench_build TARGET [loadgen]: checks that `make TARGET` set PARLEY_BIN and
# PARLEY_BUILD (exits saying so when not); with loadgen, sets LOADGEN, the
# load generator it built, or exits 1 when it is missing.
bench_build() {
	: "${PARLEY_BIN:?run through make $1 (PARLEY_BIN unset)}"
	: "${PARLEY_BUILD:?run through make $1 (PARLEY_BUILD unset)}"
	[ "${2:-}" = loadgen ] || return 0
	LOADGEN=$PARLEY_BUILD/tests/loadgen
	[ -x "$LOADGEN" ] || { echo "$1: $LOADGEN missing" >&2; exit 1; }
}

# bench_init NAME TMP_PREFIX: a temporary directory /tmp/TMP_PREFIX.XXXXXX
# as TEST_TMP, tests/lib/testlib.sh (and pg.sh) sourced, and bench_cleanup
# run at exit (INT and TERM exit 130 and 143). NAME starts its messages.
bench_init() {
	BENCH_NAME=$1
	export TEST_TMP
	TEST_TMP=$(mktemp -d "/tmp/$2.XXXXXX")
	chmod 755 "$TEST_TMP"
	. "$BENCH_DIR/../lib/testlib.sh"
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# bench_cleanup: stops the processes whose ids are in the variables that
# BENCH_PID_VARS names (in that order; an empty one is passed over), then
# PostgreSQL; removes TEST_TMP unless BENCH_KEEP=1, which keeps it with the
# server's log.
bench_cleanup() {
	local v p
	for v in ${BENCH_PID_VARS:-}; do
		p=${!v:-}
		[ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[ "${BENCH_KEEP:-0}" = 1 ] && [ -n "${PG_ROOT:-}" ] && cp "$PG_ROOT/server.log" "$TEST_TMP/" 2>/dev/null
	pg_stop
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "$BENCH_NAME: kept $TEST_TMP"
	else
		rm -rf "$TEST_TMP"
	fi
}

tcp_dsn() { echo "host=127.0.0.1 port=$PG_PORT user=postgres dbname=$1"; }

# CPU in clock ticks. These run while a load runs, on the same CPUs: they
# read /proc with shell builtins and fork only pgrep, so that taking them
# does not itself show up as a latency spike.

# ACC += utime+stime of each PID (gone processes add 0). Field 2 (the
# command) may hold spaces, hence the cut at ") ".
ACC=0
proc_cpu_add() {
	local p line f
	for p in "$@"; do
		line=
		read -r line 2>/dev/null <"/proc/$p/stat" || continue
		line=${line##*) }
		read -r -a f <<<"$line"
		ACC=$((ACC + f[11] + f[12]))
	done
}
proc_cpu() { ACC=0; proc_cpu_add "$1"; echo "$ACC"; }
# ACC += cutime+cstime of PID: its children that exited and were waited for
# (PostgreSQL's backends and workers, which the postmaster reaps), so that a
# backend ending between two snapshots does not take its CPU with it.
proc_cpu_reaped_add() {
	local line f
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	line=${line##*) }
	read -r -a f <<<"$line"
	ACC=$((ACC + f[13] + f[14]))
}
# ACC += the whole cluster's CPU: the postmaster and its live children, plus
# the children it reaped.
PG_PM=
pg_cpu_add() {
	[ -n "$PG_PM" ] || read -r PG_PM <"$PG_ROOT/data/postmaster.pid"
	proc_cpu_add "$PG_PM" $(pgrep -P "$PG_PM")
	proc_cpu_reaped_add "$PG_PM"
}
pg_cpu() { ACC=0; pg_cpu_add; echo "$ACC"; }

# One psql session kept open (a coprocess) for queries asked while a load
# runs: a psql started per query costs a process and a new backend each
# time, which stalls the load and is counted as PostgreSQL's CPU. Add
# SNAP_PID to BENCH_PID_VARS so that the exit trap ends it.
SNAP_CONN= SNAP_PID=
snap_close() {
	[ -n "$SNAP_PID" ] || return 0
	exec {SNAPSQL[1]}>&- 2>/dev/null
	wait "$SNAP_PID" 2>/dev/null
	SNAP_PID= SNAP_CONN=
}
# snap_open DSN: the session on DSN (kept when it is open already).
snap_open() {
	[ "$SNAP_CONN" = "$1" ] && [ -n "$SNAP_PID" ] && return 0
	snap_close
	coproc SNAPSQL { exec stdbuf -oL psql -X -q -At -v ON_ERROR_STOP=1 "$1" 2>&1; }
	SNAP_PID=$SNAPSQL_PID SNAP_CONN=$1
	local ok
	snap_query ok "SELECT 1"
	[ "$ok" = 1 ] && return 0
	echo "bench: psql on $1 answered '$ok'" >&2
	return 1
}
# snap_query VAR SQL: the one-line answer of SQL into VAR (not through $(),
# whose subshell cannot use the coprocess).
snap_query() {
	printf '%s;\n' "$2" >&"${SNAPSQL[1]}"
	IFS= read -r "$1" <&"${SNAPSQL[0]}"
}


# bench_batches DSN NBATCH BATCH CUSTOMERS TAG [short]: the table
# bench_batches of NBATCH rows, each the arguments parley sends to
# parley_ingest_batch() for BATCH text webhooks (events JSON as
# ingest_events_json() writes it, raw bodies as BYTEA: Meta's whole body, or
# with "short" only the message), spread over CUSTOMERS customers, every
# webhook's id (wamid.HBgLTAGb.g) used once; and the sequence
# bench_batch_seq that pgbench scripts take their batch from.
bench_batches() {
	local raw
	if [ "${6:-}" = short ]; then
		raw='{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"value":{"messages":[{"id":"wamid.HBgL'$5\'' || b || '\''.'\'' || g || '\''","text":{"body":"Hi! Do you have the blue jacket in size M?"}}]},"field":"messages"}]}]}'
	else
		raw='{"object":"whatsapp_business_account","entry":[{"id":"100000000000001","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Customer '\'' || k || '\''"},"wa_id":"3161'\'' || lpad(k::text, 7, '\''0'\'') || '\''"}],"messages":[{"from":"3161'\'' || lpad(k::text, 7, '\''0'\'') || '\''","id":"wamid.HBgL'$5\'' || b || '\''.'\'' || g || '\''","timestamp":"1767261660","type":"text","text":{"body":"Hi! Do you have the blue jacket in size M?"}}]},"field":"messages"}]}]}'
	fi
	psql -X -q -v ON_ERROR_STOP=1 "$1" <<SQL
CREATE TABLE bench_batches (id bigint PRIMARY KEY, objects text[], events jsonb[], raws bytea[]);
CREATE SEQUENCE bench_batch_seq;
INSERT INTO bench_batches
SELECT b, array_agg('whatsapp_business_account'::text),
       array_agg(jsonb_build_array(jsonb_build_object('t', 'm', 'platform', 'whatsapp',
          'channel', '106540352242922', 'customer', '3161' || lpad(k::text, 7, '0'),
          'id', 'wamid.HBgL$5' || b || '.' || g, 'kind', 'text',
          'text', 'Hi! Do you have the blue jacket in size M?',
          'name', 'Customer ' || k, 'ts', 1767261660000, 'reply', true, 'echo', false)) ORDER BY g),
       array_agg(convert_to('$raw', 'UTF8') ORDER BY g)
  FROM generate_series(1, $2) b, generate_series(1, $3) g,
       LATERAL (SELECT (hashint8(b * 1000 + g) & 2147483647) % $4 AS k) c
 GROUP BY b;
SQL
}
