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
refuse_updates "$dsn" refund_tries credits "NEW.remaining_credits > OLD.remaining_credits" 1 \
	"refund refused once" serialization_failure >/dev/null
reply_start "$conf" || { finish; exit 1; }
# refused_refund LABEL STANDIN SCRIPT ID CUSTOMER TEXT: scripts a final
# failure into the stand-in at STANDIN, posts the customer's message ID, and
# checks that its refund is refused once, then goes through, and that the
# conversation is released.
refused_refund() {
	curl -sS -d "$3" "$2/_script" >/dev/null
	wa_text "$4" "$5" "$6" >"$TEST_TMP/$4.json"
	eq "$1: posted" 200 "$(post_signed "$url" "$TEST_TMP/$4.json")"
	ok "$1: the refund is refused once" wait_for "$dsn" "SELECT last_value FROM refund_tries" 1
	ok "$1: the refund goes through on its second try" wait_for "$dsn" \
		"SELECT (SELECT last_value FROM refund_tries) || ' ' || remaining_credits || '/' || total_used
		   FROM credits WHERE user_id = 'acme'" "2 100/0"
	ok "$1: released" settled "$5"
}
n_sends() { curl -sS "$GRAPH/_requests" | jq '[.[] | select(.body.text.body != null)] | length'; }

# --- a send fails for good (131047), then its refund is refused once
refused_refund "send failure" "$GRAPH" '[{"meta_code":131047}]' wamid.R1 31600000021 "Refund me"
eq "send failure: the reply failed with the platform's error" "failed|131047: Re-engagement message" \
	"$(sql "$dsn" "SELECT m.status || '|' || d.error_message FROM messages m JOIN message_delivery_status d USING (message_id) WHERE m.sender = 'agent'")"
eq "send failure: one send, not repeated" 1 "$(n_sends)"
contains "send failure: the refused refund is logged" "refund refused once" "$(cat "$conf.log")"

# --- an OpenAI call fails for good (400), then its refund is refused once
sql "$dsn" "SELECT setval('refund_tries', 1, false)" >/dev/null
responses_before=$(n_responses)
refused_refund "OpenAI failure" "$OPENAI" '[{"status":400}]' wamid.R2 31600000022 "Refund me too"
eq "OpenAI failure: OpenAI asked once, nothing stored, nothing sent" "$((responses_before + 1)) 0 1" \
	"$(n_responses) $(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
	                               WHERE c.customer_phone = '31600000022' AND m.sender = 'agent'") $(n_sends)"

stop_parley "$pid"
eq "parley stops cleanly" 0 $?
finish
