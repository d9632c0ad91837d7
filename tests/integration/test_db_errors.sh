#!/usr/bin/env bash
# Database errors on the reply path (issue #15 items 6 and 8): a platform id
# that Graph returns twice, a transient error that passes, permanent errors
# (constraints added to the test database refuse the record and store
# steps) that end a reply as failed instead of a retry loop, SIGTERM in
# those situations, and logs that carry no DETAIL of a constraint failure.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

# say FROM TEXT: a customer's WhatsApp message through the webhook; prints the status.
say() {
	say_wa D "$@"
}
# agent CUSTOMER COLUMNS: one line per agent message of that customer, in order.
agent() {
	sql "$dsn" "SELECT $2 FROM messages m JOIN conversations c USING (conversation_id)
	            LEFT JOIN message_delivery_status d USING (message_id)
	            WHERE c.customer_phone = '$1' AND m.sender = 'agent' ORDER BY m.sequence_no"
}
agent_in() { # CUSTOMER STATUS: wait until that customer has an agent message in STATUS
	wait_for "$dsn" "SELECT count(*) > 0 FROM messages m JOIN conversations c USING (conversation_id)
	                 WHERE c.customer_phone = '$1' AND m.sender = 'agent' AND m.status = '$2'" t
}
released() { # CUSTOMER: nothing leased or due any more
	wait_for "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '$1'
	                 AND reply_lease_owner IS NULL AND reply_due_at IS NULL" 1
}
# Waits until Graph holds a send on the wire (a scripted delay).
send_on_the_wire() { wait_until 1 in_flight "$GRAPH" 2>/dev/null; }
# term_sending LABEL SCRIPT FROM TEXT: the customer's reply held on the wire
# by Graph (SCRIPT), then SIGTERM: checks both, and that parley exits 0
# well inside the drain bound.
term_sending() {
	fault "$GRAPH" "$2" "$3" "$4"
	ok "$1: the send is on the wire" send_on_the_wire
	term_and_time "$pid"
	eq "$1: exit 0 well within the drain bound" "0 yes" "$STOPPED"
}
# term_and_time PID: SIGTERM and wait (in this shell: parley is its child);
# sets STOPPED to "0 yes" when it exited 0 well inside the 20 s drain bound.
term_and_time() {
	local t0 rc ms
	t0=$(date +%s%N)
	kill -TERM "$1"
	wait "$1"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	STOPPED="$rc $([ "$ms" -lt 12000 ] && echo yes || echo "no ($ms ms)")"
}

reply_standins || { finish; exit 1; }
dsn=$(new_db)
conf=$(reply_config "$dsn" openai timeout_seconds 5 replies debounce_ms 300 replies max_attempts 3)
reply_migrate "$conf" "$dsn"
reply_start "$conf" || { finish; exit 1; }

# --- Graph answers two sends with one id: the second is recorded, the worker goes on
curl -sS -d '[{"message_id":"wamid.DUP.1","times":2}]' "$GRAPH/_script" >/dev/null
say 31611110001 "First" >/dev/null
ok "duplicate id: the first reply is sent" agent_in 31611110001 sent
say 31611110002 "Second" >/dev/null
ok "duplicate id: the second reply is recorded as sent" agent_in 31611110002 sent
ok "duplicate id: its conversation is released" released 31611110002
first=$(agent 31611110001 m.message_id)
eq "duplicate id: the first message keeps the id" "wamid.DUP.1|sent" \
	"$(agent 31611110001 "m.platform_message_id || '|' || d.status")"
eq "duplicate id: the second has none on the message, the id and a note in its delivery row" \
	"|sent|wamid.DUP.1|sent; the platform returned an id already recorded for message $first" \
	"$(agent 31611110002 "coalesce(m.platform_message_id, '') || '|' || m.status || '|' || d.platform_message_id || '|' || d.error_message")"
contains "duplicate id: logged" "already recorded for message $first" "$(cat "$conf.log")"
eq "duplicate id: counted" 1 "$(metric parley_platform_id_collisions_total)"
eq "duplicate id: no retry loop" 0 "$(grep -c 'failed, retrying' "$conf.log" || true)"
say 31611110003 "Third" >/dev/null
ok "duplicate id: the next conversation is answered" agent_in 31611110003 sent

# A part that is not the last (recorded on its own) gets a duplicate id.
reset_standins
curl -sS -d '[{"text_len":5000}]' "$OPENAI/_script" >/dev/null
curl -sS -d '[{"message_id":"wamid.DUP.1"}]' "$GRAPH/_script" >/dev/null
say 31611110004 "Long one" >/dev/null
ok "duplicate id on a first part: both parts sent" wait_for "$dsn" \
	"SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31611110004' AND m.sender = 'agent' AND m.status = 'sent'" 2
eq "duplicate id on a first part: it has no id, the second has its own" "f
t" "$(agent 31611110004 "m.platform_message_id IS NOT NULL")"
eq "duplicate id on a first part: counted" 2 "$(metric parley_platform_id_collisions_total)"

# A status for the id goes to the message that holds it.
wa_status wamid.DUP.1 delivered >"$TEST_TMP/status.json"
eq "status for the duplicate id: webhook 200" 200 "$(post_signed "$url" "$TEST_TMP/status.json")"
eq "status for the duplicate id: applied to the holder only" "delivered sent" \
	"$(agent 31611110001 d.status) $(agent 31611110002 d.status)"

# --- a transient error (serialization failure, twice) is retried, and passes
refuse_updates "$dsn" test_flaky messages "NEW.status = 'sent' AND NEW.text LIKE '%FLAKY%'" 2 \
	"test: could not serialize" serialization_failure
reset_standins
say 31611110005 "FLAKY" >/dev/null
ok "transient error: the reply is sent in the end" agent_in 31611110005 sent
contains "transient error: retried, with its SQLSTATE" "step record failed, retrying: test: could not serialize (SQLSTATE 40001)" \
	"$(cat "$conf.log")"
eq "transient error: sent once" 1 "$(n_sends)"
sql "$dsn" "DROP TRIGGER test_flaky ON messages" >/dev/null

# --- a refund that fails once (transiently) is tried again by itself, not
# the OpenAI request before it
refuse_updates "$dsn" test_flaky_refund credits "NEW.remaining_credits > OLD.remaining_credits" 1 \
	"test: deadlock" deadlock_detected
reset_standins
before=$(credits)
curl -sS -d '[{"status":400}]' "$OPENAI/_script" >/dev/null
say 31611110012 "Refund me" >/dev/null
ok "refund retried: the conversation is released" released 31611110012
ok "refund retried: the credit is back" wait_for "$dsn" \
	"SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'" "$before"
contains "refund retried: the refund step was retried" "step refund failed, retrying: test: deadlock (SQLSTATE 40P01)" \
	"$(cat "$conf.log")"
eq "refund retried: one OpenAI request, no reply" "1 0" \
	"$(n_responses) $(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31611110012' AND m.sender = 'agent'")"
sql "$dsn" "DROP TRIGGER test_flaky_refund ON credits" >/dev/null

# --- a permanent error on the record step: the reply ends failed, refunded
# (NOT VALID: the rows already there are not checked.)
sql "$dsn" "ALTER TABLE messages ADD CONSTRAINT test_refuse_sent
            CHECK (NOT (sender = 'agent' AND status = 'sent' AND text LIKE '%REFUSE-ME%')) NOT VALID" >/dev/null
reset_standins
before=$(credits)
say 31611110006 "REFUSE-ME secret-text-4711" >/dev/null
say 31611110007 "Unrelated" >/dev/null
ok "refused record: the reply is marked failed" agent_in 31611110006 failed
ok "refused record: its conversation is released" released 31611110006
ok "refused record: another conversation is answered meanwhile" agent_in 31611110007 sent
contains "refused record: the delivery row says why, with the SQLSTATE" \
	"failed|accepted by the platform, but recording the send failed: database error: new row for relation \"messages\" violates check constraint \"test_refuse_sent\" (SQLSTATE 23514)" \
	"$(agent 31611110006 "d.status || '|' || d.error_message")"
# One credit for the answered one; the failed one's came back.
ok "refused record: its credit is given back" wait_for "$dsn" \
	"SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'" \
	"$(echo "$before" | awk -F/ '{print $1 - 1 "/" $2 + 1}')"
eq "refused record: sent once, never again" 2 "$(n_sends)"
contains "refused record: logged with the SQLSTATE" \
	"step record failed for good: new row for relation \"messages\" violates check constraint \"test_refuse_sent\" (SQLSTATE 23514)" \
	"$(cat "$conf.log")"
eq "refused record: counted by worker, step and SQLSTATE" 1 \
	"$(metric 'parley_db_step_failures_total{worker="replies",step="record",sqlstate="23514"}')"
eq "refused record: counted as a failed reply" yes \
	"$([ "$(metric 'parley_replies_total{outcome="failed"}')" -ge 1 ] && echo yes || echo no)"
# The constraint's DETAIL is "Failing row contains (…)", with the text.
eq "a constraint failure's DETAIL (the row, the message text) is not logged" 0 \
	"$(grep -c -e 'secret-text-4711' -e 'Failing row' -e 'DETAIL' "$conf.log" || true)"
eq "no retry loop for the refused record" 0 "$(grep -c 'step record failed, retrying: new row' "$conf.log" || true)"

# --- a permanent error on the store step: no reply, refunded, released
sql "$dsn" "ALTER TABLE messages ADD CONSTRAINT test_refuse_store
            CHECK (NOT (sender = 'agent' AND text LIKE '%REFUSE-STORE%')) NOT VALID" >/dev/null
reset_standins
before=$(credits)
say 31611110008 "REFUSE-STORE" >/dev/null
ok "refused store: released" released 31611110008
eq "refused store: no agent message, nothing sent" "0 0" \
	"$(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31611110008' AND m.sender = 'agent'") $(n_sends)"
ok "refused store: credit given back" wait_for "$dsn" \
	"SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'" "$before"
eq "refused store: counted" 1 \
	"$(metric 'parley_db_step_failures_total{worker="replies",step="store",sqlstate="23514"}')"
say 31611110008 "And now?" >/dev/null
ok "refused store: the conversation's next message is answered" agent_in 31611110008 sent

# --- SIGTERM while a send whose record will be refused is on the wire
term_sending "SIGTERM, refused record" '[{"delay_ms":1500}]' 31611110009 "REFUSE-ME at closing time"
eq "SIGTERM, refused record: the reply was marked failed before exiting" failed "$(agent 31611110009 m.status)"

# --- SIGTERM while a send that will get a duplicate id is on the wire
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
term_sending "SIGTERM, duplicate id" '[{"message_id":"wamid.DUP.1","delay_ms":1500}]' 31611110010 "Duplicate at closing time"
eq "SIGTERM, duplicate id: recorded as sent, without the id" "sent|" \
	"$(agent 31611110010 "m.status || '|' || coalesce(m.platform_message_id, '')")"

# --- lead extraction: a store the database refuses is a failed attempt, not a loop
export PARLEY_TEST_EXTRACTION_BACKOFF_SECONDS=1
reset_standins
dsn=$(new_db)
conf=$(lead_config "$dsn" 1 2)
ok "extraction: migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"
# The stand-in reads the name from "I'm …"; this one is refused.
sql "$dsn" "ALTER TABLE extractions ADD CONSTRAINT test_refuse_lead CHECK (name IS DISTINCT FROM 'Refusa') NOT VALID" >/dev/null
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")
before=$(credits)
say 31611110011 "Hi, I'm Refusa from Padaria Boa." >/dev/null
ok "extraction: the refused store is counted as a failed attempt" wait_for "$dsn" \
	"SELECT count(*) > 0 FROM conversations WHERE customer_phone = '31611110011' AND extraction_failures > 0" t
eq "extraction: nothing stored" 0 "$(sql "$dsn" "SELECT count(*) FROM extractions")"
ok "extraction: its credits are given back" wait_for "$dsn" \
	"SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'" "$before"
contains "extraction: logged with the SQLSTATE" \
	"extraction step store failed for good: new row for relation \"extractions\" violates check constraint \"test_refuse_lead\" (SQLSTATE 23514)" \
	"$(cat "$conf.log")"
eq "extraction: counted by worker, step and SQLSTATE" yes \
	"$([ "$(metric 'parley_db_step_failures_total{worker="extraction",step="store",sqlstate="23514"}')" -ge 1 ] 2>/dev/null && echo yes || echo no)"
eq "extraction: and as a failure of reason database" yes \
	"$([ "$(metric 'parley_extraction_failures_total{reason="database"}')" -ge 1 ] 2>/dev/null && echo yes || echo no)"
eq "extraction: no retry loop, no DETAIL in the log" 0 \
	"$(grep -c -e 'extraction step [a-z]* failed, retrying' -e 'Failing row' "$conf.log" || true)"
stop_parley "$pid"
eq "extraction: SIGTERM exits 0" 0 $?

finish
