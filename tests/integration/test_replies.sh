#!/usr/bin/env bash
# The reply path end to end (docs/architecture.md, A reply's path): a real
# parley, a real PostgreSQL and the project's stand-in OpenAI and Graph API,
# with faults scripted into them.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

# say FROM TEXT: a customer's WhatsApp message through the webhook; prints the status.
say() { say_wa T "$@"; }
# crash_holding STANDIN SCRIPT FROM TEXT: fault, then parley killed (-9)
# while the stand-in holds the answer back.
crash_holding() {
	fault "$@"
	held "$1"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
}
# Counts of what the stand-ins received.
transcript() { # CUSTOMER: seq|sender|status|delivery|text lines
	sql "$dsn" "SELECT m.sequence_no || '|' || m.sender || '|' || coalesce(m.status, '') || '|' ||
	                   coalesce(d.status, '') || '|' || left(m.text, 60)
	            FROM messages m JOIN conversations c USING (conversation_id)
	            LEFT JOIN message_delivery_status d USING (message_id)
	            WHERE c.customer_phone = '$1' ORDER BY m.sequence_no"
}
agent_count() { sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1' AND m.sender = 'agent'"; }

reply_standins || { finish; exit 1; }
dsn=$(new_db)
conf=$(reply_config "$dsn" openai timeout_seconds 5 replies debounce_ms 1000 replies max_attempts 3)
reply_migrate "$conf" "$dsn"
reply_start "$conf" || { finish; exit 1; }

# --- 5.1 a burst gets one reply covering all of it, after the debounce
for t in "Hi" "Do you ship to Utrecht?" "And to Delft?"; do say 31612345678 "$t" >/dev/null; done
ok "the burst is answered" wait_for "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'sent'" 1
eq "one OpenAI response for the burst" 1 "$(n_responses)"
eq "all three messages were its input" '["Hi","Do you ship to Utrecht?","And to Delft?"]' \
	"$(first_input | jq -c 'map(.content)')"
eq "the request names the agent's prompt and the conversation" 'pmpt_wa true' \
	"$(curl -sS "$OPENAI/_requests" | jq -r '[.[] | select(.path == "/v1/responses")][0].body | "\(.prompt.id) \(.conversation | startswith("conv_"))"')"
eq "OpenAI called with the API key" "Bearer sk-test" \
	"$(curl -sS "$OPENAI/_requests" | jq -r '.[0].headers.authorization')"
eq "the OpenAI conversation id is stored" t "$(sql "$dsn" "SELECT openai_conversation_id LIKE 'conv_%' FROM conversations")"
eq "one send, to the customer, with the channel's token" '31612345678 Bearer wa-token Echo: Hi | Do you ship to Utrecht? | And to Delft?' \
	"$(curl -sS "$GRAPH/_requests" | jq -r '.[0] | "\(.body.to) \(.headers.authorization) \(.body.text.body)"')"
eq "the send went to the channel's number" '/v24.0/106540352242922/messages' "$(curl -sS "$GRAPH/_requests" | jq -r '.[0].path')"
eq "transcript: three customer messages, then the reply, sent" \
	"1|user|sent||Hi
2|user|sent||Do you ship to Utrecht?
3|user|sent||And to Delft?
4|agent|sent|sent|Echo: Hi | Do you ship to Utrecht? | And to Delft?" "$(transcript 31612345678)"
eq "the reply's platform id recorded" t "$(sql "$dsn" "SELECT platform_message_id LIKE 'wamid.%' FROM messages WHERE sender = 'agent'")"
eq "one credit taken" "99/1" "$(credits)"
eq "nothing is due any more" "" "$(sql "$dsn" "SELECT reply_due_at FROM conversations")"

# --- order: the next burst is answered after the first, numbered after it
say 31612345678 "Thanks!" >/dev/null
ok "second burst answered" wait_for "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'sent'" 2
eq "numbered after the first reply" "5|user|sent||Thanks!
6|agent|sent|sent|Echo: Thanks!" "$(transcript 31612345678 | tail -2)"
eq "the same OpenAI conversation is reused" 1 \
	"$(curl -sS "$OPENAI/_requests" | jq '[.[] | select(.path == "/v1/responses") | .body.conversation] | unique | length')"

# --- OpenAI 500 then 200: one reply
fault "$OPENAI" '[{"status":500}]' 31600000001 "Hello?"
ok "500 then 200: answered" wait_sent "31600000001" 1
eq "500 then 200: two OpenAI attempts, one send" "2 1" "$(n_responses) $(n_sends)"

# --- 429 with retry-after: the retry waits at least that long
fault "$OPENAI" '[{"status":429,"retry_after":1}]' 31600000002 "Busy?"
ok "429 then 200: answered" wait_sent "31600000002" 1
gap=$(curl -sS "$OPENAI/_requests" | jq '[.[] | select(.path == "/v1/responses") | .time_ms] | .[1] - .[0]')
eq "429: the retry came at least retry-after (1 s) later" yes "$([ "$gap" -ge 1000 ] && echo yes || echo "no ($gap ms)")"

# --- a final OpenAI 400: no send, no charge
before=$(credits)
fault "$OPENAI" '[{"status":400}]' 31600000003 "Break it"
ok "final 400: the conversation is released" wait_for "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '31600000003' AND reply_due_at IS NULL AND reply_lease_owner IS NULL" 1
eq "final 400: one attempt, nothing sent" "1 0" "$(n_responses) $(n_sends)"
eq "final 400: no agent message" 0 "$(agent_count 31600000003)"
eq "final 400: credits given back" "$before" "$(credits)"

# --- Graph 500 then 200: sent once
fault "$GRAPH" '[{"status":500}]' 31600000004 "Send twice?"
ok "graph 500 then 200: sent" wait_sent "31600000004" 1
eq "graph 500 then 200: two attempts, one message" "2 1" "$(n_sends) $(agent_count 31600000004)"

# --- Graph 131047 (outside the 24-hour window): failed with the code, no charge
before=$(credits)
fault "$GRAPH" '[{"meta_code":131047}]' 31600000005 "Late reply"
ok "131047: marked failed" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31600000005' AND m.sender = 'agent' AND m.status = 'failed'" 1
eq "131047: one attempt (final)" 1 "$(n_sends)"
contains "131047: the error names the code and title" "131047: Re-engagement message" \
	"$(sql "$dsn" "SELECT d.status || ' ' || d.error_message FROM message_delivery_status d JOIN messages m USING (message_id) JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31600000005'")"
ok "131047: credits given back" wait_for "$dsn" "SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'" "$before"
contains "131047: counted by code" 'parley_send_failures_total{code="131047"} 1' "$(curl -sS "$url/metrics")"

# --- a 5000-character reply: split, contiguous, all sent
fault "$OPENAI" '[{"text_len":5000}]' 31600000006 "Tell me everything"
ok "long reply: sent" wait_sent "31600000006" 2
eq "long reply: two parts numbered 2 and 3" "2,3" "$(sql "$dsn" "SELECT string_agg(sequence_no::text, ',' ORDER BY sequence_no) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31600000006' AND m.sender = 'agent'")"
eq "long reply: two sends, each within 4096 characters" "2 true" \
	"$(curl -sS "$GRAPH/_requests" | jq -r '"\(length) \(all(.[]; (.body.text.body | length) <= 4096))"')"
eq "long reply: nothing lost" 4999 "$(curl -sS "$GRAPH/_requests" | jq '[.[].body.text.body | length] | add')"

# --- a status that arrives before the send's response is recorded
fault "$GRAPH" '[{"message_id":"wamid.EARLY","delay_ms":1500}]' 31600000007 "Quick"
ok "early status: the send is on its way" wait_for "$dsn" "SELECT count(*) FROM messages WHERE send_started_at IS NOT NULL AND status = 'pending'" 1
wa_status wamid.EARLY read >"$TEST_TMP/early.json"
eq "early status: webhook 200" 200 "$(post_signed "$url" "$TEST_TMP/early.json")"
ok "early status: the send is recorded" wait_for "$dsn" "SELECT status FROM messages WHERE platform_message_id = 'wamid.EARLY'" sent
eq "early status: applied on top of sent" read "$(sql "$dsn" "SELECT d.status FROM message_delivery_status d JOIN messages m USING (message_id) WHERE m.platform_message_id = 'wamid.EARLY'")"
eq "early status: no longer pending" 0 "$(sql "$dsn" "SELECT count(*) FROM pending_delivery_status WHERE platform_message_id = 'wamid.EARLY'")"

# --- Instagram: the Instagram body, to the customer's id
reset_standins
ig_text "aWdfTEST$RANDOM" 5551234567890001 "Hola" >"$TEST_TMP/ig.json"
eq "instagram message: 200" 200 "$(post_signed "$url" "$TEST_TMP/ig.json")"
ok "instagram: answered" wait_sent "5551234567890001" 1
eq "instagram: recipient, text, token" "5551234567890001 Echo: Hola Bearer ig-token" \
	"$(curl -sS "$GRAPH/_requests" | jq -r '.[0] | "\(.body.recipient.id) \(.body.message.text) \(.headers.authorization)"')"
eq "instagram: its long message id stored whole" t "$(sql "$dsn" "SELECT length(platform_message_id) > 100 FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '5551234567890001' AND m.sender = 'agent'")"

# --- no credits: no OpenAI call, no reply
reset_standins
sql "$dsn" "UPDATE credits SET remaining_credits = 0 WHERE user_id = 'acme'" >/dev/null
say 31600000008 "Anyone?" >/dev/null
ok "no credits: the conversation is released" wait_for "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '31600000008' AND reply_due_at IS NULL AND reply_lease_owner IS NULL" 1
eq "no credits: no OpenAI call, nothing sent" "0 0" "$(n_responses) $(n_sends)"
contains "no credits: counted" 'parley_credit_refusals_total 1' "$(curl -sS "$url/metrics")"
sql "$dsn" "UPDATE credits SET remaining_credits = 100 WHERE user_id = 'acme'" >/dev/null

# --- credits within one claim (taken once per tenant per claim): a charge
# left behind is refunded first and pays for one of three replies due in the
# same claim, the tenant's one credit for another, the third is refused
reset_standins
sql "$dsn" "UPDATE credits SET remaining_credits = 1, total_used = 10 WHERE user_id = 'acme'" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<'SQL'
BEGIN;
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no,
                           replied_through_seq, openai_conversation_id, reply_charged, reply_due_at)
VALUES ('cb-0', 'ag-wa', '31740000000', 1, 1, 'conv_cb_0', true, now() - interval '1 minute');
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no,
                           openai_conversation_id, reply_due_at)
SELECT 'cb-' || i, 'ag-wa', (31740000000 + i)::text, 1, 'conv_cb_' || i, now()
  FROM generate_series(1, 3) i;
INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, triggers_reply)
SELECT 'cbm-' || i, 'cb-' || i, 'user', 'Question ' || i, 'sent', 1, true
  FROM generate_series(0, 3) i;
SELECT pg_notify('parley_reply_due', '');
COMMIT;
SQL
ok "one claim: every conversation released" wait_for "$dsn" \
	"SELECT count(*) FROM conversations WHERE conversation_id LIKE 'cb-%' AND reply_lease_owner IS NULL AND reply_due_at IS NULL AND NOT reply_charged" 4
ok "one claim: two replies sent" wait_for "$dsn" \
	"SELECT count(*) FROM messages WHERE conversation_id LIKE 'cb-%' AND sender = 'agent' AND status = 'sent'" 2
eq "one claim: the refund and two charges add up (left/used)" 0/11 \
	"$(sql "$dsn" "SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'")"
eq "one claim: two OpenAI calls, two sends" "2 2" "$(n_responses) $(n_sends)"
contains "one claim: the third refused" 'parley_credit_refusals_total 2' "$(curl -sS "$url/metrics")"
sql "$dsn" "UPDATE credits SET remaining_credits = 100 WHERE user_id = 'acme'" >/dev/null

contains "messages counted by platform and direction (in)" 'parley_messages_total{platform="whatsapp",direction="inbound"}' "$(curl -sS "$url/metrics")"
contains "messages counted by platform and direction (out)" 'parley_messages_total{platform="instagram",direction="outbound"} 1' "$(curl -sS "$url/metrics")"

# --- logs at info carry no secret, token or message text
leaks=$(grep -c -e 'sk-test' -e 'wa-token' -e 'ig-token' -e 'test-meta-app-secret' -e 'test-verify-token' \
	-e 'Do you ship to Utrecht' -e 'Echo: ' "$conf.log" || true)
eq "no secret, token or message text in the log" 0 "$leaks"

# --- SIGTERM while OpenAI is thinking: the reply in flight is finished first
fault "$OPENAI" '[{"delay_ms":1200}]' 31600000011 "Just before closing"
held "$OPENAI"
kill -TERM "$pid"
eq "a webhook during the drain is refused (not accepted any more)" 000 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -m 2 "$url/healthz" 2>/dev/null)"
wait "$pid"
eq "SIGTERM with a reply in flight: exit 0" 0 $?
eq "the reply in flight was sent before exiting" "sent" \
	"$(sql "$dsn" "SELECT m.status FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31600000011' AND m.sender = 'agent'")"
eq "and released" "" "$(sql "$dsn" "SELECT reply_lease_owner FROM conversations WHERE customer_phone = '31600000011'")"

# --- a second signal exits at once
export PARLEY_TEST_LEASE_SECONDS=2
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
fault "$OPENAI" '[{"delay_ms":2500}]' 31600000012 "Second signal"
held "$OPENAI"
t0=$(date +%s%N)
kill -TERM "$pid"
sleep 0.2
kill -INT "$pid"
wait "$pid"
rc=$?
took=$(( ($(date +%s%N) - t0) / 1000000 ))
eq "second signal: exit 0" 0 "$rc"
eq "second signal: out at once, not after the 2.5 s reply" yes "$([ "$took" -lt 1500 ] && echo yes || echo "no ($took ms)")"
eq "second signal: the unfinished reply was not sent" 0 "$(n_sends)"

# --- crashes. Short leases (exported above) so that recovery shows within
# the test.

start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "the reply abandoned by the second signal is produced once its lease ran out" \
	wait_for "$dsn" "SELECT m.status FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31600000012' AND m.sender = 'agent'" sent

# kill -9 while a send is on the wire: after restart it is marked failed,
# never sent again.
crash_holding "$GRAPH" '[{"delay_ms":3000}]' 31600000009 "Crash during send"
serve "$conf" || { finish; exit 1; }
ok "crash during send: marked failed after restart" wait_for "$dsn" "SELECT m.status || ' ' || d.error_message FROM messages m JOIN message_delivery_status d USING (message_id) JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31600000009' AND m.sender = 'agent'" "failed send outcome unknown after a restart; not sent again"
sleep 3
eq "crash during send: sent once, never repeated" 1 "$(n_sends)"
eq "crash during send: the conversation is released" "" "$(sql "$dsn" "SELECT reply_lease_owner FROM conversations WHERE customer_phone = '31600000009'")"

# The lease runs out while its process is still sending (a database outage
# longer than the lease): another claim marks the part failed, outcome
# unknown, and does not send it; when the send then succeeds, its record
# makes the part sent, delivery row included (tests/topology found one left
# sent/failed after a failover).
fault "$GRAPH" '[{"delay_ms":3000}]' 31600000013 "Lease lost during send"
held "$GRAPH"
lost13="FROM messages m JOIN message_delivery_status d USING (message_id) JOIN conversations c USING (conversation_id)
        WHERE c.customer_phone = '31600000013' AND m.sender = 'agent'"
sql "$dsn" "UPDATE conversations SET reply_lease_until = now() - interval '1 second', reply_due_at = '-infinity'
             WHERE customer_phone = '31600000013';
            SELECT parley_claim_replies('intruder', 1, 30, 1)" >/dev/null
eq "lease lost during send: another claim marks the part failed" "failed|failed" \
	"$(sql "$dsn" "SELECT m.status || '|' || d.status $lost13")"
ok "lease lost during send: sent and delivery row sent once the platform took it" \
	wait_for "$dsn" "SELECT m.status || '|' || d.status || '|' || coalesce(d.error_message, '') $lost13" "sent|sent|"
eq "lease lost during send: sent once" 1 "$(n_sends)"
eq "lease lost during send: released" "" \
	"$(sql "$dsn" "SELECT reply_lease_owner FROM conversations WHERE customer_phone = '31600000013'")"

# The lease runs out while OpenAI is still thinking (the process could not
# renew it: a database failover longer than the lease) and the same process
# claims the conversation again: the earlier job goes on, the new claim is
# dropped, one reply (tests/topology found two stored and sent).
fault "$OPENAI" '[{"delay_ms":4000}]' 31600000014 "Claimed twice"
held "$OPENAI"
# The process renews its lease every 2/3 s, and its claim wakes a debounce
# after the notification: expiring the lease by hand raced the renewals (CI
# and local runs lost that race about once in eight). A trigger of this
# test keeps the lease run out whatever the process writes to it, until its
# own claim has taken the conversation back.
sql "$dsn" "CREATE FUNCTION test_lease_runs_out() RETURNS trigger LANGUAGE plpgsql AS \$\$
            BEGIN
                NEW.reply_lease_until := now() - interval '1 second';
                RETURN NEW;
            END \$\$;
            CREATE TRIGGER test_lease_runs_out BEFORE UPDATE ON conversations FOR EACH ROW
             WHEN (NEW.customer_phone = '31600000014' AND NEW.reply_lease_owner IS NOT NULL)
             EXECUTE FUNCTION test_lease_runs_out();
            UPDATE conversations SET reply_due_at = now() WHERE customer_phone = '31600000014';
            SELECT pg_notify('parley_reply_due', conversation_id) FROM conversations
             WHERE customer_phone = '31600000014' AND is_active" >/dev/null
for _ in $(seq 1 35); do
	grep -q "claimed again while its earlier reply" "$conf.log" && break
	sleep 0.1
done
sql "$dsn" "DROP TRIGGER test_lease_runs_out ON conversations; DROP FUNCTION test_lease_runs_out()" >/dev/null
contains "claimed again by its own process: the new claim is dropped" \
	"claimed again while its earlier reply is still in progress here" "$(cat "$conf.log")"
ok "claimed again: the earlier job's reply is sent" wait_for "$dsn" \
	"SELECT count(*) FILTER (WHERE m.status = 'sent') FROM messages m JOIN conversations c USING (conversation_id)
	 WHERE c.customer_phone = '31600000014' AND m.sender = 'agent'" 1
sleep 1
eq "claimed again: one reply stored, one OpenAI call, one send" "1 1 1" \
	"$(agent_count 31600000014) $(n_responses) $(n_sends)"

# kill -9 while OpenAI is thinking: the work is picked up and answered once.
crash_holding "$OPENAI" '[{"delay_ms":1500}]' 31600000010 "Crash while thinking"
serve "$conf" || { finish; exit 1; }
ok "crash during OpenAI: answered after restart" wait_sent "31600000010" 1
eq "crash during OpenAI: one send" 1 "$(n_sends)"
eq "crash during OpenAI: charged once" 1 "$(sql "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '31600000010' AND NOT reply_charged")"

# --- two processes on one database: each burst answered once
conf2=$(new_config "$dsn")
for kv in "meta whatsapp_url $GRAPH/v24.0" "meta instagram_url $GRAPH/v24.0" "openai api_key sk-test" \
	"openai url $OPENAI/v1" "openai timeout_seconds 5" "replies debounce_ms 1000" "replies max_attempts 3" \
	"extraction enabled false"; do
	conf_set "$conf2" $kv
done
start_parley "$conf2" || { finish; exit 1; }
pid2=$PARLEY_PID
url2=$(parley_url "$conf2")
reset_standins
before=$(sql "$dsn" "SELECT total_used FROM credits")
for i in $(seq 1 10); do
	for t in one two; do
		wa_text "wamid.TWO.$i.$t" "3170000$(printf %04d "$i")" "$t" >"$TEST_TMP/two.json"
		if ((i % 2)); then post_signed "$url" "$TEST_TMP/two.json" >/dev/null; else post_signed "$url2" "$TEST_TMP/two.json" >/dev/null; fi
	done
done
ok "two processes: every burst answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone LIKE '3170000%' AND m.sender = 'agent' AND m.status = 'sent'" 10
sleep 1
eq "two processes: one reply per conversation" 10 "$(sql "$dsn" "SELECT count(DISTINCT conversation_id) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone LIKE '3170000%' AND m.sender = 'agent'")"
eq "two processes: ten OpenAI responses, ten sends" "10 10" "$(n_responses) $(n_sends)"
eq "two processes: never two requests on one OpenAI conversation" 0 "$(curl -sS "$OPENAI/_stats" | jq '.conversation_locked')"
eq "two processes: ten credits" 10 "$(( $(sql "$dsn" "SELECT total_used FROM credits") - before ))"
stop_parley "$pid2"
eq "second parley stops cleanly" 0 $?

stop_parley "$pid"
eq "parley stops cleanly" 0 $?

# --- openai.max_in_flight: a job holds one upstream slot from its first
# call to its last send; claimed work beyond the slots waits, and SIGTERM
# hands it back at once instead of starting it
conf3=$(new_config "$dsn")
for kv in "meta whatsapp_url $GRAPH/v24.0" "openai api_key sk-test" "openai url $OPENAI/v1" \
	"openai timeout_seconds 5" "openai max_in_flight 2" "replies debounce_ms 300" \
	"extraction enabled false"; do
	conf_set "$conf3" $kv
done
reset_standins
curl -sS -d '[{"delay_ms":600},{"delay_ms":600},{"delay_ms":600},{"delay_ms":600},{"delay_ms":600},{"delay_ms":600}]' \
	"$OPENAI/_script" >/dev/null
before=$(sql "$dsn" "SELECT total_used FROM credits")
# Six conversations that already have their OpenAI conversation, due when
# parley starts: its first requests are all /responses, on new connections.
sql "$dsn" "INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no,
                                       openai_conversation_id, reply_due_at)
            SELECT 'slot-' || i, 'ag-wa', '317100000' || i, 1, 'conv_slot_' || i, now()
              FROM generate_series(1, 6) i;
            INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, triggers_reply)
            SELECT 'slot-m' || i, 'slot-' || i, 'user', 'Slot ' || i, 'sent', 1, true
              FROM generate_series(1, 6) i" >/dev/null
start_parley "$conf3" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf3")
ok "max_in_flight 2: all six answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone LIKE '31710000%' AND m.sender = 'agent' AND m.status = 'sent'" 6
# Two at once, not one: plain-HTTP requests to one host do not wait for
# each other (libcurl's PIPEWAIT held them until the first one finished).
eq "max_in_flight 2: two OpenAI calls at once, never more" 2 "$(curl -sS "$OPENAI/_stats" | jq '.max_in_flight')"
eq "max_in_flight 2: the first two calls went together, not one after the other" yes \
	"$(curl -sS "$OPENAI/_requests" | jq -r '[.[] | select(.path == "/v1/responses") | .time_ms] | sort | if .[1] - .[0] < 300 then "yes" else "no (\(.[1] - .[0]) ms apart)" end')"
eq "max_in_flight 2: six responses, six sends" "6 6" "$(n_responses) $(n_sends)"

reset_standins
curl -sS -d '[{"delay_ms":2000},{"delay_ms":2000},{"delay_ms":2000}]' "$OPENAI/_script" >/dev/null
for i in 1 2 3; do say "317200000$i" "Waiting $i" >/dev/null; done
leased() { sql "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone LIKE '31720000%' AND reply_lease_owner IS NOT NULL"; }
got=
for _ in $(seq 1 100); do
	got="$(leased) $(in_flight "$OPENAI")"
	[ "$got" = "3 2" ] && break
	sleep 0.05
done
eq "three claimed, two of them calling OpenAI" "3 2" "$got"
kill -TERM "$pid"
sleep 0.5
eq "SIGTERM: the waiting claim is handed back at once" 2 "$(leased)"
wait "$pid"
eq "SIGTERM with waiting work: exit 0" 0 $?
eq "SIGTERM: the two replies in flight were sent, the waiting one was not started" "2 2" "$(n_responses) $(n_sends)"
eq "SIGTERM: the handed-back conversation is still due, its credit still taken" "1|1" \
	"$(sql "$dsn" "SELECT count(*) FILTER (WHERE reply_due_at IS NOT NULL), count(*) FILTER (WHERE reply_charged) FROM conversations WHERE customer_phone LIKE '31720000%'")"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "the handed-back reply is produced by the next process" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone LIKE '31720000%' AND m.sender = 'agent' AND m.status = 'sent'" 3
eq "nine replies, nine credits: none charged twice" 9 "$(( $(sql "$dsn" "SELECT total_used FROM credits") - before ))"

# --- an idle parley looks for work about once a second, not in a loop
# (an empty "next due" once read as "due now" and claimed every few ms)
check_idle "$dsn" 1.5

# --- a relink archives a conversation whose reply is in production, and the
# process dies: the reply still finishes after a restart, never sent twice
url=$(parley_url "$conf")
wa_channel=$(sql "$dsn" "SELECT id FROM phone_numbers WHERE meta_phone_number_id = '106540352242922'")
# crash_then_relink STANDIN DELAY_MS CUSTOMER TEXT PROMPT: the customer's
# reply is held DELAY_MS by the stand-in; parley is killed meanwhile, the
# channel relinked to a new agent with PROMPT, and parley started again.
crash_then_relink() {
	crash_holding "$1" "[{\"delay_ms\":$2}]" "$3" "$4"
	ok "relink with $3's reply in production, its process dead: exit 0" \
		"$PARLEY_BIN" agent link -c "$conf" --channel "$wa_channel" --prompt "$5" --name "$5"
	eq "$3's conversation is archived, its reply still due" "f|t" \
		"$(sql "$dsn" "SELECT is_active, reply_due_at IS NOT NULL FROM conversations WHERE customer_phone = '$3'")"
	start_parley "$conf" || { finish; exit 1; }
	pid=$PARLEY_PID
}
released() { sql "$dsn" "SELECT coalesce(reply_lease_owner, '') || '|' || coalesce(reply_due_at::text, '') FROM conversations WHERE customer_phone = '$1'"; }

crash_then_relink "$GRAPH" 3000 31730000001 "Relinked while sending" pmpt_wa_v2
ok "archived, crashed during send: marked failed after restart" wait_for "$dsn" \
	"SELECT m.status || ' ' || d.error_message FROM messages m JOIN message_delivery_status d USING (message_id) JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31730000001' AND m.sender = 'agent'" \
	"failed send outcome unknown after a restart; not sent again"
ok "archived: released, nothing due" wait_for "$dsn" \
	"SELECT coalesce(reply_lease_owner, '') || '|' || coalesce(reply_due_at::text, '') FROM conversations WHERE customer_phone = '31730000001'" "|"
eq "archived, crashed during send: sent once" 1 "$(n_sends)"

crash_then_relink "$OPENAI" 1500 31730000002 "Relinked while thinking" pmpt_wa_v3
ok "archived, crashed during OpenAI: the reply is produced and sent" wait_for "$dsn" \
	"SELECT m.status FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31730000002' AND m.sender = 'agent'" sent
eq "archived, crashed during OpenAI: one send, released" "1 |" "$(n_sends) $(released 31730000002)"
wa_text "wamid.after-relink" 31730000002 "Hello again" >"$TEST_TMP/again.json"
post_signed "$url" "$TEST_TMP/again.json" >/dev/null
ok "the customer's next message goes to a new conversation under the new agent" wait_for "$dsn" \
	"SELECT a.prompt_id FROM conversations c JOIN agents a USING (agent_id) WHERE c.customer_phone = '31730000002' AND c.is_active" pmpt_wa_v3

stop_parley "$pid"
eq "parley stops cleanly again" 0 $?
stop_parley "$openai_pid"
stop_parley "$graph_pid"
finish
