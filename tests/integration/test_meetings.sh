#!/usr/bin/env bash
# Meeting booking end to end (issue #9): a real parley, a real PostgreSQL and
# the project's stand-ins for OpenAI, the Graph API and Google, with the
# model's function calls and Google's faults scripted into them.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

# Short leases and a fast pass, so that crash recovery fits in a test.
export PARLEY_TEST_LEASE_SECONDS=2
export PARLEY_TEST_MEETING_PASS_SECONDS=1

# say FROM TEXT: a customer's WhatsApp message through the webhook.
say() {
	say_wa M "$@" >/dev/null
}
script_openai() { curl -sS -d "$1" "$OPENAI/_script" >/dev/null; }
script_google() { curl -sS -d "$1" "$GOOGLE/_script" >/dev/null; }
conv_of() { sql "$dsn" "SELECT openai_conversation_id FROM conversations WHERE customer_phone = '$1'"; }
# The /v1/responses requests of a customer's OpenAI conversation.
responses_of() {
	local conv
	conv=$(conv_of "$1")
	curl -sS "$OPENAI/_requests" | jq -c --arg c "$conv" '[.[] | select(.path == "/v1/responses" and .body.conversation == $c)]'
}
sent_to() { curl -sS "$GRAPH/_requests" | jq -r --arg to "$1" '[.[] | select(.body.to == $to) | .body.text.body] | join("\n")'; }
replies_sent() { sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1' AND m.sender = 'agent' AND m.status = 'sent'"; }
google_requests() { curl -sS "$GOOGLE/_requests"; }
n_google() { google_requests | jq --arg m "$1" --arg p "$2" '[.[] | select(.method == $m and (.path | test($p)))] | length'; }
# crash_at_insert START: once Google got the insert of the event starting
# at START (UTC), parley is killed (-9).
crash_at_insert() {
	for _ in $(seq 1 100); do
		[ "$(google_requests | jq --arg t "$1" '[.[] | select((.path | endswith("/events")) and .body.start.dateTime == $t)] | length')" = 1 ] && break
		sleep 0.05
	done
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
}
events() { curl -sS "$GOOGLE/_events" | jq -c '.primary // []'; }
meeting() { sql "$dsn" "SELECT $2 FROM meetings WHERE meeting_id = '$1'"; }
parley_cmd() { "$PARLEY_BIN" "$@" -c "$conf"; }
# unstore EMAIL: that customer's meeting back to what a process dying between
# the event insert and the meetings row leaves: the event in Google, a
# reservation whose lease ran out, no row.
unstore() {
	sql "$dsn" "WITH m AS (DELETE FROM meetings WHERE customer_email = '$1' RETURNING *)
	            INSERT INTO meeting_bookings (meeting_id, user_id, conversation_id, google_event_id, meeting_time, duration_minutes, timezone, title, customer_name, customer_email, lease_until)
	            SELECT meeting_id, user_id, conversation_id, google_event_id, meeting_time, duration_minutes, timezone, title, customer_name, customer_email, now() - interval '1 minute' FROM m" >/dev/null
}
# within SECONDS CMD…: CMD succeeds within SECONDS (the recovery pass takes a
# reservation again only once its lease, 8 s here, ran out).
within() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -ge "$end" ] && return 1
		sleep 0.2
	done
}
is_now() { [ "$(sql "$dsn" "$1")" = "$2" ]; }
log_has() { [ "$(grep -c -F -- "$1" "$conf.log")" -ge "$2" ]; }

reply_standins || { finish; exit 1; }
start_standin fake_google --client-id gclient.apps.googleusercontent.com --client-secret gsecret-123 || { finish; exit 1; }
GOOGLE=$STANDIN_URL

dsn=$(new_db)
conf=$(reply_config "$dsn" openai timeout_seconds 5 replies debounce_ms 300 replies max_attempts 3 \
	google client_id gclient.apps.googleusercontent.com google client_secret gsecret-123 \
	google token_url "$GOOGLE/token" google calendar_url "$GOOGLE/calendar/v3")
reply_migrate "$conf" "$dsn"
reply_start "$conf" || { finish; exit 1; }

# Days ahead, so that every time below is in the future.
D1=$(date -u -d '+1 day' +%Y-%m-%d)
D2=$(date -u -d '+2 days' +%Y-%m-%d)
D3=$(date -u -d '+3 days' +%Y-%m-%d)
book_args() { # START EMAIL [TITLE]: book_meeting's arguments as a JSON object
	jq -cn --arg s "$1" --arg e "$2" --arg t "${3:-Product demo}" \
		'{start: $s, duration_minutes: 30, timezone: "Europe/Amsterdam", customer_name: "Ana Souza", customer_email: $e, title: $t}'
}

# --- a tenant without a calendar: no meeting tools in its requests (only
# escalate_to_human, handoff.enabled: test_handoff.sh)
A=31610000001
say $A "Hello, do you do demos?"
ok "no calendar: answered" wait_sent "$A" 1
eq "no calendar: the request declares no meeting tools" "escalate_to_human auto" \
	"$(responses_of $A | jq -r '.[0].body | "\(.tools | map(.name) | join(",")) \(.tool_choice)"')"
eq "calendar state: not connected" "not connected" "$(sql "$dsn" "SELECT parley_calendar_state('acme')")"

# --- google connect: bad usage exits 2, the token never on argv
echo "rt-acme-1" >"$TEST_TMP/rt"
: >"$TEST_TMP/empty"
code() { "$@" >/dev/null 2>&1; echo $?; }
eq "connect without --tenant: 2" 2 "$(code parley_cmd google connect --refresh-token-file "$TEST_TMP/rt")"
eq "connect without a token file: 2" 2 "$(code parley_cmd google connect --tenant acme)"
eq "connect with a bad tenant id: 2" 2 "$(code parley_cmd google connect --tenant 'no such!' --refresh-token-file "$TEST_TMP/rt")"
eq "connect with the token as an argument: 2" 2 "$(code parley_cmd google connect --tenant acme rt-acme-1)"
eq "connect with an empty token file: 2" 2 "$(code parley_cmd google connect --tenant acme --refresh-token-file "$TEST_TMP/empty")"
eq "connect with an unknown option: 2" 2 "$(code parley_cmd google connect --tenant acme --refresh-token-file "$TEST_TMP/rt" --bogus)"
eq "connect with a missing file: 1" 1 "$(code parley_cmd google connect --tenant acme --refresh-token-file "$TEST_TMP/nonexistent")"
eq "connect an unknown tenant: 1" 1 "$(code parley_cmd google connect --tenant nobody --refresh-token-file "$TEST_TMP/rt")"
err=$(parley_cmd google connect --tenant acme 2>&1 >/dev/null)
eq "a usage error is one line" 1 "$(printf '%s\n' "$err" | wc -l)"
out=$(parley_cmd google connect --tenant acme --refresh-token-file - --json <"$TEST_TMP/rt")
eq "connect from stdin: connected, JSON" "acme connected https://www.googleapis.com/auth/calendar" \
	"$(jq -r '"\(.tenant_id) \(.calendar) \(.scope)"' <<<"$out")"
eq "the refresh token is stored, the access token waits for first use" "rt-acme-1||1970-01-01 00:00:00" \
	"$(sql "$dsn" "SELECT refresh_token || '|' || access_token || '|' || token_expiry FROM google_calendar_tokens WHERE user_id = 'acme'")"
contains "google status shows it" "connected" "$(parley_cmd google status --tenant acme)"
eq "tenant show shows it" connected "$(parley_cmd tenant show acme --json | jq -r .calendar)"

# --- a customer asks for a demo: check_availability, then book_meeting
B=31610000002
script_openai "[{\"function_call\":{\"name\":\"check_availability\",\"arguments\":{\"start\":\"${D1}T09:00:00+01:00\",\"end\":\"${D1}T17:00:00+01:00\",\"duration_minutes\":30}}},
                {\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D1}T10:30:00+01:00" ana@padariaboa.test)}}]"
say $B "Hi, I'm Ana from Padaria Boa. Can I get a demo tomorrow?"
ok "booking: the reply is sent" wait_sent "$B" 1
R=$(responses_of $B)
eq "booking: three requests in the same OpenAI conversation" 3 "$(jq length <<<"$R")"
eq "booking: the tools are declared, tool_choice auto" "check_availability,book_meeting,escalate_to_human auto" \
	"$(jq -r '.[0].body | "\(.tools | map(.name) | join(",")) \(.tool_choice)"' <<<"$R")"
eq "booking: the tools are strict function tools" "function true" \
	"$(jq -r '.[0].body.tools[1] | "\(.type) \(.strict)"' <<<"$R")"
eq "booking: the first request carries the customer's message" "user" "$(jq -r '.[0].body.input | map(.role) | join(",")' <<<"$R")"
eq "booking: the second carries only the availability output, for the call's id" "true" \
	"$(jq -r '(.[1].body.input | length == 1) and .[1].body.input[0].type == "function_call_output" and .[1].body.input[0].call_id == .[0].response.output[0].call_id' <<<"$R")"
slots=$(jq -r '.[1].body.input[0].output' <<<"$R")
eq "availability: free slots at the customer's offset" "true ${D1}T09:00:00+01:00" \
	"$(jq -r '"\(.ok) \(.free_slots[0].start)"' <<<"$slots")"
book_out=$(jq -r '.[2].body.input[0].output' <<<"$R")
eq "booking: the output confirms the time in the customer's terms" "true ${D1}T10:30:00+01:00 ${D1}T09:30:00Z" \
	"$(jq -r '"\(.booked) \(.start) \(.start_utc)"' <<<"$book_out")"
contains "booking: the output has the Meet link" "https://meet.google.com/" "$(jq -r .meet_link <<<"$book_out")"
mid=$(jq -r .meeting_id <<<"$book_out")
eq "booking: a meetings row, scheduled, with everything" \
	"$D1 09:30:00|30|Europe/Amsterdam|Product demo|Ana Souza|ana@padariaboa.test|{ana@padariaboa.test}|scheduled|acme" \
	"$(sql "$dsn" "SELECT meeting_time || '|' || duration_minutes || '|' || timezone || '|' || title || '|' || customer_name || '|' || customer_email || '|' || participants::text || '|' || status || '|' || user_id FROM meetings WHERE meeting_id = '$mid'")"
eq "booking: the row's link is the output's" "$(jq -r .meet_link <<<"$book_out")" "$(meeting "$mid" meet_link)"
E=$(events)
eq "booking: one event in Google" 1 "$(jq length <<<"$E")"
eq "booking: the event id is the meetings row's" "$(meeting "$mid" google_event_id)" "$(jq -r '.[0].id' <<<"$E")"
eq "booking: the event has the Meet conference and the attendee" "hangoutsMeet success ana@padariaboa.test Ana Souza" \
	"$(jq -r '.[0] | "\(.conferenceData.createRequest.conferenceSolutionKey.type) \(.conferenceData.createRequest.status.statusCode) \(.attendees[0].email) \(.attendees[0].displayName)"' <<<"$E")"
eq "booking: the event's time and zone" "${D1}T09:30:00Z ${D1}T10:00:00Z Europe/Amsterdam" \
	"$(jq -r '.[0] | "\(.start.dateTime) \(.end.dateTime) \(.start.timeZone)"' <<<"$E")"
eq "booking: inserted with conferenceDataVersion=1" "conferenceDataVersion=1&sendUpdates=all" \
	"$(google_requests | jq -r '[.[] | select(.path | endswith("/events"))][0].query')"
eq "booking: the event id is base32hex" yes "$(jq -r '.[0].id' <<<"$E" | grep -qE '^[a-v0-9]{5,}$' && echo yes)"
eq "booking: one token refresh, with our client and the stored refresh token" "1 true" \
	"$(google_requests | jq -r '[.[] | select(.path == "/token")] | "\(length) \(.[0].raw_body | test("client_id=gclient.apps.googleusercontent.com&client_secret=gsecret-123&refresh_token=rt-acme-1"))"')"
eq "booking: the access token is stored back with a new expiry" "t|t" \
	"$(sql "$dsn" "SELECT access_token LIKE 'ya29.fake-%', token_expiry > now() AT TIME ZONE 'UTC' + interval '50 minutes' FROM google_calendar_tokens WHERE user_id = 'acme'")"
eq "booking: Calendar calls carry the access token" "true" \
	"$(google_requests | jq -r '[.[] | select(.path | startswith("/calendar")) | .headers.authorization | startswith("Bearer ya29.fake-")] | all')"
msgs=$(sent_to $B)
eq "booking: the customer gets one message" 1 "$(replies_sent $B)"
contains "booking: …the final text, with the link" "$(jq -r .meet_link <<<"$book_out")" "$msgs"
case "$msgs" in *free_slots*|*check_availability*) _t_report fail "booking: intermediate outputs never reach the customer" "$msgs" ;;
*) _t_report ok "booking: intermediate outputs never reach the customer" ;; esac
eq "booking: no reservation left" 0 "$(sql "$dsn" "SELECT count(*) FROM meeting_bookings")"
eq "booking: counted" 1 "$(metric 'parley_meeting_tool_calls_total{tool="book_meeting",outcome="booked"}')"

# --- the same time again in that conversation: the booking is not repeated
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D1}T10:30:00+01:00" ana@padariaboa.test)}}]"
say $B "Please confirm the demo"
ok "again: answered" wait_sent "$B" 2
eq "again: still one event, one meeting" "1 1" "$(jq length <<<"$(events)") $(sql "$dsn" "SELECT count(*) FROM meetings")"
eq "again: the output says it was booked already" "$mid This meeting was already booked." \
	"$(responses_of $B | jq -r '.[-1].body.input[0].output | fromjson | "\(.meeting_id) \(.note)"')"

# --- a busy slot is refused, another one is booked
C=31610000003
curl -sS -d "{\"calendar\":\"primary\",\"busy\":[{\"start\":\"${D2}T13:00:00Z\",\"end\":\"${D2}T14:00:00Z\"}]}" "$GOOGLE/_busy" >/dev/null
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D2}T14:30:00+01:00" carl@example.test)}},
                {\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D2}T16:00:00+01:00" carl@example.test)}}]"
say $C "Demo the day after tomorrow at 14:30?"
ok "busy: answered" wait_sent "$C" 1
R=$(responses_of $C)
eq "busy: the first booking is refused in the tool output" "false slot_busy" \
	"$(jq -r '.[1].body.input[0].output | fromjson | "\(.ok) \(.error)"' <<<"$R")"
eq "busy: the second is booked" "true ${D2}T16:00:00+01:00" \
	"$(jq -r '.[2].body.input[0].output | fromjson | "\(.booked) \(.start)"' <<<"$R")"
eq "busy: one meeting for the customer, at the free time" "$D2 15:00:00" \
	"$(sql "$dsn" "SELECT string_agg(meeting_time::text, ',') FROM meetings WHERE customer_email = 'carl@example.test'")"
eq "busy: no event at the busy time" 0 "$(events | jq --arg t "${D2}T13:30:00Z" '[.[] | select(.start.dateTime == $t)] | length')"
eq "busy: no reservation left" 0 "$(sql "$dsn" "SELECT count(*) FROM meeting_bookings")"
eq "busy: counted" 1 "$(metric 'parley_meeting_tool_calls_total{tool="book_meeting",outcome="busy"}')"

# --- bad arguments from the model: tool errors, nothing booked
F=31610000004
bad_calls=$(jq -cn --arg d1 "$D1" '[
	{name: "book_meeting", arguments: {start: "tomorrow at ten", duration_minutes: 30, timezone: "Europe/Amsterdam", customer_name: "F", customer_email: "f@x.test", title: null}},
	{name: "book_meeting", arguments: {start: "2020-01-01T10:00:00+01:00", duration_minutes: 30, timezone: "Europe/Amsterdam", customer_name: "F", customer_email: "f@x.test", title: null}},
	{name: "book_meeting", arguments: {start: ($d1 + "T15:00:00+01:00"), duration_minutes: 30, timezone: "Europe/Amsterdam", customer_name: "F", customer_email: null, title: null}},
	{name: "book_meeting", arguments: {start: ($d1 + "T15:00:00+01:00"), duration_minutes: 30, timezone: "Europe/Amsterdam", customer_name: "F", customer_email: "not an email", title: null}},
	{name: "book_meeting", arguments: {start: ($d1 + "T15:00:00+01:00"), duration_minutes: 30, timezone: "Mars/Olympus_Mons", customer_name: "F", customer_email: "f@x.test", title: null}},
	{name: "book_meeting", arguments: {start: ($d1 + "T15:00:00"), duration_minutes: 30, timezone: "Europe/Amsterdam", customer_name: "F", customer_email: "f@x.test", title: null}},
	{name: "book_meeting", arguments: "{not json"},
	{name: "check_availability", arguments: {start: ($d1 + "T17:00:00Z"), end: ($d1 + "T09:00:00Z"), duration_minutes: null}}]')
script_openai "[{\"function_calls\":$bad_calls}]"
before_events=$(events | jq length)
say $F "Book me something"
ok "bad arguments: answered" wait_sent "$F" 1
R=$(responses_of $F)
eq "bad arguments: eight outputs, in the calls' order" "$(jq -r '[.[0].response.output[].call_id] | join(",")' <<<"$R")" \
	"$(jq -r '[.[1].body.input[].call_id] | join(",")' <<<"$R")"
eq "bad arguments: every output is an invalid_arguments error" "invalid_arguments" \
	"$(jq -r '[.[1].body.input[].output | fromjson | .error] | unique | join(",")' <<<"$R")"
whys=$(jq -r '.[1].body.input[].output | fromjson | .message' <<<"$R")
for w in "not a valid RFC 3339" "in the past" "customer_email is required" "customer_email is not an email" "timezone is not a known" "UTC offset" "not a JSON object" "end must be after start"; do
	contains "bad arguments: says '$w'" "$w" "$whys"
done
eq "bad arguments: nothing reserved, inserted or stored" "0 $before_events 0" \
	"$(sql "$dsn" "SELECT count(*) FROM meeting_bookings") $(events | jq length) $(sql "$dsn" "SELECT count(*) FROM meetings WHERE customer_email = 'f@x.test'")"
ok "bad arguments: parley is still up" curl -fsS -o /dev/null "$url/healthz"

# --- a crash of the insert (answered 500 after Google made the event): no second event
G=31610000005
script_google '[{"for":"insert","status":500,"apply":true}]'
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D3}T10:00:00+01:00" gina@example.test)}}]"
before_events=$(events | jq length)
say $G "Book me at ten"
ok "insert 500: answered" wait_sent "$G" 1
eq "insert 500: one more event only" $((before_events + 1)) "$(events | jq length)"
eq "insert 500: the retry got 409 and the event was fetched" "500,409 200" \
	"$(google_requests | jq -r --arg t "${D3}T09:00:00Z" '[.[] | select((.path | endswith("/events")) and .body.start.dateTime == $t) | .status] | join(",")') $(google_requests | jq -r '[.[] | select(.method == "GET")] | .[-1].status')"
eq "insert 500: one meeting, scheduled, with the link" "1|scheduled|t" \
	"$(sql "$dsn" "SELECT count(*), max(status), bool_and(meet_link LIKE 'https://meet.google.com/%') FROM meetings WHERE customer_email = 'gina@example.test'")"

# --- a conference still pending: looked up again for its link
H=31610000006
script_google '[{"for":"insert","conference_pending":true}]'
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D3}T11:00:00+01:00" hugo@example.test)}}]"
say $H "Eleven?"
ok "pending conference: answered" wait_sent "$H" 1
eq "pending conference: the link came from the event looked up again" t \
	"$(sql "$dsn" "SELECT meet_link LIKE 'https://meet.google.com/%' FROM meetings WHERE customer_email = 'hugo@example.test'")"

# --- an access token Google no longer accepts: 401, refresh, retry
I=31610000007
sql "$dsn" "UPDATE google_calendar_tokens SET access_token = 'ya29.revoked-early', token_expiry = now() AT TIME ZONE 'UTC' + interval '1 hour'" >/dev/null
tokens_before=$(n_google POST '^/token$')
script_openai "[{\"function_call\":{\"name\":\"check_availability\",\"arguments\":{\"start\":\"${D2}T08:00:00Z\",\"end\":\"${D2}T12:00:00Z\",\"duration_minutes\":null}}}]"
say $I "When are you free?"
ok "401: answered" wait_sent "$I" 1
eq "401: freeBusy refused, token refreshed, freeBusy again" "401 200" \
	"$(google_requests | jq -r '[.[] | select(.path == "/calendar/v3/freeBusy")] | .[-2:] | map(.status) | join(" ")')"
eq "401: one more refresh" $((tokens_before + 1)) "$(n_google POST '^/token$')"
eq "401: the availability reached the model" true \
	"$(responses_of $I | jq -r '.[1].body.input[0].output | fromjson | .ok')"
eq "401: the new token is stored" t "$(sql "$dsn" "SELECT access_token LIKE 'ya29.fake-%' FROM google_calendar_tokens")"

# --- an access token about to expire is refreshed before use
sql "$dsn" "UPDATE google_calendar_tokens SET token_expiry = now() AT TIME ZONE 'UTC' + interval '30 seconds'" >/dev/null
curl -sS -X POST "$GOOGLE/_expire" >/dev/null
fb_before=$(n_google POST freeBusy)
tokens_before=$(n_google POST '^/token$')
script_openai "[{\"function_call\":{\"name\":\"check_availability\",\"arguments\":{\"start\":\"${D2}T08:00:00Z\",\"end\":\"${D2}T12:00:00Z\",\"duration_minutes\":null}}}]"
say $I "And the day after?"
ok "expiring: answered" wait_sent "$I" 2
eq "expiring: refreshed first, then one freeBusy" "$((tokens_before + 1)) $((fb_before + 1)) 200" \
	"$(n_google POST '^/token$') $(n_google POST freeBusy) $(google_requests | jq -r '[.[] | select(.path == "/calendar/v3/freeBusy")][-1].status')"

# --- Google's 429 with retry-after on freeBusy: waited for, then answered
script_google '[{"for":"freebusy","status":429,"retry_after":1}]'
script_openai "[{\"function_call\":{\"name\":\"check_availability\",\"arguments\":{\"start\":\"${D2}T08:00:00Z\",\"end\":\"${D2}T12:00:00Z\",\"duration_minutes\":null}}}]"
say $I "Anything on Thursday?"
ok "429: answered" wait_sent "$I" 3
gap=$(google_requests | jq '[.[] | select(.path == "/calendar/v3/freeBusy")] | .[-2:] | .[1].time_ms - .[0].time_ms')
eq "429: the retry waited retry-after (1 s)" yes "$([ "$gap" -ge 1000 ] && echo yes || echo "no ($gap ms)")"

# --- the tool loop stops at replies.max_tool_rounds (4): a last answer without tools
J=31610000008
script_openai "[{\"function_call\":{\"name\":\"check_availability\",\"arguments\":{\"start\":\"${D2}T08:00:00Z\",\"end\":\"${D2}T12:00:00Z\",\"duration_minutes\":null}},\"times\":10}]"
say $J "Keep checking"
ok "round limit: answered" wait_sent "$J" 1
R=$(responses_of $J)
eq "round limit: four rounds, then tool_choice none" "auto,auto,auto,auto,none" "$(jq -r 'map(.body.tool_choice) | join(",")' <<<"$R")"
eq "round limit: the last answer is a message" message "$(jq -r '.[-1].response.output[0].type' <<<"$R")"
eq "round limit: one message to the customer" 1 "$(replies_sent $J)"
curl -sS -X POST "$OPENAI/_reset" >/dev/null

# --- the process dies between inserting the event and storing the meeting
K=31610000009
script_google '[{"for":"insert","delay_ms":5000}]'
args_k=$(book_args "${D3}T14:00:00+01:00" kim@example.test)
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$args_k}},
                {\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$args_k}}]"
before_events=$(events | jq length)
say $K "Book Kim at two"
crash_at_insert "${D3}T13:00:00Z"
eq "crash: the event exists, a reservation, no meeting" "$((before_events + 1)) 1 0" \
	"$(events | jq length) $(sql "$dsn" "SELECT count(*) FROM meeting_bookings") $(sql "$dsn" "SELECT count(*) FROM meetings WHERE customer_email = 'kim@example.test'")"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "crash: after restart the reply is produced again and sent" wait_sent "$K" 1
eq "crash: one event, one meeting" "$((before_events + 1)) 1" \
	"$(events | jq length) $(sql "$dsn" "SELECT count(*) FROM meetings WHERE customer_email = 'kim@example.test' AND status = 'scheduled'")"
eq "crash: the meeting is the reserved one (same event id)" t \
	"$(sql "$dsn" "SELECT google_event_id = '$(events | jq -r --arg t "${D3}T13:00:00Z" '.[] | select(.start.dateTime == $t) | .id')' FROM meetings WHERE customer_email = 'kim@example.test'")"
eq "crash: the interrupted call was answered before the customer's message" "function_call_output user" \
	"$(responses_of $K | jq -r '[.[] | select(.status == 200)][1].body.input | map(.type // .role) | join(" ")')"
eq "crash: no reservation left" 0 "$(sql "$dsn" "SELECT count(*) FROM meeting_bookings")"

# --- the same crash, and the model does not ask again: the recovery pass finishes it
L=31610000010
curl -sS -X POST "$OPENAI/_reset" >/dev/null
script_google '[{"for":"insert","delay_ms":5000}]'
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D3}T15:00:00+01:00" lou@example.test)}},{\"text\":\"Something went wrong, we will email you.\"}]"
before_events=$(events | jq length)
say $L "Book Lou at three"
crash_at_insert "${D3}T14:00:00Z"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "pass: the reservation is finished by the recovery pass" wait_for "$dsn" "SELECT count(*) FROM meetings WHERE customer_email = 'lou@example.test' AND status = 'scheduled' AND meet_link LIKE 'https://meet.google.com/%'" 1
eq "pass: one event, no reservation" "$((before_events + 1)) 0" "$(events | jq length) $(sql "$dsn" "SELECT count(*) FROM meeting_bookings")"
eq "pass: counted" 1 "$(metric 'parley_meetings_recovered_total{outcome="booked"}')"

# --- a reservation whose event never got made: dropped by the pass
sql "$dsn" "INSERT INTO meeting_bookings (meeting_id, user_id, conversation_id, google_event_id, meeting_time, duration_minutes, timezone, title, customer_email, lease_until)
            SELECT 'mtg_orphan', 'acme', conversation_id, 'dlq6enr5', now() AT TIME ZONE 'UTC' + interval '5 days', 30, 'UTC', 'x', 'o@x.test', now() - interval '1 minute'
              FROM conversations WHERE customer_phone = '$L'" >/dev/null
ok "pass: an orphan reservation is dropped" wait_for "$dsn" "SELECT count(*) FROM meeting_bookings" 0
eq "pass: …without a meeting" 0 "$(sql "$dsn" "SELECT count(*) FROM meetings WHERE meeting_id = 'mtg_orphan'")"

# --- the token endpoint fails while the pass recovers: the reservation waits
# (the event may exist), and once a token comes the existing event is stored
lou=$(sql "$dsn" "SELECT meeting_id FROM meetings WHERE customer_email = 'lou@example.test'")
before_events=$(events | jq length)
inserts_before=$(n_google POST '/events$')
recovered=$(metric 'parley_meetings_recovered_total{outcome="booked"}')
failed_before=$(grep -c -F 'token refresh failed' "$conf.log")
# One failed token request per attempt (replies.max_attempts 3): one failed pass.
script_google '[{"for":"token","status":500,"times":3}]'
sql "$dsn" "UPDATE google_calendar_tokens SET token_expiry = '2000-01-01'" >/dev/null
unstore lou@example.test
ok "token failing: the pass tries and cannot get a token" within 60 log_has 'token refresh failed' $((failed_before + 1))
sleep 1
eq "token failing: the reservation is kept, no meeting" "1 0" \
	"$(sql "$dsn" "SELECT count(*) FROM meeting_bookings WHERE meeting_id = '$lou'") $(sql "$dsn" "SELECT count(*) FROM meetings WHERE meeting_id = '$lou'")"
contains "token failing: logged as deferred" "meeting $lou: the event could not be looked up (unavailable); the reservation stays for the next pass" "$(cat "$conf.log")"
eq "token failing: counted as deferred" 1 "$(metric 'parley_meeting_recoveries_deferred_total{reason="unavailable"}')"
ok "token failing: once a token comes, the pass stores the meeting" within 60 is_now "SELECT count(*) FROM meetings WHERE meeting_id = '$lou' AND status = 'scheduled'" 1
eq "token failing: the same event, no second insert, no reservation left" "$before_events $inserts_before 0" \
	"$(events | jq length) $(n_google POST '/events$') $(sql "$dsn" "SELECT count(*) FROM meeting_bookings")"
eq "token failing: recovered once" $((${recovered:-0} + 1)) "$(metric 'parley_meetings_recovered_total{outcome="booked"}')"

# --- past meetings are completed by the pass
conv_b=$(sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '$B'")
sql "$dsn" "INSERT INTO meetings (meeting_id, user_id, conversation_id, google_event_id, title, meeting_time, duration_minutes, status)
            VALUES ('mtg_past', 'acme', '$conv_b', 'evpast', 'Past', now() AT TIME ZONE 'UTC' - interval '2 hours', 30, 'scheduled'),
                   ('mtg_now', 'acme', '$conv_b', 'evnow', 'Going on', now() AT TIME ZONE 'UTC' - interval '10 minutes', 30, 'scheduled')" >/dev/null
ok "completion: a past meeting becomes completed" wait_for "$dsn" "SELECT status FROM meetings WHERE meeting_id = 'mtg_past'" completed
eq "completion: one going on stays scheduled" scheduled "$(meeting mtg_now status)"

# --- meeting list
out=$(parley_cmd meeting list --tenant acme)
contains "list: a table with the booked meeting" "$mid" "$out"
contains "list: …and its link" "https://meet.google.com/" "$out"
eq "list --json: every meeting" "$(sql "$dsn" "SELECT count(*) FROM meetings WHERE user_id = 'acme'")" \
	"$(parley_cmd meeting list --tenant acme --json | jq length)"
eq "list --json: fields" "scheduled ana@padariaboa.test [\"ana@padariaboa.test\"] Europe/Amsterdam" \
	"$(parley_cmd meeting list --tenant acme --json | jq -r --arg m "$mid" '.[] | select(.meeting_id == $m) | "\(.status) \(.email) \(.participants | tojson) \(.timezone)"')"
up=$(parley_cmd meeting list --tenant acme --upcoming --json)
eq "list --upcoming: only scheduled ones not over" "false false true" \
	"$(jq -r '[any(.[]; .meeting_id == "mtg_past"), any(.[]; .meeting_id == "mtg_now" and .status != "scheduled"), all(.[]; .status == "scheduled")] | map(tostring) | join(" ")' <<<"$up")"
eq "list: an unknown tenant is 1" 1 "$(code parley_cmd meeting list --tenant nobody)"
eq "list: without --tenant is 2" 2 "$(code parley_cmd meeting list)"
eq "list: an extra argument is 2" 2 "$(code parley_cmd meeting list --tenant acme extra)"
eq "meeting: no sub-command is 2" 2 "$(code parley_cmd meeting)"
eq "meeting: an unknown sub-command is 2" 2 "$(code parley_cmd meeting delete x)"

# --- meeting cancel
ev_id=$(meeting "$mid" google_event_id)
out=$(parley_cmd meeting cancel "$mid")
eq "cancel: exit 0, says so" 0 $?
contains "cancel: the message" "cancelled meeting $mid" "$out"
eq "cancel: the event is deleted in Google (with updates to attendees)" "DELETE 204 sendUpdates=all" \
	"$(google_requests | jq -r --arg e "$ev_id" '[.[] | select(.method == "DELETE" and (.path | endswith($e)))][0] | "\(.method) \(.status) \(.query)"')"
eq "cancel: Google has it cancelled" cancelled "$(events | jq -r --arg e "$ev_id" '.[] | select(.id == $e) | .status')"
eq "cancel: the meeting is cancelled" cancelled "$(meeting "$mid" status)"
out=$(parley_cmd meeting cancel "$mid")
eq "cancel again: exit 0" 0 $?
contains "cancel again: already" "cancelled already" "$out"
sql "$dsn" "UPDATE meetings SET status = 'scheduled' WHERE meeting_id = '$mid'" >/dev/null
out=$(parley_cmd meeting cancel "$mid" --json)
eq "cancel an event already gone (410): cancelled all the same" "0 cancelled" "$? $(jq -r .status <<<"$out")"
eq "cancel: a completed meeting is 1" 1 "$(code parley_cmd meeting cancel mtg_past)"
eq "cancel: an unknown meeting is 1" 1 "$(code parley_cmd meeting cancel mtg_nope)"
eq "cancel: no id is 2" 2 "$(code parley_cmd meeting cancel)"
eq "cancel: two ids are 2" 2 "$(code parley_cmd meeting cancel a b)"
eq "cancel: a bad id is 2" 2 "$(code parley_cmd meeting cancel 'x;y')"
# a cancel whose stored access token expired refreshes it first
gina=$(sql "$dsn" "SELECT meeting_id FROM meetings WHERE customer_email = 'gina@example.test'")
sql "$dsn" "UPDATE google_calendar_tokens SET token_expiry = '2000-01-01'" >/dev/null
tokens_before=$(n_google POST '^/token$')
ok "cancel with an expired token: works" parley_cmd meeting cancel "$gina"
eq "cancel with an expired token: refreshed once, stored" "$((tokens_before + 1)) t" \
	"$(n_google POST '^/token$') $(sql "$dsn" "SELECT token_expiry > now() AT TIME ZONE 'UTC' FROM google_calendar_tokens")"

# --- google.max_bookings_per_conversation (2): a third meeting is a tool error, not an invite
Z=31610000012
D4=$(date -u -d '+4 days' +%Y-%m-%d)
curl -sS -X POST "$OPENAI/_reset" >/dev/null
inserts_before=$(n_google POST '/events$')
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D4}T09:00:00+01:00" zoe@example.test)}},
                {\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D4}T10:00:00+01:00" zed@example.test)}},
                {\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D4}T11:00:00+01:00" zak@example.test)}}]"
say $Z "Book three demos please, for Zoe, Zed and Zak"
ok "max bookings: answered" wait_sent "$Z" 1
R=$(responses_of $Z)
eq "max bookings: the first two are booked" "true true" \
	"$(jq -r '[.[1], .[2]] | map(.body.input[0].output | fromjson | .booked) | map(tostring) | join(" ")' <<<"$R")"
eq "max bookings: the third gets a tool error" "false booking_limit" \
	"$(jq -r '.[3].body.input[0].output | fromjson | "\(.ok) \(.error)"' <<<"$R")"
contains "max bookings: …that the model can explain" "already has 2 scheduled meeting(s)" \
	"$(jq -r '.[3].body.input[0].output | fromjson | .message' <<<"$R")"
eq "max bookings: two meetings, no reservation left" "2 0" \
	"$(sql "$dsn" "SELECT count(*) FROM meetings m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$Z' AND m.status = 'scheduled'") $(sql "$dsn" "SELECT count(*) FROM meeting_bookings")"
eq "max bookings: two calendar inserts, none for the third" "$((inserts_before + 2)) 0" \
	"$(n_google POST '/events$') $(events | jq '[.[] | select(.attendees[0].email == "zak@example.test")] | length')"
eq "max bookings: counted" 1 "$(metric 'parley_meeting_tool_calls_total{tool="book_meeting",outcome="limit"}')"
# At the limit, the same time again is still the idempotent answer, not the error.
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D4}T09:00:00+01:00" zoe@example.test)}}]"
say $Z "Is Zoe's demo booked?"
ok "max bookings: answered again" wait_sent "$Z" 2
eq "max bookings: a booked time again says booked" "This meeting was already booked." \
	"$(responses_of $Z | jq -r '.[-1].body.input[0].output | fromjson | .note')"
# A cancelled meeting no longer counts.
sql "$dsn" "UPDATE meetings SET status = 'cancelled' WHERE customer_email = 'zed@example.test'" >/dev/null
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "${D4}T11:00:00+01:00" zak@example.test)}}]"
say $Z "Zed cancelled; book Zak then"
ok "max bookings: answered a third time" wait_sent "$Z" 3
eq "max bookings: after a cancellation there is room again" true \
	"$(responses_of $Z | jq -r '.[-1].body.input[0].output | fromjson | .booked')"
# --- the database refuses the meeting row: not tried again and again, the
# reservation is left to the recovery pass at once
P=31610000019
recovered=$(metric 'parley_meetings_recovered_total{outcome="booked"}')
sql "$dsn" "ALTER TABLE meetings ADD CONSTRAINT test_refuse_meeting CHECK (title IS DISTINCT FROM 'Refused demo') NOT VALID" >/dev/null
script_openai "[{\"function_call\":{\"name\":\"book_meeting\",\"arguments\":$(book_args "$(date -u -d '+5 days' +%Y-%m-%d)T11:00:00+01:00" pat@example.test 'Refused demo')}}]"
say $P "A demo at three, please"
ok "refused meeting row: the reply goes out" wait_sent "$P" 1
inserted=$(google_requests | jq '[.[] | select(.method == "POST" and (.path | endswith("/events")) and .body.attendees[0].email == "pat@example.test")][0].time_ms')
sent=$(curl -sS "$GRAPH/_requests" | jq --arg to $P '[.[] | select(.body.to == $to)][0].time_ms')
gap=$((sent - inserted))
eq "refused meeting row: not retried (the reply followed the event at once)" yes "$([ "$gap" -lt 3000 ] && echo yes || echo "no ($gap ms)")"
contains "refused meeting row: logged with the SQLSTATE" 'violates check constraint "test_refuse_meeting" (SQLSTATE 23514)); the recovery pass will store it' "$(cat "$conf.log")"
sql "$dsn" "ALTER TABLE meetings DROP CONSTRAINT test_refuse_meeting" >/dev/null
ok "refused meeting row: once allowed, the recovery pass stores it" wait_for "$dsn" "SELECT count(*) FROM meetings WHERE customer_email = 'pat@example.test' AND status = 'scheduled'" 1
ok "refused meeting row: no reservation left" wait_for "$dsn" "SELECT count(*) FROM meeting_bookings" 0
eq "refused meeting row: recovered once (a refused pass is not counted)" $((${recovered:-0} + 1)) \
	"$(metric 'parley_meetings_recovered_total{outcome="booked"}')"

# --- invalid_grant: the calendar is disconnected, replies still go out
M=31610000011
curl -sS -d '{"refresh_token":"rt-acme-1"}' "$GOOGLE/_revoke" >/dev/null
sql "$dsn" "UPDATE google_calendar_tokens SET token_expiry = '2000-01-01'" >/dev/null
script_openai "[{\"function_call\":{\"name\":\"check_availability\",\"arguments\":{\"start\":\"${D2}T08:00:00Z\",\"end\":\"${D2}T12:00:00Z\",\"duration_minutes\":null}}}]"
say $M "Can we meet?"
ok "invalid_grant: the reply goes out" wait_sent "$M" 1
eq "invalid_grant: the model was told the calendar is disconnected" "false calendar_disconnected" \
	"$(responses_of $M | jq -r '.[1].body.input[0].output | fromjson | "\(.ok) \(.error)"')"
eq "invalid_grant: the tenant's calendar is disconnected, with the reason" "disconnected invalid_grant: Token has been expired or revoked." \
	"$(sql "$dsn" "SELECT parley_calendar_state('acme') || ' ' || disconnect_reason FROM google_calendar_tokens")"
eq "invalid_grant: counted" 1 "$(metric parley_calendar_disconnects_total)"
eq "invalid_grant: refresh counted as revoked" 1 "$(metric 'parley_google_token_refreshes_total{outcome="revoked"}')"
contains "google status: disconnected and why" "invalid_grant" "$(parley_cmd google status --tenant acme)"
eq "tenant show: disconnected" disconnected "$(parley_cmd tenant show acme --json | jq -r .calendar)"
say $M "Hello again?"
ok "disconnected: the next reply goes out" wait_sent "$M" 2
eq "disconnected: no meeting tools declared any more" escalate_to_human "$(responses_of $M | jq -r '.[-1].body.tools | map(.name) | join(",")')"
eq "disconnected: cancel refuses with exit 1" 1 "$(code parley_cmd meeting cancel "$(sql "$dsn" "SELECT meeting_id FROM meetings WHERE customer_email = 'carl@example.test'")")"
# A reservation of a disconnected calendar can never be looked up: it is kept
# (its event may exist) and reported every pass until the calendar is
# connected again, then finished from the existing event.
before_events=$(events | jq length)
inserts_before=$(n_google POST '/events$')
unstore lou@example.test
ok "disconnected: the pass reports the reservation it cannot look up" within 60 log_has "meeting $lou: the event could not be looked up (disconnected); the reservation stays until the calendar is connected again" 1
sleep 1
eq "disconnected: the reservation is kept, no meeting" "1 0" \
	"$(sql "$dsn" "SELECT count(*) FROM meeting_bookings WHERE meeting_id = '$lou'") $(sql "$dsn" "SELECT count(*) FROM meetings WHERE meeting_id = '$lou'")"
eq "disconnected: counted as deferred" t "$(metric 'parley_meeting_recoveries_deferred_total{reason="disconnected"}' | awk '{ print ($1 >= 1) ? "t" : "f" }')"
echo "rt-acme-2" | parley_cmd google connect --tenant acme --refresh-token-file - >/dev/null
ok "connected again: the kept reservation becomes the meeting" within 60 is_now "SELECT count(*) FROM meetings WHERE meeting_id = '$lou' AND status = 'scheduled'" 1
eq "connected again: the same event, no second insert, no reservation left" "$before_events $inserts_before 0" \
	"$(events | jq length) $(n_google POST '/events$') $(sql "$dsn" "SELECT count(*) FROM meeting_bookings")"
eq "connected again: state" "connected|" "$(sql "$dsn" "SELECT parley_calendar_state('acme') || '|' || coalesce(disconnect_reason, '') FROM google_calendar_tokens")"
say $M "And now?"
ok "connected again: answered" wait_sent "$M" 3
eq "connected again: tools declared again" 3 "$(responses_of $M | jq -r '.[-1].body.tools | length')"
out=$(parley_cmd google disconnect --tenant acme --json)
eq "google disconnect: by an operator" "disconnected disconnected by an operator" "$(jq -r '"\(.calendar) \(.disconnect_reason)"' <<<"$out")"
eq "google disconnect: a tenant without calendar is 1" 1 "$(code parley_cmd google disconnect --tenant nobody)"

# --- secrets never reach the log
log=$(cat "$conf.log")
for s in rt-acme-1 rt-acme-2 gsecret-123 ya29.fake ya29.revoked; do
	case "$log" in *"$s"*) _t_report fail "the log never holds '$s'" ;; *) _t_report ok "the log never holds '$s'" ;; esac
done

stop_parley "$pid"
rc=$?
eq "stops cleanly" 0 "$rc"
[ "$rc" = 0 ] || tail -20 "$conf.log" | sed 's/^/    # /'
finish
