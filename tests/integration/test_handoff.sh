#!/usr/bin/env bash
# Handing a conversation to a person and back (SPEC 9.3; README, Handing over
# to a person): `parley conversation pause|resume`, a reply in production
# when a pause lands, the agent's escalate_to_human tool, what lead
# extraction and `conversation show|list` make of it. A real parley, a real
# PostgreSQL, the stand-in OpenAI and Graph API.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

say() { # FROM TEXT
	say_wa H "$@" >/dev/null
}
# The reply requests (not lead extraction's structured ones) the stand-in got.
replies_requests() {
	curl -sS "$OPENAI/_requests" | jq -c '[.[] | select(.path == "/v1/responses" and .body.text.format.type != "json_schema")]'
}
conv_of() { sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '$1'"; }
agent_texts() { sql "$dsn" "SELECT m.text FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1' AND m.sender = 'agent' ORDER BY m.sequence_no"; }
n_agent() { sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1' AND m.sender = 'agent'"; }
metric() { curl -sS "$url/metrics" | grep -F "$1" | awk '{print $2}' | head -1; }
conv() { "$PARLEY_BIN" conversation "$@" -c "$conf"; }
# conv_rc WANT_RC ARGS…: runs `parley conversation ARGS`, stderr to $TEST_TMP/err; true when
# it exits WANT_RC.
conv_rc() {
	local want=$1 rc=0
	shift
	"$PARLEY_BIN" conversation "$@" -c "$conf" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
	[ "$rc" = "$want" ] || { echo "exit $rc, want $want: $(cat "$TEST_TMP/err")" >&2; return 1; }
}

reply_standins || { finish; exit 1; }
dsn=$(new_db)
conf=$(reply_config "$dsn" openai model gpt-test openai timeout_seconds 10 replies debounce_ms 200 \
	extraction enabled true extraction idle_seconds 1 extraction every_messages 1)
reply_migrate "$conf" "$dsn"
reply_start "$conf" || { finish; exit 1; }

# --- bad usage (2) and unknown conversations (1), one line on stderr
ok "pause without an id: exit 2" conv_rc 2 pause
contains "pause without an id: says what is missing" "which conversation" "$(cat "$TEST_TMP/err")"
ok "resume without an id: exit 2" conv_rc 2 resume
ok "pause --minutes 0: exit 2" conv_rc 2 pause c-1 --minutes 0
contains "pause --minutes 0: names the rule" "--minutes must be a whole number from 1 to 525600" "$(cat "$TEST_TMP/err")"
ok "pause --minutes abc: exit 2" conv_rc 2 pause c-1 --minutes abc
ok "pause --minutes with no value: exit 2" conv_rc 2 pause c-1 --minutes
ok "pause with two ids: exit 2" conv_rc 2 pause c-1 c-2
ok "pause --reason '': exit 2" conv_rc 2 pause c-1 --reason ''
ok "pause --bogus: exit 2" conv_rc 2 pause c-1 --bogus
ok "pause of a bad id: exit 2" conv_rc 2 pause 'no such'
ok "pause of an unknown conversation: exit 1" conv_rc 1 pause no-such-conversation
eq "pause of an unknown conversation: one line" "parley conversation pause: no conversation 'no-such-conversation'" "$(cat "$TEST_TMP/err")"
ok "resume of an unknown conversation: exit 1" conv_rc 1 resume no-such-conversation
eq "resume of an unknown conversation: one line" "parley conversation resume: no conversation 'no-such-conversation'" "$(cat "$TEST_TMP/err")"
ok "pause help: exit 0" conv_rc 0 pause --help
contains "pause help: the usage" "pause [-c FILE] [--json] ID [--minutes N]" "$(cat "$TEST_TMP/out")"

# --- a conversation answered, then paused by the operator
say 31690000001 "Hi"
ok "A: answered" wait_for "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'sent'" 1
A=$(conv_of 31690000001)
eq "A: the AI's message has author ai" "ai" "$(sql "$dsn" "SELECT author FROM messages WHERE conversation_id = '$A' AND sender = 'agent'")"
ok "pause of another tenant's conversation: exit 1" conv_rc 1 pause "$A" --tenant other
ok "pause A: exit 0" conv_rc 0 pause "$A"
eq "pause A: says until resumed" "conversation $A: AI paused until resumed ('parley conversation resume $A')" "$(cat "$TEST_TMP/out")"
eq "A: paused until resumed, by the operator" "infinity|paused by operator" \
	"$(sql "$dsn" "SELECT ai_paused_until || '|' || ai_paused_reason FROM conversations WHERE conversation_id = '$A'")"
eq "show --json: the pause" '"infinity" "paused by operator"' \
	"$(conv show "$A" --json | jq -c '.ai_paused_until, .ai_paused_reason' | paste -sd' ')"
eq "show --json: author per message" '["customer","ai"]' "$(conv show "$A" --json | jq -c '[.transcript[].author]')"
show=$(conv show "$A")
contains "show: the pause's end" "ai paused until   infinity" "$show"
contains "show: the reason" "ai paused reason  paused by operator" "$show"
contains "show: an author column" "author" "$(grep -E '^seq' <<<"$show")"
eq "list --json: the pause, compactly" "infinity" "$(conv list --tenant acme --json | jq -r --arg c "$A" '.[] | select(.conversation_id == $c) | .ai_paused_until')"

before=$(credits)
n_before=$(replies_requests | jq length)
say 31690000001 "Hello? Anyone?"
sleep 1.5
eq "A paused: the customer's message is stored" 3 "$(sql "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$A'")"
eq "A paused: no reply" 1 "$(n_agent 31690000001)"
eq "A paused: nothing charged" "$before" "$(credits)"

# --- resume: the waiting message is answered
ok "resume A: exit 0" conv_rc 0 resume "$A"
eq "resume A: says it answers" "conversation $A: AI resumed; answering the customer's waiting messages" "$(cat "$TEST_TMP/out")"
eq "A: the pause is gone" "|" "$(sql "$dsn" "SELECT coalesce(ai_paused_until::text, '') || '|' || coalesce(ai_paused_reason, '') FROM conversations WHERE conversation_id = '$A'")"
ok "A: the waiting message is answered after the resume" wait_for "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$A' AND sender = 'agent' AND status = 'sent'" 2
eq "A: the answer covers what came during the pause" "Echo: Hello? Anyone?" "$(agent_texts 31690000001 | tail -1)"
ok "resume A again: exit 0" conv_rc 0 resume "$A" --json
eq "resume A again --json: nothing to do" '{"conversation_id":"'"$A"'","was_paused":false,"answering":false}' "$(cat "$TEST_TMP/out")"

# --- a timed pause
ok "pause A --minutes 5 --json: exit 0" conv_rc 0 pause "$A" --minutes 5 --reason "Bo calls back" --json
eq "pause --json: the end and the reason" "true Bo calls back" \
	"$(jq -r --arg c "$A" '"\(.conversation_id == $c and (.ai_paused_until | test("^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}$"))) \(.ai_paused_reason)"' "$TEST_TMP/out")"
eq "A: paused for five minutes" t "$(sql "$dsn" "SELECT ai_paused_until BETWEEN now() + interval '4 minutes' AND now() + interval '5 minutes 1 second' FROM conversations WHERE conversation_id = '$A'")"
ok "resume A: exit 0" conv_rc 0 resume "$A"

# --- a pause that lands while the reply is produced: dropped, credit back
curl -sS -d '[{"delay_ms":2500,"text":"You will never see this"}]' "$OPENAI/_script" >/dev/null
before=$(credits)
# Without the claim's skip of paused conversations, A's message above was
# claimed and dropped at the store; count from here.
paused_before=$(metric 'parley_replies_total{outcome="paused"}')
say 31690000002 "Slow question"
ok "B: the reply is in production" held "$OPENAI"
B=$(conv_of 31690000002)
ok "pause B while its reply is produced: exit 0" conv_rc 0 pause "$B"
ok "B: the reply is dropped" wait_for "$dsn" "SELECT reply_lease_owner IS NULL FROM conversations WHERE conversation_id = '$B'" t
eq "B: nothing stored" 0 "$(n_agent 31690000002)"
eq "B: nothing sent" 0 "$(curl -sS "$GRAPH/_requests" | jq '[.[] | select(.body.to == "31690000002")] | length')"
eq "B: the credit is back" "$before" "$(credits)"
eq "B: counted as paused" $((${paused_before:-0} + 1)) "$(metric 'parley_replies_total{outcome="paused"}')"
eq "B: the message waits for an answer, nothing is due" "true|" "$(sql "$dsn" "SELECT (replied_through_seq < last_sequence_no) || '|' || coalesce(reply_due_at::text, '') FROM conversations WHERE conversation_id = '$B'")"
# A split reply's parts not yet sending are dropped too (parley_mark_sending).
eq "a part not yet sending is refused while paused" "f" \
	"$(sql "$dsn" "INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, kind, \"timestamp\", author)
	               SELECT 'm-part', '$B', 'agent', 'part 2', 'pending', last_sequence_no + 1, 'text', now(), 'ai' FROM conversations WHERE conversation_id = '$B';
	               UPDATE conversations SET last_sequence_no = last_sequence_no + 1 WHERE conversation_id = '$B';
	               SELECT parley_mark_sending('m-part', false)")"
eq "… and left unmarked" "" "$(sql "$dsn" "SELECT send_started_at FROM messages WHERE message_id = 'm-part'")"
eq "the reply whose model escalated is sent despite the pause" "t" "$(sql "$dsn" "SELECT parley_mark_sending('m-part', true)")"
sql "$dsn" "DELETE FROM messages WHERE message_id = 'm-part'; UPDATE conversations SET last_sequence_no = last_sequence_no - 1 WHERE conversation_id = '$B'"
ok "resume B: exit 0" conv_rc 0 resume "$B"
ok "B: answered after the resume" wait_for "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$B' AND sender = 'agent' AND status = 'sent'" 1
eq "B: the answer" "Echo: Slow question" "$(agent_texts 31690000002)"

# --- the agent hands over: escalate_to_human
curl -sS -X POST "$OPENAI/_reset" >/dev/null
curl -sS -d '[{"function_call":{"name":"escalate_to_human","arguments":{"reason":"Wants to negotiate a bulk order"}}},
              {"text":"A colleague will follow up with you shortly."}]' "$OPENAI/_script" >/dev/null
say 31690000003 "Can I get a discount for 500 units?"
ok "C: the final text is sent" wait_sent "31690000003" 1
C=$(conv_of 31690000003)
R=$(replies_requests)
eq "C: every reply request offers escalate_to_human" true "$(jq '[.[] | .body.tools | map(.name) | index("escalate_to_human") != null] | all' <<<"$R")"
eq "C: the tool's output is {\"ok\":true}" '{"ok":true}' "$(jq -r '.[1].body.input[0] | select(.type == "function_call_output") | .output' <<<"$R")"
eq "C: the final text went to the customer" "A colleague will follow up with you shortly." \
	"$(curl -sS "$GRAPH/_requests" | jq -r '[.[] | select(.body.to == "31690000003")][0].body.text.body')"
eq "C: paused until resumed, with the model's reason" "infinity|Wants to negotiate a bulk order|1" \
	"$(sql "$dsn" "SELECT ai_paused_until || '|' || ai_paused_reason || '|' || (escalated_at IS NOT NULL)::int FROM conversations WHERE conversation_id = '$C'")"
eq "C: counted" 1 "$(metric 'parley_handoffs_total{source="tool"}')"
n_before=$(replies_requests | jq length)
say 31690000003 "Thanks, waiting"
sleep 1.5
eq "C paused: no reply to the next message" 1 "$(n_agent 31690000003)"
# The extraction after the handoff says so (the stand-in alone would say No:
# nothing in the customer's words asks for a person).
ok "C: extraction says escalated to a person" wait_for "$dsn" \
	"SELECT e.cta_escalated_to_human FROM extractions e WHERE e.conversation_id = '$C' AND e.is_latest AND e.created_at > (SELECT escalated_at FROM conversations WHERE conversation_id = '$C') AT TIME ZONE 'UTC'" Yes
X=$(curl -sS "$OPENAI/_requests" | jq -c '[.[] | select(.body.text.format.type == "json_schema" and (.body.input[0].content == "Can I get a discount for 500 units?"))] | last')
contains "C: the extraction request tells the model about the handoff" \
	"Handoff: the assistant handed this conversation to a person at the business. The assistant is paused until a person resumes it. Reason: Wants to negotiate a bulk order" \
	"$(jq -r '.body.input | map(select(.role == "developer") | .content) | join("\n")' <<<"$X")"
eq "show C --json: paused, with the reason" '"infinity" "Wants to negotiate a bulk order"' \
	"$(conv show "$C" --json | jq -c '.ai_paused_until, .ai_paused_reason' | paste -sd' ')"
ok "resume C: exit 0" conv_rc 0 resume "$C"
ok "C: the waiting message is answered" wait_for "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$C' AND sender = 'agent' AND status = 'sent'" 2

stop_parley "$pid"
eq "parley stops cleanly" 0 "$?"

# --- handoff.enabled = false: the tool is not offered
conf_set "$conf" handoff enabled false
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
curl -sS -X POST "$OPENAI/_reset" >/dev/null
say 31690000004 "Hi there"
ok "D: answered" wait_sent "31690000004" 1
eq "handoff.enabled false: no tools declared" "null" "$(replies_requests | jq -c '.[0].body.tools')"
stop_parley "$pid"
eq "parley stops cleanly again" 0 "$?"

# --- the stand-in hands over by itself with --escalate-on (make demo)
start_standin fake_openai --escalate-on "a person" || { finish; exit 1; }
E=$STANDIN_URL
ask() { # INPUT-JSON: a reply request declaring escalate_to_human
	curl -sS -H 'Authorization: Bearer sk-test' -H 'Content-Type: application/json' \
		-d '{"model":"m","conversation":"conv_e","tools":[{"type":"function","name":"escalate_to_human"}],"input":'"$1"'}' "$E/v1/responses"
}
r=$(ask '[{"role":"user","content":"Can I talk to A PERSON please?"}]')
eq "--escalate-on: the word makes the model call escalate_to_human" "escalate_to_human" "$(jq -r '.output[0].name' <<<"$r")"
eq "--escalate-on: its reason" '{"reason":"The customer asked for a person."}' "$(jq -r '.output[0].arguments' <<<"$r")"
call=$(jq -r '.output[0].call_id' <<<"$r")
eq "--escalate-on: the answer to {\"ok\":true} is a line for the customer" "Thank you. A person from our team will follow up here shortly." \
	"$(ask '[{"type":"function_call_output","call_id":"'"$call"'","output":"{\"ok\":true}"}]' | jq -r '.output[0].content[0].text')"
eq "--escalate-on: other words are echoed" "Echo: Hello" "$(ask '[{"role":"user","content":"Hello"}]' | jq -r '.output[0].content[0].text')"
eq "--escalate-on: counted" 1 "$(curl -sS "$E/_stats" | jq '.escalations')"
finish
