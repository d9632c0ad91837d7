#!/usr/bin/env bash
# Every file of tests/corpus replayed with `parley replay` into a real parley:
# each answered 200, and the rows are what tests/corpus/README.md says.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"
# The agent messages that statuses, reactions and replies in the corpus refer to.
psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<'SQL'
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no)
VALUES ('c-wa1', 'ag-wa', '31612345678', 2), ('c-wa2', 'ag-wa', '31687654321', 1),
       ('c-ig1', 'ag-ig', '5551234567890001', 2);
INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, platform_message_id) VALUES
 ('OUT1', 'c-wa1', 'agent', 'out 1', 'sent', 1, 'wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJBQzAwMDAwMDAwMDAwMDAwQTEA'),
 ('OUT2', 'c-wa1', 'agent', 'out 2', 'sent', 2, 'wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJBQzAwMDAwMDAwMDAwMDAwQTIA'),
 ('OUT3', 'c-wa2', 'agent', 'out 3', 'sent', 1, 'wamid.HBgLMzE2ODc2NTQzMjEVAgARGBJBQzAwMDAwMDAwMDAwMDAwQjEA'),
 ('OUT_IG1', 'c-ig1', 'agent', 'out ig 1', 'sent', 1, 'aWdfaXRlbToxOklHTWVzc2FnZToxNzg0MTQwMDAwMDAwMDAwMTozNDAyODIzNjY4NDE3MTAzMDEyNDQyNTk5OTk5OjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDE2MQ'),
 ('OUT_IG2', 'c-ig1', 'agent', 'out ig 2', 'sent', 2, 'aWdfaXRlbToxOklHTWVzc2FnZToxNzg0MTQwMDAwMDAwMDAwMTozNDAyODIzNjY4NDE3MTAzMDEyNDQyNTk5OTk5OjAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDE2Mg');
INSERT INTO message_delivery_status (message_id, platform_message_id, status)
SELECT message_id, platform_message_id, 'sent' FROM messages;
CREATE TABLE seen (message_id text PRIMARY KEY);
INSERT INTO seen SELECT message_id FROM messages;
SQL
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID

# file | texts stored by this file, by customer then sequence ("" = none) | triggers_reply of each
expect() {
	local file=$1 want_text=$2 want_reply=$3 out got_text got_reply
	out=$("$PARLEY_BIN" replay -c "$conf" "$REPO_DIR/tests/corpus/$file" 2>&1)
	# replay's line: status, file, then what parley reported of it.
	eq "$file: 200" "200 $REPO_DIR/tests/corpus/$file" "$(printf '%s\n' "$out" | head -1 | sed 's/: .*//')"
	got_text=$(sql "$dsn" "SELECT coalesce(string_agg(m.text, '|' ORDER BY c.customer_phone, m.sequence_no), '')
	                       FROM messages m JOIN conversations c USING (conversation_id)
	                       WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.message_id = m.message_id)")
	got_reply=$(sql "$dsn" "SELECT coalesce(string_agg(m.triggers_reply::text, '|' ORDER BY c.customer_phone, m.sequence_no), '')
	                        FROM messages m JOIN conversations c USING (conversation_id)
	                        WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.message_id = m.message_id)")
	sql "$dsn" "INSERT INTO seen SELECT message_id FROM messages ON CONFLICT DO NOTHING" >/dev/null
	eq "$file: stored text" "$want_text" "$got_text"
	eq "$file: asks for a reply" "$want_reply" "$got_reply"
}

expect whatsapp/01-text.json 'Hi! Do you have the blue jacket in size M?' true
expect whatsapp/02-image.json '[image] Is this the one?' true
expect whatsapp/03-video.json '[video] How it fits' true
expect whatsapp/04-audio.json '[audio]' true
expect whatsapp/05-voice.json '[voice]' true
expect whatsapp/06-document.json '[document] invoice-2026-001.pdf — My invoice' true
expect whatsapp/07-sticker.json '[sticker]' true
expect whatsapp/08-location.json '[location] 52.3791,4.9003 Amsterdam Centraal, Stationsplein, 1012 AB Amsterdam' true
expect whatsapp/09-contacts.json '[contacts] Bram Jansen +31 6 8765 4321' true
expect whatsapp/10-interactive-button-reply.json 'Yes, book it' true
expect whatsapp/11-interactive-list-reply.json 'Saturday 10:00' true
expect whatsapp/12-interactive-flow-reply.json '[form] name: Anna de Vries, guests: 2, date: 2026-01-10' true
expect whatsapp/13-button-template-reply.json 'Talk to sales' true
expect whatsapp/14-reaction.json '[reaction] 👍' false
expect whatsapp/15-reaction-removed.json '[reaction removed]' false
expect whatsapp/16-order.json '[order] 3 items: 2 x JACKET-BLUE-M, 1 x SCARF-GREY — Gift wrap please' true
expect whatsapp/17-referral-ad.json 'Is this offer still valid?' true
eq "whatsapp/17: the ad beside the text (messages.referral)" \
	'ad|120000000000000001|https://fb.me/2parleyAd|Winter sale|Jackets 30% off|image|Hi there! How can we help?' \
	"$(sql "$dsn" "SELECT concat_ws('|', referral->>'source_type', referral->>'source_id', referral->>'source_url',
	               referral->>'headline', referral->>'body', referral->>'media_type', referral->>'welcome_message')
	               FROM messages WHERE text = 'Is this offer still valid?'")"
expect whatsapp/18-system-number-change.json '[system] User Anna de Vries changed from 31612345678 to 31611112222' false
expect whatsapp/19-edit.json '[edited] Hi! Do you have the blue jacket in size L?' false
expect whatsapp/20-revoke.json '[message deleted]' false
expect whatsapp/21-unsupported.json '[unsupported]' true
expect whatsapp/22-unknown-type.json '[unknown type: hologram]' true
expect whatsapp/23-reply-context.json 'Yes, that one please' true
eq "reply context kept" 'wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJBQzAwMDAwMDAwMDAwMDAwQTEA' \
	"$(sql "$dsn" "SELECT reply_to FROM messages WHERE text = 'Yes, that one please'")"
expect whatsapp/24-batch.json 'Batch one from Anna|[image] Batch three, a photo|Batch two from Bram|Batch four from Bram' 'true|true|true|true'
expect whatsapp/25-duplicate-first.json 'Are you open on Sunday?' true
expect whatsapp/26-duplicate-again.json '' ''
expect whatsapp/27-duplicate-in-batch.json 'Sent twice in one body' true
expect whatsapp/28-status-read.json '' ''
expect whatsapp/29-status-delivered.json '' ''
expect whatsapp/30-status-sent.json '' ''
eq "OUT1: statuses out of order leave read" read "$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = 'OUT1'")"
expect whatsapp/31-status-failed-131047.json '' ''
contains "OUT2: failed with 131047 and its title" "131047" "$(sql "$dsn" "SELECT status || ' ' || error_message FROM message_delivery_status WHERE message_id = 'OUT2'")"
contains "OUT2: failed" "failed" "$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = 'OUT2'")"
expect whatsapp/32-status-unknown-id.json '' ''
expect whatsapp/33-status-played.json '' ''
eq "OUT3: delivered (batch) then played → read" read "$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = 'OUT3'")"
expect whatsapp/34-value-errors.json '' ''
expect whatsapp/35-non-message-field.json '' ''
expect whatsapp/36-unknown-channel.json '' ''
expect whatsapp/37-bsuid-sender.json 'Hi, writing from my username account' true
eq "username-era sender is the customer" 1 "$(sql "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = 'US.10000000000000000001'")"
expect whatsapp/38-malformed-mixed.json 'The valid one in a messy batch' true
expect whatsapp/39-text-unicode.json 'Café 😀 — see https://example.com/jackets?size=M&colour=blue or mail anna@example.com' true
expect whatsapp/40-request-welcome.json '[chat opened]' true

expect instagram/01-text.json 'Hi, do you ship to Lisbon?' true
expect instagram/02-image.json '[image]' true
expect whatsapp/41-smb-echo.json 'Hi Anna, Mark here from the shop — the blue jacket is back in M.' false
eq "whatsapp/41: an agent message written by a person" "agent human" \
	"$(sql "$dsn" "SELECT sender || ' ' || author FROM messages WHERE platform_message_id = 'wamid.HBgLMzE2MTIzNDU2NzgVAgARGBJFQ0hPMDAwMDAwMDAwMDAwMDEA'")"
eq "whatsapp/41: the AI is paused" t \
	"$(sql "$dsn" "SELECT ai_paused_until > now() FROM conversations WHERE conversation_id = 'c-wa1'")"
expect instagram/03-video.json '[video]' true
expect instagram/04-audio.json '[audio]' true
expect instagram/05-file.json '[file]' true
expect instagram/06-share.json '[share] Is this in stock?' true
expect instagram/07-reel.json '[reel] Spring collection' true
expect instagram/08-story-mention.json '[story mention]' true
expect instagram/09-story-reply.json '[story reply] Love this colour!' true
expect instagram/10-reply-to.json 'Yes, that one' true
expect instagram/11-reaction.json '[reaction] ❤️' false
expect instagram/12-unreact.json '[reaction removed]' false
expect instagram/13-postback.json 'Talk to a human' true
expect instagram/14-read.json '' ''
eq "OUT_IG1: read" read "$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = 'OUT_IG1'")"
expect instagram/15-echo.json '' ''
expect instagram/16-unsend.json '[message deleted]' false
expect instagram/17-unsupported.json '[unsupported]' true
expect instagram/18-like-heart.json '[like]' false
expect instagram/19-changes-form.json 'Test message from the dashboard' true
expect instagram/20-batch.json 'Batch one from customer 1|Batch two from customer 2|Batch three from customer 2' 'true|true|true'
eq "OUT_IG2: read in a batch" read "$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = 'OUT_IG2'")"
expect instagram/21-duplicate-first.json 'Do you have gift cards?' true
expect instagram/22-duplicate-again.json '' ''
expect instagram/23-message-edit.json '[edited] Hi, do you ship to Porto?' false
expect instagram/24-unknown-account.json '' ''
expect instagram/25-comments-field.json '' ''
expect instagram/26-text-unicode.json 'Obrigado! 🙏 Até amanhã — https://example.com/a/b' true
expect instagram/27-referral-event.json '[referral] winter-promo' false
expect instagram/28-ad-referral.json 'Is the scarf still 20% off?' true
expect instagram/29-person-echo.json 'Hola! Sofia aqui, da loja. Enviamos hoje.' false
eq "instagram/29: an agent message written by a person" "agent human" \
	"$(sql "$dsn" "SELECT sender || ' ' || author FROM messages WHERE text LIKE 'Hola! Sofia%'")"
eq "instagram/27-28: referrals beside the texts" \
	'SHORTLINK|winter-promo||
ADS|ad-scarf|120000000000000027|Scarves — 20% off' \
	"$(sql "$dsn" "SELECT concat_ws('|', referral->>'source_type', referral->>'ref',
	               coalesce(referral->>'source_id', ''), coalesce(referral->>'title', ''))
	               FROM messages WHERE referral IS NOT NULL AND kind IN ('referral', 'text')
	               AND referral->>'source_type' <> 'ad' ORDER BY sequence_no")"
eq "only the corpus's three messages have a referral" 3 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE referral IS NOT NULL")"

eq "Instagram ids stored whole (longest platform id)" t \
	"$(sql "$dsn" "SELECT max(length(platform_message_id)) > 100 FROM messages")"
eq "every sequence contiguous in every conversation" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM (SELECT conversation_id, count(*) n, max(sequence_no) mx, min(sequence_no) mn
	               FROM messages GROUP BY conversation_id) x WHERE n <> mx OR mn <> 1")"
eq "every corpus body kept raw" "$(find "$REPO_DIR/tests/corpus" -name '*.json' | wc -l)" \
	"$(sql "$dsn" "SELECT count(*) FROM webhook_raw")"

stop_parley "$pid"
eq "parley stops cleanly" 0 $?
finish
