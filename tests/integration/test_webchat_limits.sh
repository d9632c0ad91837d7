#!/usr/bin/env bash
# Webchat limits that depend on who the client is and on the widget
# (docs/protocol.md, Webchat; README, Webchat): behind server.trusted_proxies
# each visitor named by X-Forwarded-For has its own limits, an untrusted peer's
# header is ignored, IPv6 clients are limited per /64, each widget takes at
# most webchat.max_messages_per_minute messages, and bad text (NUL characters,
# client ids with spaces) gets a clear 400 and stores nothing. Real parley
# processes and a real PostgreSQL; no replies are produced (no OpenAI key).
. "$(dirname "$0")/../lib/testlib.sh"

SECRET=test-webchat-secret
seeded_db
webchat_channel "$dsn" pn-web wgt_one One ag-web "Web agent"
webchat_channel "$dsn" pn-web2 wgt_two Two ag-web2 "Web agent 2"
conf_set "$conf" webchat secret "$SECRET"
conf_set "$conf" webchat max_messages_per_minute 3
conf_set "$conf" server trusted_proxies "127.0.0.1, 10.0.0.0/8"
start_parley "$conf" || { finish; exit 1; }
url=$(parley_url "$conf")

# session URL WIDGET [curl args...]: prints the HTTP status of opening a session.
session() {
	local u=$1 widget=$2
	shift 2
	curl -sS -g -o "$TEST_TMP/body" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "{\"widget_id\":\"$widget\"}" "$@" "$u/webchat/v1/sessions"
}
# sessions N URL [curl args...]: the statuses of N session openings, space-separated.
sessions() {
	local n=$1 codes="" i
	shift
	for i in $(seq 1 "$n"); do codes="$codes $(session "$1" wgt_one "${@:2}")"; done
	echo "$codes"
}
# 20 sessions at once per address are allowed (SESSIONS_BURST in webchat.c).
TWENTY=" 201 201 201 201 201 201 201 201 201 201 201 201 201 201 201 201 201 201 201 201"

# --- the widget's budget: 3 messages per minute across its sessions
token() {
	session "$url" "$1" -H "X-Forwarded-For: 192.0.2.$2" >/dev/null
	jq -r .token "$TEST_TMP/body"
}
post() { # post TOKEN BODY [curl args...]: prints "CODE BODY"
	local tok=$1 body=$2 code
	shift 2
	code=$(curl -sS -o "$TEST_TMP/body" -w '%{http_code}' -H "Authorization: Bearer $tok" \
		-H 'Content-Type: application/json' --data-binary "$body" "$@" "$url/webchat/v1/messages")
	echo "$code $(cat "$TEST_TMP/body")"
}
stored() { sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
                        JOIN agents a USING (agent_id) WHERE a.phone_number_id = '$1' AND m.sender = 'user'"; }
A=$(token wgt_one 1)
B=$(token wgt_one 2)
C=$(token wgt_two 3)
codes="$(post "$A" '{"text":"a1","client_message_id":"a1"}' | cut -d' ' -f1)"
codes="$codes $(post "$A" '{"text":"a2","client_message_id":"a2"}' | cut -d' ' -f1)"
codes="$codes $(post "$B" '{"text":"b1","client_message_id":"b1"}' | cut -d' ' -f1)"
eq "three messages of two sessions fit the widget's budget" "202 202 202" "$codes"
r=$(post "$B" '{"text":"b2","client_message_id":"b2"}')
eq "the fourth in the minute gets 429" 429 "${r%% *}"
contains "  saying why" "too many messages" "$r"
h=$(curl -sS -D - -o /dev/null -H "Authorization: Bearer $A" -H 'Content-Type: application/json' \
	--data-binary '{"text":"a3","client_message_id":"a3"}' "$url/webchat/v1/messages")
contains "  with Retry-After" "Retry-After: " "$h"
eq "  and nothing beyond the budget was stored" 3 "$(stored pn-web)"
eq "another widget has its own budget" 202 "$(post "$C" '{"text":"c1","client_message_id":"c1"}' | cut -d' ' -f1)"
contains "the widget limit is counted" 'parley_webchat_rate_limited_total{limit="widget"}' \
	"$(curl -sS "$url/metrics")"

# --- NUL characters and client ids: a clear 400, nothing stored
before=$(stored pn-web2)
r=$(post "$C" '{"text":"ab\u0000cd","client_message_id":"c2"}')
eq "text with \\u0000: 400" 400 "${r%% *}"
contains "  saying what is wrong" 'must not contain \\u0000' "$r"
printf '{"text":"ab\0cd","client_message_id":"c3"}' >"$TEST_TMP/nul.json"
r=$(post "$C" "@$TEST_TMP/nul.json")
eq "text with a raw NUL byte: 400" 400 "${r%% *}"
eq "  nothing stored" "$before" "$(stored pn-web2)"
eq "  not even a cut message" 0 "$(sql "$dsn" "SELECT count(*) FROM messages WHERE text = 'ab'")"
r=$(post "$C" '{"text":"a backslash then u0000: \\u0000 is text","client_message_id":"c4"}')
eq "an escaped backslash before u0000 is ordinary text" 202 "${r%% *}"
r=$(post "$C" '{"text":"hi","client_message_id":"has space"}')
eq "client_message_id with a space: 400" 400 "${r%% *}"
contains "  saying what is allowed" "visible ASCII characters (letters, digits and punctuation; no spaces)" "$r"
eq "  nothing stored" "$((before + 1))" "$(stored pn-web2)"

# --- behind a trusted proxy, each visitor has its own limit
eq "visitor A behind the proxy: 20 sessions" "$TWENTY" \
	"$(sessions 20 "$url" -H 'X-Forwarded-For: 198.51.100.1')"
eq "  then 429" 429 "$(session "$url" wgt_one -H 'X-Forwarded-For: 198.51.100.1')"
eq "visitor B behind the same proxy is not limited by A" 201 \
	"$(session "$url" wgt_one -H 'X-Forwarded-For: 198.51.100.2')"
eq "what A writes to the left of the proxy's entry does not free A" 429 \
	"$(session "$url" wgt_one -H 'X-Forwarded-For: 203.0.113.9, 198.51.100.1')"
eq "a chain of trusted proxies is walked (right-most untrusted is A)" 429 \
	"$(session "$url" wgt_one -H 'X-Forwarded-For: 198.51.100.1, 10.1.2.3')"
eq "several X-Forwarded-For headers are one list" 429 \
	"$(session "$url" wgt_one -H 'X-Forwarded-For: 203.0.113.9' -H 'X-Forwarded-For: 198.51.100.1:4711, 10.9.9.9')"
eq "a bracketed IPv6 visitor with a port is another visitor" 201 \
	"$(session "$url" wgt_one -H 'X-Forwarded-For: [2001:db8:5::1]:443')"

# --- an untrusted peer's X-Forwarded-For is ignored
conf2=$(new_config "$dsn")
conf_set "$conf2" webchat secret "$SECRET"
conf_set "$conf2" server trusted_proxies "10.0.0.0/8, ::1"
start_parley "$conf2" || { finish; exit 1; }
url2=$(parley_url "$conf2")
codes=""
for i in $(seq 1 20); do codes="$codes $(session "$url2" wgt_one -H "X-Forwarded-For: 198.51.100.$i")"; done
eq "an untrusted peer: 20 sessions whatever its header says" "$TWENTY" "$codes"
eq "  then 429 even with a new X-Forwarded-For" 429 \
	"$(session "$url2" wgt_one -H 'X-Forwarded-For: 198.51.100.77')"

# --- IPv6: parley on [::1], trusting ::1; clients in one /64 share a limit
port6=$(free_port)
conf6=$(new_config "$dsn")
sed -i "s/^listen = .*/listen = [::1]:$port6/" "$conf6"
conf_set "$conf6" webchat secret "$SECRET"
conf_set "$conf6" server trusted_proxies "::1"
start_parley "$conf6" || { finish; exit 1; }
url6="http://[::1]:$port6"
codes=""
for i in $(seq 1 20); do codes="$codes $(session "$url6" wgt_one -H "X-Forwarded-For: 2001:db8:1:2::$i")"; done
eq "IPv6 visitors of one /64: 20 sessions between them" "$TWENTY" "$codes"
eq "  then 429 for another address of that /64" 429 \
	"$(session "$url6" wgt_one -H 'X-Forwarded-For: 2001:db8:1:2:ffff:ffff:ffff:ffff')"
eq "  while another /64 is another visitor" 201 \
	"$(session "$url6" wgt_one -H 'X-Forwarded-For: 2001:db8:1:3::1')"
codes=""
for i in $(seq 1 20); do codes="$codes $(session "$url6" wgt_one -H 'X-Forwarded-For: ::ffff:198.51.100.200')"; done
eq "an IPv4-mapped visitor: 20 sessions" "$TWENTY" "$codes"
eq "  then 429 as its plain IPv4 address too" 429 \
	"$(session "$url6" wgt_one -H 'X-Forwarded-For: 198.51.100.200')"
# Directly connected over IPv6 (no header): ::1's own /64 has its own limit.
eq "a direct IPv6 client is served" 201 "$(session "$url6" wgt_one)"

finish
