#!/usr/bin/env bash
# Values wider than their columns (docs/protocol.md, Skipped events; issue
# #15): an id that does not fit skips its own event (logged with a prefix,
# counted), a name is cut at a character boundary, and the rest of the body is
# stored with a 200. Then the property over the whole corpus: every string of
# every file at lengths 0, 1, each column width and width + 1 and 10 000,
# batched with a normal message, is answered 200/400/413 (never 5xx) and the
# normal message is always stored. Webchat input of those lengths never gets a
# 5xx either.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf=$(new_config "$dsn")
conf_set "$conf" webchat secret test-webchat-secret-0123
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn" wgt_widths
psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<'SQL'
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no)
VALUES ('c-wa1', 'ag-wa', '31612345678', 1);
INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, platform_message_id)
VALUES ('OUT1', 'c-wa1', 'agent', 'out 1', 'sent', 1, 'wamid.OUT1');
INSERT INTO message_delivery_status (message_id, platform_message_id, status)
VALUES ('OUT1', 'wamid.OUT1', 'sent');
SQL
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")

# rep N [STRING]: STRING (default "1") repeated to N characters.
rep() { python3 -c 'import sys; n = int(sys.argv[1]); s = sys.argv[2]; print((s * n)[:n], end="")' "$1" "${2:-1}"; }
stored() { sql "$dsn" "SELECT count(*) FROM messages WHERE platform_message_id = '$1'"; }
WA_HEAD='{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},'
WA_TAIL='}}]}]}'
# wa_msg WAMID FROM [TEXT]: one messages[] item.
wa_msg() { printf '{"from":"%s","id":"%s","timestamp":"1764300000","type":"text","text":{"body":"%s"}}' "$2" "$1" "${3:-hello}"; }
IG_HEAD='{"object":"instagram","entry":['
# ig_entry ACCOUNT SENDER MID: one entry with one text message.
ig_entry() { printf '{"id":"%s","time":1764300000000,"messaging":[{"sender":{"id":"%s"},"recipient":{"id":"%s"},"timestamp":1764300000000,"message":{"mid":"%s","text":"hi"}}]}' "$1" "$2" "$1" "$3"; }
body="$TEST_TMP/widths.json"

# --- the columns the C code sizes values for are the schema's
header="$REPO_DIR/include/db/columns.h"
for pair in customer_phone:conversations.customer_phone customer_name:conversations.customer_name \
	platform_message_id:messages.platform_message_id reply_to:messages.reply_to \
	platform_message_id:message_delivery_status.platform_message_id \
	platform_message_id:pending_delivery_status.platform_message_id \
	meta_phone_number_id:phone_numbers.meta_phone_number_id kind:messages.kind \
	webhook_object:webhook_raw.object; do
	macro="COLUMN_$(echo "${pair%%:*}" | tr a-z A-Z)_WIDTH"
	col=${pair#*:}
	want=$(sql "$dsn" "SELECT character_maximum_length FROM information_schema.columns
	                   WHERE table_name = '${col%%.*}' AND column_name = '${col#*.}'")
	got=$(sed -nE "s/^#define $macro[[:space:]]+([0-9]+).*/\1/p" "$header")
	eq "$macro is the width of $col" "$want" "$got"
done

# --- the issue: a 200-character sender among normal messages
long_from=$(rep 200 3161234567)
long_name=$(rep 300 'é')
{
	printf '%s' "$WA_HEAD"
	printf '"contacts":[{"profile":{"name":"%s"},"wa_id":"31612345678"},{"profile":{"name":"Long"},"wa_id":"%s"}],' "$long_name" "$long_from"
	printf '"messages":[%s,%s,%s]' "$(wa_msg wamid.W1 31612345678 first)" "$(wa_msg wamid.LONGFROM "$long_from")" \
		"$(wa_msg wamid.W2 31612345678 second)"
	printf '%s' "$WA_TAIL"
} >"$body"
eq "a 200-character sender: 200" 200 "$(post_signed "$url" "$body")"
eq "the other messages of the body are stored" "1 1" "$(stored wamid.W1) $(stored wamid.W2)"
eq "the message of the 200-character sender is not" 0 "$(stored wamid.LONGFROM)"
eq "no conversation for a sender that does not fit" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone LIKE '3161234567316%'")"
eq "a 300-character name is cut to 255 characters, ending in …" "255 true" \
	"$(sql "$dsn" "SELECT char_length(customer_name) || ' ' || (customer_name = repeat('é', 254) || '…')::text
	                FROM conversations WHERE conversation_id = 'c-wa1'")"
contains "the skip is counted" 'parley_messages_skipped_total{reason="id_too_long"} 1' "$(curl -sS "$url/metrics")"
contains "the skip is logged with the id's first characters" "3161234567316123" "$(cat "$conf.log")"
eq "the log never holds the whole id" 0 "$(grep -c "$(rep 40 3161234567)" "$conf.log")"

# --- exactly the width fits, one more does not
{
	printf '%s' "$WA_HEAD"
	printf '"contacts":[{"profile":{"name":"%s"},"wa_id":"%s"},{"profile":{"name":"%s"},"wa_id":"%s"}],' \
		"$(rep 255 'N')" "$(rep 50 2)" "$(rep 256 '😀')" "$(rep 49 4)"
	printf '"messages":[%s,%s,%s,%s]' "$(wa_msg wamid.F50 "$(rep 50 2)")" "$(wa_msg wamid.F51 "$(rep 51 2)")" \
		"$(wa_msg "$(rep 512 W)" "$(rep 49 4)")" "$(wa_msg "$(rep 513 W)" "$(rep 49 4)")"
	printf '%s' "$WA_TAIL"
} >"$body"
eq "ids at and over their widths: 200" 200 "$(post_signed "$url" "$body")"
eq "a 50-character sender is stored, a 51-character one is not" "1 0" "$(stored wamid.F50) $(stored wamid.F51)"
eq "a 512-character message id is stored, a 513-character one is not" "1 0" \
	"$(stored "$(rep 512 W)") $(stored "$(rep 513 W)")"
eq "a 255-character name is kept whole" "$(rep 255 N)" \
	"$(sql "$dsn" "SELECT customer_name FROM conversations WHERE customer_phone = '$(rep 50 2)'")"
eq "a name of 256 four-byte characters is cut to 255" "255 $(rep 254 '😀')…" \
	"$(sql "$dsn" "SELECT char_length(customer_name) || ' ' || customer_name FROM conversations WHERE customer_phone = '$(rep 49 4)'")"

# --- statuses: one whose id does not fit is skipped, the others apply
{
	printf '%s' "$WA_HEAD"
	printf '"statuses":[{"id":"%s","status":"delivered","timestamp":"1764300100","recipient_id":"31612345678"},' "$(rep 10000 S)"
	printf '{"id":"%s","status":"delivered","timestamp":"1764300100","recipient_id":"31612345678"},' "$(rep 512 S)"
	printf '{"id":"wamid.OUT1","status":"read","timestamp":"1764300100","recipient_id":"%s"}]' "$(rep 10000 9)"
	printf '%s' "$WA_TAIL"
} >"$body"
eq "statuses with oversized ids: 200" 200 "$(post_signed "$url" "$body")"
eq "the status that fits is applied" read "$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = 'OUT1'")"
eq "a 512-character status id waits for its message; a longer one is dropped" 512 \
	"$(sql "$dsn" "SELECT string_agg(char_length(platform_message_id)::text, ',') FROM pending_delivery_status")"

# --- Instagram: account, customer and message ids
{
	printf '%s' "$IG_HEAD"
	printf '%s,' "$(ig_entry "$(rep 101 1)" 5551234567890001 mid.ACC101)"
	printf '%s,' "$(ig_entry 17841400000000001 "$(rep 51 5)" mid.CUST51)"
	printf '%s,' "$(ig_entry 17841400000000001 "$(rep 50 5)" mid.CUST50)"
	printf '%s,' "$(ig_entry 17841400000000001 5551234567890001 "$(rep 513 M)")"
	printf '%s' "$(ig_entry 17841400000000001 5551234567890001 "$(rep 512 M)")"
	printf ']}'
} >"$body"
eq "Instagram ids at and over their widths: 200" 200 "$(post_signed "$url" "$body")"
eq "Instagram: ids that fit are stored, the others are not" "0 0 1 0 1" \
	"$(stored mid.ACC101) $(stored mid.CUST51) $(stored mid.CUST50) $(stored "$(rep 513 M)") $(stored "$(rep 512 M)")"
contains "all the skips are counted" 'parley_messages_skipped_total{reason="id_too_long"} 7' "$(curl -sS "$url/metrics")"

# --- the property, over every kind of message in the corpus
variants="$TEST_TMP/variants.$$"
mkdir -p "$variants"
python3 "$REPO_DIR/tests/lib/field_variants.py" "$REPO_DIR/tests/corpus" "$variants" >"$variants/manifest" \
	|| echo "field_variants.py failed" >&2
n_bodies=0
while IFS=$'\t' read -r name label normal; do
	code=$(post_signed "$url" "$variants/$name.json")
	n_bodies=$((n_bodies + 1))
	case "$code" in
	200 | 400 | 413) ;;
	*) _t_report fail "$label: answered $code"; continue ;;
	esac
	if [ "$normal" = - ]; then
		_t_report ok "$label: $code"
	else
		eq "$label: $code, the normal message stored" "200 1" "$code $(stored "$normal")"
	fi
done <"$variants/manifest"
[ "$n_bodies" -gt 100 ] && _t_report ok "$n_bodies bodies tried" || _t_report fail "only $n_bodies bodies tried"
eq "parley is still running" 0 "$(kill -0 "$pid" 2>&1 >/dev/null; echo $?)"
eq "no statement failed on a value too long" 0 "$(grep -c -i 'too long for type' "$conf.log")"

# --- webchat: never a 5xx for input of these lengths (messages over the
# limits are refused before they count against the session's rate limit)
wreq() {
	local args=(-sS -o "$TEST_TMP/wbody" -w '%{http_code}' -X POST -H 'Content-Type: application/json')
	[ -n "$2" ] && args+=(-H "Authorization: Bearer $2")
	curl "${args[@]}" --data-binary "@$1" "$url$3"
}
for n in 0 1 100 101 10000; do
	printf '{"widget_id":"%s"}' "$(rep "$n" w)" >"$body"
	code=$(wreq "$body" "" /webchat/v1/sessions)
	case "$code" in 400 | 404) _t_report ok "webchat: a widget id of $n characters: $code" ;;
	*) _t_report fail "webchat: a widget id of $n characters: $code" ;; esac
done
i=0
for n in 0 1 100 101 4096 4097 10000; do
	# A session per length keeps every one within the per-session limits.
	printf '{"widget_id":"wgt_widths"}' >"$body"
	code=$(wreq "$body" "" /webchat/v1/sessions)
	token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("token", ""))' "$TEST_TMP/wbody")
	eq "webchat: a session for length $n" 201 "$code"
	for a in x 'é😀'; do
		i=$((i + 1))
		printf '{"text":"%s","client_message_id":"t%d"}' "$(rep "$n" "$a")" "$i" >"$body"
		want=202
		{ [ "$n" = 0 ] || [ "$n" -gt 4096 ]; } && want=400
		eq "webchat: a text of $n characters ($a)" "$want" "$(wreq "$body" "$token" /webchat/v1/messages)"
		printf '{"text":"hi","client_message_id":"%s"}' "$(rep "$n" "$a")" >"$body"
		want=400
		[ "$a" = x ] && [ "$n" -ge 1 ] && [ "$n" -le 100 ] && want=202
		eq "webchat: a client_message_id of $n characters ($a)" "$want" "$(wreq "$body" "$token" /webchat/v1/messages)"
	done
done

stop_parley "$pid"
rm -rf "$variants"
finish
