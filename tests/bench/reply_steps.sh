#!/usr/bin/env bash
# `make bench-reply-steps`: what each write step of a reply costs PostgreSQL,
# against a floor. REPLY_CONVERSATIONS conversations (default 2000) of one
# tenant, each with one unanswered customer message, are answered in
# batches of STEPS_BATCH (default 64) by three transactions per batch, run
# back to back through one psql session, with no parley and no network:
#   claim   parley_claim_replies, or the floor: one UPDATE that leases and
#           charges the batch and one query of its customer messages, and
#           one UPDATE of the tenant's credits;
#   store   parley_store_replies (one part per reply), or the floor: the
#           agent messages, their delivery rows and the conversations'
#           counters, three statements for the batch;
#   finish  parley_finish_sent_replies, or the floor: the messages and
#           delivery rows marked sent, the claims released.
# The floor is the least that the contract writes (README, Performance), done
# set-based with nothing checked. Each configuration runs on a fresh database;
# STEPS_ROUNDS rounds (default 3) of all of them are interleaved. Reported per
# configuration: PostgreSQL CPU (every process of the cluster) and WAL bytes
# per reply, and the median over the rounds. A step's cost over its floor is
# its configuration's median minus the all-floor median.
set -u
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_build bench-reply-steps
bench_init bench-reply-steps parley-steps
N=${REPLY_CONVERSATIONS:-2000}
B=${STEPS_BATCH:-64}
ROUNDS=${STEPS_ROUNDS:-3}
TCK=$(getconf CLK_TCK)

claim_floor="WITH due AS (SELECT conversation_id FROM conversations
              WHERE reply_due_at <= now() AND is_active
                AND (reply_lease_until IS NULL OR reply_lease_until < now())
              ORDER BY reply_due_at LIMIT $B FOR UPDATE SKIP LOCKED),
     k AS (UPDATE conversations k
              SET reply_lease_owner = 'p1', reply_lease_until = now() + interval '30 s',
                  reply_charged = true
             FROM due WHERE k.conversation_id = due.conversation_id
           RETURNING k.conversation_id, k.replied_through_seq)
SELECT k.conversation_id, jsonb_agg(jsonb_build_object('seq', m.sequence_no, 'text', m.text))
  FROM k JOIN messages m ON m.conversation_id = k.conversation_id AND m.sender = 'user'
                        AND m.sequence_no > k.replied_through_seq
 GROUP BY 1 \\g /dev/null
UPDATE credits SET remaining_credits = remaining_credits - $B, total_used = total_used + $B
 WHERE user_id = 'st-1';"
claim_parley="SELECT parley_claim_replies('p1', $B, 30, 1) \\g /dev/null"
store_floor="WITH mine AS (SELECT conversation_id, last_sequence_no + 1 AS seq FROM conversations
               WHERE reply_lease_owner = 'p1' AND last_sequence_no = 1 FOR UPDATE),
     ins AS (INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no,
                                   kind, \"timestamp\", send_started_at, reply_token, author)
             SELECT gen_random_uuid()::text, conversation_id, 'agent',
                    'Thanks for asking! Here is the answer.', 'pending', seq, 'text', now(), now(),
                    gen_random_uuid()::text, 'ai' FROM mine
             RETURNING message_id, conversation_id, sequence_no),
     d AS (INSERT INTO message_delivery_status (message_id, status, updated_at)
           SELECT message_id, 'pending', now() FROM ins)
UPDATE conversations k
   SET last_sequence_no = ins.sequence_no, last_message_at = now(),
       replied_through_seq = ins.sequence_no - 1
  FROM ins WHERE k.conversation_id = ins.conversation_id;"
store_parley="SELECT parley_store_replies('p1', 1, array_agg(conversation_id ORDER BY conversation_id),
       array_agg(1), array_agg('[\"Thanks for asking! Here is the answer.\"]'::jsonb),
       array_agg(gen_random_uuid()::text), array_agg(false))
  FROM conversations WHERE reply_lease_owner = 'p1' AND last_sequence_no = 1 \\g /dev/null"
finish_floor="WITH s AS (UPDATE messages m SET status = 'sent', platform_message_id = 'wamid.' || m.message_id
             FROM conversations k
            WHERE k.reply_lease_owner = 'p1' AND m.conversation_id = k.conversation_id
              AND m.sender = 'agent' AND m.status = 'pending'
           RETURNING m.message_id, m.conversation_id),
     d AS (UPDATE message_delivery_status d
              SET status = 'sent', platform_message_id = 'wamid.' || s.message_id, updated_at = now()
             FROM s WHERE d.message_id = s.message_id)
UPDATE conversations k
   SET reply_lease_owner = NULL, reply_lease_until = NULL, reply_charged = false, reply_due_at = NULL
  FROM s WHERE k.conversation_id = s.conversation_id;"
finish_parley="SELECT count(*) FROM (
       SELECT array_agg(m.message_id ORDER BY m.conversation_id) AS ids,
              array_agg('wamid.' || m.message_id ORDER BY m.conversation_id) AS pmids,
              array_agg(m.conversation_id ORDER BY m.conversation_id) AS convs,
              array_agg(NULL::text) AS notify
         FROM messages m JOIN conversations k USING (conversation_id)
        WHERE k.reply_lease_owner = 'p1' AND m.sender = 'agent' AND m.status = 'pending') x,
       parley_finish_sent_replies('p1', x.ids, x.pmids, x.convs, x.notify) \\g /dev/null"

# run CLAIM STORE FINISH (each floor or parley): one line of figures.
run() {
	local dsn conf i sqlfile pg0 pg1 wal0 wal done slow
	dsn=$(new_db)
	conf=$(new_config "$dsn")
	"$PARLEY_BIN" migrate -c "$conf" >/dev/null || return 1
	psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<SQL || return 1
INSERT INTO users (user_id, email, company_name) VALUES ('st-1', 'ops@bench.test', 'Bench');
INSERT INTO credits (user_id, remaining_credits) VALUES ('st-1', $N + $B);
INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
VALUES ('sp-1', 'st-1', 'whatsapp', '106540000000001', 'wa-token', 'Bench');
INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
VALUES ('sa-1', 'st-1', 'sp-1', 'pmpt_wa', 'Agent');
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no,
                           openai_conversation_id, reply_due_at)
SELECT 'sb-' || i, 'sa-1', (31000000000 + i)::text, 1, 'conv_bench_' || i, now()
  FROM generate_series(1, $N) i;
INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, triggers_reply)
SELECT 'sbm-' || i, 'sb-' || i, 'user', 'Question ' || i, 'sent', 1, true
  FROM generate_series(1, $N) i;
VACUUM ANALYZE;
CHECKPOINT;
SQL
	sqlfile=$TEST_TMP/steps.sql
	local claim=claim_$1 store=store_$2 finish=finish_$3
	: >"$sqlfile"
	for ((i = 0; i < (N + B - 1) / B; i++)); do
		printf 'BEGIN;\n%s\nCOMMIT;\nBEGIN;\n%s\nCOMMIT;\nBEGIN;\n%s\nCOMMIT;\n' \
			"${!claim}" "${!store}" "${!finish}" >>"$sqlfile"
	done
	wal0=$(sql "$dsn" "SELECT pg_current_wal_lsn()")
	pg0=$(pg_cpu)
	psql -X -q -v ON_ERROR_STOP=1 "$dsn" -f "$sqlfile" >/dev/null || return 1
	pg1=$(pg_cpu)
	wal=$(sql "$dsn" "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0')::bigint / $N")
	done=$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'sent'")
	[ "$done" = "$N" ] || { echo "bench-reply-steps: $1/$2/$3: $done of $N sent" >&2; return 1; }
	slow=$(sql "$dsn" "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions
	                   WHERE funcname IN ('parley_store_reply', 'parley_record_sent_message')")
	awk -v c="$1/$2/$3" -v pg=$((pg1 - pg0)) -v tck="$TCK" -v n="$N" -v wal="$wal" -v slow="$slow" \
		'BEGIN { printf "STEPS %s pg_us_per_reply=%.0f wal_bytes_per_reply=%d per_row_calls=%d\n", c, pg * 1e6 / tck / n, wal, slow }'
}

# Autovacuum off: a worker that wakes in the middle of one configuration's
# half second is charged to it. track_functions: how many conversations
# took the per-row path (parley_store_reply, parley_record_sent_message
# calls; the claim's loop is counted by its parley_release_reply calls
# only when it releases, so its fast path shows as no per-row call at all).
export PG_EXTRA_CONF="autovacuum = off
track_functions = 'pl'"
pg_start || exit 1
echo "bench-reply-steps: $N replies of one tenant, $B per transaction, $ROUNDS rounds"
configs=${STEPS_CONFIGS:-"floor:floor:floor parley:floor:floor floor:parley:floor floor:floor:parley parley:parley:parley"}
out=$TEST_TMP/steps.out
status=0
for ((r = 1; r <= ROUNDS; r++)); do
	for c in $configs; do
		IFS=: read -r a b f <<<"$c"
		run "$a" "$b" "$f" | tee -a "$out" || status=1
	done
done
# Medians, and each configuration over the all-floor one.
awk '/^STEPS / { split($3, a, "="); v[$2] = v[$2] " " a[2]; if (!($2 in seen)) { seen[$2] = 1; o[++k] = $2 } }
	function median(s,   x, n, i, j, t) { n = split(s, x, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
		return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
	END { base = median(v["floor/floor/floor"])
		printf "\n== PostgreSQL CPU per reply, claim/store/finish (median of:%s) ==\n", ""
		for (i = 1; i <= k; i++) { m = median(v[o[i]])
			printf "%-24s %6.0f us   %+6.0f us over the floor   (%s )\n", o[i], m, m - base, v[o[i]] } }' "$out"
exit $status
