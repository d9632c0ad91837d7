#!/usr/bin/env bash
# Webhook ingestion end to end (docs/architecture.md, docs/protocol.md): a real
# `parley serve`, a real PostgreSQL, real HTTP requests; assertions on the
# rows.
. "$(dirname "$0")/../lib/testlib.sh"

seeded_db
serve "$conf" || { finish; exit 1; }

# --- the subscription handshake
got=$(curl -sS -w ' %{http_code}' "$url/webhooks/meta?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=1158201444")
eq "handshake answers the challenge" "1158201444 200" "$got"
got=$(curl -sS -o /dev/null -w '%{http_code}' "$url/webhooks/meta?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
eq "handshake with a wrong token: 403" 403 "$got"
got=$(curl -sS -o /dev/null -w '%{http_code}' "$url/webhooks/meta")
eq "handshake without parameters: 403" 403 "$got"
got=$(curl -sS -o /dev/null -w '%{http_code}' "$url/webhooks/meta?hub.mode=subscribe&x")
eq "handshake with a query that does not parse: 403" 403 "$got"

# --- bad input changes nothing
body="$TEST_TMP/one.json"
wa_text "wamid.ONE" 31612345678 "Hello" >"$body"
got=$(curl -sS -o "$TEST_TMP/r" -w '%{http_code}' --data-binary "@$body" "$url/webhooks/meta")
eq "no signature: 401" 401 "$got"
contains "401 body is a JSON error" '"error"' "$(cat "$TEST_TMP/r")"
eq "wrong secret: 401" 401 "$(post_signed "$url" "$body" wrong-secret)"
printf 'not json' >"$TEST_TMP/bad.json"
eq "signed but not JSON: 400" 400 "$(post_signed "$url" "$TEST_TMP/bad.json")"
printf '[1,2]' >"$TEST_TMP/arr.json"
eq "signed JSON array: 400" 400 "$(post_signed "$url" "$TEST_TMP/arr.json")"
head -c 4194400 /dev/zero | tr '\0' 'x' >"$TEST_TMP/big.json"
eq "body over max_body_bytes: 413" 413 "$(post_signed "$url" "$TEST_TMP/big.json")"
eq "bad input stored nothing" "0 0" "$(sql "$dsn" "SELECT (SELECT count(*) FROM messages) || ' ' || (SELECT count(*) FROM webhook_raw)")"

# --- routing
got=$(curl -sS -o "$TEST_TMP/r" -w '%{http_code} %{content_type}' "$url/nope")
eq "unknown path: 404 JSON" "404 application/json" "$got"
got=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$url/webhooks/meta")
eq "wrong method: 405" 405 "$got"
got=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$url/healthz")
eq "POST /healthz: 405" 405 "$got"
eq "/healthz 200" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$url/healthz")"
eq "/readyz 200" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$url/readyz")"

# --- one message, stored once however often it comes
eq "signed text: 200" 200 "$(post_signed "$url" "$body")"
eq "repeat 1: 200" 200 "$(post_signed "$url" "$body")"
eq "repeat 2: 200" 200 "$(post_signed "$url" "$body")"
eq "three deliveries, one row" 1 "$(sql "$dsn" "SELECT count(*) FROM messages WHERE platform_message_id = 'wamid.ONE'")"
eq "stored as sent by the customer, text as sent" "user|Hello|1|text" \
	"$(sql "$dsn" "SELECT sender, text, sequence_no, kind FROM messages WHERE platform_message_id = 'wamid.ONE'")"
eq "conversation created for the agent and customer" "ag-wa|31612345678|t|Ana" \
	"$(sql "$dsn" "SELECT agent_id, customer_phone, is_active, customer_name FROM conversations")"
eq "a reply is due" t "$(sql "$dsn" "SELECT reply_due_at IS NOT NULL FROM conversations")"
eq "every verified body kept raw" 3 "$(sql "$dsn" "SELECT count(*) FROM webhook_raw")"
eq "raw body kept byte for byte" "$(md5sum <"$body" | cut -d' ' -f1)" \
	"$(sql "$dsn" "SELECT md5(body) FROM webhook_raw ORDER BY raw_id LIMIT 1")"

# --- 50 concurrent posts into one conversation: sequence 2..51, no gap, no repeat
for i in $(seq 1 50); do
	wa_text "wamid.C$i" 31612345678 "burst $i" >"$TEST_TMP/c$i.json"
done
for i in $(seq 1 50); do
	post_signed "$url" "$TEST_TMP/c$i.json" >"$TEST_TMP/c$i.status" &
done
wait_children() { local p; for p in $(jobs -p); do [ "$p" = "$pid" ] || wait "$p"; done; }
wait_children
eq "50 concurrent posts all 200" 50 "$(cat "$TEST_TMP"/c*.status | grep -c '^200$')"
eq "sequence contiguous 1..51" "51|51|1|51" \
	"$(sql "$dsn" "SELECT count(*), count(DISTINCT sequence_no), min(sequence_no), max(sequence_no) FROM messages")"
eq "conversation counter matches" 51 "$(sql "$dsn" "SELECT last_sequence_no FROM conversations")"

# --- unknown and ambiguous channels: skipped, counted, never guessed
wa_text "wamid.UNKNOWN" 31612345678 "Hi" 999999999 >"$TEST_TMP/unknown.json"
eq "unknown channel: still 200" 200 "$(post_signed "$url" "$TEST_TMP/unknown.json")"
eq "unknown channel: nothing stored" 0 "$(sql "$dsn" "SELECT count(*) FROM messages WHERE platform_message_id = 'wamid.UNKNOWN'")"
sql "$dsn" "INSERT INTO users (user_id, email) VALUES ('other', 'o@x.test');
            INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token)
            VALUES ('pn-dup', 'other', 'whatsapp', '106540352242922', 't');" >/dev/null
wa_text "wamid.AMBIG" 31612345678 "Hi" >"$TEST_TMP/ambig.json"
eq "ambiguous channel: still 200" 200 "$(post_signed "$url" "$TEST_TMP/ambig.json")"
eq "ambiguous channel: nothing stored" 0 "$(sql "$dsn" "SELECT count(*) FROM messages WHERE platform_message_id = 'wamid.AMBIG'")"
sql "$dsn" "DELETE FROM phone_numbers WHERE id = 'pn-dup'" >/dev/null
metrics=$(curl -sS "$url/metrics")
contains "skips counted by reason (unknown)" 'parley_messages_skipped_total{reason="unknown_channel"} 1' "$metrics"
contains "skips counted by reason (ambiguous)" 'parley_messages_skipped_total{reason="ambiguous_channel"} 1' "$metrics"
contains "signature failures counted" 'parley_signature_failures_total 2' "$metrics"

# --- statuses: monotonic, early ones kept
sql "$dsn" "INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, platform_message_id)
            SELECT 'm-agent', conversation_id, 'agent', 'Hi there', 'sent', 52, 'wamid.AGENT1' FROM conversations;
            UPDATE conversations SET last_sequence_no = 52;" >/dev/null
for st in read delivered sent; do
	wa_status wamid.AGENT1 "$st" >"$TEST_TMP/st-$st.json"
	eq "status $st: 200" 200 "$(post_signed "$url" "$TEST_TMP/st-$st.json")"
done
eq "out-of-order statuses keep the most advanced" read \
	"$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = 'm-agent'")"
wa_status wamid.NOT_YET delivered >"$TEST_TMP/st-early.json"
eq "status for an unknown id: 200" 200 "$(post_signed "$url" "$TEST_TMP/st-early.json")"
eq "status for an unknown id is kept" delivered \
	"$(sql "$dsn" "SELECT status FROM pending_delivery_status WHERE platform_message_id = 'wamid.NOT_YET'")"

# --- the janitor's pruning (parley_prune_raw_webhooks): old bodies only,
# at most the limit per call, oldest first
kept=$(sql "$dsn" "SELECT count(*) FROM webhook_raw")
ok "three raw bodies ten days old" sql "$dsn" "
	INSERT INTO webhook_raw (received_at, object, body, outcome)
	SELECT now() - interval '10 days', 'old-' || i, 'x', '{}' FROM generate_series(1, 3) i"
eq "prune: at most the limit" 2 "$(sql "$dsn" "SELECT parley_prune_raw_webhooks(7, 2)")"
eq "prune: the oldest first" "old-3" "$(sql "$dsn" "SELECT string_agg(object, ',') FROM webhook_raw WHERE object LIKE 'old-%'")"
eq "prune: then the rest" 1 "$(sql "$dsn" "SELECT parley_prune_raw_webhooks(7, 2)")"
eq "prune: then nothing" 0 "$(sql "$dsn" "SELECT parley_prune_raw_webhooks(7, 2)")"
eq "prune: recent bodies kept" "$kept" "$(sql "$dsn" "SELECT count(*) FROM webhook_raw")"

# --- database outage: 503 and not ready, then recovery without a restart
pg_pause
wa_text "wamid.DOWN" 31612345678 "anyone?" >"$TEST_TMP/down.json"
eq "database down: webhook 503" 503 "$(post_signed "$url" "$TEST_TMP/down.json")"
eq "database down: /readyz 503" 503 "$(curl -sS -o /dev/null -w '%{http_code}' "$url/readyz")"
eq "database down: /healthz still 200" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$url/healthz")"
pg_resume
ok "database back: /readyz 200 again" wait_status "$url/readyz" 200
eq "database back: the redelivery is stored" 200 "$(post_signed "$url" "$TEST_TMP/down.json")"
eq "database back: stored once" 1 "$(sql "$dsn" "SELECT count(*) FROM messages WHERE platform_message_id = 'wamid.DOWN'")"

# --- graceful stop
stop_parley "$pid"
eq "SIGTERM: exit 0" 0 $?
finish
