#!/usr/bin/env bash
# A person's messages, echoes and templates (SPEC 9.3, 9.4; README, A person's
# messages, echoes and templates): `parley conversation send` against the Graph
# stand-in, echoes through the webhook, and what the agent sees next.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

conv_of() { sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '$1'"; }
# rows: seq|sender|author|status|delivery|text (first 40 characters)
transcript() {
	sql "$dsn" "SELECT m.sequence_no || '|' || m.sender || '|' || m.author || '|' || m.status || '|' ||
	                   coalesce(d.status, '') || '|' || left(m.text, 40)
	            FROM messages m JOIN conversations c USING (conversation_id)
	            LEFT JOIN message_delivery_status d USING (message_id)
	            WHERE c.customer_phone = '$1' ORDER BY m.sequence_no"
}
paused() { sql "$dsn" "SELECT coalesce(round(extract(epoch FROM ai_paused_until - now()) / 60)::text, 'none') || '|' || coalesce(ai_paused_reason, '') FROM conversations WHERE customer_phone = '$1'"; }
say() { # FROM TEXT: a customer's WhatsApp message
	say_wa H "$@"
}
# turn FROM TEXT: the stand-ins reset, then the customer's message.
turn() {
	reset_standins
	say "$1" "$2" >/dev/null
}
agent_sent() { sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1' AND m.sender = 'agent' AND m.author = 'ai' AND m.status = 'sent'"; }
send() { "$PARLEY_BIN" conversation send -c "$conf" "$@"; }

reply_standins || { finish; exit 1; }
dsn=$(new_db)
conf=$(reply_config "$dsn" openai timeout_seconds 5 replies debounce_ms 300 replies max_attempts 3 \
	handoff pause_minutes 45)
reply_migrate "$conf" "$dsn"
psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<'SQL'
INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
VALUES ('pn-web', 'acme', 'webchat', 'widget-1', '', 'Acme site');
INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
VALUES ('ag-web', 'acme', 'pn-web', 'pmpt_web', 'Webchat agent');
INSERT INTO conversations (conversation_id, agent_id, customer_phone) VALUES ('c-web', 'ag-web', 'sess-1');
SQL
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")

# --- a person's text: split, sent, recorded, the AI paused
say 31620000001 "Hi" >/dev/null
ok "the AI answers first" wait_for "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'sent'" 1
c1=$(conv_of 31620000001)
sql "$dsn" "UPDATE conversations SET window_expires_at = now() + interval '2 hours' WHERE conversation_id = '$c1'" >/dev/null
reset_standins
python3 -c 'print(("A person writes here. " * 250).strip())' >"$TEST_TMP/long.txt"
out=$(send "$c1" --text-file "$TEST_TMP/long.txt" 2>"$TEST_TMP/err")
eq "text send: exit 0" 0 $?
eq "text send: two message ids printed" 2 "$(printf '%s\n' "$out" | grep -c .)"
eq "text send: two Graph sends, each within 4096 characters, text type" "2 true text" \
	"$(curl -sS "$GRAPH/_requests" | jq -r '"\(length) \(all(.[]; (.body.text.body | length) <= 4096)) \(.[0].body.type)"')"
eq "text send: to the customer with the channel's token" "31620000001 Bearer wa-token /v24.0/106540352242922/messages" \
	"$(curl -sS "$GRAPH/_requests" | jq -r '.[0] | "\(.body.to) \(.headers.authorization) \(.path)"')"
eq "text send: nothing lost in the split" "$(($(wc -c <"$TEST_TMP/long.txt") - 2))" \
	"$(curl -sS "$GRAPH/_requests" | jq '[.[].body.text.body | length] | add')"
eq "text send: stored as the person's agent messages, sent, numbered after the reply" \
	"3|agent|human|sent|sent|A person writes here. A person writes he
4|agent|human|sent|sent|A person writes here. A person writes he" "$(transcript 31620000001 | tail -2)"
eq "text send: the printed ids are the stored ones" "$out" \
	"$(sql "$dsn" "SELECT message_id FROM messages WHERE conversation_id = '$c1' AND author = 'human' ORDER BY sequence_no")"
eq "text send: platform ids recorded" 2 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$c1' AND author = 'human' AND platform_message_id LIKE 'wamid.%'")"
eq "text send: the AI paused for handoff.pause_minutes" "45|a person replied" "$(paused 31620000001)"
eq "text send: nothing on stderr" "" "$(cat "$TEST_TMP/err")"

# --- --keep-ai, from standard input, and the next AI turn sees the person's words
say 31620000002 "Hello" >/dev/null
ok "second customer answered" wait_for "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND author = 'ai' AND status = 'sent'" 2
c2=$(conv_of 31620000002)
out=$(printf 'We open at 9 tomorrow.\n' | send "$c2" --text-file - --keep-ai --json)
eq "--keep-ai: exit 0" 0 $?
eq "--keep-ai: JSON names one sent message and no pause" "1 sent null" \
	"$(printf '%s' "$out" | jq -r '"\(.messages | length) \(.messages[0].status) \(.ai_paused_until)"')"
eq "--keep-ai: the AI is not paused" "none|" "$(paused 31620000002)"
eq "stdin: the trailing new line is not part of the message" "We open at 9 tomorrow." \
	"$(sql "$dsn" "SELECT text FROM messages WHERE conversation_id = '$c2' AND author = 'human'")"
turn 31620000002 "When exactly?"
ok "the next turn is answered" wait_for "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$c2' AND author = 'ai' AND status = 'sent'" 2
eq "the agent saw the person's message as its own side, then the customer's" \
	'[{"role":"assistant","content":"We open at 9 tomorrow."},{"role":"user","content":"When exactly?"}]' \
	"$(first_input)"
turn 31620000002 "Thanks"
ok "the turn after that is answered" wait_for "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$c2' AND author = 'ai' AND status = 'sent'" 3
eq "and the person's message is not given again" '[{"role":"user","content":"Thanks"}]' \
	"$(first_input)"

# --- the window closed: refused, nothing stored or sent
sql "$dsn" "UPDATE conversations SET window_expires_at = now() - interval '1 hour' WHERE conversation_id = '$c1'" >/dev/null
reset_standins
before=$(sql "$dsn" "SELECT last_sequence_no FROM conversations WHERE conversation_id = '$c1'")
echo "Are you still there?" >"$TEST_TMP/late.txt"
send "$c1" --text-file "$TEST_TMP/late.txt" >/dev/null 2>"$TEST_TMP/err"
eq "closed window: exit 1" 1 $?
eq "closed window: one line on stderr" 1 "$(wc -l <"$TEST_TMP/err")"
contains "closed window: it suggests a template" "--template NAME --language CODE" "$(cat "$TEST_TMP/err")"
eq "closed window: nothing stored, nothing sent" "$before 0" \
	"$(sql "$dsn" "SELECT last_sequence_no FROM conversations WHERE conversation_id = '$c1'") $(n_sends)"

# --- a template outside the window: the exact body, stored as the person's
out=$(send "$c1" --template order_update --language en_US --param "Ana" --param "#1234" 2>"$TEST_TMP/err")
eq "template: exit 0" 0 $?
eq "template: the exact Graph body" \
	'{"messaging_product":"whatsapp","to":"31620000001","type":"template","template":{"name":"order_update","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"Ana"},{"type":"text","text":"#1234"}]}]}}' \
	"$(curl -sS "$GRAPH/_requests" | jq -c '.[0].body')"
eq "template: stored as the person's agent message" "5|agent|human|sent|sent|[template order_update] Ana | #1234" \
	"$(transcript 31620000001 | tail -1)"
eq "template: kind template" template "$(sql "$dsn" "SELECT kind FROM messages WHERE message_id = '$out'")"
reset_standins
send "$c1" --template hello_world --language en >/dev/null
eq "template without parameters: exit 0" 0 $?
eq "template without parameters: no components" \
	'{"messaging_product":"whatsapp","to":"31620000001","type":"template","template":{"name":"hello_world","language":{"code":"en"}}}' \
	"$(curl -sS "$GRAPH/_requests" | jq -c '.[0].body')"

# --- bad usage: exit 2, nothing touched
fails_with() { # WANT_RC NAME ARGS...
	local want=$1 name=$2 rc
	shift 2
	send "$@" >/dev/null 2>"$TEST_TMP/err"
	rc=$?
	eq "$name: exit $want" "$want" "$rc"
	eq "$name: one line on stderr" 1 "$(wc -l <"$TEST_TMP/err")"
}
reset_standins
fails_with 2 "template name with capitals" "$c1" --template Order-Update --language en_US
fails_with 2 "language not a code" "$c1" --template order_update --language english
fails_with 2 "template without --language" "$c1" --template order_update
fails_with 2 "parameter with a new line" "$c1" --template order_update --language en --param "$(printf 'a\nb')"
fails_with 2 "parameter with five spaces" "$c1" --template order_update --language en --param "a     b"
fails_with 2 "empty parameter" "$c1" --template order_update --language en --param ""
fails_with 2 "text and template together" "$c1" --template x --language en --text-file "$TEST_TMP/late.txt"
fails_with 2 "neither text nor template" "$c1"
fails_with 2 "--param without --template" "$c1" --text-file "$TEST_TMP/late.txt" --param x
printf '   \n\n' >"$TEST_TMP/blank.txt"
fails_with 2 "blank text" "$c1" --text-file "$TEST_TMP/blank.txt"
printf '\xff\xfe bad' >"$TEST_TMP/bad.txt"
fails_with 2 "text that is not UTF-8" "$c1" --text-file "$TEST_TMP/bad.txt"
fails_with 2 "bad conversation id" "bad id!" --text-file "$TEST_TMP/late.txt"
fails_with 1 "unknown conversation" "no-such-conv" --text-file "$TEST_TMP/late.txt"
fails_with 1 "unreadable file" "$c1" --text-file "$TEST_TMP/does-not-exist"
eq "bad usage: nothing sent" 0 "$(n_sends)"

# --- Instagram and webchat: no templates
ig_text "aWdfSEND$RANDOM" 5551234500000001 "Hola" >"$TEST_TMP/ig.json"
post_signed "$url" "$TEST_TMP/ig.json" >/dev/null
ok "instagram customer answered" wait_sent "5551234500000001" 1
cig=$(conv_of 5551234500000001)
fails_with 2 "instagram template" "$cig" --template order_update --language en
contains "instagram template: says why" "WhatsApp only" "$(cat "$TEST_TMP/err")"
fails_with 2 "webchat template" c-web --template order_update --language en

# --- Instagram's window closed: refused without a template to suggest
sql "$dsn" "UPDATE conversations SET window_expires_at = now() - interval '1 minute' WHERE conversation_id = '$cig'" >/dev/null
fails_with 1 "instagram closed window" "$cig" --text-file "$TEST_TMP/late.txt"
contains "instagram closed window: says templates are WhatsApp only" "templates are WhatsApp only" "$(cat "$TEST_TMP/err")"
sql "$dsn" "UPDATE conversations SET window_expires_at = now() + interval '1 hour' WHERE conversation_id = '$cig'" >/dev/null

# --- Instagram text: the Instagram body, split at 1000 characters
reset_standins
python3 -c 'print("Olá! " * 300)' >"$TEST_TMP/ig-long.txt"
send "$cig" --text-file "$TEST_TMP/ig-long.txt" >/dev/null
eq "instagram text: exit 0" 0 $?
eq "instagram text: two sends within 1000 characters, to the IGSID with its token" "2 true 5551234500000001 Bearer ig-token" \
	"$(curl -sS "$GRAPH/_requests" | jq -r '"\(length) \(all(.[]; (.body.message.text | length) <= 1000)) \(.[0].body.recipient.id) \(.[0].headers.authorization)"')"

# --- webchat: stored only, the poll delivers it
reset_standins
echo "A person from the shop here." | send c-web --text-file - >/dev/null
eq "webchat text: exit 0" 0 $?
eq "webchat text: stored sent, nothing sent to Graph" "1|agent|human|sent|sent|A person from the shop here. 0" \
	"$(transcript sess-1) $(n_sends)"

# --- retries and final failures
reset_standins
curl -sS -d '[{"status":500}]' "$GRAPH/_script" >/dev/null
sql "$dsn" "UPDATE conversations SET window_expires_at = now() + interval '2 hours' WHERE conversation_id = '$c1'" >/dev/null
send "$c1" --text-file "$TEST_TMP/late.txt" >/dev/null 2>"$TEST_TMP/err"
eq "500 then 200: exit 0" 0 $?
eq "500 then 200: nothing on stderr" "" "$(cat "$TEST_TMP/err")"
eq "500 then 200: two attempts, one message" "2 1" \
	"$(n_sends) $(sql "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$c1' AND text = 'Are you still there?'")"
reset_standins
curl -sS -d '[{"meta_code":131047}]' "$GRAPH/_script" >/dev/null
send "$c1" --text-file "$TEST_TMP/long.txt" >/dev/null 2>"$TEST_TMP/err"
eq "131047: exit 1" 1 $?
eq "131047: one line on stderr naming the error" "1 yes" \
	"$(wc -l <"$TEST_TMP/err") $(grep -q '131047: Re-engagement message' "$TEST_TMP/err" && echo yes)"
eq "131047: one attempt (final), the second part never sent" 1 "$(n_sends)"
eq "131047: both parts failed, with the platform's error and why" \
	"failed|131047: Re-engagement message
failed|not sent: an earlier part failed (131047: Re-engagement message)" \
	"$(sql "$dsn" "SELECT m.status || '|' || d.error_message FROM messages m JOIN message_delivery_status d USING (message_id)
	               WHERE m.conversation_id = '$c1' ORDER BY m.sequence_no DESC LIMIT 2" | tac)"

# --- echoes: WhatsApp coexistence and Instagram, stored once, pause, no reply
say 31620000003 "Is anyone there?" >/dev/null
ok "third customer answered" wait_sent "31620000003" 1
reset_standins
cat >"$TEST_TMP/wa-echo.json" <<'JSON'
{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"smb_message_echoes","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"message_echoes":[{"from":"15550001111","to":"31620000003","id":"wamid.ECHO.WA.1","timestamp":"1764300500","type":"text","text":{"body":"Yes! Mark here, from the shop."}}]}}]}]}
JSON
eq "wa echo: 200" 200 "$(post_signed "$url" "$TEST_TMP/wa-echo.json")"
eq "wa echo again: 200" 200 "$(post_signed "$url" "$TEST_TMP/wa-echo.json")"
eq "wa echo a third time: 200" 200 "$(post_signed "$url" "$TEST_TMP/wa-echo.json")"
eq "wa echo: stored once, as the person's agent message" "3|agent|human|sent||Yes! Mark here, from the shop." \
	"$(transcript 31620000003 | tail -1)"
eq "wa echo: the AI paused" "45|a person replied from the business app" "$(paused 31620000003)"
eq "wa echo: no reply due" "" "$(sql "$dsn" "SELECT reply_due_at FROM conversations WHERE customer_phone = '31620000003'")"

cat >"$TEST_TMP/ig-echo.json" <<JSON
{"object":"instagram","entry":[{"id":"17841400000000001","time":1764300600000,"messaging":[{"sender":{"id":"17841400000000001"},"recipient":{"id":"5551234500000001"},"timestamp":1764300600000,"message":{"mid":"aWdfECHOperson1","text":"Sofia here, I will check.","is_echo":true}}]}]}
JSON
eq "ig echo: 200" 200 "$(post_signed "$url" "$TEST_TMP/ig-echo.json")"
eq "ig echo again: 200" 200 "$(post_signed "$url" "$TEST_TMP/ig-echo.json")"
eq "ig echo a third time: 200" 200 "$(post_signed "$url" "$TEST_TMP/ig-echo.json")"
eq "ig echo: stored once as the person's" 1 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE platform_message_id = 'aWdfECHOperson1' AND sender = 'agent' AND author = 'human'")"
eq "ig echo: the AI paused" "45|a person replied from the business app" "$(paused 5551234500000001)"

# parley's own send echoed back (Instagram echoes every send): not stored again
own=$(sql "$dsn" "SELECT platform_message_id FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '5551234500000001' AND m.author = 'ai'")
count_ig=$(sql "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$cig'")
cat >"$TEST_TMP/ig-own.json" <<JSON
{"object":"instagram","entry":[{"id":"17841400000000001","time":1764300700000,"messaging":[{"sender":{"id":"17841400000000001"},"recipient":{"id":"5551234500000001"},"timestamp":1764300700000,"message":{"mid":"$own","text":"Echo: Hola","is_echo":true}}]}]}
JSON
eq "own send's echo: 200" 200 "$(post_signed "$url" "$TEST_TMP/ig-own.json")"
eq "own send's echo: nothing stored" "$count_ig" "$(sql "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$cig'")"

# no reply was produced for any echo
sleep 0.8
eq "echoes: no OpenAI call" 0 "$(n_responses)"

# the echo overtakes the send's answer: recognised by the part being sent
reset_standins
curl -sS -d '[{"message_id":"aWdfRACE1","delay_ms":1500}]' "$GRAPH/_script" >/dev/null
ig_text "aWdfRACEIN$RANDOM" 5551234500000002 "Race?" >"$TEST_TMP/ig2.json"
post_signed "$url" "$TEST_TMP/ig2.json" >/dev/null
ok "race: the send is on its way" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '5551234500000002' AND m.send_started_at IS NOT NULL AND m.status = 'pending'" 1
cat >"$TEST_TMP/ig-race.json" <<'JSON'
{"object":"instagram","entry":[{"id":"17841400000000001","time":1764300800000,"messaging":[{"sender":{"id":"17841400000000001"},"recipient":{"id":"5551234500000002"},"timestamp":1764300800000,"message":{"mid":"aWdfRACE1","text":"Echo: Race?","is_echo":true}}]}]}
JSON
eq "race: echo 200" 200 "$(post_signed "$url" "$TEST_TMP/ig-race.json")"
ok "race: the send is recorded with its id" wait_for "$dsn" "SELECT status FROM messages WHERE platform_message_id = 'aWdfRACE1'" sent
eq "race: one agent message, the AI's, not paused" "1 ai none|" \
	"$(sql "$dsn" "SELECT count(*) || ' ' || max(m.author) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '5551234500000002' AND m.sender = 'agent'") $(paused 5551234500000002)"


# --- the person's echo is what the agent sees on its next turn (when resumed)
sql "$dsn" "UPDATE conversations SET ai_paused_until = NULL WHERE customer_phone = '31620000003'" >/dev/null
turn 31620000003 "Great, thanks Mark"
ok "after the pause: answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31620000003' AND m.author = 'ai' AND m.status = 'sent'" 2
eq "the echo is the agent's side in its next request" \
	'[{"role":"assistant","content":"Yes! Mark here, from the shop."},{"role":"user","content":"Great, thanks Mark"}]' \
	"$(first_input)"

eq "every sequence contiguous" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM (SELECT conversation_id, count(*) n, max(sequence_no) mx FROM messages GROUP BY conversation_id) x WHERE n <> mx")"
leaks=$(grep -c -e 'wa-token' -e 'ig-token' -e 'A person writes here' "$conf.log" || true)
eq "no token or message text in the log" 0 "$leaks"

stop_parley "$pid"
eq "parley stops cleanly" 0 $?
finish
