#!/usr/bin/env bash
# The reply path's batch functions (sql/functions/replies.sql) with batches
# that mix their set-based common case and the per-conversation path:
# parley_claim_replies with conversations to charge, paused, out of their
# window and of a tenant with too few credits for all of its conversations
# in the claim; parley_store_replies with a conversation twice in one batch
# and run twice; parley_finish_sent_replies with a platform id another
# message holds, a status that came before the send was recorded, and a
# customer message that arrived while the reply was produced. Called
# directly, as parley calls them: no parley serve.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"
psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<'SQL'
INSERT INTO users (user_id, email, company_name) VALUES ('bolt', 'ops@bolt.test', 'Bolt');
INSERT INTO credits (user_id, remaining_credits) VALUES ('bolt', 2);
INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
VALUES ('pn-bolt', 'bolt', 'whatsapp', '106540352240000', 'bolt-token', 'Bolt WhatsApp');
INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
VALUES ('ag-bolt', 'bolt', 'pn-bolt', 'pmpt_bolt', 'Bolt agent');
-- acme: a1 and a2 to answer, a3 paused, a4 out of its 24-hour window.
-- bolt: b1, b2 and b3 to answer with credits for two.
INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_sequence_no, reply_due_at,
                           ai_paused_until, window_expires_at)
VALUES ('a1', 'ag-wa', '31600000001', 1, now(), NULL, now() + interval '1 day'),
       ('a2', 'ag-wa', '31600000002', 1, now(), NULL, NULL),
       ('a3', 'ag-wa', '31600000003', 1, now(), 'infinity', NULL),
       ('a4', 'ag-wa', '31600000004', 1, now(), NULL, now() - interval '1 hour'),
       ('b1', 'ag-bolt', '31600000011', 1, now(), NULL, NULL),
       ('b2', 'ag-bolt', '31600000012', 1, now(), NULL, NULL),
       ('b3', 'ag-bolt', '31600000013', 1, now(), NULL, NULL);
INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, triggers_reply,
                      platform_message_id, referral)
SELECT 'm' || c, c, 'user', 'Question ' || c, 'sent', 1, true, 'wamid.IN-' || c,
       CASE WHEN c = 'a1' THEN '{"source_id": "ad-1"}'::jsonb END
  FROM unnest(ARRAY['a1', 'a2', 'a3', 'a4', 'b1', 'b2', 'b3']) c;
SQL

# ---- claim -----------------------------------------------------------------
jobs=$(sql "$dsn" "SELECT parley_claim_replies('p1', 10, 30, 1)")
job() { printf '%s\n' "$jobs" | jq -c --arg c "$1" 'select(.conversation_id == $c)'; }
eq "claim: every due conversation is claimed" 7 "$(printf '%s\n' "$jobs" | grep -c .)"
eq "claim: a1 and a2 charged" "true true" "$(job a1 | jq -r .charged) $(job a2 | jq -r .charged)"
eq "claim: a3 skipped, paused" "paused false" "$(job a3 | jq -r '"\(.skipped) \(.charged)"')"
eq "claim: a4 skipped, window closed" "window_closed false" "$(job a4 | jq -r '"\(.skipped) \(.charged)"')"
eq "claim: two of bolt's three charged, one refused" "2 1" \
	"$(printf '%s\n' "$jobs" | jq -s -r '[.[] | select(.user_id == "bolt")] | "\([.[] | select(.charged)] | length) \([.[] | select(.no_credits)] | length)"')"
eq "claim: credits taken once per charged reply" "acme 98 2|bolt 0 2" \
	"$(sql "$dsn" "SELECT string_agg(user_id || ' ' || remaining_credits || ' ' || total_used, '|' ORDER BY user_id) FROM credits")"
eq "claim: the charged conversations carry the charge" "a1,a2|2" \
	"$(sql "$dsn" "SELECT string_agg(conversation_id, ',' ORDER BY conversation_id) FILTER (WHERE agent_id = 'ag-wa'),
	                      count(*) FILTER (WHERE agent_id = 'ag-bolt')
	                 FROM conversations WHERE reply_charged")"
eq "claim: a1's job carries its input, ad and read receipt id" \
	'[{"seq":1,"text":"Question a1"}] 1 [{"source_id":"ad-1"}] [] wamid.IN-a1 whatsapp 106540352242922 wa-token pmpt_wa acme' \
	"$(job a1 | jq -r '"\(.inputs | tojson) \(.through) \(.referrals | tojson) \(.unsent | tojson) \(.read_id) \(.platform) \(.channel) \(.access_token) \(.prompt_id) \(.user_id)"')"
eq "claim: a charged job and a skipped one have the same fields" \
	"$(job a3 | jq -c 'keys')" "$(job a1 | jq -c 'keys')"
contains "claim: each job has a reply token" '-' "$(job a2 | jq -r .reply_token)"
eq "claim: the refused conversation is released, its message handled" "1|0" \
	"$(sql "$dsn" "SELECT count(*), count(reply_lease_owner) FROM conversations c
	               WHERE agent_id = 'ag-bolt' AND NOT reply_charged AND replied_through_seq = 1")"

# ---- store -----------------------------------------------------------------
tok1=$(job a1 | jq -r .reply_token)
tok2=$(job a2 | jq -r .reply_token)
store="SELECT parley_store_replies('p1', 1, ARRAY['a1', 'a2', 'a1'], ARRAY[1, 1, 1],
                                   ARRAY['[\"one\", \"two\"]', '[\"for a2\"]', '[\"again\"]']::jsonb[],
                                   ARRAY['$tok1', '$tok2', 'tok-second'], ARRAY[false, false, false])"
stored=$(sql "$dsn" "$store")
eq "store: one row per element, in order" "[2,3] [2] [4]" \
	"$(printf '%s\n' "$stored" | jq -r '[.[].seq] | tojson' | paste -sd' ')"
eq "store: a1's parts follow its messages, twice in one batch" "one:2 two:3 again:4" \
	"$(sql "$dsn" "SELECT string_agg(text || ':' || sequence_no, ' ' ORDER BY sequence_no) FROM messages
	               WHERE conversation_id = 'a1' AND sender = 'agent'")"
eq "store: the first part of each reply is marked as being sent" "a1:2 a1:4 a2:2" \
	"$(sql "$dsn" "SELECT string_agg(conversation_id || ':' || sequence_no, ' ' ORDER BY conversation_id, sequence_no)
	               FROM messages WHERE sender = 'agent' AND send_started_at IS NOT NULL")"
eq "store: counters and what the replies cover" "a1 4 1|a2 2 1" \
	"$(sql "$dsn" "SELECT string_agg(conversation_id || ' ' || last_sequence_no || ' ' || replied_through_seq, '|' ORDER BY conversation_id)
	               FROM conversations WHERE conversation_id IN ('a1', 'a2')")"
eq "store: a delivery row per part, pending" "4|4" \
	"$(sql "$dsn" "SELECT count(*), count(*) FILTER (WHERE d.status = 'pending') FROM messages m
	               JOIN message_delivery_status d USING (message_id) WHERE m.sender = 'agent'")"
again=$(sql "$dsn" "$store")
eq "store: run again, the same rows come back" "$stored" "$again"
eq "store: run again, nothing is stored twice" 4 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent'")"
eq "store: a claim that is not ours stores nothing" "" \
	"$(sql "$dsn" "SELECT parley_store_replies('p2', 1, ARRAY['a2'], ARRAY[1], ARRAY['[\"x\"]']::jsonb[],
	                                          ARRAY['tok-p2'], ARRAY[false])")"

# ---- finish ----------------------------------------------------------------
b=$(sql "$dsn" "SELECT string_agg(conversation_id, ' ' ORDER BY conversation_id) FROM conversations
                WHERE agent_id = 'ag-bolt' AND reply_charged")
read -r bx by <<<"$b"
for c in "$bx" "$by"; do
	sql "$dsn" "SELECT parley_store_replies('p1', 1, ARRAY['$c'], ARRAY[1], ARRAY['[\"hi $c\"]']::jsonb[],
	                                        ARRAY['$(job "$c" | jq -r .reply_token)'], ARRAY[false])" >/dev/null
done
# bx: Meta's delivered status arrived before the send was recorded.
# by: the customer wrote again while the reply was produced.
sql "$dsn" "INSERT INTO pending_delivery_status (platform_message_id, status) VALUES ('wamid.OUT-$bx', 'delivered');
            INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, triggers_reply)
            VALUES ('m-again', '$by', 'user', 'Hello?', 'sent', 3, true);
            UPDATE conversations SET last_sequence_no = 3 WHERE conversation_id = '$by';" >/dev/null
id_of() { sql "$dsn" "SELECT message_id FROM messages WHERE conversation_id = '$1' AND sender = 'agent' AND sequence_no = $2"; }
a2m=$(id_of a2 2) a1m=$(id_of a1 4) bxm=$(id_of "$bx" 2) bym=$(id_of "$by" 2)
fin=$(sql "$dsn" "SELECT due || ' ' || coalesce(pmid_holder, '-') FROM parley_finish_sent_replies('p1',
                  ARRAY['$a2m', '$a1m', '$bxm', '$bym'], ARRAY['wamid.OUT-a2', 'wamid.IN-a2', 'wamid.OUT-$bx', 'wamid.OUT-$by'],
                  ARRAY['a2', 'a1', '$bx', '$by'], ARRAY[NULL, NULL, NULL, NULL]::text[])" | paste -sd'|')
eq "finish: due and holder per element, in order" "false -|false ma2|false -|true -" "$fin"
eq "finish: sent, with the platform id unless another message holds it" \
	"sent wamid.OUT-a2|sent -|sent wamid.OUT-$bx|sent wamid.OUT-$by" \
	"$(for m in "$a2m" "$a1m" "$bxm" "$bym"; do sql "$dsn" "SELECT status || ' ' || coalesce(platform_message_id, '-') FROM messages WHERE message_id = '$m'"; done | paste -sd'|')"
eq "finish: delivery rows, the early status applied" "sent|sent|delivered|sent" \
	"$(for m in "$a2m" "$a1m" "$bxm" "$bym"; do sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = '$m'"; done | paste -sd'|')"
contains "finish: the collision is named on the delivery row" "already recorded for message ma2" \
	"$(sql "$dsn" "SELECT error_message FROM message_delivery_status WHERE message_id = '$a1m'")"
eq "finish: the charges spent, the claims released, due only with a new message" \
	"a1 f - f|a2 f - f|$bx f - f|$by f - t" \
	"$(sql "$dsn" "SELECT string_agg(concat_ws(' ', conversation_id, CASE WHEN reply_charged THEN 't' ELSE 'f' END,
	                                         coalesce(reply_lease_owner, '-'),
	                                         CASE WHEN reply_due_at IS NOT NULL THEN 't' ELSE 'f' END), '|'
	                               ORDER BY conversation_id)
	               FROM conversations WHERE conversation_id IN ('a1', 'a2', '$bx', '$by')")"
eq "finish: the pending status is used up" 0 "$(sql "$dsn" "SELECT count(*) FROM pending_delivery_status")"
fin2=$(sql "$dsn" "SELECT due || ' ' || coalesce(pmid_holder, '-') FROM parley_finish_sent_replies('p1',
                   ARRAY['$a2m'], ARRAY['wamid.OUT-a2'], ARRAY['a2'], ARRAY[NULL]::text[])")
eq "finish: run again, nothing changes" "false -|sent" \
	"$fin2|$(sql "$dsn" "SELECT status FROM message_delivery_status WHERE message_id = '$a2m'")"
eq "finish: credits are where the claim left them" "acme 98 2|bolt 0 2" \
	"$(sql "$dsn" "SELECT string_agg(user_id || ' ' || remaining_credits || ' ' || total_used, '|' ORDER BY user_id) FROM credits")"
finish
