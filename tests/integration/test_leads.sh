#!/usr/bin/env bash
# Lead extraction end to end (issue #8): a real parley, a real PostgreSQL and
# the project's stand-in OpenAI (structured outputs derived from the
# transcript) and Graph API; `parley leads` reads what was stored.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

# Short quiet time, leases and backoff, so that each step shows in seconds.
export PARLEY_TEST_LEASE_SECONDS=2
export PARLEY_TEST_EXTRACTION_BACKOFF_SECONDS=1

# say URL FROM TEXT: a customer's WhatsApp message through the webhook.
say() {
	local url=$1
	shift
	say_wa L "$@" >/dev/null
}
# The structured-output (extraction) requests the stand-in received, as a
# JSON array; with a customer's first message, only that conversation's.
extraction_requests() {
	curl -sS "$OPENAI/_requests" | jq -c --arg first "${1:-}" '[.[] | select(.path == "/v1/responses"
		and .body.text.format.type == "json_schema"
		and ($first == "" or (.body.input[0].content == $first)))]'
}
n_extraction_requests() { extraction_requests "${1:-}" | jq length; }
conv_of() { sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '$1'"; }
rows_of() { sql "$dsn" "SELECT count(*) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1'"; }
latest() { # CUSTOMER COLUMNS: the latest extraction's columns, |-separated
	sql "$dsn" "SELECT $2 FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1' AND e.is_latest"
}
metric() { curl -sS "$url/metrics" | grep -F "$1" | awk '{print $2}' | head -1; }
now_ms() { date +%s%3N; }
leads() { "$PARLEY_BIN" leads "$@" -c "$conf"; }

reply_standins || { finish; exit 1; }

dsn=$(new_db)
conf=$(lead_config "$dsn" 4 2)
reply_migrate "$conf" "$dsn"
reply_start "$conf" || { finish; exit 1; }

eq "one latest extraction per conversation is a constraint" \
	"CREATE UNIQUE INDEX extractions_one_latest ON public.extractions USING btree (conversation_id) WHERE is_latest" \
	"$(sql "$dsn" "SELECT pg_get_indexdef('extractions_one_latest'::regclass)")"

# --- the schedule: three customer messages are not enough
A=31611111111
A1="Hi, I'm Ana from Padaria Boa."
say "$url" $A "$A1"
say "$url" $A "What is the price for 3 terminals?"
say "$url" $A "Can we get a demo? It's urgent"
ok "the first messages are answered" wait_for "$dsn" "SELECT count(*) > 0 FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$A' AND m.sender = 'agent' AND m.status = 'sent'" t
sleep 2.5
eq "three customer messages, quiet for longer than idle_seconds: no extraction" "0 0" "$(rows_of $A) $(n_extraction_requests)"

# --- the fourth makes it due, once the conversation has been quiet
t4=$(now_ms)
say "$url" $A "My email is ana@padaria.test"
ok "four customer messages: an extraction is stored" wait_for "$dsn" "SELECT count(*) FROM extractions" 1
reqs=$(extraction_requests)
eq "one extraction request" 1 "$(jq length <<<"$reqs")"
gap=$(( $(jq '.[0].time_ms' <<<"$reqs") - t4 ))
eq "it waited for idle_seconds (1 s) of quiet" yes "$([ "$gap" -ge 1000 ] && echo yes || echo "no ($gap ms)")"
req=$(jq -c '.[0].body' <<<"$reqs")
eq "request: store false, no conversation, the model, built-in instructions, no prompt" \
	"false null gpt-test true null" \
	"$(jq -r '"\(.store) \(.conversation) \(.model) \(.instructions | length > 100) \(.prompt)"' <<<"$req")"
eq "request: a strict json_schema named lead" "json_schema lead true false" \
	"$(jq -r '.text.format | "\(.type) \(.name) \(.strict) \(.schema.additionalProperties)"' <<<"$req")"
eq "request: the enums are exactly the seed's CHECK lists" \
	'["Low","Medium","High"] ["Low","Medium","High"] ["Yes","No","Maybe"] ["Low","Medium","High"] ["Low","Medium","High"] ["Yes","No"] ["Yes","No"]' \
	"$(jq -c '.text.format.schema.properties | [.intent_level.enum, .urgency_level.enum, .budget_constraint.enum, .fit_alignment.enum, .engagement_health.enum, .cta_pricing_clicked.enum, .cta_escalated_to_human.enum] | map(tostring) | join(" ")' -r <<<"$req")"
eq "request: every property required" true \
	"$(jq '.text.format.schema | (.required | sort) == (.properties | keys | sort)' <<<"$req")"
eq "request: the transcript, customer as user and agent as assistant, oldest first" \
	"user:$A1 4 true" \
	"$(jq -r '.input | "\(.[0].role):\(.[0].content) \([.[] | select(.role == "user")] | length) \(any(.[]; .role == "assistant"))"' <<<"$req")"
eq "the fake answered with a structured output" 1 "$(curl -sS "$OPENAI/_stats" | jq .structured)"
eq "scores, total and tag computed from the levels (High 3, High 3, Maybe 2, Medium 2, High 3)" \
	"High|3|High|3|Maybe|2|Medium|2|High|3|13|Hot" \
	"$(latest $A "intent_level, intent_score, urgency_level, urgency_score, budget_constraint, budget_score, fit_alignment, fit_score, engagement_health, engagement_score, total_score, lead_status_tag")"
eq "contact fields" "Ana|ana@padaria.test|Padaria Boa" "$(latest $A "name, email, company")"
eq "calls to action" "Yes|Yes|No|No|No|No" \
	"$(latest $A "cta_pricing_clicked, cta_demo_clicked, cta_followup_clicked, cta_sample_clicked, cta_website_clicked, cta_escalated_to_human")"
eq "tenant, customer, latest; counts the transcript's messages" "acme|$A|t|$(jq '.input | length' <<<"$req")" \
	"$(latest $A "e.user_id, e.customer_phone, e.is_latest, e.message_count_at_extraction")"
eq "reasoning keeps the five reasons as JSON" '["budget","engagement","fit","intent","urgency"]' \
	"$(latest $A "reasoning" | jq -c 'keys')"
contains "a notification for a salesperson" "Ana from Padaria Boa is interested in buying." "$(latest $A smart_notification)"
eq "the conversation records the extraction" "t|t" \
	"$(sql "$dsn" "SELECT last_extraction_at IS NOT NULL, extracted_through_seq = (SELECT message_count_at_extraction FROM extractions) FROM conversations WHERE customer_phone = '$A'")"
eq "extraction.credits (2) taken" "98/2" "$(credits)"

# --- more messages: a second extraction supersedes the first
say "$url" $A "Do you have a sample?"
say "$url" $A "Our budget is approved"
say "$url" $A "Please call me"
sleep 2.5
eq "three new customer messages: still one extraction" 1 "$(rows_of $A)"
say "$url" $A "Thanks"
ok "the fourth new one: a second extraction" wait_for "$dsn" "SELECT count(*) FROM extractions" 2
eq "only the newest is latest" "false true" \
	"$(sql "$dsn" "SELECT string_agg(is_latest::text, ' ' ORDER BY extracted_at) FROM extractions")"
eq "the second: budget Yes now, 14 Hot, sample and follow-up asked for" "Yes|14|Hot|Yes|Yes" \
	"$(latest $A "budget_constraint, total_score, lead_status_tag, cta_sample_clicked, cta_followup_clicked")"
eq "two extractions, two charges" "96/4" "$(credits)"
out=$(sql "$dsn" "UPDATE extractions SET is_latest = true" 2>&1)
contains "a second latest row is refused by the constraint" 'extractions_one_latest' "$out"

# --- a value outside the CHECK lists, then malformed JSON: nothing stored,
# retried with backoff, then stored
B=31622222222
B1="Hello there, customer B"
curl -sS -d '[{"for":"structured","fields":{"intent_level":"Extreme"}},
              {"for":"structured","text":"{\"name\": \"Bo\", \"intent_level\": \"Hi"}]' "$OPENAI/_script" >/dev/null
for t in "$B1" "ok" "fine" "bye"; do say "$url" $B "$t"; done
ok "invalid answer: a failure is recorded" wait_for "$dsn" "SELECT extraction_failures > 0 FROM conversations WHERE customer_phone = '$B'" t
eq "invalid answer: nothing stored" 0 "$(rows_of $B)"
ok "after the backoff: stored" wait_for "$dsn" "SELECT count(*) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$B'" 1
eq "three attempts for B: invalid enum, malformed JSON, valid" 3 "$(n_extraction_requests "$B1")"
eq "B: failures reset, no next attempt pending" "0|t" \
	"$(sql "$dsn" "SELECT extraction_failures, next_extraction_at IS NULL FROM conversations WHERE customer_phone = '$B'")"
eq "B: failed attempts gave their credits back" "94/6" "$(credits)"
eq "B: low intent, 8 Warm" "Low|No|8|Warm" "$(latest $B "intent_level, budget_constraint, total_score, lead_status_tag")"
eq "invalid answers counted" 2 "$(metric 'parley_extraction_failures_total{reason="invalid"}')"
contains "the log names the field, not its value" "intent_level: not one of the allowed values" "$(cat "$conf.log")"

# --- a refusal, then an incomplete response: nothing stored; then a Cold lead
C=31633333333
C1="Hello, customer C"
curl -sS -d '[{"for":"structured","refusal":"I cannot help with that."},
              {"for":"structured","response_status":"incomplete"},
              {"for":"structured","fields":{"fit_alignment":"Low","engagement_health":"Low"}}]' "$OPENAI/_script" >/dev/null
for t in "$C1" "a" "b" "c"; do say "$url" $C "$t"; done
ok "refusal: a failure is recorded" wait_for "$dsn" "SELECT extraction_failures > 0 FROM conversations WHERE customer_phone = '$C'" t
eq "refusal: nothing stored" 0 "$(rows_of $C)"
ok "refused, incomplete, then stored" wait_for "$dsn" "SELECT count(*) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$C'" 1
eq "three attempts for C" 3 "$(n_extraction_requests "$C1")"
eq "C: all Low and No, 5 Cold" "1|1|1|1|1|5|Cold" \
	"$(latest $C "intent_score, urgency_score, budget_score, fit_score, engagement_score, total_score, lead_status_tag")"
eq "refusal counted" 1 "$(metric 'parley_extraction_failures_total{reason="refused"}')"
eq "incomplete counted" 1 "$(metric 'parley_extraction_failures_total{reason="incomplete"}')"

# --- archived by a relink: due at once, with fewer than every_messages
D=31644444444
say "$url" $D "Just one question, customer D"
ok "D is answered" wait_sent "$D" 1
sleep 1.5
eq "one customer message: not due while active" 0 "$(rows_of $D)"
sql "$dsn" "UPDATE conversations SET is_active = false WHERE customer_phone = '$D'" >/dev/null
ok "archived: extracted" wait_for "$dsn" "SELECT count(*) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$D'" 1
sleep 1.5
eq "archived: extracted once" "1 1" "$(rows_of $D) $(n_extraction_requests "Just one question, customer D")"

# --- a scheduled meeting becomes demo_book_datetime
E=31655555555
say "$url" $E "Customer E here"
ok "E's conversation exists" wait_for "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '$E'" 1
sql "$dsn" "INSERT INTO meetings (meeting_id, user_id, conversation_id, google_event_id, title, meeting_time, status)
            VALUES ('m-cancelled', 'acme', '$(conv_of $E)', 'ev0', 'Old', '2030-01-01 09:00', 'cancelled'),
                   ('m-demo', 'acme', '$(conv_of $E)', 'ev1', 'Demo', '2030-01-02 10:30', 'scheduled')" >/dev/null
for t in "I'd like a demo" "next week" "thanks"; do say "$url" $E "$t"; done
ok "E: extracted" wait_for "$dsn" "SELECT count(*) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$E'" 1
eq "the scheduled meeting's time is the demo booking" "2030-01-02 10:30:00" "$(latest $E demo_book_datetime)"

# --- no credits: no OpenAI call, nothing stored, counted
F=31666666666
sql "$dsn" "UPDATE credits SET remaining_credits = 1 WHERE user_id = 'acme'" >/dev/null
for t in "Customer F" "x" "y" "z"; do say "$url" $F "$t"; done
ok "no credits: the messages are passed over" wait_for "$dsn" "SELECT extracted_through_seq = last_sequence_no AND extracted_through_seq > 0 FROM conversations WHERE customer_phone = '$F'" t
eq "no credits: no request, no row, no charge" "0 0 1" "$(n_extraction_requests "Customer F") $(rows_of $F) $(sql "$dsn" "SELECT remaining_credits FROM credits")"
eq "no credits: counted" 1 "$(metric 'parley_extractions_total{outcome="no_credits"}')"
sql "$dsn" "UPDATE credits SET remaining_credits = 100, total_used = 0 WHERE user_id = 'acme'" >/dev/null

# --- a crash while OpenAI works: the claim runs out, extracted once, charged once
G=31677777777
curl -sS -d '[{"for":"structured","delay_ms":2500}]' "$OPENAI/_script" >/dev/null
for t in "Customer G" "x" "y" "z"; do say "$url" $G "$t"; done
held "$OPENAI"
eq "the extraction is on its way" 1 "$(in_flight "$OPENAI")"
kill -9 "$pid"
wait "$pid" 2>/dev/null
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "after the restart and the lease: extracted" wait_for "$dsn" "SELECT count(*) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$G'" 1
eq "crash: charged once" "98/2" "$(credits)"

# --- two processes on one database: each conversation extracted once
conf2=$(lead_config "$dsn" 4 2)
start_parley "$conf2" || { finish; exit 1; }
pid2=$PARLEY_PID
url2=$(parley_url "$conf2")
curl -sS -X POST "$OPENAI/_reset" >/dev/null
for i in $(seq 1 10); do
	for t in "Two processes, customer $i" "one" "two" "three"; do
		if ((i % 2)); then say "$url" "3170000$(printf %04d "$i")" "$t"; else say "$url2" "3170000$(printf %04d "$i")" "$t"; fi
	done
done
ok "two processes: ten conversations extracted" wait_for "$dsn" "SELECT count(*) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone LIKE '3170000%'" 10
sleep 2
eq "two processes: one row and one request per conversation" "10 10 10" \
	"$(sql "$dsn" "SELECT count(DISTINCT e.conversation_id) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone LIKE '3170000%'") $(sql "$dsn" "SELECT count(*) FROM extractions e JOIN conversations c USING (conversation_id) WHERE c.customer_phone LIKE '3170000%'") $(n_extraction_requests)"
eq "two processes: ten charges" "78/22" "$(credits)"
stop_parley "$pid2"
eq "second parley stops cleanly" 0 $?

# --- parley leads
out=$(leads list --tenant acme)
eq "leads list: exit 0" 0 $?
contains "leads list: a header" "TAG   SCORE  CONVERSATION" "$out"
eq "leads list: hottest first" "Hot 14/15" "$(sed -n 2p <<<"$out" | awk '{print $1, $2}')"
contains "leads list: the notification under the lead" "Ana from Padaria Boa is interested in buying." "$out"
json=$(leads list --tenant acme --json)
eq "leads list --json: the latest extraction of each conversation" \
	"$(sql "$dsn" "SELECT count(DISTINCT conversation_id) FROM extractions")" "$(jq length <<<"$json")"
eq "leads list --json: sorted by score, descending" true "$(jq '[.[].total_score] == ([.[].total_score] | sort | reverse)' <<<"$json")"
eq "leads list --json: one row per conversation" true "$(jq '([.[].conversation_id] | unique | length) == length' <<<"$json")"
eq "leads list --tag cold --json: D (6) then C (5)" "[\"$D\",\"$C\"]" "$(leads list --tenant acme --tag cold --json | jq -c '[.[].customer_phone]')"
eq "leads list --tag Warm --json: all Warm" '["Warm"]' "$(leads list --tenant acme --tag Warm --json | jq -c '[.[].lead_status_tag] | unique')"
eq "leads list for a tenant with no leads" "no leads for tenant acme tagged Cold" \
	"$(sql "$dsn" "DELETE FROM extractions WHERE lead_status_tag = 'Cold'" >/dev/null; leads list --tenant acme --tag Cold)"
show=$(leads show "$(conv_of $A)" --json)
eq "leads show --json: the history, oldest first, the last latest" "2 false true 13 14" \
	"$(jq -r '"\(.extractions | length) \(.extractions[0].is_latest) \(.extractions[1].is_latest) \(.extractions[0].total_score) \(.extractions[1].total_score)"' <<<"$show")"
eq "leads show --json: conversation and customer" "$A acme" "$(jq -r '"\(.customer_phone) \(.user_id)"' <<<"$show")"
out=$(leads show "$(conv_of $A)")
contains "leads show: the latest marked" "#2  " "$out"
contains "leads show: latest" "(latest)" "$out"
contains "leads show: levels with scores" "intent High (3) · urgency High (3) · budget Yes (3)" "$out"
contains "leads show: the demo booking" "demo booked   2030-01-02 10:30" "$(leads show "$(conv_of $E)")"
"$PARLEY_BIN" leads list --tenant nobody -c "$conf" >/dev/null 2>"$TEST_TMP/err"
eq "leads list: an unknown tenant is a runtime failure (1)" "1 parley leads list: no tenant 'nobody'" "$? $(cat "$TEST_TMP/err")"
"$PARLEY_BIN" leads show no-such-conversation -c "$conf" >/dev/null 2>"$TEST_TMP/err"
eq "leads show: an unknown conversation (1)" "1 parley leads show: no conversation 'no-such-conversation'" "$? $(cat "$TEST_TMP/err")"
"$PARLEY_BIN" leads list -c "$conf" >/dev/null 2>"$TEST_TMP/err"
eq "leads list without --tenant: bad usage (2)" "2 parley leads list: --tenant ID is required (try 'parley leads list --help')" "$? $(head -1 "$TEST_TMP/err")"
"$PARLEY_BIN" leads list --tenant acme --tag Lukewarm -c "$conf" >/dev/null 2>"$TEST_TMP/err"
eq "leads list --tag Lukewarm: bad usage (2)" "2 parley leads list: --tag must be Hot, Warm or Cold, not 'Lukewarm' (try 'parley leads list --help')" "$? $(head -1 "$TEST_TMP/err")"
"$PARLEY_BIN" leads show -c "$conf" >/dev/null 2>"$TEST_TMP/err"
eq "leads show without an id: bad usage (2)" "2 parley leads show: CONVERSATION_ID is required (try 'parley leads show --help')" "$? $(head -1 "$TEST_TMP/err")"
"$PARLEY_BIN" leads -c "$conf" >/dev/null 2>&1
eq "leads without a sub-command: bad usage (2)" 2 $?
"$PARLEY_BIN" leads list --tenant acme --frobnicate -c "$conf" >/dev/null 2>&1
eq "leads list with an unknown option: bad usage (2)" 2 $?
pg_bad=$(new_config "host=$PG_ROOT port=1 user=postgres dbname=nothing")
"$PARLEY_BIN" leads list --tenant acme -c "$pg_bad" >/dev/null 2>&1
eq "leads list without a database: runtime failure (1)" 1 $?

# --- metrics and logs
m=$(curl -sS "$url/metrics")
contains "metrics: stored extractions" 'parley_extractions_total{outcome="stored"}' "$m"
contains "metrics: tags" 'parley_extraction_tags_total{tag="Warm"}' "$m"
contains "metrics: in progress" 'parley_extractions_in_progress 0' "$m"
leaks=$(grep -c -e 'sk-test' -e 'wa-token' -e 'test-meta-app-secret' -e 'Padaria' -e 'ana@padaria' \
	-e 'Our budget is approved' "$conf.log" "$conf2.log" | awk -F: '{s += $2} END {print s}')
eq "no secret, name, email or message text in the logs" 0 "$leaks"
contains "the log says what was extracted" "lead extracted: Hot (13/15) after 4 new customer message(s)" "$(cat "$conf.log")"

stop_parley "$pid"
eq "parley stops cleanly" 0 $?

# --- without openai.model or extraction.prompt_id: extraction still runs
# (the model is sent only when set), says once that it has no model, and
# what OpenAI (here its stand-in) answers is an extraction failure.
conf3=$(lead_config "$dsn" 4 2)
sed -i '/^model = /d' "$conf3"
start_parley "$conf3" || { finish; exit 1; }
pid3=$PARLEY_PID
url3=$(parley_url "$conf3")
contains "no model: one warning at start" \
	"lead extraction has no model: OpenAI refuses its requests until openai.model or extraction.prompt_id is set" \
	"$(cat "$conf3.log")"
curl -sS -X POST "$OPENAI/_reset" >/dev/null
for t in "No model here" "one" "two" "three"; do say "$url3" 31688888888 "$t"; done
for _ in $(seq 1 100); do [ "$(n_extraction_requests)" -ge 1 ] && break; sleep 0.1; done
eq "no model: the extraction request is sent, without a model" "null" \
	"$(extraction_requests | jq -r '.[0].body.model')"
failures() { curl -sS "$url3/metrics" | awk '/^parley_extraction_failures_total/ {s += $2} END {print s + 0}'; }
for _ in $(seq 1 100); do [ "$(failures)" -ge 1 ] && break; sleep 0.1; done
eq "no model: OpenAI's refusal is an extraction failure" yes "$([ "$(failures)" -ge 1 ] && echo yes)"
stop_parley "$pid3"
eq "no model: stops cleanly" 0 $?
stop_parley "$openai_pid"
stop_parley "$graph_pid"
finish
