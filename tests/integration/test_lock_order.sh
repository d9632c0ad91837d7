#!/usr/bin/env bash
# Functions that lock both a conversation and its tenant's credits take the
# conversation first (migration 0013): a reply refund racing an extraction
# failure on the same conversation waits instead of deadlocking.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db) || { finish; exit 1; }
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
ok "seed" seed_channels "$dsn"
ok "a charged conversation" sql "$dsn" "
	INSERT INTO conversations (conversation_id, agent_id, customer_phone, reply_charged,
	                           reply_lease_owner, reply_lease_until)
	VALUES ('cv-1', 'ag-wa', '31610000001', true, 'worker-1', now() + interval '1 minute');
	UPDATE credits SET remaining_credits = 10, total_used = 5 WHERE user_id = 'acme';"

# What parley_fail_extraction does (conversation, then credits), with a
# pause between the two so that the refund starts in the middle.
psql -X -q -v ON_ERROR_STOP=1 "$dsn" >"$TEST_TMP/extraction.out" 2>&1 <<'SQL' &
BEGIN;
SELECT 1 FROM conversations WHERE conversation_id = 'cv-1' FOR UPDATE;
SELECT pg_sleep(1.5);
UPDATE credits SET remaining_credits = remaining_credits + 1, total_used = total_used - 1
 WHERE user_id = 'acme';
COMMIT;
SQL
extraction=$!
sleep 0.5
refund_rc=0
sql "$dsn" "SET deadlock_timeout = '100ms'; SELECT parley_refund_reply('cv-1', 'worker-1', 'acme', 1)" \
	>"$TEST_TMP/refund.out" 2>&1 || refund_rc=$?
extraction_rc=0
wait "$extraction" || extraction_rc=$?
eq "the refund waited for the conversation and succeeded" "0 " "$refund_rc $(grep -o deadlock "$TEST_TMP/refund.out")"
eq "the extraction's transaction succeeded" "0 " "$extraction_rc $(grep -o deadlock "$TEST_TMP/extraction.out")"
eq "both credits went back" "12|3|false" "$(sql "$dsn" "
	SELECT k.remaining_credits || '|' || k.total_used || '|' || c.reply_charged
	  FROM credits k, conversations c WHERE k.user_id = 'acme' AND c.conversation_id = 'cv-1'")"

finish
