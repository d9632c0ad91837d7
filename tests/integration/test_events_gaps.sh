#!/usr/bin/env bash
# Events out (SPEC 10), the changes test_events_sources does not cover: a
# `failed` status from Meta after an accepted send (message.failed, also
# when the status came before the send was recorded), the webchat poll and
# read marks (message.status delivered, read), a person's webchat message
# (message.sent, author human), and conversation.archived from `conversation
# archive`, `channel remove --force` and a relink, each only for the
# conversations that change archives. Checked in the outbox (event_outbox):
# an event is written in the transaction of its change, whatever becomes of
# its delivery (test_events_sources checks delivery).
. "$(dirname "$0")/../lib/testlib.sh"

WIDGET=wgt_acme_site

dsn=$(new_db)
conf=$(new_config "$dsn")
for kv in "webchat secret test-webchat-secret" "replies debounce_ms 200" \
	"events allow_http true" "events allow_private_targets true"; do
	conf_set "$conf" $kv
done
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"
sql "$dsn" "INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
            VALUES ('pn-web', 'acme', 'webchat', '$WIDGET', '', 'Acme website');
            INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
            VALUES ('ag-web', 'acme', 'pn-web', 'pmpt_web', 'Web agent');
            INSERT INTO conversations (conversation_id, agent_id, customer_phone)
            VALUES ('c-wa', 'ag-wa', '31611111111'), ('c-wa2', 'ag-wa', '31622222222'),
                   ('c-old', 'ag-wa', '31633333333');
            UPDATE conversations SET is_active = false WHERE conversation_id = 'c-old';"
# Nothing listens there: the outbox is what is checked here.
"$PARLEY_BIN" endpoint add --tenant acme --url "http://127.0.0.1:9/hook" --id ep_a -c "$conf" >/dev/null
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")

# evs TYPE [JQ]: that type's event bodies' data, oldest first, one per line
# (JQ applied to each).
evs() {
	sql "$dsn" "SELECT body->'data' FROM event_outbox WHERE type = '$1' ORDER BY seq" |
		jq -r "${2:-.} | tostring"
}
n_of() { sql "$dsn" "SELECT count(*) FROM event_outbox WHERE type = '$1'"; }
# agent_msg ID CONV TEXT: an AI reply part stored pending, as parley_store_reply leaves it.
agent_msg() {
	sql "$dsn" "INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, author)
	            SELECT '$1', '$2', 'agent', '$3', 'pending', last_sequence_no + 1, 'ai'
	              FROM conversations WHERE conversation_id = '$2';
	            UPDATE conversations SET last_sequence_no = last_sequence_no + 1 WHERE conversation_id = '$2';" >/dev/null
}
# status_failed WAMID: Meta's failed status with its errors[].
status_failed() {
	cat <<JSON
{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"statuses":[{"id":"$1","status":"failed","timestamp":"1764300100","recipient_id":"31611111111","errors":[{"code":131026,"title":"Message undeliverable","message":"Message undeliverable"}]}]}}]}]}
JSON
}

# ---- Meta: failed after an accepted send -----------------------------------
agent_msg m-1 c-wa "Our prices"
sql "$dsn" "SELECT parley_record_sent('m-1', 'wamid.OUT1')" >/dev/null
eq "the send: message.sent" "m-1 ai" "$(evs message.sent '"\(.message_id) \(.author)"')"
status_failed wamid.OUT1 >"$TEST_TMP/f1.json"
eq "failed status: 200" 200 "$(post_signed "$url" "$TEST_TMP/f1.json")"
eq "failed status: the delivery status is failed" "failed|131026: Message undeliverable" \
	"$(sql "$dsn" "SELECT status || '|' || error_message FROM message_delivery_status WHERE message_id = 'm-1'")"
eq "failed status: message.failed with the error and the message" \
	"m-1 ai Our prices wamid.OUT1 131026: Message undeliverable c-wa whatsapp" \
	"$(evs message.failed '"\(.message_id) \(.author) \(.text) \(.platform_message_id) \(.error) \(.conversation_id) \(.platform)"')"
post_signed "$url" "$TEST_TMP/f1.json" >/dev/null
eq "the same failed status again: no second event" 1 "$(n_of message.failed)"
eq "no message.status for a failure" 0 "$(n_of message.status)"

# ---- Meta: statuses that came before the send was recorded -------------------
status_failed wamid.OUT2 >"$TEST_TMP/f2.json"
post_signed "$url" "$TEST_TMP/f2.json" >/dev/null
wa_status wamid.OUT3 read >"$TEST_TMP/r3.json"
post_signed "$url" "$TEST_TMP/r3.json" >/dev/null
eq "early statuses are kept, no event yet" "2 1" \
	"$(sql "$dsn" "SELECT count(*) FROM pending_delivery_status") $(n_of message.failed)"
agent_msg m-2 c-wa "Second part"
agent_msg m-3 c-wa "Third part"
sql "$dsn" "SELECT parley_record_sent('m-2', 'wamid.OUT2'); SELECT parley_record_sent('m-3', 'wamid.OUT3')" >/dev/null
eq "early failed, applied by the send's record: message.failed" "m-2 131026: Message undeliverable" \
	"$(evs message.failed '"\(.message_id) \(.error)"' | tail -1)"
eq "early read, applied by the send's record: message.status read" "m-3 read" \
	"$(evs message.status '"\(.message_id) \(.status)"')"
eq "each send's message.sent before its status event" "m-1 m-2 m-3" \
	"$(evs message.sent .message_id | tr '\n' ' ' | sed 's/ $//')"
eq "  ordered by seq: sent then failed for m-2" "message.sent message.failed" \
	"$(sql "$dsn" "SELECT string_agg(type, ' ' ORDER BY seq) FROM event_outbox WHERE body->'data'->>'message_id' = 'm-2'")"

# ---- webchat: a person's message, the poll, the read mark ----------------------
req() { # METHOD PATH [BODY] [TOKEN]: the body
	local args=(-sS -X "$1")
	[ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
	[ -n "${4:-}" ] && args+=(-H "Authorization: Bearer $4")
	curl "${args[@]}" "$url$2"
}
r=$(req POST /webchat/v1/sessions "{\"widget_id\":\"$WIDGET\"}")
TOKEN=$(jq -r .token <<<"$r")
SID=$(jq -r .session_id <<<"$r")
eq "a visitor's message" 1 "$(req POST /webchat/v1/messages '{"text":"Hello?","client_message_id":"c-1"}' "$TOKEN" | jq .sequence_no)"
cweb=$(sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '$SID'")
echo "A person from the shop here." | "$PARLEY_BIN" conversation send "$cweb" --text-file - -c "$conf" >/dev/null
eq "conversation send on webchat: exit 0" 0 $?
eq "a person's webchat message: message.sent, author human, in its transaction" \
	"human 2 A person from the shop here. webchat $cweb" \
	"$(evs message.sent 'select(.platform == "webchat") | "\(.author) \(.sequence_no) \(.text) \(.platform) \(.conversation_id)"')"
eq "the poll shows it delivered" "delivered" \
	"$(req GET "/webchat/v1/messages?after=1" "" "$TOKEN" | jq -r '.messages[0].status')"
eq "the poll's delivered mark: message.status delivered" "2 delivered" \
	"$(evs message.status 'select(.platform == "webchat") | "\(.sequence_no) \(.status)"')"
req GET "/webchat/v1/messages?after=0" "" "$TOKEN" >/dev/null
eq "polled again: no second delivered event" 1 \
	"$(evs message.status 'select(.platform == "webchat")' | wc -l)"
eq "the read mark: one message read" 1 "$(req POST /webchat/v1/read '{"up_to":2}' "$TOKEN" | jq .read)"
eq "the read mark: message.status read" "2 delivered|2 read" \
	"$(evs message.status 'select(.platform == "webchat") | "\(.sequence_no) \(.status)"' | paste -sd'|')"
req POST /webchat/v1/read '{"up_to":2}' "$TOKEN" >/dev/null
eq "read again: no second read event" 2 "$(evs message.status 'select(.platform == "webchat")' | wc -l)"

# ---- conversation.archived: archive, relink, channel remove --------------------
"$PARLEY_BIN" conversation archive c-wa --tenant acme -c "$conf" >/dev/null
eq "conversation archive: conversation.archived" "c-wa ag-wa null null archive" \
	"$(evs conversation.archived '"\(.conversation_id) \(.old_agent_id) \(.new_agent_id) \(.archive_id) \(.reason)"')"
"$PARLEY_BIN" conversation archive c-wa --tenant acme -c "$conf" >/dev/null
eq "archived again: no second event" 1 "$(n_of conversation.archived)"
"$PARLEY_BIN" agent link --channel pn-wa --prompt pmpt_new --name "New agent" -c "$conf" >/dev/null
aid=$(sql "$dsn" "SELECT archive_id FROM conversation_archives")
new=$(sql "$dsn" "SELECT agent_id FROM agents WHERE phone_number_id = 'pn-wa' AND unlinked_at IS NULL")
eq "relink: conversation.archived only for the one it archived (not c-wa, c-old)" \
	"c-wa2 ag-wa $new $aid relink" \
	"$(evs conversation.archived 'select(.reason == "relink") | "\(.conversation_id) \(.old_agent_id) \(.new_agent_id) \(.archive_id) \(.reason)"')"
eq "relink: the archive row counts the same one" 1 \
	"$(sql "$dsn" "SELECT archived_conversations_count FROM conversation_archives")"
"$PARLEY_BIN" channel remove pn-web --tenant acme --force -c "$conf" >/dev/null
eq "channel remove --force: conversation.archived" "$cweb ag-web null channel_removed webchat" \
	"$(evs conversation.archived 'select(.reason == "channel_removed") | "\(.conversation_id) \(.old_agent_id) \(.new_agent_id) \(.reason) \(.platform)"')"
eq "three archived events in all" 3 "$(n_of conversation.archived)"

# ---- a disabled tenant: nothing from these paths either ------------------------
"$PARLEY_BIN" tenant disable acme -c "$conf" >/dev/null
before=$(sql "$dsn" "SELECT count(*) FROM event_outbox")
agent_msg m-4 c-wa2 "While disabled"
sql "$dsn" "SELECT parley_record_sent('m-4', 'wamid.OUT4')" >/dev/null
status_failed wamid.OUT4 >"$TEST_TMP/f4.json"
post_signed "$url" "$TEST_TMP/f4.json" >/dev/null
"$PARLEY_BIN" conversation archive c-wa2 --tenant acme -c "$conf" >/dev/null
eq "disabled tenant: the failure is recorded" failed \
	"$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = 'm-4'")"
eq "disabled tenant: no event written" "$before" "$(sql "$dsn" "SELECT count(*) FROM event_outbox")"

stop_parley "$pid"
eq "stops cleanly" "0" "$?"
finish
