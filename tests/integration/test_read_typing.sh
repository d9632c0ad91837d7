#!/usr/bin/env bash
# Read receipts and typing (SPEC 9.1; README, Read receipts and typing): when
# a reply starts, WhatsApp gets the read receipt of the latest answered
# message with the typing indicator (refreshed while the reply is produced),
# Instagram mark_seen then typing_on; the webchat poll's agent_typing is true
# meanwhile, in every process, and a long poll returns when it changes. Their
# failure or slowness never fails or delays the reply. replies.read_receipts
# and replies.typing turn each part off. Real parley processes, a real
# PostgreSQL, the stand-in OpenAI and Graph API.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"
# testlib turns both off for the other tests; the defaults (on) are tested here.
unset PARLEY_REPLIES_READ_RECEIPTS PARLEY_REPLIES_TYPING
# WhatsApp's typing indicator is refreshed every 20 s; 1.5 s here.
export PARLEY_TEST_TYPING_REFRESH_MS=1500

WIDGET=wgt_rt_site
SECRET=test-webchat-secret
WA_PATH=/v24.0/106540352242922/messages
IG_PATH=/v24.0/17841400000000001/messages

reply_standins || { finish; exit 1; }
dsn=$(new_db)
# The debounce is long enough for a poll to start before the reply does.
conf=$(reply_config "$dsn" openai timeout_seconds 10 replies debounce_ms 800 webchat secret "$SECRET")
reply_migrate "$conf" "$dsn" "$WIDGET"
reply_start "$conf" || { finish; exit 1; }

# A second process on the same database that serves HTTP only (no OpenAI
# key, so no reply worker): its polls learn agent_typing from the database.
conf_http=$(new_config "$dsn")
conf_set "$conf_http" webchat secret "$SECRET"
start_parley "$conf_http" || { finish; exit 1; }
http_pid=$PARLEY_PID
url_http=$(parley_url "$conf_http")

# Graph requests that are signals (no text), and sends, as compact JSON.
signals() { curl -sS "$GRAPH/_requests" | jq -c '[.[] | select(.body.text == null and .body.message == null)]'; }
sends_to() { curl -sS "$GRAPH/_requests" | jq --arg to "$1" '[.[] | select(.body.to == $to or .body.recipient.id == $to) | select(.body.text != null or .body.message != null)] | length'; }
agent_sent() { sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1' AND m.sender = 'agent' AND m.status = 'sent'"; }
metric() { curl -sS "$1/metrics" | awk -v k="$2" 'index($0, k " ") == 1 { print $2 }'; }
sig_metric() { metric "$url" "parley_conversation_signals_total{kind=\"$1\",platform=\"$2\",outcome=\"$3\"}"; }
wa() { # wa WAMID FROM TEXT
	wa_text "$1" "$2" "$3" >"$TEST_TMP/wa.json"
	post_signed "$url" "$TEST_TMP/wa.json" >/dev/null
}
ig() { # ig MID FROM TEXT
	ig_text "$1" "$2" "$3" >"$TEST_TMP/ig.json"
	post_signed "$url" "$TEST_TMP/ig.json" >/dev/null
}
# relaunch [VAR=VALUE]...: the stand-ins reset, parley started again with
# those variables in its environment; sets pid.
relaunch() {
	local v
	reset_standins
	for v; do local -x "$v"; done
	start_parley "$conf" || return 1
	pid=$PARLEY_PID
}
# both_say N WA_CUSTOMER IG_CUSTOMER TEXT LABEL: TEXT from a WhatsApp and an
# Instagram customer (ids wamid.RTN and mid.RTN); checks that both are answered.
both_say() {
	wa "wamid.RT$1" "$2" "$4"
	ig "mid.RT$1" "$3" "$4"
	ok "$5: replies sent" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone IN ('$2', '$3') AND m.sender = 'agent' AND m.status = 'sent'" 2
}
now_ms() { date +%s%3N; }

# --- WhatsApp: one request, read + typing, for the latest message of the burst
wa wamid.RT1 31611110001 "Hi"
wa wamid.RT2 31611110001 "Do you ship?"
ok "WhatsApp: the reply is sent" wait_for "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'sent'" 1
s=$(signals)
eq "one signal request" 1 "$(jq length <<<"$s")"
eq "…the read receipt of the latest message, with the typing indicator" \
	'{"messaging_product":"whatsapp","status":"read","message_id":"wamid.RT2","typing_indicator":{"type":"text"}}' \
	"$(jq -c '.[0].body' <<<"$s")"
eq "…to the channel's messages path, with its token, answered 200" "$WA_PATH Bearer wa-token 200" \
	"$(jq -r '.[0] | "\(.path) \(.headers.authorization) \(.status)"' <<<"$s")"
eq "…before the send" true \
	"$(curl -sS "$GRAPH/_requests" | jq '(map(select(.body.status == "read")) | .[0].seq) < (map(select(.body.text.body != null)) | .[0].seq)')"
eq "counted: read and typing ok" "1 1" "$(sig_metric read whatsapp ok) $(sig_metric typing whatsapp ok)"

# --- Instagram: mark_seen, then typing_on
reset_standins
ig mid.RT1 1254459154682001 "Hello on Instagram"
ok "Instagram: the reply is sent" wait_sent "1254459154682001" 1
s=$(signals)
eq "mark_seen, then typing_on" "mark_seen typing_on" "$(jq -r 'map(.body.sender_action) | join(" ")' <<<"$s")"
eq "…to the customer, on the account's path, with its token" \
	"1254459154682001 $IG_PATH Bearer ig-token 1254459154682001 $IG_PATH Bearer ig-token" \
	"$(jq -r 'map("\(.body.recipient.id) \(.path) \(.headers.authorization)") | join(" ")' <<<"$s")"
eq "…both before the send" true \
	"$(curl -sS "$GRAPH/_requests" | jq '(map(select(.body.sender_action != null)) | map(.seq) | max) < (map(select(.body.message.text != null)) | .[0].seq)')"
eq "counted" "1 1" "$(sig_metric read instagram ok) $(sig_metric typing instagram ok)"

# --- a failing signal: the reply goes on, charged once, the signal not retried
reset_standins
credits_before=$(sql "$dsn" "SELECT remaining_credits FROM credits WHERE user_id = 'acme'")
curl -sS -d '[{"for":"signals","status":500,"times":5}]' "$GRAPH/_script" >/dev/null
wa wamid.RT3 31611110002 "Is the shop open?"
ok "refused signal: the reply is sent anyway" wait_sent "31611110002" 1
eq "…one attempt (500, not retried)" "1 500" "$(signals | jq -r '[.[] | select(.body.message_id == "wamid.RT3")] | "\(length) \(.[0].status)"')"
eq "…one credit taken" $((credits_before - 1)) "$(sql "$dsn" "SELECT remaining_credits FROM credits WHERE user_id = 'acme'")"
eq "…counted as failed" "1 yes" "$(sig_metric read whatsapp failed) $([ "$(sig_metric typing whatsapp failed)" -ge 1 ] && echo yes)"
ok "…logged at warn" grep -q 'warn.*read receipt with typing indicator failed (the reply goes on)' "$conf.log"
eq "…without the token" 0 "$(grep -c 'wa-token' "$conf.log")"
ig mid.RT2 1254459154682002 "Instagram, refused"
ok "Instagram: refused mark_seen, the reply is sent anyway" wait_sent "1254459154682002" 1
eq "…typing_on still followed mark_seen" "mark_seen:500 typing_on:500" \
	"$(signals | jq -r '[.[] | select(.body.recipient.id == "1254459154682002") | "\(.body.sender_action):\(.status)"] | join(" ")')"
curl -sS -X POST "$GRAPH/_reset" >/dev/null

# --- a slow signal does not delay the reply (and answers after it ended)
curl -sS -d '[{"for":"signals","delay_ms":5000}]' "$GRAPH/_script" >/dev/null
t0=$(now_ms)
wa wamid.RT4 31611110003 "Quick one"
ok "slow signal: the reply is sent" wait_sent "31611110003" 1
took=$(($(now_ms) - t0))
eq "…well before the signal's answer (${took} ms)" yes "$([ "$took" -lt 4000 ] && echo yes || echo no)"
for i in $(seq 1 80); do [ "$(sig_metric read whatsapp ok)" = 2 ] && break; sleep 0.1; done
eq "…the late answer, after the reply ended, is counted as ok" 2 "$(sig_metric read whatsapp ok)"

# --- a reply still in production refreshes WhatsApp's indicator
reset_standins
curl -sS -d '[{"delay_ms":4500}]' "$OPENAI/_script" >/dev/null
wa wamid.RT5 31611110004 "A hard question"
ok "slow reply: sent" wait_sent "31611110004" 1
n=$(signals | jq length)
eq "the indicator was refreshed while the reply was produced (${n} requests in ~4.5 s, every 1.5 s)" yes \
	"$([ "$n" -ge 3 ] && [ "$n" -le 5 ] && echo yes || echo no)"
eq "…each the same read + typing request" 1 "$(signals | jq '[.[].body] | unique | length')"
sleep 2
eq "…none after the reply was sent" "$n" "$(signals | jq length)"

# --- webchat: agent_typing, across processes, and a long poll woken by it
r=$(curl -sS -H 'Content-Type: application/json' -d "{\"widget_id\":\"$WIDGET\"}" "$url_http/webchat/v1/sessions")
TOKEN=$(jq -r .token <<<"$r")
AUTH=(-H "Authorization: Bearer $TOKEN")
poll() { curl -sS "${AUTH[@]}" "$1/webchat/v1/messages?after=$2&wait=$3${4:+&typing=$4}"; } # [TYPING]
eq "a poll with nothing going on: agent_typing false" '{"messages":[],"agent_typing":false}' "$(poll "$url_http" 0 0)"
curl -sS -d '[{"delay_ms":3000}]' "$OPENAI/_script" >/dev/null
seq=$(curl -sS "${AUTH[@]}" -H 'Content-Type: application/json' -d '{"text":"Are you there?","client_message_id":"c1"}' \
	"$url_http/webchat/v1/messages" | jq .sequence_no)
t0=$(now_ms)
r=$(poll "$url_http" "$seq" 20)
took=$(($(now_ms) - t0))
eq "a long poll returns when typing starts: no messages, agent_typing true" '{"messages":[],"agent_typing":true}' "$r"
eq "…promptly (${took} ms: debounce, claim, notify)" yes "$([ "$took" -lt 3000 ] && echo yes || echo no)"
eq "…the replying process agrees (wait=0)" true "$(poll "$url" "$seq" 0 | jq .agent_typing)"
# A client that missed the start (its poll began after it) says what it
# shows: typing=0 ends the poll at once, typing=1 waits for the reply.
t0=$(now_ms)
r=$(poll "$url_http" "$seq" 20 0)
took=$(($(now_ms) - t0))
eq "a long poll with typing=0 while a reply is produced returns at once (${took} ms)" \
	'{"messages":[],"agent_typing":true} yes' "$r $([ "$took" -lt 1500 ] && echo yes || echo no)"
t0=$(now_ms)
r=$(poll "$url_http" "$seq" 20 1)
took=$(($(now_ms) - t0))
eq "the next poll returns with the reply, agent_typing false" "Echo: Are you there? false" "$(jq -r '"\(.messages[0].text) \(.agent_typing)"' <<<"$r")"
eq "…when it lands (${took} ms, the reply took 3 s)" yes "$([ "$took" -lt 4500 ] && echo yes || echo no)"
eq "webchat sends no Graph signals" 0 "$(signals | jq '[.[] | select(.body.recipient.id == null and .body.message_id == null)] | length')"

# A webchat reply that fails ends typing at once too.
curl -sS -d '[{"status":400,"delay_ms":2000}]' "$OPENAI/_script" >/dev/null
seq=$(curl -sS "${AUTH[@]}" -H 'Content-Type: application/json' -d '{"text":"Again?","client_message_id":"c2"}' \
	"$url_http/webchat/v1/messages" | jq .sequence_no)
eq "a reply that will fail: typing starts" true "$(poll "$url_http" "$seq" 20 | jq .agent_typing)"
t0=$(now_ms)
r=$(poll "$url_http" "$seq" 20)
took=$(($(now_ms) - t0))
eq "…and the poll returns when it failed: agent_typing false, no messages (${took} ms)" \
	'{"messages":[],"agent_typing":false} yes' "$r $([ "$took" -lt 4500 ] && echo yes || echo no)"

# --- replies.read_receipts = false, replies.typing = false: nothing at all
stop_parley "$pid"
eq "parley stops cleanly" 0 "$?"
relaunch PARLEY_REPLIES_READ_RECEIPTS=false PARLEY_REPLIES_TYPING=false || { finish; exit 1; }
curl -sS -d '[{"delay_ms":2500}]' "$OPENAI/_script" >/dev/null
seq=$(curl -sS "${AUTH[@]}" -H 'Content-Type: application/json' -d '{"text":"Both off","client_message_id":"c3"}' \
	"$url_http/webchat/v1/messages" | jq .sequence_no)
sleep 1.5
typing_off_poll=$(poll "$url" "$seq" 0 | jq .agent_typing)
typing_on_poll=$(poll "$url_http" "$seq" 0 | jq .agent_typing)
both_say 6 31611110005 1254459154682005 "Both off" "both off"
eq "…no signal requests" 0 "$(signals | jq length)"
eq "…agent_typing false in the process with typing off (true in the other)" "false true" "$typing_off_poll $typing_on_poll"
stop_parley "$pid"

# --- read receipts only: WhatsApp's read without the indicator, Instagram mark_seen
relaunch PARLEY_REPLIES_TYPING=false || { finish; exit 1; }
both_say 7 31611110006 1254459154682006 "Read only" "read only"
eq "…WhatsApp: the read receipt alone" '{"messaging_product":"whatsapp","status":"read","message_id":"wamid.RT7"}' \
	"$(signals | jq -c '[.[] | select(.body.message_id != null)] | .[0].body')"
eq "…Instagram: mark_seen alone" "mark_seen" "$(signals | jq -r '[.[] | .body.sender_action // empty] | join(" ")')"
stop_parley "$pid"

# --- typing only: Instagram typing_on; WhatsApp nothing (its indicator
# exists only inside a read receipt, which is off)
relaunch PARLEY_REPLIES_READ_RECEIPTS=false || { finish; exit 1; }
both_say 8 31611110007 1254459154682007 "Typing only" "typing only"
eq "…Instagram typing_on only; nothing to WhatsApp" "typing_on" "$(signals | jq -r 'map(.body.sender_action // "whatsapp") | join(" ")')"
stop_parley "$pid"
eq "parley stops cleanly" 0 "$?"
stop_parley "$http_pid"
eq "the HTTP-only process stops cleanly" 0 "$?"
eq "no sanitizer report in either log" 0 "$(cat "$conf.log" "$conf_http.log" | grep -c 'Sanitizer')"
finish
