#!/usr/bin/env bash
# Events out (issue #18): each event type arrives, signed, with its
# documented body, from the change that causes it — a customer message, an
# AI reply (stand-in OpenAI and Graph), a delivery status, a lead extraction
# that turns Hot, a meeting booked and cancelled, a failed send, a relink
# that archives; then a hanging receiver that must not delay another
# endpoint, a kill -9 during a delivery (delivered again after the restart),
# the connect-time address check, and pruning.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

export PARLEY_TEST_LEASE_SECONDS=2
export PARLEY_TEST_EVENTS_HOUR_SECONDS=1

start_standin fake_receiver || { finish; exit 1; }
RECV=$STANDIN_URL
reply_standins || { finish; exit 1; }
dsn=$(new_db)
conf=$(lead_config "$dsn" 4 0 events allow_http true events allow_private_targets true \
	events timeout_seconds 3)
ep() { "$PARLEY_BIN" endpoint "$@" -c "$conf"; }
requests() { curl -sS "$RECV/_requests"; }
script() { curl -sS -d "$2" "$RECV/_script?path=$1" >/dev/null; }
# of TYPE [PATH]: the bodies of that type received (at /a unless PATH), as a JSON array
of() { requests | jq -c --arg t "$1" --arg p "${2:-/a}" '[.[] | select(.path == $p and .headers["parley-event-type"] == $t) | .body | fromjson]'; }
say() {
	say_wa S "$@" >/dev/null
}
has_type() { [ "$(of "$1" | jq length)" -ge "$2" ]; }
wait_type() { # TYPE COUNT
	retry has_type "$1" "$2" && return 0
	echo "no $2 $1 event(s); got: $(requests | jq -c '[.[].headers["parley-event-type"]]')" >&2
	return 1
}

ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"
SECRET=$(ep add --tenant acme --url "$RECV/a" --id ep_a | sed -nE 's/^signing secret .*: (whsec_.*)$/\1/p')
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")

# ---- a conversation: received, sent, status, lead.extracted, lead.hot ------
A=31611111111
say $A "Hi, I'm Ana from Padaria Boa."
say $A "What is the price for 3 terminals?"
say $A "Can we get a demo? It's urgent"
ok "message.received" wait_type message.received 3
ok "message.sent for the AI reply" wait_type message.sent 1
say $A "My email is ana@padaria.test"
ok "lead.extracted" wait_type lead.extracted 1
ok "lead.hot" wait_type lead.hot 1
r=$(of message.received | jq -c '.[0]')
eq "message.received body" "acme customer 1 Hi, I'm Ana from Padaria Boa. whatsapp pn-wa $A true true" \
	"$(jq -r '"\(.tenant) \(.data.author) \(.data.sequence_no) \(.data.text) \(.data.platform) \(.data.channel) \(.data.customer) \(.id | startswith("evt_")) \(.data.conversation_id != null)"' <<<"$r")"
s=$(of message.sent | jq -c '.[0]')
eq "message.sent body: the AI's text" "ai true true" "$(jq -r '"\(.data.author) \(.data.text | length > 0) \(.data.platform_message_id != null)"' <<<"$s")"
h=$(of lead.hot | jq -c '.[0].data.lead')
eq "lead.hot body: tag, score, notification" "Hot 13 true ana@padaria.test" \
	"$(jq -r '"\(.tag) \(.score) \(.smart_notification | length > 0) \(.email)"' <<<"$h")"
pmid=$(jq -r '.data.platform_message_id' <<<"$s")
wa_status "$pmid" delivered >"$TEST_TMP/st.json"
post_signed "$url" "$TEST_TMP/st.json" >/dev/null
ok "message.status delivered" wait_type message.status 1
eq "message.status body" "delivered $pmid" "$(of message.status | jq -r '.[0].data | "\(.status) \(.platform_message_id)"')"
eq "sent (a repeated status) changes nothing: one status event" "1" "$(post_signed "$url" "$TEST_TMP/st.json" >/dev/null; sleep 0.5; of message.status | jq length)"

# ---- ordering of one conversation: received before sent, by sequence --------
eq "one conversation's events in order" "true" \
	"$(requests | jq '[.[] | .body | fromjson | select(.data.sequence_no != null and (.type == "message.received" or .type == "message.sent")) | .data.sequence_no] | . == sort')"

# ---- meetings, a failed send, the archive (through their SQL functions) ------
conv=$(sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '$A'")
# ---- the agent hands over (parley_handoff, as escalate_to_human calls it) ----
sql "$dsn" "SELECT parley_handoff('$conv', 'wants to talk about a discount')" >/dev/null
ok "conversation.handoff" wait_type conversation.handoff 1
eq "conversation.handoff body: reason, source, the conversation" "wants to talk about a discount agent $conv" \
	"$(of conversation.handoff | jq -r '.[0].data | "\(.reason) \(.source) \(.conversation_id)"')"
sql "$dsn" "SELECT parley_resume_ai('$conv')" >/dev/null

# ---- a disabled tenant produces no event; enabled again, it does ------------
"$PARLEY_BIN" tenant disable acme -c "$conf" >/dev/null
n_before=$(of message.received | jq length)
say 31622222222 "Anyone there?"
ok "  the message is stored" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31622222222'" 1
eq "disabled tenant: no event written" "0" \
	"$(sql "$dsn" "SELECT count(*) FROM event_outbox WHERE body->'data'->>'customer' = '31622222222'")"
"$PARLEY_BIN" tenant enable acme -c "$conf" >/dev/null
say 31622222222 "Hello?"
ok "enabled again: events again" wait_type message.received $((n_before + 1))

sql "$dsn" "SELECT parley_meeting_confirm('mtg_1', 'acme', '$conv', 'gev1', 'Demo', 'Ana', 'ana@padaria.test', '2026-12-10 15:00', 30, 'Europe/Lisbon', 'https://meet.google.com/abc')" >/dev/null
ok "meeting.booked" wait_type meeting.booked 1
eq "meeting.booked body" "2026-12-10T15:00:00.000Z https://meet.google.com/abc scheduled" \
	"$(of meeting.booked | jq -r '.[0].data.meeting | "\(.time) \(.meet_link) \(.status)"')"
sql "$dsn" "WITH c AS (UPDATE meetings SET status = 'cancelled' WHERE meeting_id = 'mtg_1' AND status IS DISTINCT FROM 'cancelled' RETURNING meeting_id) SELECT parley_emit_meeting_event('meeting.cancelled', meeting_id) FROM c" >/dev/null
ok "meeting.cancelled" wait_type meeting.cancelled 1
eq "meeting.cancelled body" "cancelled" "$(of meeting.cancelled | jq -r '.[0].data.meeting.status')"
sql "$dsn" "INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, author)
            SELECT 'm-fail', '$conv', 'agent', 'never arrives', 'pending', last_sequence_no + 1, 'human' FROM conversations WHERE conversation_id = '$conv';
            UPDATE conversations SET last_sequence_no = last_sequence_no + 1 WHERE conversation_id = '$conv';
            SELECT parley_record_failed('m-fail', '131047: Re-engagement message');" >/dev/null
ok "message.failed" wait_type message.failed 1
eq "message.failed body" "human never arrives 131047: Re-engagement message" \
	"$(of message.failed | jq -r '.[0].data | "\(.author) \(.text) \(.error)"')"
# The relink archives every active conversation on the channel, one event each, in
# no promised order between conversations: look for this one's.
n_wa=$(sql "$dsn" "SELECT count(*) FROM conversations WHERE agent_id = 'ag-wa' AND is_active")
"$PARLEY_BIN" agent link --channel pn-wa --prompt pmpt_new --name "New agent" -c "$conf" >/dev/null
ok "conversation.archived, one per conversation ($n_wa)" wait_type conversation.archived "$n_wa"
eq "conversation.archived body" "$conv ag-wa" "$(of conversation.archived | jq -r --arg c "$conv" '.[].data | select(.conversation_id == $c) | "\(.conversation_id) \(.old_agent_id)"')"

# ---- every request verified independently --------------------------------
# One snapshot for both counts: events may still be arriving.
reqs=$(requests)
verified=$(printf '%s' "$reqs" | python3 -c '
import base64, hashlib, hmac, json, sys
key = base64.b64decode(sys.argv[1][len("whsec_"):])
n = 0
for r in json.load(sys.stdin):
    h = r["headers"]
    msg = ("%s.%s.%s" % (h["webhook-id"], h["webhook-timestamp"], r["body"])).encode()
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    assert want in h["webhook-signature"].split(" "), r
    assert h["content-type"] == "application/json"
    n += 1
print(n)' "$SECRET")
eq "every request's signature verifies (python hmac)" "$(jq length <<<"$reqs")" "$verified"

# ---- a hanging receiver does not delay another endpoint --------------------
ep add --tenant acme --url "$RECV/slow" --id ep_slow --events ping >/dev/null
script /slow '[{"hang":6},{"hang":6},{"hang":6},{"hang":6},{"hang":6}]'
for i in 1 2 3 4 5; do ep test ep_slow >/dev/null; done
sleep 0.5
ep test ep_a >/dev/null
wait_for "$dsn" "SELECT count(*) FROM event_deliveries WHERE endpoint_id = 'ep_a' AND state = 'pending'" "0"
eq "ep_a's ping delivered within 1 s of the event while ep_slow hangs" "t" \
	"$(sql "$dsn" "SELECT d.finished_at - o.created_at < interval '1 second' FROM event_deliveries d JOIN event_outbox o ON o.seq = d.event_seq WHERE d.endpoint_id = 'ep_a' ORDER BY d.delivery_id DESC LIMIT 1")"
eq "ep_slow still had requests hanging then" "t" \
	"$(sql "$dsn" "SELECT count(*) > 0 FROM event_deliveries WHERE endpoint_id = 'ep_slow' AND (state = 'pending' OR finished_at > (SELECT max(finished_at) FROM event_deliveries WHERE endpoint_id = 'ep_a'))")"
wait_for "$dsn" "SELECT count(*) FROM event_deliveries WHERE endpoint_id = 'ep_slow' AND state = 'pending'" "0"
eq "max_in_flight_per_endpoint (4): the 5th request to ep_slow waited for the 1st to time out (3 s)" "true" \
	"$(requests | jq '[.[] | select(.path == "/slow") | .at] | sort | (.[4] - .[0]) >= 2.9')"
ep remove ep_slow >/dev/null

# ---- kill -9 during a delivery: delivered again after the restart ----------
script /a '[{"hang":3}]'
ep test ep_a >/dev/null
sleep 1
kill -9 "$pid"
wait "$pid" 2>/dev/null
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
wait_for "$dsn" "SELECT count(*) FROM event_deliveries WHERE endpoint_id = 'ep_a' AND state = 'pending'" "0"
last=$(sql "$dsn" "SELECT o.event_id || ' ' || d.attempts || ' ' || d.state FROM event_deliveries d JOIN event_outbox o ON o.seq = d.event_seq WHERE d.endpoint_id = 'ep_a' ORDER BY d.delivery_id DESC LIMIT 1")
eq "the ping was delivered on a second attempt" "2 delivered" "${last#* }"
eq "the receiver saw it twice, same webhook-id" "2" "$(requests | jq --arg id "${last%% *}" '[.[] | select(.headers["webhook-id"] == $id)] | length')"

# ---- connect-time check: a private target refused without the setting ----
stop_parley "$pid"
conf_set "$conf" events allow_private_targets false
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
before=$(requests | jq length)
ep test ep_a >/dev/null
wait_for "$dsn" "SELECT last_error IS NOT NULL FROM event_deliveries WHERE endpoint_id = 'ep_a' ORDER BY delivery_id DESC LIMIT 1" "t"
contains "refused at connect time" "refused to connect to a loopback, private" \
	"$(sql "$dsn" "SELECT last_error FROM event_deliveries WHERE endpoint_id = 'ep_a' ORDER BY delivery_id DESC LIMIT 1")"
eq "nothing reached the receiver" "$before" "$(requests | jq length)"

# ---- pruning after keep_days (a day is 24 test "hours" of 1 s here) ---------
sql "$dsn" "UPDATE event_endpoints SET disabled_at = now()" >/dev/null
sql "$dsn" "UPDATE event_outbox SET created_at = now() - interval '1 hour'" >/dev/null
finished=$(sql "$dsn" "SELECT count(DISTINCT event_seq) FROM event_deliveries WHERE state <> 'pending' AND event_seq NOT IN (SELECT event_seq FROM event_deliveries WHERE state = 'pending')")
pending=$(sql "$dsn" "SELECT count(DISTINCT event_seq) FROM event_deliveries WHERE state = 'pending'")
conf_set "$conf" events keep_days 1
stop_parley "$pid"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "finished events pruned, with their attempts" wait_for "$dsn" "SELECT count(*) FROM event_outbox" "$pending"
eq "attempts of pruned deliveries gone" "0" "$(sql "$dsn" "SELECT count(*) FROM event_attempts a JOIN event_deliveries d USING (delivery_id) WHERE d.state <> 'pending'")"
# (A slow run, under sanitizers, may have pruned some already: keep_days
# was 7 test "days" of 24 s before.)
contains "pruning is counted" "parley_events_pruned_total " "$(curl -sS "$url/metrics")"
stop_parley "$pid"
eq "stops cleanly" "0" "$?"
finish
