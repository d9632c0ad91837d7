#!/usr/bin/env bash
# The stand-in upstreams themselves (tests/standins/README.md): fake_openai,
# fake_graph and fake_google answer like the real APIs, every script step does what it
# says, /_requests records what came, and SIGTERM/SIGINT exit 0 (clean under
# ASan, which the runner makes fatal for leaks).
. "$(dirname "$0")/../lib/testlib.sh"

BUILD=${PARLEY_BUILD:-$(dirname "$PARLEY_BIN")}
FAKE_OPENAI=$BUILD/tests/fake_openai
FAKE_GRAPH=$BUILD/tests/fake_graph
FAKE_GOOGLE=$BUILD/tests/fake_google
for b in "$FAKE_OPENAI" "$FAKE_GRAPH" "$FAKE_GOOGLE"; do
	[ -x "$b" ] || { _t_report fail "stand-in built: $b"; finish; exit 1; }
done

# start_as TAG NAME ARGS...: start_standin NAME ARGS; sets SPID and SURL,
# and its output files are $TEST_TMP/TAG.out and TAG.err.
start_as() {
	local tag=$1
	shift
	start_standin "$@" || return 1
	SPID=$STANDIN_PID SURL=$STANDIN_URL
	ln -sf "$STANDIN_OUT" "$TEST_TMP/$tag.out"
	ln -sf "$STANDIN_OUT.err" "$TEST_TMP/$tag.err"
}

# stop_pending TAG PID SIGNAL URL [CURL ARGS...]: a request to URL that the
# stand-in TAG (fake_TAG) holds (script the delay first), then SIGNAL:
# checks that it exits 0 and says nothing on stderr; sets SLOW_RC, the
# waiting client's curl exit status.
stop_pending() {
	local tag=$1 pid=$2 sig=$3 url=$4 slow rc
	shift 4
	curl -sS -o /dev/null "$@" "$url" 2>/dev/null &
	slow=$!
	sleep 0.2
	kill -"$sig" "$pid"
	wait "$pid"
	rc=$?
	eq "fake_$tag: SIG$sig with a pending answer exits 0 (and frees everything)" 0 "$rc"
	wait "$slow"
	SLOW_RC=$?
	eq "fake_$tag: nothing on stderr" "" "$(cat "$TEST_TMP/$tag.err")"
}

# call URL [CURL ARGS...]: sets CODE (000 when no answer), RC (curl's exit
# status), TIME (seconds) and BODY; hdr NAME then reads a response header.
call() {
	local url=$1 out
	shift
	rm -f "$TEST_TMP/body" "$TEST_TMP/hdrs"
	out=$(curl -sS -o "$TEST_TMP/body" -D "$TEST_TMP/hdrs" -w '%{http_code} %{time_total}' \
		"$@" "$url" 2>"$TEST_TMP/curl.err")
	RC=$?
	CODE=${out% *}
	TIME=${out#* }
	BODY=$(cat "$TEST_TMP/body" 2>/dev/null)
}
hdr() { tr -d '\r' <"$TEST_TMP/hdrs" 2>/dev/null | sed -nE "s/^$1: *//Ip" | tail -1; }
j() { jq -r "$@" <<<"$BODY" 2>/dev/null; }
# at_least WANT GOT / below WANT GOT: compares seconds, prints yes or no.
at_least() { awk -v w="$1" -v g="$2" 'BEGIN { print (g + 0 >= w + 0) ? "yes" : "no" }'; }
below() { awk -v w="$1" -v g="$2" 'BEGIN { print (g + 0 < w + 0) ? "yes" : "no" }'; }

JSON=(-H 'Content-Type: application/json')
BEARER=(-H 'Authorization: Bearer sk-test' "${JSON[@]}")

# ==================================================================== fake_openai

start_as openai fake_openai --log "$TEST_TMP/openai.log" || { finish; exit 1; }
OPID=$SPID
OA=$SURL
contains "fake_openai prints its real port" "listening on 127.0.0.1:" "$(cat "$TEST_TMP/openai.out")"
eq "fake_openai prints one line" 1 "$(wc -l <"$TEST_TMP/openai.out")"

script() { call "$OA/_script" "${JSON[@]}" --data-binary "$1"; }
resp() { call "$OA/v1/responses" "${BEARER[@]}" --data-binary "$@"; }
conv_body='{"prompt":{"id":"pmpt_wa"},"conversation":"conv_A","input":[{"role":"user","content":"Hi there"}]}'

# --- conversations
call "$OA/v1/conversations" -X POST -H 'Authorization: Bearer sk-test'
eq "conversations: empty body is fine" 200 "$CODE"
contains "conversations: conv_ id" "conv_" "$(j .id)"
eq "conversations: object" conversation "$(j .object)"
eq "conversations: metadata {}" "{}" "$(j -c .metadata | tr -d ' \n')"
eq "conversations: created_at is unix seconds" yes "$([ "$(j .created_at)" -gt 1700000000 ] && echo yes || echo no)"
first_conv=$(j .id)
call "$OA/v1/conversations" "${BEARER[@]}" -d '{"metadata":{"topic":"demo"}}'
eq "conversations: metadata echoed" demo "$(j .metadata.topic)"
eq "conversations: ids are unique" yes "$([ "$(j .id)" != "$first_conv" ] && echo yes || echo no)"
call "$OA/v1/conversations" -X POST
eq "conversations: no key is 401" 401 "$CODE"
contains "conversations: real no-key message" "You didn't provide an API key" "$(j .error.message)"
call "$OA/v1/conversations" "${BEARER[@]}" -d "{\"items\":[$(printf '{"type":"message","role":"user","content":"x"},%.0s' $(seq 21) | sed 's/,$//')]}"
eq "conversations: more than 20 items is 400" "400 array_above_max_length" "$CODE $(j .error.code)"

# --- responses: the normal answer
resp "$conv_body" -H 'Idempotency-Key: idem-1'
eq "responses: 200" 200 "$CODE"
eq "responses: object response, completed" "response completed" "$(j '.object + " " + .status')"
eq "responses: one message item" message "$(j '.output[0].type')"
eq "responses: output_text echoes the input" "Echo: Hi there" "$(j '.output[0].content[0].text')"
eq "responses: content part type" output_text "$(j '.output[0].content[0].type')"
contains "responses: resp_ id" "resp_" "$(j .id)"
contains "responses: msg_ id" "msg_" "$(j '.output[0].id')"
eq "responses: conversation echoed" conv_A "$(j .conversation.id)"
eq "responses: prompt echoed" pmpt_wa "$(j .prompt.id)"
eq "responses: usage adds up" yes "$(j 'if .usage.total_tokens == .usage.input_tokens + .usage.output_tokens and .usage.output_tokens > 0 then "yes" else "no" end')"
eq "responses: error and incomplete_details null" "null null" "$(j '"\(.error) \(.incomplete_details)"')"
contains "responses: x-request-id header" "req_" "$(hdr x-request-id)"
eq "responses: openai-version header" 2020-10-01 "$(hdr openai-version)"
eq "responses: JSON content type" application/json "$(hdr content-type)"

resp '{"model":"gpt-4o-mini","input":"plain string"}'
eq "responses: string input, model instead of prompt" "200 Echo: plain string" "$CODE $(j '.output[0].content[0].text')"
eq "responses: model echoed" gpt-4o-mini "$(j .model)"
eq "responses: no conversation is allowed (lead extraction)" null "$(j .conversation)"
# (a function_call_output outside a conversation: nothing to match it against)
resp '{"prompt":{"id":"p"},"input":[{"role":"user","content":"one"},{"type":"message","role":"user","content":[{"type":"input_text","text":"two"}]},{"type":"function_call_output","call_id":"call_1","output":"{\"ok\":true}"}]}'
eq "responses: every input item's text, joined" 'Echo: one | two | {"ok":true}' "$(j '.output[0].content[0].text')"
resp '{"prompt":{"id":"p"},"conversation":{"id":"conv_B"},"input":[{"role":"user","content":"one"}]}'
eq "responses: conversation as {id}" conv_B "$(j .conversation.id)"

# --- responses: validation, with the real error bodies
resp '{"conversation":"conv_A","input":"x"}'
eq "no prompt and no model: missing_required_parameter" "400 missing_required_parameter model" "$CODE $(j .error.code) $(j .error.param)"
eq "…with the real message" "Missing required parameter: 'model'." "$(j .error.message)"
eq "…and type" invalid_request_error "$(j .error.type)"
resp '{"model":"m","conversation":"conv_A"}'
eq "no input: 400 param input" "400 input" "$CODE $(j .error.param)"
resp '{"model":"m","input":{"role":"user"}}'
eq "input object: invalid_type" "400 invalid_type" "$CODE $(j .error.code)"
resp '{"model":"m","input":[]}'
eq "empty input array: 400" "400 empty_array" "$CODE $(j .error.code)"
resp '{"model":"m","input":[{"role":"robot","content":"x"}]}'
eq "unknown role: invalid_value on input[0].role" "400 invalid_value input[0].role" "$CODE $(j .error.code) $(j .error.param)"
resp '{"model":"m","input":[{"role":"user"}]}'
eq "message without content: 400 input[0].content" "400 input[0].content" "$CODE $(j .error.param)"
resp '{"model":"m","conversation":42,"input":"x"}'
eq "conversation of the wrong type: 400" "400 conversation" "$CODE $(j .error.param)"
resp '{"model":"m","conversation":"conv_A","previous_response_id":"resp_1","input":"x"}'
eq "conversation with previous_response_id: 400" 400 "$CODE"
resp '{"model":"m",'
eq "broken JSON: 400 with the real hint" "400" "$CODE"
contains "…naming JSON" "We could not parse the JSON body of your request" "$(j .error.message)"
call "$OA/v1/responses" -H 'Authorization: Bearer k' -H 'Content-Type: text/plain' -d '{"model":"m","input":"x"}'
eq "not application/json: 400" 400 "$CODE"
call "$OA/v1/responses" "${JSON[@]}" -d '{"model":"m","input":"x"}'
eq "no Authorization: 401" "401 invalid_request_error" "$CODE $(j .error.type)"
call "$OA/v1/responses" -H 'Authorization: Basic eDp5' "${JSON[@]}" -d '{"model":"m","input":"x"}'
eq "not a bearer token: 401" 401 "$CODE"
call "$OA/v1/responses"
eq "GET /v1/responses: 405 in OpenAI's shape" "405 invalid_request_error" "$CODE $(j .error.type)"
call "$OA/v1/models"
eq "unknown path: 404 Invalid URL" "404 Invalid URL (GET /v1/models)" "$CODE $(j .error.message)"

# --- the script
script '{"status":500}'
eq "/_script wants an array" 400 "$CODE"
script '[{"status":500},{"stauts":429}]'
eq "/_script: unknown key refused, naming the step" "400 step 1: unknown key \"stauts\"" "$CODE $(j .error)"
script '[{"status":"500"}]'
eq "/_script: wrong type refused" 400 "$CODE"
script '[{"for":"elsewhere"}]'
eq "/_script: unknown target refused" 400 "$CODE"
script '[{"function_call":{"arguments":"{}"}}]'
eq "/_script: function_call needs a name" 400 "$CODE"
call "$OA/_script"
eq "a refused script adds nothing (all or none)" "[]" "$(j -c .)"

script '[{"status":500},{"status":429,"retry_after":2},{"status":400,"code":"invalid_request_error"},{"code":"insufficient_quota"},{"status":503,"should_retry":false}]'
eq "/_script accepts five steps" "200 5" "$CODE $(j .added)"
call "$OA/_script"
eq "GET /_script lists them" 5 "$(j length)"
resp "$conv_body"
eq "step 500: server_error body" "500 server_error null" "$CODE $(j .error.type) $(j .error.code)"
contains "…with the real message" "The server had an error while processing your request" "$(j .error.message)"
resp "$conv_body"
eq "step 429: rate_limit_exceeded" "429 rate_limit_exceeded" "$CODE $(j .error.code)"
eq "…Retry-After: 2" 2 "$(hdr retry-after)"
eq "…retry-after-ms: 2000" 2000 "$(hdr retry-after-ms)"
eq "…reason phrase" "Too Many Requests" "$(tr -d '\r' <"$TEST_TMP/hdrs" | head -1 | cut -d' ' -f3-)"
resp "$conv_body"
eq "step 400 invalid_request_error: type set, code null" "400 invalid_request_error null" "$CODE $(j .error.type) $(j .error.code)"
resp "$conv_body"
eq "step code insufficient_quota: 429 with the billing body" "429 insufficient_quota insufficient_quota" "$CODE $(j .error.type) $(j .error.code)"
resp "$conv_body"
eq "step 503: server_is_overloaded" "503 server_is_overloaded" "$CODE $(j .error.code)"
eq "…x-should-retry: false" false "$(hdr x-should-retry)"
resp "$conv_body"
eq "script used up: normal answers again" "200 Echo: Hi there" "$CODE $(j '.output[0].content[0].text')"

long=$(printf 'x%.0s' $(seq 5000))
script "$(jq -nc --arg t "$long" '[{"text":$t},{"text":"Olá, 👋 tudo bem?"},{"text_len":1200}]')"
resp "$conv_body"
eq "step text: exactly these 5000 characters" 5000 "$(j '.output[0].content[0].text | length')"
resp "$conv_body"
eq "step text: UTF-8 kept" "Olá, 👋 tudo bem?" "$(j '.output[0].content[0].text')"
resp "$conv_body"
eq "step text_len: that many characters" 1200 "$(j '.output[0].content[0].text | length')"
contains "…in sentences" "Sentence 2 of a long reply. Sentence 3" "$(j '.output[0].content[0].text')"

script '[{"response_status":"failed"},{"response_status":"failed","error_code":"rate_limit_exceeded"},{"response_status":"incomplete"},{"response_status":"incomplete","reason":"content_filter","text":"abcdefgh"}]'
resp "$conv_body"
eq "failed: 200 with status failed" "200 failed" "$CODE $(j .status)"
eq "failed: error server_error, output []" "server_error 0" "$(j .error.code) $(j '.output | length')"
resp "$conv_body"
eq "failed with error_code" rate_limit_exceeded "$(j .error.code)"
resp "$conv_body"
eq "incomplete: status and reason" "200 incomplete max_output_tokens" "$CODE $(j .status) $(j .incomplete_details.reason)"
eq "incomplete: message item incomplete" incomplete "$(j '.output[0].status')"
resp "$conv_body"
eq "incomplete with reason and half the text" "content_filter abcd" "$(j .incomplete_details.reason) $(j '.output[0].content[0].text')"

# Function calls on conversations of their own: a call stays open (and
# blocks its conversation) until a request answers it.
script '[{"function_call":{"name":"book_meeting","arguments":{"start_iso":"2026-01-05T10:00:00Z","duration_minutes":30}}},{"function_call":{"name":"f","arguments":"{\"a\":1}","call_id":"call_fixed"},"reasoning":true}]'
resp '{"prompt":{"id":"pmpt_wa"},"conversation":"conv_F1","input":"Book it"}'
eq "function_call item" "function_call book_meeting completed" "$(j '.output[0] | "\(.type) \(.name) \(.status)"')"
eq "…arguments is a JSON string" 30 "$(j '.output[0].arguments | fromjson | .duration_minutes')"
contains "…call_id" "call_" "$(j '.output[0].call_id')"
contains "…fc_ id" "fc_" "$(j '.output[0].id')"
eq "…and no message item" 0 "$(j '[.output[] | select(.type == "message")] | length')"
f1_call=$(j '.output[0].call_id')
resp '{"prompt":{"id":"pmpt_wa"},"conversation":"conv_F2","input":"Book it"}'
eq "reasoning item first, call_id and string arguments as given" "reasoning function_call call_fixed {\"a\":1}" \
	"$(j '"\(.output[0].type) \(.output[1].type) \(.output[1].call_id) \(.output[1].arguments)"')"
resp '{"prompt":{"id":"pmpt_wa"},"conversation":"conv_F1","input":"Hello?"}'
eq "an open call must be answered first (the real 400)" "400 No tool output found for function call $f1_call." "$CODE $(j .error.message)"
resp '{"prompt":{"id":"pmpt_wa"},"conversation":"conv_F1","input":[{"type":"function_call_output","call_id":"call_other","output":"x"}]}'
eq "…and only calls that are open" "400 No tool call found for function call output with call_id call_other." "$CODE $(j .error.message)"
resp "{\"prompt\":{\"id\":\"pmpt_wa\"},\"conversation\":\"conv_F1\",\"input\":[{\"type\":\"function_call_output\",\"call_id\":\"$f1_call\",\"output\":\"{\\\"ok\\\":true}\"},{\"role\":\"user\",\"content\":\"and?\"}]}"
eq "answered: the echo has the output" '200 Echo: {"ok":true} | and?' "$CODE $(j '.output[0].content[0].text')"
resp '{"prompt":{"id":"pmpt_wa"},"conversation":"conv_F1","input":[{"type":"function_call_output","call_id":"call_fixed","output":"x"}]}'
eq "…after which the call is closed" 400 "$CODE"

tools='[{"type":"function","name":"check_availability","parameters":{}},{"type":"function","name":"book_meeting","parameters":{}}]'
script '[{"function_call":{"name":"delete_everything"}},{"function_call":{"name":"book_meeting"}},{"function_calls":[{"name":"check_availability","arguments":{"a":1}},{"name":"book_meeting","call_id":"call_two"}]}]'
resp "{\"prompt\":{\"id\":\"pmpt_wa\"},\"conversation\":\"conv_T1\",\"input\":\"Hi\",\"tools\":$tools}"
eq "a call to a tool the request does not declare: a message instead" "message Echo: Hi" "$(j '"\(.output[0].type) \(.output[0].content[0].text)"')"
resp "{\"prompt\":{\"id\":\"pmpt_wa\"},\"conversation\":\"conv_T2\",\"input\":\"Hi\",\"tools\":$tools,\"tool_choice\":\"none\"}"
eq "tool_choice none: a message instead" message "$(j '.output[0].type')"
resp "{\"prompt\":{\"id\":\"pmpt_wa\"},\"conversation\":\"conv_T3\",\"input\":\"Hi\",\"tools\":$tools}"
eq "function_calls: several calls in one response" "check_availability book_meeting call_two" \
	"$(j '"\(.output[0].name) \(.output[1].name) \(.output[1].call_id)"')"
resp '{"prompt":{"id":"pmpt_wa"},"conversation":"conv_T3","input":[{"type":"function_call_output","call_id":"call_two","output":"x"}]}'
eq "…each must be answered" 400 "$CODE"
call "$OA/_script" "${JSON[@]}" --data-binary '[{"function_calls":[]}]'
eq "function_calls must not be empty" 400 "$CODE"

script '[{"status":500,"times":2},{"for":"conversations","status":502},{"for":"any","text":"for anyone"}]'
resp "$conv_body"
c1=$CODE
resp "$conv_body"
eq "times 2: two requests get it" "500 500" "$c1 $CODE"
call "$OA/v1/conversations" -X POST -H 'Authorization: Bearer k'
eq "a step for conversations reaches POST /v1/conversations" 502 "$CODE"
call "$OA/v1/conversations" -X POST -H 'Authorization: Bearer k'
eq "…and \"any\" steps are taken in order by either endpoint" 200 "$CODE"
resp "$conv_body"
eq "…a responses step waits for responses" "Echo: Hi there" "$(j '.output[0].content[0].text')"
call "$OA/_reset" -X POST
resp "$conv_body"
eq "after /_reset the leftover step is gone" "Echo: Hi there" "$(j '.output[0].content[0].text')"

# --- structured outputs (lead extraction)
lead_schema='{"type":"object","properties":{"name":{"type":["string","null"]},"email":{"type":["string","null"]},"company":{"type":["string","null"]},"intent_level":{"type":"string","enum":["Low","Medium","High"]},"budget_constraint":{"type":"string","enum":["Yes","No","Maybe"]},"engagement_health":{"type":"string","enum":["Low","Medium","High"]},"cta_demo_clicked":{"type":"string","enum":["Yes","No"]},"reasoning":{"type":"object","properties":{"intent":{"type":"string"}},"required":["intent"],"additionalProperties":false},"extra":{"type":"integer"}},"required":["name","email","company","intent_level","budget_constraint","engagement_health","cta_demo_clicked","reasoning","extra"],"additionalProperties":false}'
lead_body() { # SCHEMA: a lead extraction request over a short transcript
	jq -nc --argjson s "$1" '{model: "m", store: false, input: [
		{role: "user", content: "Hi, I am Ana from Padaria Boa, ana@padaria.test"},
		{role: "assistant", content: "Hello! The price is on our website."},
		{role: "user", content: "What is the price of a demo unit? Our budget is fine."}],
		text: {format: {type: "json_schema", name: "lead", strict: true, schema: $s}}}'
}
resp "$(lead_body "$lead_schema")"
eq "structured: 200 with one message" "200 message" "$CODE $(j '.output[0].type')"
eq "structured: the output_text is JSON derived from the customer's words" \
	'{"name":"Ana","email":"ana@padaria.test","company":"Padaria Boa","intent_level":"High","budget_constraint":"Yes","engagement_health":"Medium","cta_demo_clicked":"Yes","extra":0}' \
	"$(j '.output[0].content[0].text | fromjson | del(.reasoning) | tojson')"
eq "structured: nested objects filled too" string "$(j '.output[0].content[0].text | fromjson | .reasoning.intent | type')"
eq "structured: the format is echoed" json_schema "$(j .text.format.type)"
resp "$(lead_body "$(jq -c '.properties.reasoning.additionalProperties = true' <<<"$lead_schema")")"
eq "strict: a nested object without additionalProperties false is 400" "400 invalid_json_schema text.format.schema" "$CODE $(j .error.code) $(j .error.param)"
contains "…naming the place" "In context=('properties', 'reasoning'), 'additionalProperties' is required" "$(j .error.message)"
resp "$(lead_body "$(jq -c '.required -= ["email"]' <<<"$lead_schema")")"
eq "strict: a property missing from required is 400" "400 invalid_json_schema" "$CODE $(j .error.code)"
contains "…naming it" "Missing 'email'" "$(j .error.message)"
resp "$(lead_body "$lead_schema" | jq -c '.text.format.name = "bad name!"')"
eq "a bad format name is 400" "400 text.format.name" "$CODE $(j .error.param)"
resp "$(lead_body "$(jq -c 'del(.additionalProperties)' <<<"$lead_schema")" | jq -c '.text.format.strict = false')"
eq "not strict: the rules are not enforced" 200 "$CODE"
script '[{"for":"structured","fields":{"intent_level":"Extreme","name":42},"omit_fields":["email"]},{"for":"structured","refusal":"I cannot help with that."},{"for":"structured","response_status":"incomplete"},{"text":"for a reply"}]'
resp "$conv_body"
eq "a plain request takes no structured step" "for a reply" "$(j '.output[0].content[0].text')"
resp "$(lead_body "$lead_schema")"
eq "fields replace, omit_fields leave out" 'Extreme 42 false' "$(j '.output[0].content[0].text | fromjson | "\(.intent_level) \(.name) \(has("email"))"')"
resp "$(lead_body "$lead_schema")"
eq "refusal: the only content part" "completed refusal I cannot help with that." "$(j '"\(.status) \(.output[0].content[0].type) \(.output[0].content[0].refusal)"')"
resp "$(lead_body "$lead_schema")"
eq "incomplete: half the JSON" "incomplete invalid" "$(j '"\(.status) \(.output[0].content[0].text | (try fromjson catch "invalid") | if type == "string" then . else "valid" end)"')"
eq "/_stats counts structured answers" 5 "$(curl -sS "$OA/_stats" | jq .structured)"
script '[{"for":"structured","refusal":"no","text":"x"}]'
eq "/_script: refusal with text is refused" 400 "$CODE"
script '[{"omit_fields":"email"}]'
eq "/_script: omit_fields must be an array" 400 "$CODE"
call "$OA/_reset" -X POST

# --- delays, timeouts, drops, and the conversation lock
script '[{"delay_ms":400}]'
resp "$conv_body"
eq "delay_ms 400: answered" 200 "$CODE"
eq "…no sooner than 400 ms" yes "$(at_least 0.39 "$TIME")"
eq "…openai-processing-ms tells the delay" 400 "$(hdr openai-processing-ms)"
script '[{"delay_ms":1000}]'
resp "$conv_body" --max-time 0.3
eq "delay longer than the client's timeout: curl times out" 28 "$RC"
resp '{"prompt":{"id":"p"},"conversation":"conv_A","input":"again"}'
eq "the timed-out request still holds its conversation: conversation_locked" "400 conversation_locked conversation" "$CODE $(j .error.code) $(j .error.param)"
eq "…with the real message" "Another process is currently operating on this conversation. Please retry in a few seconds." "$(j .error.message)"
resp '{"prompt":{"id":"p"},"conversation":"conv_other","input":"x"}'
eq "another conversation is not locked" 200 "$CODE"
sleep 0.9
call "$OA/_stats"
eq "the late answer went to a closed socket; still serving" 200 "$CODE"
eq "…conversation_locked counted" 1 "$(j .conversation_locked)"
resp "$conv_body"
eq "after the slow answer left, the conversation is free" 200 "$CODE"

script '[{"drop":true},{"drop":true,"delay_ms":300}]'
resp "$conv_body"
eq "drop: connection closed with no answer (curl 52)" "52 000" "$RC $CODE"
resp "$conv_body"
eq "drop after delay_ms" "52 yes" "$RC $(at_least 0.29 "$TIME")"
resp "$conv_body"
eq "still serving after drops" 200 "$CODE"

script '[{"delay_ms":700}]'
curl -sS -o "$TEST_TMP/slow.json" "${BEARER[@]}" --data-binary "$conv_body" "$OA/v1/responses" &
slow=$!
sleep 0.25
resp "$conv_body"
eq "concurrent request on a busy conversation: refused at once" "400 conversation_locked" "$CODE $(j .error.code)"
eq "…without waiting" yes "$(below 0.3 "$TIME")"
wait "$slow"
eq "the first one completes" "Echo: Hi there" "$(jq -r '.output[0].content[0].text' "$TEST_TMP/slow.json")"
call "$OA/_stats"
eq "/_stats: locked count and peak in flight" "2 1" "$(j .conversation_locked) $(j .max_in_flight)"

# --- /_requests
call "$OA/_reset" -X POST
eq "/_reset: 200" 200 "$CODE"
call "$OA/_requests"
eq "/_reset forgets requests" "[]" "$(j -c .)"
resp "$conv_body" -H 'Idempotency-Key: idem-7'
call "$OA/v1/conversations" -X POST -H 'Authorization: Bearer sk-other'
script '[{"drop":true}]'
resp '{"model":"m","input":"dropped"}'
call "$OA/_requests"
eq "/_requests: API requests only, in order" "/v1/responses /v1/conversations /v1/responses" "$(j '[.[].path] | join(" ")')"
eq "…method" POST "$(j '.[0].method')"
eq "…authorization header" "Bearer sk-test" "$(j '.[0].headers.authorization')"
eq "…content-type header" application/json "$(j '.[0].headers["content-type"]')"
eq "…idempotency-key when sent" "idem-7 null" "$(j '"\(.[0].headers["idempotency-key"]) \(.[1].headers["idempotency-key"])"')"
eq "…parsed body" "pmpt_wa conv_A Hi there" "$(j '.[0].body | "\(.prompt.id) \(.conversation) \(.input[0].content)"')"
eq "…status and response" "200 Echo: Hi there" "$(j '"\(.[0].status) \(.[0].response.output[0].content[0].text)"')"
eq "…time_ms" yes "$(j 'if .[0].time_ms > 1700000000000 then "yes" else "no" end')"
eq "…a drop is recorded as status 0" "0 true null" "$(j '"\(.[2].status) \(.[2].dropped) \(.[2].response)"')"
eq "…with its step" true "$(j '.[2].step.drop')"
call "$OA/_stats"
eq "/_stats counts" "3 1 1" "$(j '"\(.requests) \(.conversations_created) \(.responses)"')"
call "$OA/_nothing"
eq "unknown control endpoint: 404 JSON" "404 no such control endpoint" "$CODE $(j .error)"
call "$OA/_requests" -X DELETE
eq "wrong method on a control endpoint: 405" 405 "$CODE"
contains "--log: one line per request" "POST /v1/responses -> 200" "$(cat "$TEST_TMP/openai.log")"

# --- SIGTERM with an answer still waiting
script '[{"delay_ms":5000}]'
stop_pending openai "$OPID" TERM "$OA/v1/responses" "${BEARER[@]}" --data-binary "$conv_body"
eq "…the waiting client sees the connection close" 52 "$SLOW_RC"

# --- options
start_as openai2 fake_openai --api-key sk-right --delay-ms 300 --require-conversation || { finish; exit 1; }
OPID=$SPID
OA=$SURL
call "$OA/v1/responses" -H 'Authorization: Bearer sk-wrong' "${JSON[@]}" -d '{"model":"m","conversation":"c","input":"x"}'
eq "--api-key: another key is 401 invalid_api_key" "401 invalid_api_key authentication_error" "$CODE $(j .error.code) $(j .error.type)"
call "$OA/v1/responses" -H 'Authorization: Bearer sk-right' "${JSON[@]}" -d '{"model":"m","input":"x"}'
eq "--require-conversation: none is 400" "400 conversation" "$CODE $(j .error.param)"
call "$OA/v1/responses" -H 'Authorization: Bearer sk-right' "${JSON[@]}" -d '{"model":"m","conversation":"c","input":"x"}'
eq "--delay-ms 300: the right key is answered, late" "200 yes" "$CODE $(at_least 0.29 "$TIME")"
curl -sS -o "$TEST_TMP/slow.json" -H 'Authorization: Bearer sk-right' "${JSON[@]}" -d '{"model":"m","conversation":"c","input":"x"}' "$OA/v1/responses" &
slow=$!
sleep 0.1
call "$OA/v1/responses" -H 'Authorization: Bearer sk-right' "${JSON[@]}" -d '{"model":"m","conversation":"c","input":"y"}'
eq "--delay-ms makes overlapping requests lock the conversation" "400 conversation_locked" "$CODE $(j .error.code)"
wait "$slow"
kill -INT "$OPID"
wait "$OPID"
eq "fake_openai: SIGINT exits 0" 0 $?

"$FAKE_OPENAI" >/dev/null 2>&1
eq "fake_openai without --listen: exit 2" 2 $?
"$FAKE_OPENAI" --listen nonsense >/dev/null 2>&1
eq "fake_openai --listen nonsense: exit 1" 1 $?

# ==================================================================== fake_graph

start_as graph fake_graph --log "$TEST_TMP/graph.log" || { finish; exit 1; }
GPID=$SPID
GR=$SURL
contains "fake_graph prints its real port" "listening on 127.0.0.1:" "$(cat "$TEST_TMP/graph.out")"

WA_URL=$GR/v24.0/106540352242922/messages
IG_URL=$GR/v24.0/17841400000000001/messages
GAUTH=(-H 'Authorization: Bearer wa-token' "${JSON[@]}")
wa_body() { jq -nc --arg to "${2:-+16505551234}" --arg b "$1" '{messaging_product:"whatsapp",recipient_type:"individual",to:$to,type:"text",text:{body:$b}}'; }
# wa TEXT [CURL ARGS...], ig TEXT [CURL ARGS...]: one send each.
ig_body() { jq -nc --arg t "$1" '{recipient:{id:"1254459154682919"},message:{text:$t}}'; }
wa() { call "$WA_URL" "${GAUTH[@]}" --data-binary "$(wa_body "$1")" "${@:2}"; }
ig() { call "$IG_URL" "${GAUTH[@]}" --data-binary "$(ig_body "$1")" "${@:2}"; }
gscript() { call "$GR/_script" "${JSON[@]}" --data-binary "$1"; }

# --- WhatsApp
wa "Hello from parley"
eq "whatsapp send: 200" 200 "$CODE"
eq "…messaging_product" whatsapp "$(j .messaging_product)"
eq "…contacts input is the to as sent, wa_id its digits" "+16505551234 16505551234" "$(j '.contacts[0] | "\(.input) \(.wa_id)"')"
contains "…a wamid" "wamid.HBg" "$(j '.messages[0].id')"
wamid1=$(j '.messages[0].id')
wa "again"
eq "…wamids are unique" yes "$([ "$(j '.messages[0].id')" != "$wamid1" ] && echo yes || echo no)"
call "$GR/graph/v99.0/555/messages" "${GAUTH[@]}" --data-binary "$(wa_body x)"
eq "any base path before /{id}/messages" 200 "$CODE"

e4096=$(printf 'é%.0s' $(seq 4096))
wa "$e4096"
eq "4096 characters (8192 bytes) are accepted" 200 "$CODE"
wa "${e4096}é"
eq "4097 characters: 400 code 100" "400 100 OAuthException" "$CODE $(j .error.code) $(j .error.type)"
contains "…details name the limit" "at most 4096 characters" "$(j .error.error_data.details)"
eq "…messaging_product in error_data, fbtrace_id" "whatsapp yes" "$(j .error.error_data.messaging_product) $(j 'if (.error.fbtrace_id | length) > 10 then "yes" else "no" end')"
wa ""
eq "empty body text: 400" 400 "$CODE"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}'
eq "no to: 400 naming it" "400 (#100) The parameter to is required." "$CODE $(j .error.message)"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"whatsapp","to":"1","type":"image","image":{"id":"1"}}'
eq "type other than text: 400" 400 "$CODE"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"whatsapp","to":"1","type":"text","text":{}}'
eq "no text.body: 400" 400 "$CODE"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"sms","to":"1","type":"text","text":{"body":"x"}}'
eq "wrong messaging_product: 400" 400 "$CODE"
call "$WA_URL" "${GAUTH[@]}" -d '{"to":"1","text":{"body":"x"}}'
eq "neither WhatsApp nor Instagram: 400" "400 (#100) The parameter messaging_product is required." "$CODE $(j .error.message)"
call "$WA_URL" "${JSON[@]}" --data-binary "$(wa_body x)"
eq "no token: 401 code 190" "401 190" "$CODE $(j .error.code)"
call "$WA_URL" "${GAUTH[@]}" -d 'not json'
eq "not JSON: 400" "400 100" "$CODE $(j .error.code)"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN1"}'
eq "read receipt: success" "200 true" "$CODE $(j .success)"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN1","typing_indicator":{"type":"text"}}'
eq "read receipt with typing indicator: success" "200 true" "$CODE $(j .success)"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN1","typing_indicator":{"type":"audio"}}'
eq "typing indicator of another type: 400" "400 100" "$CODE $(j .error.code)"

# --- Instagram
ig "Hello on Instagram"
eq "instagram send: 200" 200 "$CODE"
eq "…recipient_id" 1254459154682919 "$(j .recipient_id)"
eq "…a long mid (~150 characters)" yes "$(j 'if (.message_id | length) >= 120 then "yes" else "no" end')"
mid1=$(j .message_id)
ig "again"
eq "…mids are unique" yes "$([ "$(j .message_id)" != "$mid1" ] && echo yes || echo no)"
e1000=$(printf 'é%.0s' $(seq 1000))
ig "$e1000"
eq "1000 characters are accepted" 200 "$CODE"
ig "${e1000}é"
eq "1001 characters: 400 code 100, IGApiException" "400 100 IGApiException" "$CODE $(j .error.code) $(j .error.type)"
contains "…the message names the limit" "less than or equal to 1000" "$(j .error.message)"
eq "…no WhatsApp error_data" null "$(j .error.error_data)"
call "$IG_URL" "${GAUTH[@]}" -d '{"message":{"text":"x"}}'
eq "no recipient: 400" 400 "$CODE"
call "$IG_URL" "${GAUTH[@]}" -d '{"recipient":{"id":"1"},"message":{}}'
eq "no text: 400" "400 (#100) Message cannot be empty, must provide valid attachment or text" "$CODE $(j .error.message)"
call "$IG_URL?access_token=ig-token" "${JSON[@]}" --data-binary "$(ig_body x)"
eq "?access_token= instead of the header" 200 "$CODE"
for action in mark_seen typing_on typing_off; do
	call "$IG_URL" "${GAUTH[@]}" -d '{"recipient":{"id":"1254459154682919"},"sender_action":"'$action'"}'
	eq "sender action $action: recipient_id, no message_id" "200 1254459154682919 null" "$CODE $(j .recipient_id) $(j .message_id)"
done
call "$IG_URL" "${GAUTH[@]}" -d '{"recipient":{"id":"1254459154682919"},"sender_action":"dance"}'
eq "unknown sender action: 400" "400 100" "$CODE $(j .error.code)"

# --- signal steps: only read receipts and sender actions take them
gscript '[{"for":"signals","status":500},{"for":"signals","delay_ms":300,"meta_code":131000,"status":503}]'
eq "/_script: signals steps" "200 2" "$CODE $(j .added)"
wa "x"
eq "a send does not take a signals step" 200 "$CODE"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN1","typing_indicator":{"type":"text"}}'
eq "…a read receipt does: 500" "500 131000" "$CODE $(j .error.code)"
call "$IG_URL" "${GAUTH[@]}" -d '{"recipient":{"id":"1254459154682919"},"sender_action":"typing_on"}'
eq "…and a sender action: 503 after the delay" "503 yes" "$CODE $(at_least 0.29 "$TIME")"
call "$GR/_stats"
eq "…used up; /_stats counts signals answered 200" "0 5" "$(j .script_remaining) $(j .signals)"

# --- the script
gscript '[{"meta_code":131047,"status":200}]'
eq "/_script: meta_code with status 200 refused" 400 "$CODE"
gscript '[{"for":"sms"}]'
eq "/_script: unknown platform refused" 400 "$CODE"
gscript '[{"status":500},{"status":429,"retry_after":1},{"status":400,"meta_code":131047},{"meta_code":130429},{"for":"instagram","meta_code":10},{"message_id":"wamid.TEST1"},{"meta_code":131056,"subcode":2494100,"details":"slow down"}]'
eq "/_script: seven steps" "200 7" "$CODE $(j .added)"
wa "x"
eq "step 500: WhatsApp 131000" "500 131000 (#131000) Something went wrong" "$CODE $(j .error.code) $(j .error.message)"
wa "x"
eq "step 429: code 4" "429 4" "$CODE $(j .error.code)"
eq "…Retry-After: 1 and retry-after-ms: 1000" "1 1000" "$(hdr retry-after) $(hdr retry-after-ms)"
wa "x"
eq "step 131047: the real re-engagement body" \
	'{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp"}}' \
	"$(j -c '.error | {message, type, code, error_data: {messaging_product: .error_data.messaging_product}}')"
eq "…status 400, details and fbtrace_id present" "400 yes" "$CODE $(j 'if (.error.error_data.details | length) > 20 and (.error.fbtrace_id | length) > 10 then "yes" else "no" end')"
wa "x"
eq "step 130429 alone: 400 throughput" "400 130429 (#130429) Rate limit hit" "$CODE $(j .error.code) $(j .error.message)"
call "$GR/_stats"
eq "an instagram step is not taken by a WhatsApp send" 3 "$(j .script_remaining)"
wa "x"
eq "…the WhatsApp send skips it and takes the next (message_id)" "200 wamid.TEST1" "$CODE $(j '.messages[0].id')"
ig "x"
eq "step for instagram, code 10: outside the window" "403 10 2534022 IGApiException" "$CODE $(j .error.code) $(j .error.error_subcode) $(j .error.type)"
eq "…with Meta's message" "This message is sent outside of allowed window." "$(j .error.message)"
ig "x"
eq "step with subcode and details" "400 131056 2494100 null" "$CODE $(j .error.code) $(j .error.error_subcode) $(j .error.error_data)"
wa "x"
eq "script used up: sends succeed again" 200 "$CODE"

gscript '[{"meta_code":131026,"details":"custom details","times":2},{"delay_ms":400},{"delay_ms":1000},{"drop":true},{"for":"instagram","status":500},{"message_id":"mid.FIXED","for":"instagram"}]'
wa "x"
c1="$CODE $(j .error.error_data.details)"
wa "x"
eq "times 2 and details" "400 custom details 400" "$c1 $CODE"
call "$WA_URL" "${GAUTH[@]}" -d '{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN2"}'
call "$GR/_stats"
eq "a read receipt uses no step" 5 "$(j .script_remaining)"
wa "x"
eq "delay_ms 400" "200 yes" "$CODE $(at_least 0.39 "$TIME")"
wa "x" --max-time 0.3
eq "delay longer than the client's timeout: curl times out" 28 "$RC"
wa "x"
eq "drop: no answer (curl 52)" 52 "$RC"
ig "x"
eq "step 500 on Instagram: code 2" "500 2 IGApiException" "$CODE $(j .error.code) $(j .error.type)"
ig "x"
eq "message_id override on Instagram" "200 mid.FIXED" "$CODE $(j .message_id)"
sleep 0.8
call "$GR/_stats"
eq "still serving after a late answer to a closed socket" 200 "$CODE"

# --- /_requests and the rest
call "$GR/_reset" -X POST
call "$GR/_requests"
eq "/_reset forgets requests" "[]" "$(j -c .)"
call "$WA_URL" "${GAUTH[@]}" --data-binary "$(wa_body recorded +5511987654321)"
wamid=$(j '.messages[0].id')
ig "recorded too"
call "$GR/v24.0/106540352242922/messages"
call "$GR/v24.0/me"
call "$GR/_requests"
eq "/_requests: every API request" 4 "$(j length)"
eq "…platform and account id" "whatsapp 106540352242922 instagram 17841400000000001" \
	"$(j '"\(.[0].platform) \(.[0].account_id) \(.[1].platform) \(.[1].account_id)"')"
eq "…headers" "Bearer wa-token application/json" "$(j '.[0].headers | "\(.authorization) \(.["content-type"])"')"
eq "…body" "+5511987654321 recorded" "$(j '.[0].body | "\(.to) \(.text.body)"')"
eq "…the answer sent" "$wamid" "$(j '.[0].response.messages[0].id')"
eq "…GET on the send path: 400 GraphMethodException" "400 GraphMethodException" "$(j '"\(.[2].status) \(.[2].response.error.type)"')"
eq "…unknown path: 404 code 2500" "404 2500" "$(j '"\(.[3].status) \(.[3].response.error.code)"')"
contains "…in Meta's words" "Unknown path components: /v24.0/me" "$(j '.[3].response.error.message')"
call "$GR/_stats"
eq "/_stats counts sends per platform" "4 1 1" "$(j '"\(.requests) \(.whatsapp_sent) \(.instagram_sent)"')"
contains "--log: one line per request" "POST /v24.0/106540352242922/messages -> 200" "$(cat "$TEST_TMP/graph.log")"

gscript '[{"delay_ms":5000}]'
stop_pending graph "$GPID" INT "$WA_URL" "${GAUTH[@]}" --data-binary "$(wa_body x)"

start_as graph2 fake_graph --ig-bytes || { finish; exit 1; }
GPID=$SPID
IG_URL=$SURL/v24.0/17841400000000001/messages
ig "$(printf 'é%.0s' $(seq 501))"
eq "--ig-bytes: 501 two-byte characters are too long" 400 "$CODE"
ig "$(printf 'é%.0s' $(seq 500))"
eq "--ig-bytes: 500 are not" 200 "$CODE"
kill -TERM "$GPID"
wait "$GPID"
eq "fake_graph: SIGTERM exits 0" 0 $?

# --message-id: a Graph that gives several messages one id (a fault).
start_as graph3 fake_graph --message-id wamid.SAME || { finish; exit 1; }
GPID=$SPID
WA_URL=$SURL/v24.0/106540352242922/messages
IG_URL=$SURL/v24.0/17841400000000001/messages
wa one
first=$(j '.messages[0].id')
wa two
eq "--message-id: two WhatsApp sends get the same id" "wamid.SAME wamid.SAME" "$first $(j '.messages[0].id')"
ig three
eq "--message-id: and Instagram sends too" "200 wamid.SAME" "$CODE $(j .message_id)"
call "$SURL/_script" "${JSON[@]}" --data-binary '[{"message_id":"wamid.OWN"}]'
wa four
eq "--message-id: a step's own id still wins" "wamid.OWN" "$(j '.messages[0].id')"
kill -TERM "$GPID"
wait "$GPID"
eq "fake_graph --message-id: SIGTERM exits 0" 0 $?
"$FAKE_GRAPH" --listen 127.0.0.1:0 --message-id '' >/dev/null 2>&1
eq "fake_graph --message-id '': exit 2" 2 $?


# ==================================================================== fake_google

start_as google fake_google --client-id cid --client-secret csecret --expires-in 600 --log "$TEST_TMP/google.log" || { finish; exit 1; }
GOPID=$SPID
GO=$SURL
FORM=(-H 'Content-Type: application/x-www-form-urlencoded')
token() { call "$GO/token" "${FORM[@]}" --data-binary "$1"; }
gcal() { local method=$1 path=$2; shift 2; call "$GO/calendar/v3$path" -X "$method" -H "Authorization: Bearer $AT" "$@"; }
goscript() { call "$GO/_script" "${JSON[@]}" --data-binary "$1"; }

# --- the token endpoint
token 'grant_type=refresh_token&client_id=cid&client_secret=csecret&refresh_token=rt-1'
eq "token: 200 with an access token, its lifetime and type" "200 600 Bearer" "$CODE $(j .expires_in) $(j .token_type)"
contains "…a ya29 token" "ya29.fake-" "$(j .access_token)"
AT=$(j .access_token)
token 'grant_type=refresh_token&client_id=cid&client_secret=wrong&refresh_token=rt-1'
eq "token: a wrong client secret is 401 invalid_client" "401 invalid_client" "$CODE $(j .error)"
token 'grant_type=authorization_code&client_id=cid&client_secret=csecret&code=x'
eq "token: another grant type is 400 unsupported_grant_type" "400 unsupported_grant_type" "$CODE $(j .error)"
call "$GO/token" "${JSON[@]}" --data-binary '{"grant_type":"refresh_token"}'
eq "token: JSON instead of a form is 400" 400 "$CODE"
call "$GO/_revoke" "${JSON[@]}" --data-binary '{"refresh_token":"rt-dead"}'
token 'grant_type=refresh_token&client_id=cid&client_secret=csecret&refresh_token=rt-dead'
eq "token: a revoked refresh token is 400 invalid_grant" "400 invalid_grant Token has been expired or revoked." "$CODE $(j .error) $(j .error_description)"
goscript '[{"for":"token","error":"invalid_grant"},{"for":"token","expires_in":5},{"for":"token","status":503}]'
token 'grant_type=refresh_token&client_id=cid&client_secret=csecret&refresh_token=rt-1'
eq "token step: invalid_grant once" "400 invalid_grant" "$CODE $(j .error)"
token 'grant_type=refresh_token&client_id=cid&client_secret=csecret&refresh_token=rt-1'
eq "token step: expires_in" "200 5" "$CODE $(j .expires_in)"
token 'grant_type=refresh_token&client_id=cid&client_secret=csecret&refresh_token=rt-1'
eq "token step: a status gets an OAuth error body" "503 internal_failure" "$CODE $(j .error)"

# --- authorization
call "$GO/calendar/v3/freeBusy" "${JSON[@]}" -X POST --data-binary '{}'
eq "calendar: no token is 401 authError" "401 authError Invalid Credentials" "$CODE $(j '.error.errors[0].reason') $(j .error.message)"
call "$GO/calendar/v3/freeBusy" "${JSON[@]}" -H 'Authorization: Bearer ya29.made-up' -X POST --data-binary '{}'
eq "calendar: an unknown token is 401" 401 "$CODE"

# --- events
D=$(date -u -d '+1 day' +%Y-%m-%d)
ev() { jq -cn --arg id "$1" --arg s "${D}T$2" --arg e "${D}T$3" '{id: $id, summary: "Demo", start: {dateTime: $s, timeZone: "Europe/Amsterdam"}, end: {dateTime: $e}, attendees: [{email: "ana@x.test", displayName: "Ana"}], conferenceData: {createRequest: {requestId: "r1", conferenceSolutionKey: {type: "hangoutsMeet"}}}}'; }
# insert_says DESC WANT JQ BODY: an event insert (with conferenceDataVersion=1)
# of BODY; checks "insert: DESC" as the status and JQ of the answer.
insert_says() {
	gcal POST "/calendars/primary/events?conferenceDataVersion=1" "${JSON[@]}" --data-binary "$4"
	eq "insert: $1" "$2" "$CODE $(j "$3")"
}
gcal POST "/calendars/primary/events?conferenceDataVersion=1" "${JSON[@]}" --data-binary "$(ev evone1 10:00:00+01:00 10:30:00+01:00)"
eq "insert: 200, confirmed, the id given" "200 evone1 confirmed" "$CODE $(j .id) $(j .status)"
contains "insert: a Meet link" "https://meet.google.com/" "$(j .hangoutLink)"
eq "insert: conference success, video entry point, Google Meet" "success video Google Meet" \
	"$(j '"\(.conferenceData.createRequest.status.statusCode) \(.conferenceData.entryPoints[0].entryPointType) \(.conferenceData.conferenceSolution.name)"')"
eq "insert: the link is the entry point's" "$(j .hangoutLink)" "$(j '.conferenceData.entryPoints[0].uri')"
eq "insert: attendees with a response status, organizer" "ana@x.test needsAction true" "$(j '"\(.attendees[0].email) \(.attendees[0].responseStatus) \(.organizer.self)"')"
insert_says "the same id again is 409 duplicate" "409 duplicate The requested identifier already exists." \
	'"\(.error.errors[0].reason) \(.error.message)"' "$(ev evone1 12:00:00Z 12:30:00Z)"
gcal POST "/calendars/primary/events" "${JSON[@]}" --data-binary "$(ev evt2ab 12:00:00Z 12:30:00Z)"
eq "insert: without conferenceDataVersion=1 no conference" "200 null null" "$CODE $(j .hangoutLink) $(j .conferenceData)"
insert_says "an id not in base32hex is 400 invalid" "400 invalid" '.error.errors[0].reason' \
	"$(ev BAD_ID 12:00:00Z 12:30:00Z)"
insert_says "end before start is 400 timeRangeEmpty" "400 timeRangeEmpty" '.error.errors[0].reason' \
	"$(ev evthree 12:00:00Z 11:00:00Z)"
insert_says "an attendee without email is 400 required" "400 required" '.error.errors[0].reason' \
	'{"id":"evfour","start":{"dateTime":"2030-01-01T10:00:00Z"},"end":{"dateTime":"2030-01-01T11:00:00Z"},"attendees":[{"displayName":"x"}]}'
insert_says "another conference type is 400 invalid" "400 Invalid conference type value." .error.message \
	'{"id":"evfive","start":{"dateTime":"2030-01-01T10:00:00Z"},"end":{"dateTime":"2030-01-01T11:00:00Z"},"conferenceData":{"createRequest":{"requestId":"r","conferenceSolutionKey":{"type":"eventHangout"}}}}'
goscript '[{"for":"insert","conference_pending":true},{"for":"insert","status":500,"apply":true}]'
gcal POST "/calendars/primary/events?conferenceDataVersion=1" "${JSON[@]}" --data-binary "$(ev evpend1 14:00:00Z 14:30:00Z)"
eq "conference_pending: no link yet" "pending null" "$(j .conferenceData.createRequest.status.statusCode) $(j .hangoutLink)"
gcal GET /calendars/primary/events/evpend1
eq "…GET later finds it ready" "200 success" "$CODE $(j .conferenceData.createRequest.status.statusCode)"
contains "…with the link" "https://meet.google.com/" "$(j .hangoutLink)"
gcal POST "/calendars/primary/events?conferenceDataVersion=1" "${JSON[@]}" --data-binary "$(ev evlost1 15:00:00Z 15:30:00Z)"
eq "apply: 500 answered, backendError" "500 backendError" "$CODE $(j '.error.errors[0].reason')"
gcal GET /calendars/primary/events/evlost1
eq "…but the event was made" "200 evlost1" "$CODE $(j .id)"
gcal GET /calendars/primary/events/evnone1
eq "get: unknown is 404 notFound" "404 notFound" "$CODE $(j '.error.errors[0].reason')"

# --- freeBusy
call "$GO/_busy" "${JSON[@]}" --data-binary "{\"calendar\":\"primary\",\"busy\":[{\"start\":\"${D}T06:00:00Z\",\"end\":\"${D}T07:00:00Z\"}]}"
eq "/_busy adds intervals" 200 "$CODE"
call "$GO/_busy" "${JSON[@]}" --data-binary '{"busy":[{"start":"x","end":"y"}]}'
eq "/_busy refuses nonsense" 400 "$CODE"
fb="{\"timeMin\":\"${D}T06:30:00Z\",\"timeMax\":\"${D}T13:00:00Z\",\"items\":[{\"id\":\"primary\"},{\"id\":\"nosuch\"}]}"
gcal POST /freeBusy "${JSON[@]}" --data-binary "$fb"
eq "freeBusy: preloaded (clipped to the range) and events, in UTC" "${D}T06:30:00Z-${D}T07:00:00Z ${D}T09:00:00Z-${D}T09:30:00Z ${D}T12:00:00Z-${D}T12:30:00Z" \
	"$(j '[.calendars.primary.busy[] | "\(.start)-\(.end)"] | sort | join(" ")')"
eq "freeBusy: an unknown calendar has errors" "notFound" "$(j '.calendars.nosuch.errors[0].reason')"
eq "freeBusy: kind" "calendar#freeBusy" "$(j .kind)"
gcal POST /freeBusy "${JSON[@]}" --data-binary "{\"timeMin\":\"${D}T13:00:00Z\",\"timeMax\":\"${D}T06:30:00Z\",\"items\":[{\"id\":\"primary\"}]}"
eq "freeBusy: an empty range is 400 timeRangeEmpty" "400 timeRangeEmpty" "$CODE $(j '.error.errors[0].reason')"
goscript '[{"for":"freebusy","status":429,"retry_after":2},{"for":"freebusy","status":403},{"for":"freebusy","drop":true}]'
gcal POST /freeBusy "${JSON[@]}" --data-binary "$fb"
eq "freeBusy step: 429 with Retry-After" "429 rateLimitExceeded 2" "$CODE $(j '.error.errors[0].reason') $(hdr Retry-After)"
gcal POST /freeBusy "${JSON[@]}" --data-binary "$fb"
eq "freeBusy step: 403 is usageLimits rateLimitExceeded" "403 usageLimits rateLimitExceeded" "$CODE $(j '.error.errors[0].domain') $(j '.error.errors[0].reason')"
gcal POST /freeBusy "${JSON[@]}" --data-binary "$fb"
eq "freeBusy step: drop" 000 "$CODE"

# --- delete, expiry, controls
gcal DELETE "/calendars/primary/events/evone1?sendUpdates=all"
eq "delete: 204" 204 "$CODE"
gcal GET /calendars/primary/events/evone1
eq "…the event stays, cancelled" "200 cancelled" "$CODE $(j .status)"
gcal DELETE /calendars/primary/events/evone1
eq "delete again: 410 deleted" "410 deleted" "$CODE $(j '.error.errors[0].reason')"
gcal DELETE /calendars/primary/events/evnone1
eq "delete unknown: 404" 404 "$CODE"
gcal POST "/calendars/primary/events?conferenceDataVersion=1" "${JSON[@]}" --data-binary "$(ev evone1 16:00:00Z 16:30:00Z)"
eq "a deleted event's id cannot be inserted again (409)" 409 "$CODE"
call "$GO/_events"
eq "/_events: every event, cancelled too" "evlost1 evone1 evpend1 evt2ab" "$(j '.primary | map(.id) | sort | join(" ")')"
call "$GO/_expire" -X POST
gcal GET /calendars/primary/events/evt2ab
eq "/_expire: issued tokens stop working" 401 "$CODE"
call "$GO/_stats"
eq "/_stats: tokens, events, freeBusy" "2 4 1 1" "$(j '"\(.tokens_issued) \(.events_inserted) \(.events_deleted) \(.freebusy)"')"
call "$GO/_requests"
eq "/_requests: the form body is kept as text" true "$(j '.[0].raw_body | startswith("grant_type=refresh_token")')"
goscript '[{"for":"calendar"}]'
eq "a step for an unknown target is refused" 400 "$CODE"
goscript '[{"apply":true}]'
eq "apply without a status is refused" 400 "$CODE"
call "$GO/_reset" -X POST
call "$GO/_events"
eq "/_reset forgets events" "{}" "$(j -c .)"
call "$GO/other"
eq "other paths: 404 notFound" "404 notFound" "$CODE $(j '.error.errors[0].reason')"
contains "--log: one line per request" "POST /token -> 200" "$(cat "$TEST_TMP/google.log")"
kill -TERM "$GOPID"
wait "$GOPID"
eq "fake_google: SIGTERM exits 0" 0 $?
eq "fake_google: nothing on stderr" "" "$(cat "$TEST_TMP/google.err")"

finish
