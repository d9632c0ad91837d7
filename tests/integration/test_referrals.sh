#!/usr/bin/env bash
# Ad referrals (issue #15, docs/protocol.md) end to end: a Click-to-WhatsApp
# ad's message is stored with the customer's text exactly as sent and the ad in
# messages.referral; `parley conversation show` shows it; the agent gets it as
# a separate input item (not in the customer's words) for that turn only; lead
# extraction gets it beside the message. Instagram's referral event and
# in-message ads_context_data likewise.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

export PARLEY_TEST_LEASE_SECONDS=2

reply_standins || { finish; exit 1; }

dsn=$(new_db)
conf=$(lead_config "$dsn" 1 0)
reply_migrate "$conf" "$dsn"
reply_start "$conf" || { finish; exit 1; }

post() { # BODY: posts it signed, prints the status
	printf '%s' "$1" >"$TEST_TMP/body.json"
	post_signed "$url" "$TEST_TMP/body.json"
}
# The reply (not extraction) requests the stand-in received for the turn
# whose last user item is TEXT.
reply_request() {
	curl -sS "$OPENAI/_requests" | jq -c --arg t "$1" '[.[] | select(.path == "/v1/responses"
		and (.body.text.format.type // "") != "json_schema"
		and ([.body.input[] | select(.role == "user")] | last | .content) == $t)] | last'
}
extraction_request() {
	curl -sS "$OPENAI/_requests" | jq -c --arg t "$1" '[.[] | select(.path == "/v1/responses"
		and .body.text.format.type == "json_schema"
		and any(.body.input[]; .content == $t))] | last'
}
wait_request() { # FUNCTION TEXT: waits up to 15 s for a request
	local i got
	for i in $(seq 1 300); do
		got=$("$1" "$2")
		[ -n "$got" ] && [ "$got" != null ] && { echo "$got"; return 0; }
		sleep 0.05
	done
	echo null
}

# ---- WhatsApp: a Click-to-WhatsApp ad ------------------------------------
TEXT='Is this offer still valid? 50% "off" \ ok'
TEXT_JSON='Is this offer still valid? 50% \"off\" \\ ok'
REF='{"source_url":"https://fb.me/2parleyAd","source_id":"120000000000000001","source_type":"ad","body":"Jackets 30% off","headline":"Winter sale","media_type":"image","image_url":"https://scontent.example/ad.jpg","ctwa_clid":"ARAkLkA8rmlFeiCk","welcome_message":{"text":"Hi there!"}}'
ctwa=$(wa_text wamid.REF1 31612345678 "$TEXT_JSON" | jq -c --argjson r "$REF" '.entry[0].changes[0].value.messages[0].referral = $r')
eq "CTWA message: 200" 200 "$(post "$ctwa")"
eq "text stored exactly as sent" "$TEXT" \
	"$(sql "$dsn" "SELECT text FROM messages WHERE platform_message_id = 'wamid.REF1'")"
eq "referral stored beside it" \
	'ad|120000000000000001|https://fb.me/2parleyAd|Winter sale|Jackets 30% off|image|ARAkLkA8rmlFeiCk|Hi there!' \
	"$(sql "$dsn" "SELECT concat_ws('|', referral->>'source_type', referral->>'source_id', referral->>'source_url',
	               referral->>'headline', referral->>'body', referral->>'media_type', referral->>'ctwa_clid',
	               referral->>'welcome_message') FROM messages WHERE platform_message_id = 'wamid.REF1'")"
# (The stand-in's reply echoes its input, the ad context included: customer rows only.)
eq "nothing of the ad in the customer's text" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'user' AND (text LIKE '%via ad%' OR text LIKE '%Winter sale%')")"
conv=$(sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '31612345678'")

req=$(wait_request reply_request "$TEXT")
eq "reply request: the customer's message as sent" "$TEXT" \
	"$(jq -r '[.body.input[] | select(.role == "user")] | .[0].content' <<<"$req")"
eq "reply request: one developer item, before the customer's message" "developer,user" \
	"$(jq -r '[.body.input[] | .role] | join(",")' <<<"$req")"
dev=$(jq -r '.body.input[0].content' <<<"$req")
contains "developer item names the ad" 'ad 120000000000000001: "Winter sale" — Jackets 30% off, https://fb.me/2parleyAd' "$dev"
contains "developer item says it is not the customer's words" "not written by the customer" "$dev"
ok "the reply was sent" wait_for "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$conv' AND sender = 'agent' AND status = 'sent'" 1

# The next turn has no ad: no developer item.
eq "second message: 200" 200 "$(post "$(wa_text wamid.REF2 31612345678 'And in blue?')")"
req=$(wait_request reply_request 'And in blue?')
eq "next turn: only the customer's message" "user" "$(jq -r '[.body.input[] | .role] | join(",")' <<<"$req")"

# The transcript shows it: text as sent, the ad on its own line, the object in --json.
out=$("$PARLEY_BIN" conversation show "$conv" -c "$conf")
contains "conversation show: the text as sent" "$TEXT" "$out"
contains "conversation show: the ad next to its message" \
	'seq 1  ad 120000000000000001: "Winter sale" — Jackets 30% off, https://fb.me/2parleyAd' "$out"
json=$("$PARLEY_BIN" conversation show "$conv" --json -c "$conf")
eq "conversation show --json: text" "$TEXT" "$(jq -r '.transcript[0].text' <<<"$json")"
eq "conversation show --json: referral object" "Winter sale|ARAkLkA8rmlFeiCk" \
	"$(jq -r '.transcript[0].referral | "\(.headline)|\(.ctwa_clid)"' <<<"$json")"
eq "conversation show --json: null without one" null "$(jq -c '.transcript[1].referral' <<<"$json")"

# Lead extraction sees where the lead came from, beside the message.
req=$(wait_request extraction_request "$TEXT")
roles=$(jq -r '[.body.input[] | .role] | join(",")' <<<"$req")
contains "extraction: a developer item before the ad's message" "developer,user" "$roles"
contains "extraction: it names the ad" '"Winter sale"' \
	"$(jq -r '[.body.input[] | select(.role == "developer")] | .[0].content' <<<"$req")"
eq "extraction: the customer's text as sent" "$TEXT" \
	"$(jq -r '[.body.input[] | select(.role == "user")] | .[0].content' <<<"$req")"

# ---- Instagram: the referral event, then a message with ads_context_data --
IGC=5551234567890009
igref='{"object":"instagram","entry":[{"id":"17841400000000001","time":1764300000000,"messaging":[{"sender":{"id":"'$IGC'"},"recipient":{"id":"17841400000000001"},"timestamp":1764300000000,"referral":{"ref":"summer-promo","source":"SHORTLINK","type":"OPEN_THREAD"}}]}]}'
eq "IG referral event: 200" 200 "$(post "$igref")"
igmsg=$(ig_text mid.IGREF1 "$IGC" 'Price?' | jq -c '.entry[0].messaging[0].message.referral =
	{"ref":"r1","ad_id":"777","source":"ADS","type":"OPEN_THREAD","ads_context_data":{"ad_title":"Spring sale","photo_url":"https://x.example/p.jpg"}}')
eq "IG ad message: 200" 200 "$(post "$igmsg")"
eq "IG: texts as sent, referrals beside them" \
	'referral|[referral] summer-promo|SHORTLINK|summer-promo||
text|Price?|ADS|r1|777|Spring sale' \
	"$(sql "$dsn" "SELECT concat_ws('|', m.kind, m.text, referral->>'source_type', referral->>'ref',
	               coalesce(referral->>'source_id', ''), coalesce(referral->>'title', ''))
	               FROM messages m JOIN conversations c USING (conversation_id)
	               WHERE c.customer_phone = '$IGC' AND m.sender = 'user' ORDER BY m.sequence_no")"
req=$(wait_request reply_request 'Price?')
eq "IG reply request: developer item, then the customer" "developer,user" \
	"$(jq -r '[.body.input[] | .role] | join(",")' <<<"$req")"
dev=$(jq -r '.body.input[0].content' <<<"$req")
contains "IG: the link the customer opened" 'referral from SHORTLINK: ref summer-promo' "$dev"
contains "IG: the ad of the message" 'ad 777: "Spring sale" — ref r1' "$dev"

# ---- bad input --------------------------------------------------------------
bad=$(wa_text wamid.REF3 31687654321 'Hello' | jq -c '.entry[0].changes[0].value.messages[0].referral = "ad"')
eq "referral of the wrong type: 200" 200 "$(post "$bad")"
eq "referral of the wrong type: message stored, no referral" "Hello|true" \
	"$(sql "$dsn" "SELECT text || '|' || (referral IS NULL) FROM messages WHERE platform_message_id = 'wamid.REF3'")"
out=$(sql "$dsn" "UPDATE messages SET referral = '\"ad\"' WHERE platform_message_id = 'wamid.REF3'" 2>&1)
contains "only an object is a referral (constraint)" 'messages_referral_object' "$out"

stop_parley "$pid"
eq "parley stops cleanly" 0 $?
finish
