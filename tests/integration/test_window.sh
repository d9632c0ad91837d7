#!/usr/bin/env bash
# Conversation control (SPEC 9.2, 9.3): the 24-hour window and the pause, as
# the reply claim sees them. Messages Meta redelivers a day late (after an
# outage) get no reply, no OpenAI request and no charge; a paused
# conversation is neither claimed nor charged, and is answered once the
# pause ends. Also `conversation list`/`show` and their --json. A real
# parley, a real PostgreSQL, the stand-in OpenAI and Graph API.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

WIDGET=wgt_window
N=0
# say FROM TEXT [AGE_SECONDS]: a customer's WhatsApp message whose platform
# timestamp is AGE_SECONDS old (0: now); prints the HTTP status.
say() {
	N=$((N + 1))
	MSG_TS=$(($(date +%s) - ${3:-0})) wa_text "wamid.W$N.$RANDOM" "$1" "$2" >"$TEST_TMP/say.json"
	post_signed "$url" "$TEST_TMP/say.json"
}
# ig_say FROM TEXT [AGE_SECONDS]: the same on Instagram.
ig_say() {
	N=$((N + 1))
	MSG_TS=$(($(date +%s) - ${3:-0})) ig_text "mid.W$N.$RANDOM" "$1" "$2" >"$TEST_TMP/say.json"
	post_signed "$url" "$TEST_TMP/say.json"
}
last_input() { curl -sS "$OPENAI/_requests" | jq -c '[.[] | select(.path == "/v1/responses")][-1].body.input | map(.content)'; }
conv_of() { sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '$1'"; }
col() { sql "$dsn" "SELECT $2 FROM conversations WHERE customer_phone = '$1'"; }
agent_sent() { sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                           WHERE c.customer_phone = '$1' AND m.sender = 'agent' AND m.status = 'sent'"; }
run() { OUT=$("$PARLEY_BIN" "$@" -c "$conf" 2>"$TEST_TMP/err") && RC=0 || RC=$?; }
DAY=86400

reply_standins || { finish; exit 1; }
dsn=$(new_db)
conf=$(reply_config "$dsn" openai timeout_seconds 5 replies debounce_ms 300 \
	webchat secret test-webchat-secret-window)
reply_migrate "$conf" "$dsn" "$WIDGET"
reply_start "$conf" || { finish; exit 1; }

# --- a message 25 hours old, redelivered after an outage: no reply at all
A=31600000001
eq "old message accepted" 200 "$(say $A "Are you open?" $((DAY + 3600)))"
ok "it is handled: answered-through, nothing due" wait_for "$dsn" \
	"SELECT replied_through_seq || '|' || (reply_due_at IS NULL) FROM conversations WHERE customer_phone = '$A'" "1|true"
eq "the window closed an hour ago (platform timestamp + 24 h)" t \
	"$(col $A "window_expires_at BETWEEN now() - interval '61 minutes' AND now() - interval '59 minutes'")"
eq "no OpenAI request" 0 "$(n_responses)"
eq "no send" 0 "$(curl -sS "$GRAPH/_requests" | jq length)"
eq "no credit taken" "100/0" "$(credits)"
eq "no agent message" 0 "$(agent_sent $A)"
eq "the customer message stays stored" "1|user|Are you open?" \
	"$(sql "$dsn" "SELECT m.sequence_no || '|' || m.sender || '|' || m.text FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$A'")"
eq "counted: replies_total{outcome=window_closed}" 1 "$(metric 'parley_replies_total{outcome="window_closed"}')"
eq "counted: replies_skipped_total{reason=window_closed}" 1 "$(metric 'parley_replies_skipped_total{reason="window_closed"}')"
sleep 1
eq "logged once, at info" 1 "$(grep -c "info  the 24-hour window has closed: no reply \[conv=$(conv_of $A) " "$conf.log")"
eq "not claimed again" 1 "$(metric 'parley_replies_total{outcome="window_closed"}')"

# --- the customer writes again: the window opens, the reply covers only the new message
eq "fresh message accepted" 200 "$(say $A "Hello again")"
ok "answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                               WHERE c.customer_phone = '$A' AND m.sender = 'agent' AND m.status = 'sent'" 1
eq "one OpenAI request, for the new message only" '["Hello again"]' "$(last_input)"
eq "one credit taken" "99/1" "$(credits)"
eq "the window is open for 24 hours" t \
	"$(col $A "window_expires_at BETWEEN now() + interval '23 hours 58 minutes' AND now() + interval '24 hours'")"
before=$(col $A "window_expires_at")

# --- an old redelivery after the fresh message: the window does not move back
eq "late redelivery accepted" 200 "$(say $A "Sent yesterday" $((DAY + 7200)))"
ok "answered (the window is open)" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                               WHERE c.customer_phone = '$A' AND m.sender = 'agent' AND m.status = 'sent'" 2
eq "the window did not move back" "$before" "$(col $A "window_expires_at")"
eq "its reply took a credit" "98/2" "$(credits)"

# --- Instagram too
I=5551234567890101
eq "old Instagram message accepted" 200 "$(ig_say $I "Price?" $((DAY + 60)))"
ok "Instagram: handled without a reply" wait_for "$dsn" \
	"SELECT replied_through_seq || '|' || (reply_due_at IS NULL) FROM conversations WHERE customer_phone = '$I'" "1|true"
eq "Instagram: no OpenAI request" 2 "$(n_responses)"
eq "Instagram: no credit" "98/2" "$(credits)"
eq "Instagram: counted" 2 "$(metric 'parley_replies_skipped_total{reason="window_closed"}')"
eq "Instagram: fresh message accepted" 200 "$(ig_say $I "Price now?")"
ok "Instagram: answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                               WHERE c.customer_phone = '$I' AND m.sender = 'agent' AND m.status = 'sent'" 1
eq "Instagram: window open" t "$(col $I "window_expires_at > now() + interval '23 hours'")"

# --- echoes do not open the window (a coexistence or Instagram echo, stored by ingestion)
E=31600000005
eq "old message for the echo case" 200 "$(say $E "Old question" $((DAY + 600)))"
ok "handled" wait_for "$dsn" "SELECT replied_through_seq FROM conversations WHERE customer_phone = '$E'" 1
w_before=$(col $E "window_expires_at")
sql "$dsn" "SELECT parley_ingest('whatsapp_business_account', jsonb_build_array(jsonb_build_object('t', 'm',
            'platform', 'whatsapp', 'channel', '106540352242922', 'customer', '$E', 'id', 'wamid.ECHO1',
            'kind', 'text', 'text', 'from the phone app', 'ts', extract(epoch FROM now())::bigint * 1000,
            'reply', false, 'echo', true)), NULL, 300)" >/dev/null
eq "the echo is stored, by a human" "agent|human" \
	"$(sql "$dsn" "SELECT sender || '|' || author FROM messages WHERE platform_message_id = 'wamid.ECHO1'")"
eq "the echo did not open the window" "$w_before" "$(col $E "window_expires_at")"
sql "$dsn" "SELECT parley_ingest('whatsapp_business_account', jsonb_build_array(jsonb_build_object('t', 'm',
            'platform', 'whatsapp', 'channel', '106540352242922', 'customer', '$E', 'id', 'wamid.SYS1',
            'kind', 'system', 'text', '[system] number changed', 'ts', extract(epoch FROM now())::bigint * 1000,
            'reply', false, 'echo', false)), NULL, 300)" >/dev/null
eq "a WhatsApp system notice does not open it either" "$w_before" "$(col $E "window_expires_at")"

# --- webchat has no window
r=$(curl -sS -H 'Content-Type: application/json' -d "{\"widget_id\":\"$WIDGET\"}" "$url/webchat/v1/sessions")
TOKEN=$(jq -r .token <<<"$r")
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" \
	-d '{"text":"Hi from the site","client_message_id":"w-1"}' "$url/webchat/v1/messages")
eq "webchat message accepted" 202 "$code"
ok "webchat: answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                       JOIN agents a USING (agent_id) WHERE a.agent_id = 'ag-web' AND m.sender = 'agent' AND m.status = 'sent'" 1
eq "webchat: no window" "" "$(sql "$dsn" "SELECT window_expires_at FROM conversations WHERE agent_id = 'ag-web'")"
WEB=$(sql "$dsn" "SELECT conversation_id FROM conversations WHERE agent_id = 'ag-web'")

# --- paused: not claimed, not charged; claimed when the pause ends
P=31600000002
say $P "First" >/dev/null
ok "paused case: first message answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                               WHERE c.customer_phone = '$P' AND m.sender = 'agent' AND m.status = 'sent'" 1
PC=$(conv_of $P)
sql "$dsn" "UPDATE conversations SET ai_paused_until = 'infinity' WHERE conversation_id = '$PC'"
resp=$(n_responses) cr=$(credits)
eq "message while paused accepted" 200 "$(say $P "Anyone there?")"
ok "paused: skipped, nothing due (resume makes it due)" wait_for "$dsn" \
	"SELECT (reply_due_at IS NULL) || '|' || (reply_lease_owner IS NULL) FROM conversations WHERE conversation_id = '$PC'" "true|true"
eq "paused: counted" 1 "$(metric 'parley_replies_skipped_total{reason="paused"}')"
eq "paused: replies_total{outcome=paused}" 1 "$(metric 'parley_replies_total{outcome="paused"}')"
eq "paused: no OpenAI request" "$resp" "$(n_responses)"
eq "paused: no credit" "$cr" "$(credits)"
eq "paused: the message stays unanswered" 2 "$(col $P "last_sequence_no - replied_through_seq")"
sleep 1
eq "paused: not claimed again" 1 "$(metric 'parley_replies_skipped_total{reason="paused"}')"
eq "paused: logged once, at info" 1 "$(grep -c "info  the AI is paused: no reply \[conv=$PC " "$conf.log")"
# What `parley conversation resume` does (built elsewhere): no pause, due now, a wake-up.
sql "$dsn" "UPDATE conversations SET ai_paused_until = NULL, reply_due_at = now() WHERE conversation_id = '$PC';
            SELECT pg_notify('parley_reply_due', '$PC')" >/dev/null
ok "resumed: the message from the pause is answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                               WHERE c.customer_phone = '$P' AND m.sender = 'agent' AND m.status = 'sent'" 2
eq "resumed: its input" '["Anyone there?"]' "$(last_input)"

# A timed pause: the conversation waits for its end (no worker spins on it) and is then claimed by itself.
sql "$dsn" "UPDATE conversations SET ai_paused_until = now() + interval '5 seconds' WHERE conversation_id = '$PC'"
resp=$(n_responses)
say $P "Still there?" >/dev/null
ok "timed pause: skipped until its end" wait_for "$dsn" \
	"SELECT reply_due_at = ai_paused_until FROM conversations WHERE conversation_id = '$PC'" t
eq "timed pause: counted" 2 "$(metric 'parley_replies_skipped_total{reason="paused"}')"
eq "timed pause: no request yet" "$resp" "$(n_responses)"
eq "timed pause: the next wake-up is its end, not now" t \
	"$(sql "$dsn" "SELECT parley_next_reply_ms() > 500")"
ok "timed pause: answered after it ends" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                               WHERE c.customer_phone = '$P' AND m.sender = 'agent' AND m.status = 'sent'" 3
eq "timed pause: claimed once more only" 2 "$(metric 'parley_replies_skipped_total{reason="paused"}')"

# A reply stored but never handed to the platform (its process died) while
# the window closed: dropped, its charge returned, nothing sent.
D=31600000003
say $D "Question" >/dev/null
ok "drop case: answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                               WHERE c.customer_phone = '$D' AND m.sender = 'agent' AND m.status = 'sent'" 1
DC=$(conv_of $D)
cr=$(credits)
sends=$(curl -sS "$GRAPH/_requests" | jq length)
sql "$dsn" "BEGIN;
            UPDATE credits SET remaining_credits = remaining_credits - 1, total_used = total_used + 1 WHERE user_id = 'acme';
            INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, kind, author)
            SELECT 'orphan-part', '$DC', 'agent', 'never sent', 'pending', last_sequence_no + 1, 'text', 'ai'
              FROM conversations WHERE conversation_id = '$DC';
            INSERT INTO message_delivery_status (message_id, status, updated_at) VALUES ('orphan-part', 'pending', now());
            UPDATE conversations SET last_sequence_no = last_sequence_no + 1, reply_charged = true,
                   window_expires_at = now() - interval '1 minute', reply_due_at = now()
             WHERE conversation_id = '$DC';
            COMMIT; SELECT pg_notify('parley_reply_due', '$DC')" >/dev/null
ok "drop case: the part is marked failed" wait_for "$dsn" \
	"SELECT m.status || '|' || d.status || '|' || d.error_message FROM messages m JOIN message_delivery_status d USING (message_id)
	  WHERE message_id = 'orphan-part'" "failed|failed|not sent: the 24-hour window had closed"
ok "drop case: the charge is returned" wait_for "$dsn" \
	"SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'" "$cr"
eq "drop case: nothing sent" "$sends" "$(curl -sS "$GRAPH/_requests" | jq length)"
eq "drop case: no charge left" f "$(col $D reply_charged)"

# --- conversation list / show
C=31600000004
say $C "Old one" $((DAY + 60)) >/dev/null
ok "closed case handled" wait_for "$dsn" "SELECT replied_through_seq FROM conversations WHERE customer_phone = '$C'" 1
run conversation list --tenant acme
eq "list: exit 0" 0 "$RC"
contains "list: a window column" "window" "$(head -1 <<<"$OUT")"
contains "list: an open window" "open until $(col $A "to_char(window_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')") UTC" \
	"$(grep "$A" <<<"$OUT")"
eq "list: a closed window" closed "$(grep "$C" <<<"$OUT" | awk '{print $NF}')"
eq "list: webchat has none" - "$(grep "$WEB" <<<"$OUT" | awk '{print $NF}')"
run conversation list --tenant acme --json
eq "list --json: exit 0" 0 "$RC"
eq "list --json: open" "true|true" "$(jq -r --arg c "$A" '.[] | select(.customer == $c) |
	"\(.window_open)|\(.window_expires_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))"' <<<"$OUT")"
eq "list --json: the time" "$(col $A "to_char(window_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")" \
	"$(jq -r --arg c "$A" '.[] | select(.customer == $c) | .window_expires_at' <<<"$OUT")"
eq "list --json: closed" "false" "$(jq -r --arg c "$C" '.[] | select(.customer == $c) | .window_open' <<<"$OUT")"
eq "list --json: webchat" "null|true" "$(jq -r --arg c "$WEB" '.[] | select(.conversation_id == $c) | "\(.window_expires_at)|\(.window_open)"' <<<"$OUT")"
eq "list --json: no text column" null "$(jq -r '.[0].window' <<<"$OUT")"
run conversation show "$(conv_of $A)"
eq "show: exit 0" 0 "$RC"
contains "show: open until" "open until " "$(grep '^window' <<<"$OUT")"
run conversation show "$(conv_of $C)"
eq "show: closed" "closed" "$(grep '^window' <<<"$OUT" | awk '{print $NF}')"
run conversation show "$WEB"
eq "show: webchat has none" "-" "$(grep '^window' <<<"$OUT" | awk '{print $NF}')"
run conversation show "$(conv_of $C)" --json
eq "show --json: closed" "false|true" \
	"$(jq -r '"\(.window_open)|\(.window_expires_at != null)"' <<<"$OUT")"
run conversation show "$WEB" --json
eq "show --json: webchat" "null|true" "$(jq -r '"\(.window_expires_at)|\(.window_open)"' <<<"$OUT")"

finish
