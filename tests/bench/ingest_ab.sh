#!/usr/bin/env bash
# A/B of parley's ingest SQL alone, in one PostgreSQL, interleaved:
#
#   tests/bench/ingest_ab.sh OLD_PARLEY NEW_PARLEY
#
# Each PARLEY is a `parley` binary whose `migrate` finds its own sql/ (a
# build next to its tree: build/parley with sql/ beside build/). Both
# migrate a database of their own in one throwaway cluster; then pgbench
# calls parley_ingest_batch() with AB_BATCH webhooks per call (the arguments
# parley sends, built beforehand, as in run.sh step 2) on A, B, A, B, ...
# AB_ROUNDS times, AB_SECONDS each, each run after a CHECKPOINT. Per run:
# webhooks/s, PostgreSQL CPU µs per webhook (the whole cluster: postmaster,
# backends, reaped children), WAL bytes and full-page images per webhook.
# On a machine shared with other work the absolute figures move with the
# load; compare A and B of the same round, and the medians.
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
[ $# = 2 ] || { echo "usage: ingest_ab.sh OLD_PARLEY NEW_PARLEY" >&2; exit 2; }
BIN_A=$1 BIN_B=$2
ROUNDS=${AB_ROUNDS:-3}
SECS=${AB_SECONDS:-5}
CONN=${AB_CONNS:-8}
BATCH=${AB_BATCH:-32}
CUSTOMERS=${AB_CUSTOMERS:-1000}
. "$here/lib.sh"
bench_init ab parley-ab
PGBENCH=${PGBENCH:-$PG_BIN/pgbench}
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)
TCK=$(getconf CLK_TCK)

pg_start || exit 1
wal() { sql "$PG_ADMIN_DSN" "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, wal_fpi FROM pg_stat_wal"; }

# Enough batches for a fast machine: small batches go through faster.
PER_SEC=$((20000 / BATCH))
[ "$PER_SEC" -lt 450 ] && PER_SEC=450
NBATCH=$((ROUNDS * SECS * PER_SEC + 100))
for side in a b; do
	bin=$BIN_A
	[ $side = b ] && bin=$BIN_B
	sql "$PG_ADMIN_DSN" "CREATE DATABASE ab_$side" >/dev/null || exit 1
	conf=$(new_config "$(tcp_dsn ab_$side)") || exit 1
	"$bin" migrate -c "$conf" >"$TEST_TMP/migrate-$side.out" 2>&1 || { cat "$TEST_TMP/migrate-$side.out" >&2; exit 1; }
	seed_channels "$(tcp_dsn ab_$side)" || exit 1
	echo "ab: $side = $bin: building $NBATCH batches of $BATCH"
	bench_batches "$(tcp_dsn ab_$side)" "$NBATCH" "$BATCH" "$CUSTOMERS" ab || exit 1
done
cat >"$TEST_TMP/ingest.sql" <<'SQL'
SELECT count(*) FROM bench_batches b, unnest(parley_ingest_batch(b.objects, b.events, b.raws, 600000))
 WHERE b.id = (SELECT nextval('bench_batch_seq'));
SQL
sql "$PG_ADMIN_DSN" "CHECKPOINT" >/dev/null

printf '%-6s %-4s %12s %12s %12s %12s\n' round side "webhooks/s" "pg us/wh" "WAL B/wh" "FPI/1k wh"
for r in $(seq 1 "$ROUNDS"); do
	for side in a b; do
		sql "$PG_ADMIN_DSN" "CHECKPOINT" >/dev/null
		IFS='|' read -r l0 f0 <<<"$(wal)"
		c0=$(pg_cpu)
		"$PGBENCH" -n -M prepared -f "$TEST_TMP/ingest.sql" -c "$CONN" -j 2 -T "$SECS" \
			-h 127.0.0.1 -p "$PG_PORT" -U postgres "ab_$side" >"$TEST_TMP/pgbench.out" 2>&1 \
			|| { cat "$TEST_TMP/pgbench.out" >&2; exit 1; }
		c1=$(pg_cpu)
		IFS='|' read -r l1 f1 <<<"$(wal)"
		n=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$TEST_TMP/pgbench.out")
		awk -v r="$r" -v s="$side" -v n="$n" -v b="$BATCH" -v secs="$SECS" -v c="$((c1 - c0))" -v tck="$TCK" \
			-v l="$(awk -v x="$l1" -v y="$l0" 'BEGIN{print x-y}')" -v f="$((f1 - f0))" 'BEGIN {
			w = n * b; if (w < 1) w = 1
			printf "%-6s %-4s %12.0f %12.1f %12.0f %12.1f\n", r, s, w / secs, c * 1e6 / tck / w, l / w, f * 1000 / w
		}' | tee -a "$TEST_TMP/runs"
	done
done
# Per round, B / A; then the median of each ratio over the rounds.
awk '{ k = $1; if ($2 == "a") { for (i = 3; i <= 6; i++) a[k, i] = $i } else { n++
	for (i = 3; i <= 6; i++) r[i, n] = (a[k, i] > 0 ? $i / a[k, i] : 0) } }
	function median(i,   m, j, t, v) { m = 0; for (j = 1; j <= n; j++) v[++m] = r[i, j]
		for (j = 2; j <= m; j++) { t = v[j]; for (k = j - 1; k >= 1 && v[k] > t; k--) v[k + 1] = v[k]; v[k + 1] = t }
		return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
	END { printf "B/A, median of %d rounds: webhooks/s %.3f, pg us/wh %.3f, WAL B/wh %.3f, FPI/wh %.3f\n",
		n, median(3), median(4), median(5), median(6) }' "$TEST_TMP/runs"
[ "$(sql "$(tcp_dsn ab_a)" "SELECT last_value < $NBATCH FROM bench_batch_seq")" = t ] \
	&& [ "$(sql "$(tcp_dsn ab_b)" "SELECT last_value < $NBATCH FROM bench_batch_seq")" = t ] \
	|| { echo "ab: ran out of batches (raise AB_ROUNDS' NBATCH)" >&2; exit 1; }
