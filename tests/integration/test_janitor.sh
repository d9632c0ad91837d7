#!/usr/bin/env bash
# The janitor of `parley serve` (src/service/serve.c; README, Webhook
# ingestion): raw webhook bodies older than server.keep_raw_days go in
# bounded batches (1,000 per statement), the first pass when parley is
# ready, and while a pass finds a full batch the next follows 200 ms later
# instead of a minute later. Also: the pruning statements' cost is the
# batch's, not the table's (their plans use the indexes).
. "$(dirname "$0")/../lib/testlib.sh"

seeded_db

# A backlog of two full batches and a bit (1,000 per batch), and bodies
# that are recent enough to stay: many of them, so that the backlog is a
# small part of the table, as it is in production.
ok "a backlog of 2,005 old raw bodies and 50,000 recent ones" sql "$dsn" "
	INSERT INTO webhook_raw (received_at, object, body, outcome)
	SELECT now() - interval '9 days' + make_interval(secs => i), 'old', 'x', '{}'
	  FROM generate_series(1, 2005) i;
	INSERT INTO webhook_raw (received_at, object, body, outcome)
	SELECT now() - interval '6 days', 'recent', 'x', '{}' FROM generate_series(1, 50000)"
ok "ANALYZE" sql "$dsn" "ANALYZE webhook_raw"

# The plans: the DELETE finds the batch by primary key, the batch comes from
# the received_at index in its order; no sequential scan of the table.
plan=$(sql "$dsn" "EXPLAIN DELETE FROM webhook_raw WHERE raw_id = ANY (ARRAY(
	SELECT raw_id FROM webhook_raw WHERE received_at < now() - make_interval(days => 7)
	 ORDER BY received_at, raw_id LIMIT 1000))")
contains "prune plan: the batch by primary key" "webhook_raw_pkey" "$plan"
contains "prune plan: the oldest from the received_at index" "webhook_raw_received_at" "$plan"
fails "prune plan: no sequential scan" grep -q "Seq Scan" <<<"$plan"
ok "parley_prune_raw_webhooks's body is that statement" sql "$dsn" "
	SELECT 1 / (prosrc LIKE '%raw_id = ANY (ARRAY(%ORDER BY received_at, raw_id LIMIT p_limit%')::int
	  FROM pg_proc WHERE proname = 'parley_prune_raw_webhooks'"

start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
# Ready: the first batch at once; two more 200 ms apart (the third finds
# 5 rows, less than a batch, and the next pass is the minute's).
ok "the backlog is gone within seconds, not minutes" wait_for "$dsn" \
	"SELECT count(*) FROM webhook_raw WHERE object = 'old'" 0
eq "recent bodies kept" 50000 "$(sql "$dsn" "SELECT count(*) FROM webhook_raw WHERE object = 'recent'")"
metrics=$(curl -sS "$(parley_url "$conf")/metrics")
contains "the metric counts every pruned body" "parley_raw_webhooks_pruned_total 2005" "$metrics"
# Three passes, so three log lines (log.level info by default).
sleep 0.2
eq "pruned in three batches" 3 "$(grep -c 'pruned [0-9]* raw webhook bodies' "$conf.log")"
eq "no error logged" 0 "$(grep -c ' error ' "$conf.log")"
stop_parley "$pid"
eq "parley exits 0 on SIGTERM" 0 "$?"
finish
