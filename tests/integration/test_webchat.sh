#!/usr/bin/env bash
# The webchat API end to end (docs/protocol.md, Webchat): sessions and their
# tokens, messages and client_message_id dedupe, the long poll woken by a reply
# that another parley process produced, read receipts and delivery statuses,
# CORS, rate limits and bad input. Real parley processes, a real PostgreSQL,
# the project's stand-in OpenAI.
. "$(dirname "$0")/../lib/testlib.sh"

WIDGET=wgt_acme_site
SECRET=test-webchat-secret

start_standin fake_openai || { finish; exit 1; }
OPENAI=$STANDIN_URL

seeded_db
webchat_channel "$dsn" pn-web "$WIDGET" "Acme website" ag-web "Web agent"
webchat_channel "$dsn" pn-web2 wgt_no_agent "No agent yet"
conf_set "$conf" openai api_key sk-test
conf_set "$conf" openai url "$OPENAI/v1"
conf_set "$conf" openai timeout_seconds 5
conf_set "$conf" replies debounce_ms 300
conf_set "$conf" webchat secret "$SECRET"
conf_set "$conf" webchat allowed_origins "https://shop.example, https://www.shop.example"

# The first process serves the widget's HTTP calls but produces no replies
# (no OpenAI key); the second produces replies and is never asked by HTTP.
# A reply reaching a poll on the first therefore crossed processes.
conf_http=$(new_config "$dsn")
conf_set "$conf_http" webchat secret "$SECRET"
conf_set "$conf_http" webchat allowed_origins "https://shop.example, https://www.shop.example"
conf_set "$conf_http" replies debounce_ms 300
start_parley "$conf_http" || { finish; exit 1; }
http_pid=$PARLEY_PID
url=$(parley_url "$conf_http")
start_parley "$conf" || { finish; exit 1; }
worker_pid=$PARLEY_PID

# req METHOD PATH [BODY] [TOKEN] [extra curl args...]: prints "CODE BODY".
req() {
	local method=$1 path=$2 body=${3:-} token=${4:-}
	shift 4 2>/dev/null || shift $#
	local args=(-sS -o "$TEST_TMP/body" -w '%{http_code}' -X "$method" "$@")
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	[ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
	local code
	code=$(curl "${args[@]}" "$url$path")
	echo "$code $(cat "$TEST_TMP/body")"
}
code_of() { echo "${1%% *}"; }
body_of() { echo "${1#* }"; }

# --- sessions
r=$(req POST /webchat/v1/sessions "{\"widget_id\":\"$WIDGET\"}")
eq "a session is opened (201)" 201 "$(code_of "$r")"
TOKEN=$(body_of "$r" | jq -r .token)
SID=$(body_of "$r" | jq -r .session_id)
contains "the session id is a random ws_ id" "ws_" "$SID"
eq "an expiry is given" true "$(body_of "$r" | jq '.expires_at | test("^20[0-9]{2}-")')"
r=$(req POST /webchat/v1/sessions "{\"widget_id\":\"$WIDGET\"}")
TOKEN2=$(body_of "$r" | jq -r .token)
SID2=$(body_of "$r" | jq -r .session_id)
ok "a second session is another session" test "$SID" != "$SID2"
r=$(req POST /webchat/v1/sessions '{"widget_id":"wgt_nobody"}')
eq "unknown widget: 404" 404 "$(code_of "$r")"
eq "with a clear error" '"unknown widget"' "$(body_of "$r" | jq .error)"
r=$(req POST /webchat/v1/sessions '{"widget_id":"wgt_no_agent"}')
eq "widget without an agent: 404" "404 this widget has no agent linked" "$(code_of "$r") $(body_of "$r" | jq -r .error)"
eq "a WhatsApp channel id is not a widget" 404 "$(code_of "$(req POST /webchat/v1/sessions '{"widget_id":"106540352242922"}')")"
eq "no widget_id: 400" 400 "$(code_of "$(req POST /webchat/v1/sessions '{}')")"
eq "not JSON: 400" 400 "$(code_of "$(req POST /webchat/v1/sessions 'widget')")"
eq "widget_id not a string: 400" 400 "$(code_of "$(req POST /webchat/v1/sessions '{"widget_id":7}')")"
eq "GET on sessions: 405" 405 "$(code_of "$(req GET /webchat/v1/sessions)")"

# --- messages and dedupe
r=$(req POST /webchat/v1/messages '{"text":"Hello, do you deliver on Sundays?","client_message_id":"c-1"}' "$TOKEN")
eq "a message is accepted (202)" 202 "$(code_of "$r")"
eq "numbered 1 in its conversation" 1 "$(body_of "$r" | jq .sequence_no)"
MID=$(body_of "$r" | jq -r .message_id)
r=$(req POST /webchat/v1/messages '{"text":"Hello, do you deliver on Sundays?","client_message_id":"c-1"}' "$TOKEN")
eq "the same client_message_id again: the same message" "202 $MID 1" \
	"$(code_of "$r") $(body_of "$r" | jq -r '"\(.message_id) \(.sequence_no)"')"
eq "stored once" 1 "$(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$SID' AND m.sender = 'user'")"
eq "in a conversation of the widget's agent" "ag-web" "$(sql "$dsn" "SELECT agent_id FROM conversations WHERE customer_phone = '$SID'")"

# --- the reply, produced by the other process, wakes a poll held open here
before=$(date +%s%N)
r=$(req GET "/webchat/v1/messages?after=1&wait=20" "" "$TOKEN")
after=$(date +%s%N)
eq "the poll answers 200" 200 "$(code_of "$r")"
eq "with the agent's reply" 'agent|Echo: Hello, do you deliver on Sundays?|delivered' \
	"$(body_of "$r" | jq -r '.messages[] | "\(.sender)|\(.text)|\(.status)"')"
ok "well before its wait ran out" test $(((after - before) / 1000000)) -lt 10000
eq "the reply was made by the worker process" 1 \
	"$(curl -sS "$OPENAI/_requests" | jq '[.[] | select(.path == "/v1/responses")] | length')"
eq "nothing was sent to Meta (no Graph URL is even configured)" "sent|delivered" \
	"$(sql "$dsn" "SELECT m.status || '|' || d.status FROM messages m JOIN message_delivery_status d USING (message_id) WHERE m.sender = 'agent'")"
eq "one credit taken" "99/1" "$(sql "$dsn" "SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'")"

r=$(req GET "/webchat/v1/messages?after=0" "" "$TOKEN")
eq "the whole session, in order, with statuses (the answered message read)" '1|user|read
2|agent|delivered' "$(body_of "$r" | jq -r '.messages[] | "\(.sequence_no)|\(.sender)|\(.status)"')"
eq "each message names its author (SPEC 6): the customer, then the AI" 'customer
ai' "$(body_of "$r" | jq -r '.messages[].author')"
eq "created_at is ISO-8601 UTC" true "$(body_of "$r" | jq '[.messages[].created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")] | all')"

# --- read receipts
r=$(req POST /webchat/v1/read '{"up_to":2}' "$TOKEN")
eq "read: 200 with the count" '200 1' "$(code_of "$r") $(body_of "$r" | jq .read)"
eq "the reply is read" read "$(sql "$dsn" "SELECT d.status FROM messages m JOIN message_delivery_status d USING (message_id) WHERE m.sender = 'agent'")"
eq "read again changes nothing" 0 "$(body_of "$(req POST /webchat/v1/read '{"up_to":2}' "$TOKEN")" | jq .read)"
eq "the poll shows read" read "$(body_of "$(req GET '/webchat/v1/messages?after=1' '' "$TOKEN")" | jq -r '.messages[0].status')"
eq "up_to not a number: 400" 400 "$(code_of "$(req POST /webchat/v1/read '{"up_to":"2"}' "$TOKEN")")"
eq "up_to negative: 400" 400 "$(code_of "$(req POST /webchat/v1/read '{"up_to":-1}' "$TOKEN")")"

# --- a poll with nothing new waits, then answers an empty list
before=$(date +%s%N)
r=$(req GET "/webchat/v1/messages?after=2&wait=1" "" "$TOKEN")
after=$(date +%s%N)
eq "nothing new: an empty list" '200 []' "$(code_of "$r") $(body_of "$r" | jq -c .messages)"
ok "after waiting about a second" test $(((after - before) / 1000000)) -ge 900
eq "wait=0 answers at once" '200 []' "$(r=$(req GET "/webchat/v1/messages?after=2&wait=0" "" "$TOKEN"); echo "$(code_of "$r") $(body_of "$r" | jq -c .messages)")"
eq "after beyond the end: empty" '[]' "$(body_of "$(req GET '/webchat/v1/messages?after=99' '' "$TOKEN")" | jq -c .messages)"
eq "after not a number: 400" 400 "$(code_of "$(req GET '/webchat/v1/messages?after=x' '' "$TOKEN")")"
eq "wait negative: 400" 400 "$(code_of "$(req GET '/webchat/v1/messages?wait=-3' '' "$TOKEN")")"
r=$(req GET '/webchat/v1/messages?typing=2' '' "$TOKEN")
eq "typing other than 0 or 1: 400" '400 typing must be 0 or 1' "$(code_of "$r") $(body_of "$r" | jq -r .error)"
eq "typing=0 with nothing going on: an empty page at once" '200 {"messages":[],"agent_typing":false}' \
	"$(r=$(req GET '/webchat/v1/messages?after=2&wait=0&typing=0' '' "$TOKEN"); echo "$(code_of "$r") $(body_of "$r" | jq -c .)")"

# --- sessions are isolated
eq "the second session sees none of the first's messages" '[]' \
	"$(body_of "$(req GET '/webchat/v1/messages?after=0' '' "$TOKEN2")" | jq -c .messages)"
r=$(req POST /webchat/v1/messages '{"text":"second session here","client_message_id":"c-1"}' "$TOKEN2")
eq "the same client_message_id in another session is another message" '202 1' "$(code_of "$r") $(body_of "$r" | jq .sequence_no)"
eq "two conversations, one per session" 2 "$(sql "$dsn" "SELECT count(*) FROM conversations WHERE agent_id = 'ag-web'")"

# --- a customer's message is read once an agent message follows it (README,
# Website chat widget). Without credits no reply comes, so it stays sent
# until a person answers.
sql "$dsn" "UPDATE credits SET remaining_credits = 0 WHERE user_id = 'acme'"
r=$(req POST /webchat/v1/sessions "{\"widget_id\":\"$WIDGET\"}")
T4=$(body_of "$r" | jq -r .token)
SID4=$(body_of "$r" | jq -r .session_id)
eq "a message in a session of a tenant without credits" 202 \
	"$(code_of "$(req POST /webchat/v1/messages '{"text":"Is anyone there?","client_message_id":"q-1"}' "$T4")")"
worker_url=$(parley_url "$conf")
for _ in $(seq 1 100); do
	case "$(curl -sS "$worker_url/metrics")" in *$'\nparley_credit_refusals_total 1\n'*) break ;; esac
	sleep 0.1
done
contains "its reply was refused for credits" 'parley_credit_refusals_total 1' "$(curl -sS "$worker_url/metrics")"
polled() { body_of "$(req GET "/webchat/v1/messages?after=$1" '' "$T4")" | jq -r '.messages[] | "\(.sequence_no)|\(.sender)|\(.status)"'; }
eq "unanswered, the customer's message is sent" '1|user|sent' "$(polled 0)"
conv4=$(sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '$SID4'")
ok "a person answers (parley conversation send)" bash -c \
	"echo 'Ruth here: yes, we are.' | '$PARLEY_BIN' conversation send '$conv4' --keep-ai --text-file - -c '$conf' >/dev/null"
eq "answered, it is read; the answer is delivered" '1|user|read
2|agent|delivered' "$(polled 0)"
eq "a poll after it returns the answer only" '2|agent|delivered' "$(polled 1)"
eq "a person's answer has author human" human \
	"$(body_of "$(req GET "/webchat/v1/messages?after=1" '' "$T4")" | jq -r '.messages[0].author')"
eq "nothing about it is stored: the row still says sent" sent \
	"$(sql "$dsn" "SELECT m.status FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$SID4' AND m.sender = 'user'")"
sql "$dsn" "UPDATE credits SET remaining_credits = 100 WHERE user_id = 'acme'"

# --- tokens
eq "no token: 401" 401 "$(code_of "$(req GET '/webchat/v1/messages')")"
eq "garbage token: 401" 401 "$(code_of "$(req GET '/webchat/v1/messages' '' 'v1.abc.def')")"
# Another session's token with this session's id swapped in: the MAC fails.
forged=$(python3 - "$TOKEN" "$SID2" <<'PY'
import base64, sys
tok, other = sys.argv[1], sys.argv[2]
_, payload, mac = tok.split('.')
raw = base64.urlsafe_b64decode(payload + '=' * (-len(payload) % 4)).decode()
sid, rest = raw.split(':', 1)
new = base64.urlsafe_b64encode(f"{other}:{rest}".encode()).rstrip(b'=').decode()
print(f"v1.{new}.{mac}")
PY
)
r=$(req GET '/webchat/v1/messages?after=0' '' "$forged")
eq "a token edited to name another session: 401" '401 invalid token' "$(code_of "$r") $(body_of "$r" | jq -r .error)"
# A token signed with another secret, and one already expired, as parley would make them.
mint() { # SECRET SESSION EXPIRES
	python3 - "$@" "$WIDGET" <<'PY'
import base64, hashlib, hmac, sys
secret, sid, exp, widget = sys.argv[1:5]
e = lambda b: base64.urlsafe_b64encode(b).rstrip(b'=').decode()
signed = 'v1.' + e(f"{sid}:{exp}:{widget}".encode())
print(signed + '.' + e(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()))
PY
}
eq "our own minting matches parley's (control)" 200 "$(code_of "$(req GET '/webchat/v1/messages' '' "$(mint "$SECRET" "$SID" 4102444800)")")"
r=$(req GET '/webchat/v1/messages' '' "$(mint "$SECRET" "$SID" 1000000000)")
eq "an expired token: 401" '401 token expired' "$(code_of "$r") $(body_of "$r" | jq -r .error)"
eq "a token under another secret: 401" 401 "$(code_of "$(req GET '/webchat/v1/messages' '' "$(mint other-secret "$SID" 4102444800)")")"
eq "a refused token stores nothing" 401 "$(code_of "$(req POST /webchat/v1/messages '{"text":"x","client_message_id":"z"}' "$forged")")"

# --- bad messages change nothing
count_before=$(sql "$dsn" "SELECT count(*) FROM messages")
eq "empty text: 400" 400 "$(code_of "$(req POST /webchat/v1/messages '{"text":"   "}' "$TOKEN")")"
eq "text not a string: 400" 400 "$(code_of "$(req POST /webchat/v1/messages '{"text":42}' "$TOKEN")")"
long=$(head -c 4097 /dev/zero | tr '\0' 'a')
r=$(req POST /webchat/v1/messages "{\"text\":\"$long\"}" "$TOKEN")
eq "4097 characters: 400" '400 text is longer than 4096 characters' "$(code_of "$r") $(body_of "$r" | jq -r .error)"
eq "bad client_message_id: 400" 400 "$(code_of "$(req POST /webchat/v1/messages '{"text":"hi","client_message_id":"has space"}' "$TOKEN")")"
printf '{"text":"\xff\xfe"}' >"$TEST_TMP/bad-utf8.json"
eq "invalid UTF-8: 400" 400 "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" --data-binary @"$TEST_TMP/bad-utf8.json" "$url/webchat/v1/messages")"
head -c 70000 /dev/zero | tr '\0' 'a' >"$TEST_TMP/huge.txt"
eq "a huge body: 413" 413 "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" --data-binary @"$TEST_TMP/huge.txt" "$url/webchat/v1/messages")"
eq "nothing stored by bad input" "$count_before" "$(sql "$dsn" "SELECT count(*) FROM messages")"
r=$(req POST /webchat/v1/messages '{"text":"exactly <b>4096</b> is fine: <script>alert(1)</script>"}' "$TOKEN")
eq "markup is stored as text, no client id needed" 202 "$(code_of "$r")"
eq "stored verbatim" '<script>alert(1)</script>' "$(sql "$dsn" "SELECT substring(text from '<script>.*</script>') FROM messages WHERE text LIKE 'exactly%'")"

# --- CORS
hdrs() { curl -sS -D - -o /dev/null "$@"; }
h=$(hdrs -X OPTIONS -H 'Origin: https://shop.example' -H 'Access-Control-Request-Method: POST' \
	-H 'Access-Control-Request-Headers: authorization, content-type' "$url/webchat/v1/messages")
contains "preflight from an allowed origin: 204" "HTTP/1.1 204" "$h"
contains "  allows the origin" "Access-Control-Allow-Origin: https://shop.example" "$h"
contains "  allows the methods" "Access-Control-Allow-Methods: GET, POST, OPTIONS" "$h"
contains "  allows the headers" "Access-Control-Allow-Headers: Authorization, Content-Type" "$h"
h=$(hdrs -H 'Origin: https://www.shop.example' -H "Authorization: Bearer $TOKEN" "$url/webchat/v1/messages?after=0")
contains "a GET from the second allowed origin carries it" "Access-Control-Allow-Origin: https://www.shop.example" "$h"
contains "  and Vary: Origin" "Vary: Origin" "$h"
h=$(hdrs -X OPTIONS -H 'Origin: https://evil.example' "$url/webchat/v1/messages")
fails "preflight from another origin gets no CORS headers" grep -qi 'Access-Control-Allow' <<<"$h"
contains "  and a 403" "HTTP/1.1 403" "$h"
h=$(hdrs -H 'Origin: https://evil.example' -H "Authorization: Bearer $TOKEN" "$url/webchat/v1/messages?after=0")
fails "a GET from another origin gets no CORS headers" grep -qi 'Access-Control-Allow' <<<"$h"
h=$(hdrs -H "Authorization: Bearer $TOKEN" "$url/webchat/v1/messages?after=0")
fails "no Origin (not a browser): no CORS headers" grep -qi 'Access-Control-Allow' <<<"$h"
contains "  and served" "HTTP/1.1 200" "$h"
host=${url#http://}
h=$(hdrs -H "Origin: http://$host" -H "Authorization: Bearer $TOKEN" "$url/webchat/v1/messages?after=0")
contains "the server's own origin (the demo page) is allowed" "Access-Control-Allow-Origin: http://$host" "$h"
eq "webhooks get no CORS headers" "" "$(hdrs -H 'Origin: https://shop.example' "$url/webhooks/meta" | grep -i 'Access-Control' || true)"

# --- limits: open polls per session, messages per session
# A reloaded page leaves its poll open (the server is not told the browser
# went away): a session holds at most two open polls, and a third retires
# the oldest, which answers at once with an empty page.
curl -sS -o "$TEST_TMP/poll1" -H "Authorization: Bearer $TOKEN2" "$url/webchat/v1/messages?after=50&wait=8" &
p1=$!
sleep 0.3
curl -sS -o "$TEST_TMP/poll2" -H "Authorization: Bearer $TOKEN2" "$url/webchat/v1/messages?after=50&wait=8" &
p2=$!
open_polls() { curl -sS "$url/metrics" | awk '/^parley_webchat_open_polls /{print $2}'; }
for _ in $(seq 1 50); do
	[ "$(open_polls)" = 2 ] && break
	sleep 0.1
done
eq "two polls are open (gauge)" 2 "$(open_polls)"
curl -sS -o "$TEST_TMP/poll3" -H "Authorization: Bearer $TOKEN2" "$url/webchat/v1/messages?after=50&wait=8" &
p3=$!
t_retire=$(date +%s%N)
wait "$p1"
eq "a third poll retires the oldest: it answers an empty page" '[]' "$(jq -c .messages "$TEST_TMP/poll1")"
ok "  at once" test $((($(date +%s%N) - t_retire) / 1000000)) -lt 3000
eq "  and the session still holds two" 2 "$(open_polls)"
contains "  counted" "parley_webchat_polls_retired_total 1" "$(curl -sS "$url/metrics")"
eq "another session may still poll" 200 "$(code_of "$(req GET '/webchat/v1/messages?after=0&wait=0' '' "$TOKEN")")"
kill "$p2" "$p3" 2>/dev/null
wait "$p2" "$p3" 2>/dev/null

r=$(req POST /webchat/v1/sessions "{\"widget_id\":\"$WIDGET\"}")
T3=$(body_of "$r" | jq -r .token)
# Twelve sends from one curl on one connection, as fast as they go: the
# bucket refills one message per 2 s, which twelve curl processes on a loaded
# machine can take, so that the eleventh passed too.
sends=()
for i in $(seq 1 12); do
	[ "$i" = 1 ] || sends+=(--next)
	sends+=(-sS -o /dev/null -w ' %{http_code}' -H "Authorization: Bearer $T3" -H 'Content-Type: application/json'
		--data-binary "{\"text\":\"m$i\",\"client_message_id\":\"r$i\"}" "$url/webchat/v1/messages")
done
codes=$(curl "${sends[@]}")
set -- $codes
eq "ten messages at once are fine" "202 202 202 202 202 202 202 202 202 202" "${*:1:10}"
# Still: a refill may land among them.
eq "then 429" 429 "${12}"
accepted=$(grep -o 202 <<<"$codes" | wc -l)
h=$(curl -sS -D - -o /dev/null -H "Authorization: Bearer $T3" -H 'Content-Type: application/json' \
	--data-binary '{"text":"again","client_message_id":"r99"}' "$url/webchat/v1/messages")
contains "429 says when to retry" "Retry-After: " "$h"
eq "refused messages were not stored" "$accepted" "$(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$(body_of "$r" | jq -r .session_id)' AND m.sender = 'user'")"
codes=""
for _ in $(seq 1 25); do
	codes="$codes $(code_of "$(req POST /webchat/v1/sessions "{\"widget_id\":\"$WIDGET\"}")")"
done
contains "an address opening sessions in a loop gets 429" "429" "$codes"
contains "rate limits are counted" 'parley_webchat_rate_limited_total{limit="messages"}' "$(curl -sS "$url/metrics")"

# --- shutdown answers open polls at once
curl -sS -o "$TEST_TMP/last-poll" -H "Authorization: Bearer $TOKEN" "$url/webchat/v1/messages?after=99&wait=25" &
poller=$!
sleep 0.5
before=$(date +%s)
kill -TERM "$http_pid"
wait "$poller"
eq "an open poll is answered (empty) on shutdown" '[]' "$(jq -c .messages "$TEST_TMP/last-poll")"
wait "$http_pid"
eq "parley exits 0" 0 "$?"
ok "promptly" test $(($(date +%s) - before)) -lt 5

stop_parley "$worker_pid"
eq "the worker exits 0 too (no sanitizer report)" 0 "$?"
finish
