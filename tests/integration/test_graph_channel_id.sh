#!/usr/bin/env bash
# A channel whose meta_phone_number_id is not Meta's numeric id (a row
# written by hand, not through `parley channel add`) never becomes part of
# a Graph URL: the reply fails for good with a clear reason, and nothing,
# least of all the channel's access token, goes to another Graph path.
. "$(dirname "$0")/../lib/testlib.sh"

start_standin fake_openai || { finish; exit 1; }
OPENAI=$STANDIN_URL
start_standin fake_graph || { finish; exit 1; }
GRAPH=$STANDIN_URL

dsn=$(new_db)
conf=$(new_config "$dsn")
conf_set "$conf" meta whatsapp_url "$GRAPH/v24.0"
conf_set "$conf" meta instagram_url "$GRAPH/v24.0"
conf_set "$conf" openai url "$OPENAI/v1"
conf_set "$conf" openai timeout_seconds 5
conf_set "$conf" replies debounce_ms 200
conf_set "$conf" replies max_attempts 3
conf_set "$conf" extraction enabled false
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"

# Stored while no replies are produced (no OpenAI key) ...
start_parley "$conf" || { finish; exit 1; }
url=$(parley_url "$conf")
wa_text "wamid.CH1" 31612345678 "Hello" >"$TEST_TMP/m.json"
eq "the message is accepted" 200 "$(post_signed "$url" "$TEST_TMP/m.json")"
ok "and stored" wait_for "$dsn" "SELECT count(*) FROM messages WHERE sender = 'user'" 1
stop_parley "$PARLEY_PID"
eq "parley stops" 0 "$?"

# ... then the channel's id is broken by hand and replies are turned on.
sql "$dsn" "UPDATE phone_numbers SET meta_phone_number_id = '106540352242922/../../me?x=' WHERE id = 'pn-wa'"
conf_set "$conf" openai api_key sk-test
start_parley "$conf" || { finish; exit 1; }
ok "the reply fails" wait_for "$dsn" \
	"SELECT d.status FROM messages m JOIN message_delivery_status d USING (message_id) WHERE m.sender = 'agent'" failed
eq "  for good, saying why" "channel id is not numeric: not sent" \
	"$(sql "$dsn" "SELECT d.error_message FROM messages m JOIN message_delivery_status d USING (message_id) WHERE m.sender = 'agent'")"
eq "  with nothing sent to Graph" 0 "$(curl -sS "$GRAPH/_requests" | jq 'length')"
contains "  and a clear log line" "meta_phone_number_id is not Meta's numeric id" "$(cat "$conf.log")"
contains "  counted" 'parley_send_failures_total{code="invalid_channel_id"} 1' "$(curl -sS "$url/metrics")"

finish
