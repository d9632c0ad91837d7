#!/usr/bin/env bash
# A reply that failed for good gives its credit back (docs/architecture.md, A
# reply's path); when the database refuses that refund, the refund is tried
# again -- and only the refund. Before, the retry ran the reply's previous step
# once more: after a failed send, the record step past the last part (reading
# beyond the parts array); after a failed OpenAI call, the OpenAI call, whose
# answer was then stored and sent although the reply had been given up.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

reply_standins || { finish; exit 1; }
dsn=$(new_db)
conf=$(reply_config "$dsn" replies debounce_ms 100)
reply_migrate "$conf" "$dsn"
# The first refund (credits going up) of each round fails with an error
# worth retrying (a serialization failure: only those are retried, see
# test_db_errors.sh for the others); a sequence is not rolled back with the
# refund, so the next try goes through.
sql "$dsn" "CREATE SEQUENCE refund_tries;
            CREATE FUNCTION refuse_first_refund() RETURNS trigger LANGUAGE plpgsql AS \$\$
            BEGIN
                IF NEW.remaining_credits > OLD.remaining_credits AND nextval('refund_tries') = 1 THEN
                    RAISE EXCEPTION 'refund refused once' USING ERRCODE = 'serialization_failure';
                END IF;
                RETURN NEW;
            END \$\$;
            CREATE TRIGGER refuse_first_refund BEFORE UPDATE ON credits
               FOR EACH ROW EXECUTE FUNCTION refuse_first_refund();" >/dev/null
reply_start "$conf" || { finish; exit 1; }
n_sends() { curl -sS "$GRAPH/_requests" | jq '[.[] | select(.body.text.body != null)] | length'; }
# settled CUSTOMER: the conversation is released, nothing due or charged
settled() {
	wait_for "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '$1'
	                 AND reply_lease_owner IS NULL AND reply_due_at IS NULL AND NOT reply_charged" 1
}

# --- a send fails for good (131047), then its refund is refused once
curl -sS -d '[{"meta_code":131047}]' "$GRAPH/_script" >/dev/null
wa_text "wamid.R1" 31600000021 "Refund me" >"$TEST_TMP/r1.json"
eq "send failure: posted" 200 "$(post_signed "$url" "$TEST_TMP/r1.json")"
ok "send failure: the refund is refused once" wait_for "$dsn" "SELECT last_value FROM refund_tries" 1
ok "send failure: the refund goes through on its second try" wait_for "$dsn" \
	"SELECT (SELECT last_value FROM refund_tries) || ' ' || remaining_credits || '/' || total_used
	   FROM credits WHERE user_id = 'acme'" "2 100/0"
ok "send failure: released" settled 31600000021
eq "send failure: the reply failed with the platform's error" "failed|131047: Re-engagement message" \
	"$(sql "$dsn" "SELECT m.status || '|' || d.error_message FROM messages m JOIN message_delivery_status d USING (message_id) WHERE m.sender = 'agent'")"
eq "send failure: one send, not repeated" 1 "$(n_sends)"
contains "send failure: the refused refund is logged" "refund refused once" "$(cat "$conf.log")"

# --- an OpenAI call fails for good (400), then its refund is refused once
sql "$dsn" "SELECT setval('refund_tries', 1, false)" >/dev/null
responses_before=$(n_responses)
curl -sS -d '[{"status":400}]' "$OPENAI/_script" >/dev/null
wa_text "wamid.R2" 31600000022 "Refund me too" >"$TEST_TMP/r2.json"
eq "OpenAI failure: posted" 200 "$(post_signed "$url" "$TEST_TMP/r2.json")"
ok "OpenAI failure: the refund is refused once" wait_for "$dsn" "SELECT last_value FROM refund_tries" 1
ok "OpenAI failure: the refund goes through on its second try" wait_for "$dsn" \
	"SELECT (SELECT last_value FROM refund_tries) || ' ' || remaining_credits || '/' || total_used
	   FROM credits WHERE user_id = 'acme'" "2 100/0"
ok "OpenAI failure: released" settled 31600000022
eq "OpenAI failure: OpenAI asked once, nothing stored, nothing sent" "$((responses_before + 1)) 0 1" \
	"$(n_responses) $(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
	                               WHERE c.customer_phone = '31600000022' AND m.sender = 'agent'") $(n_sends)"

stop_parley "$pid"
eq "parley stops cleanly" 0 $?
finish
