#!/usr/bin/env bash
# Administration commands (issue #7): tenants, channels, agents and relinks
# with conversation archives, credits, transcripts. End to end from an empty
# database with a real `parley serve`; relinks racing webhooks; exit statuses
# and one-line errors; --json; tenant isolation.
. "$(dirname "$0")/../lib/testlib.sh"

WA=106540352242922 # the corpus's WhatsApp phone_number_id (wa_text's default)

json_ok() { printf '%s' "$1" | jq -e . >/dev/null 2>&1; }
# Waits up to 20 s until QUERY on $dsn prints a number >= MIN.
wait_at_least() {
	local query=$1 min=$2 got i
	for i in $(seq 1 400); do
		got=$(sql "$dsn" "$query")
		[ "$got" -ge "$min" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for '$query' >= $min (last: $got)" >&2
	return 1
}
# Holding a transaction open until the test says so: gate_wait is a
# statement that waits for a row in admin_gate (at most 30 s).
GATE_WAIT="DO \$\$ BEGIN FOR i IN 1..600 LOOP EXIT WHEN EXISTS (SELECT 1 FROM admin_gate);
           PERFORM pg_sleep(0.05); END LOOP; END \$\$"
advisory_locks() { # MODE GRANTED: link locks in that state
	sql "$dsn" "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
	            AND classid = 1885434476 AND mode = '$1' AND granted = $2"
}

dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"

# ============================================================ the lifecycle

run tenant list
eq "tenant list on an empty database: exit 0" 0 "$RC"
run tenant list --json
eq "tenant list --json on an empty database: []" "[]" "$OUT"

run tenant add --id acme --email ops@acme.test --company "Acme Bikes" --credits 10
eq "tenant add: exit 0" 0 "$RC"
contains "tenant add: says what it did" "added tenant acme" "$OUT"
eq "tenant row" "acme|ops@acme.test|Acme Bikes" \
	"$(sql "$dsn" "SELECT user_id, email, company_name FROM users")"
eq "credits row made with the tenant" "10|0" \
	"$(sql "$dsn" "SELECT remaining_credits, total_used FROM credits WHERE user_id = 'acme'")"

token_file="$TEST_TMP/wa-token"
printf 'EAAG-secret-wa-token-1\n' >"$token_file"
run channel add --tenant acme --platform whatsapp --meta-id "$WA" --name "Acme WhatsApp" \
	--token-file "$token_file" --json
eq "channel add: exit 0" 0 "$RC"
ok "channel add --json parses" json_ok "$OUT"
ch=$(printf '%s' "$OUT" | jq -r .channel_id)
contains "channel id made by parley" "ch_" "$ch"
eq "channel add --json: the channel" "acme|whatsapp|$WA|Acme WhatsApp|true|null" \
	"$(printf '%s' "$OUT" | jq -r '[.tenant_id, .platform, .meta_id, .name, .token_set, .agent_id] | map(tostring) | join("|")')"
eq "token stored without its newline" "EAAG-secret-wa-token-1" \
	"$(sql "$dsn" "SELECT access_token FROM phone_numbers WHERE id = '$ch'")"
case "$OUT" in *secret-wa-token*) _t_report fail "channel add never prints the token" "$OUT" ;;
*) _t_report ok "channel add never prints the token" ;; esac

run agent link --channel "$ch" --prompt pmpt_shop_v1 --name "Shop assistant" --json
eq "agent link: exit 0" 0 "$RC"
ok "agent link --json parses" json_ok "$OUT"
a1=$(printf '%s' "$OUT" | jq -r .agent_id)
eq "first link: nothing archived" "null|null|0|acme" \
	"$(printf '%s' "$OUT" | jq -r '[.old_agent_id, .archive_id, .archived_conversations, .tenant_id] | map(tostring) | join("|")')"
eq "no archive row for a first link" 0 "$(sql "$dsn" "SELECT count(*) FROM conversation_archives")"

start_parley "$conf" || { finish; exit 1; }
url=$(parley_url "$conf")
wa_text "wamid.LIFE1" 31612345678 "Is my bike ready?" >"$TEST_TMP/life1.json"
eq "a signed webhook for the channel: 200" 200 "$(post_signed "$url" "$TEST_TMP/life1.json")"
ok "the message is stored" wait_for "$dsn" "SELECT count(*) FROM messages" 1

run conversation list --tenant acme --json
eq "conversation list: exit 0" 0 "$RC"
ok "conversation list --json parses" json_ok "$OUT"
conv1=$(printf '%s' "$OUT" | jq -r '.[0].conversation_id')
eq "conversation list: the conversation" "$a1|$ch|31612345678|Ana|true|1" \
	"$(printf '%s' "$OUT" | jq -r '.[0] | [.agent_id, .channel_id, .customer, .customer_name, .active, .messages] | map(tostring) | join("|")')"
run conversation show "$conv1"
eq "conversation show: exit 0" 0 "$RC"
contains "transcript has the message" "Is my bike ready?" "$OUT"
contains "transcript header" "seq  time" "$OUT"
eq "transcript line: sequence, sender, status" "1 customer sent" \
	"$(printf '%s\n' "$OUT" | awk '$1 == "1" && $4 == "customer" { print $1, $4, $6 }')"
run conversation show "$conv1" --json
ok "conversation show --json parses" json_ok "$OUT"
eq "conversation show --json: transcript" "1|customer|Is my bike ready?|sent|wamid.LIFE1" \
	"$(printf '%s' "$OUT" | jq -r '.transcript[0] | [.seq, .sender, .text, .status, .platform_message_id] | map(tostring) | join("|")')"

# An agent message with a delivery status shows both statuses.
sql "$dsn" "INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no, platform_message_id)
            VALUES ('m-agent-1', '$conv1', 'agent', 'Yes, since this morning.', 'sent', 2, 'wamid.OUT-LIFE');
            UPDATE conversations SET last_sequence_no = 2 WHERE conversation_id = '$conv1';
            INSERT INTO message_delivery_status (message_id, platform_message_id, status)
            VALUES ('m-agent-1', 'wamid.OUT-LIFE', 'sent');" >/dev/null
wa_status wamid.OUT-LIFE read >"$TEST_TMP/life-read.json"
eq "a read receipt: 200" 200 "$(post_signed "$url" "$TEST_TMP/life-read.json")"
run conversation show "$conv1"
eq "transcript: agent message with message and delivery status" "2 agent sent read" \
	"$(printf '%s\n' "$OUT" | awk '$1 == "2" { print $1, $4, $6, $7 }')"

run credits add --tenant acme 5
eq "credits add: exit 0" 0 "$RC"
contains "credits add: the new balance" "15 remaining" "$OUT"
run credits show --tenant acme --json
ok "credits show --json parses" json_ok "$OUT"
eq "credits show --json" "15|0" "$(printf '%s' "$OUT" | jq -r '"\(.credits_remaining)|\(.credits_used)"')"
run credits show --tenant acme
contains "credits show" "credits remaining  15" "$OUT"
# A tenant made with SQL has no credits row: credits add creates it.
sql "$dsn" "INSERT INTO users (user_id, email) VALUES ('legacy', 'l@legacy.test')" >/dev/null
run credits add --tenant legacy 7 --json
eq "credits add creates a missing credits row" "7" "$(printf '%s' "$OUT" | jq -r .credits_remaining)"

run tenant show acme --json
eq "tenant show: exit 0" 0 "$RC"
ok "tenant show --json parses" json_ok "$OUT"
eq "tenant show --json: credits, conversations, channel with its agent" \
	"15|1|0|2|$ch|$a1|Shop assistant" \
	"$(printf '%s' "$OUT" | jq -r '[.credits_remaining, .active_conversations, .archived_conversations, .messages, .channels[0].channel_id, .channels[0].agent_id, .channels[0].agent_name] | map(tostring) | join("|")')"
run tenant show acme
contains "tenant show: company" "Acme Bikes" "$OUT"
contains "tenant show: the channel's agent" "$a1" "$OUT"
run tenant list --json
ok "tenant list --json parses" json_ok "$OUT"
eq "tenant list --json: both tenants" "acme legacy" "$(printf '%s' "$OUT" | jq -r '[.[].tenant_id] | join(" ")')"
run channel list --json
ok "channel list --json parses" json_ok "$OUT"
run channel list
contains "channel list: the channel" "$ch" "$OUT"
case "$OUT" in *secret-wa-token*) _t_report fail "channel list never prints the token" "$OUT" ;;
*) _t_report ok "channel list never prints the token" ;; esac

printf 'EAAG-secret-wa-token-2' | "$PARLEY_BIN" channel set-token "$ch" --token-file - -c "$conf" >"$TEST_TMP/st.out" 2>&1
eq "channel set-token from stdin: exit 0" 0 $?
eq "channel set-token: the new token" "EAAG-secret-wa-token-2" \
	"$(sql "$dsn" "SELECT access_token FROM phone_numbers WHERE id = '$ch'")"
run channel set-token "$ch" --token-file "$token_file" --json
ok "channel set-token --json parses" json_ok "$OUT"
case "$OUT$(cat "$TEST_TMP/st.out")" in *secret-wa-token*) _t_report fail "set-token never prints the token" "$OUT" ;;
*) _t_report ok "set-token never prints the token" ;; esac

run channel add --tenant acme --platform webchat --meta-id acme-widget --id acme-web
eq "webchat channel without a token: exit 0" 0 "$RC"
contains "webchat channel while webchat.secret is unset: a warning" \
	"parley channel add: warning: webchat.secret is not set: channel acme-web's widget cannot open sessions" "$ERR"
eq "webchat channel stores an empty token" "acme-web|" \
	"$(sql "$dsn" "SELECT id, access_token FROM phone_numbers WHERE platform = 'webchat'")"
expect_exit "set-token on a webchat channel" 1 "no access token" \
	channel set-token acme-web --token-file "$token_file"
echo tok | "$PARLEY_BIN" channel add --tenant acme --platform instagram --meta-id 17841400000000001 \
	--token-file - --id acme-ig -c "$conf" >/dev/null 2>&1
eq "instagram channel with the token on stdin, chosen id" "acme-ig|tok" \
	"$(sql "$dsn" "SELECT id, access_token FROM phone_numbers WHERE platform = 'instagram'")"

# ============================================================ relinking twice

wa_text "wamid.R1" 31600000001 "first customer, hello" >"$TEST_TMP/r1.json"
wa_text "wamid.R2" 31600000002 "second customer, hello" >"$TEST_TMP/r2.json"
eq "two more customers: 200" "200 200" \
	"$(post_signed "$url" "$TEST_TMP/r1.json") $(post_signed "$url" "$TEST_TMP/r2.json")"
eq "three active conversations under the first agent" 3 \
	"$(sql "$dsn" "SELECT count(*) FROM conversations WHERE agent_id = '$a1' AND is_active")"

run agent link --channel "$ch" --prompt pmpt_shop_v2 --name "Shop assistant v2" --json
eq "relink: exit 0" 0 "$RC"
a2=$(printf '%s' "$OUT" | jq -r .agent_id)
ar1=$(printf '%s' "$OUT" | jq -r .archive_id)
eq "relink --json: old agent and count" "$a1|3" \
	"$(printf '%s' "$OUT" | jq -r '"\(.old_agent_id)|\(.archived_conversations)"')"
eq "archive row: old, new, channel, count, reason" "$a1|$a2|$ch|3|Agent relinked" \
	"$(sql "$dsn" "SELECT old_agent_id, new_agent_id, phone_number_id, archived_conversations_count, reason
	               FROM conversation_archives WHERE archive_id = '$ar1'")"
eq "the old agent's conversations are inactive" "0|3" \
	"$(sql "$dsn" "SELECT count(*) FILTER (WHERE is_active) || '|' || count(*) FROM conversations WHERE agent_id = '$a1'")"
eq "the old agent stays, unlinked; the new one is linked" "$a1|false $a2|true" \
	"$(sql "$dsn" "SELECT string_agg(agent_id || '|' || (unlinked_at IS NULL)::text, ' ' ORDER BY created_at) FROM agents WHERE phone_number_id = '$ch'")"
eq "archived conversations owe no reply" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM conversations WHERE agent_id = '$a1' AND reply_due_at IS NOT NULL")"
run conversation show "$conv1"
contains "an archived transcript stays readable" "Is my bike ready?" "$OUT"
run agent list --channel "$ch" --json
ok "agent list --json parses" json_ok "$OUT"
eq "agent list: linked first, then history" "$a2:true $a1:false" \
	"$(printf '%s' "$OUT" | jq -r '[.[] | "\(.agent_id):\(.linked)"] | join(" ")')"

wa_text "wamid.R3" 31600000001 "first customer, again" >"$TEST_TMP/r3.json"
eq "the next message after the relink: 200" 200 "$(post_signed "$url" "$TEST_TMP/r3.json")"
eq "it starts a new conversation under the new agent, at sequence 1" "$a2|true|1|" \
	"$(sql "$dsn" "SELECT c.agent_id || '|' || c.is_active || '|' || m.sequence_no || '|' || coalesce(c.openai_conversation_id, '')
	               FROM messages m JOIN conversations c USING (conversation_id) WHERE m.platform_message_id = 'wamid.R3'")"
eq "the old conversation is untouched" "false|1" \
	"$(sql "$dsn" "SELECT c.is_active || '|' || c.last_sequence_no FROM messages m JOIN conversations c USING (conversation_id)
	               WHERE m.platform_message_id = 'wamid.R1'")"

run agent link --channel "$ch" --prompt pmpt_shop_v3 --name "Shop assistant v3" --json
eq "second relink: exit 0" 0 "$RC"
a3=$(printf '%s' "$OUT" | jq -r .agent_id)
eq "second relink archives the one active conversation" "$a2|1" \
	"$(printf '%s' "$OUT" | jq -r '"\(.old_agent_id)|\(.archived_conversations)"')"
eq "two archive rows with their counts" "$a1>$a2:3 $a2>$a3:1" \
	"$(sql "$dsn" "SELECT string_agg(old_agent_id || '>' || new_agent_id || ':' || archived_conversations_count, ' ' ORDER BY archived_at) FROM conversation_archives")"
wa_text "wamid.R4" 31600000001 "first customer, third time" >"$TEST_TMP/r4.json"
eq "a message after the second relink: 200" 200 "$(post_signed "$url" "$TEST_TMP/r4.json")"
eq "first customer: three conversations, one active, under the third agent" "3|1|$a3" \
	"$(sql "$dsn" "SELECT count(*) || '|' || count(*) FILTER (WHERE is_active) || '|' || max(agent_id) FILTER (WHERE is_active)
	               FROM conversations WHERE customer_phone = '31600000001'")"
run tenant show acme --json
eq "tenant show: conversations after two relinks" "1|4|$a3" \
	"$(printf '%s' "$OUT" | jq -r '[.active_conversations, .archived_conversations, (.channels[] | select(.platform == "whatsapp") | .agent_id)] | map(tostring) | join("|")')"

# ============================================================ relink vs webhooks, step by step

sql "$dsn" "CREATE TABLE admin_gate (x integer)" >/dev/null

# (a) A webhook's transaction holds the channel when the relink starts: the
# relink waits for it, then archives the conversation it made.
ev='[{"t":"m","platform":"whatsapp","channel":"'$WA'","customer":"31655500001","id":"wamid.GATE-A","kind":"text","text":"in flight","reply":true}]'
psql -X -q -At "$dsn" -c "BEGIN" -c "SELECT parley_ingest('whatsapp_business_account', '$ev', NULL, 1000)" \
	-c "$GATE_WAIT" -c "COMMIT" >"$TEST_TMP/gate-a.out" 2>&1 &
gate_pid=$!
ok "(a) the webhook holds the link lock" wait_for "$dsn" \
	"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1885434476 AND mode = 'ShareLock' AND granted" 1
"$PARLEY_BIN" agent link --channel "$ch" --prompt pmpt_a --name "Agent A" --id ag-gate-a -c "$conf" \
	>"$TEST_TMP/link-a.out" 2>&1 &
link_pid=$!
ok "(a) the relink waits for it" wait_for "$dsn" \
	"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1885434476 AND mode = 'ExclusiveLock' AND NOT granted" 1
eq "(a) nothing relinked yet" "$a3" \
	"$(sql "$dsn" "SELECT agent_id FROM agents WHERE phone_number_id = '$ch' AND unlinked_at IS NULL")"
sql "$dsn" "INSERT INTO admin_gate VALUES (1)" >/dev/null
wait "$gate_pid"
wait "$link_pid"
eq "(a) the relink finished: exit 0" 0 $?
sql "$dsn" "DELETE FROM admin_gate" >/dev/null
eq "(a) the webhook's message went to the agent linked then" "$a3|false" \
	"$(sql "$dsn" "SELECT c.agent_id || '|' || c.is_active FROM messages m JOIN conversations c USING (conversation_id) WHERE m.platform_message_id = 'wamid.GATE-A'")"
eq "(a) and the relink archived its conversation too" "$a3|ag-gate-a|2" \
	"$(sql "$dsn" "SELECT old_agent_id || '|' || new_agent_id || '|' || archived_conversations_count FROM conversation_archives WHERE new_agent_id = 'ag-gate-a'")"

# (b) A relink holds the channel when webhooks arrive (through parley): they
# wait for it, then go to the new agent, not to the one it unlinked.
psql -X -q -At "$dsn" -c "BEGIN" \
	-c "SELECT 1 FROM phone_numbers WHERE id = '$ch' FOR UPDATE" \
	-c "SELECT parley_lock_channel_link('$ch', true)" \
	-c "UPDATE agents SET unlinked_at = now() WHERE phone_number_id = '$ch' AND unlinked_at IS NULL" \
	-c "INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name) VALUES ('ag-gate-b', 'acme', '$ch', 'pmpt_b', 'Agent B')" \
	-c "UPDATE conversations SET is_active = false WHERE agent_id = 'ag-gate-a' AND is_active" \
	-c "$GATE_WAIT" -c "COMMIT" >"$TEST_TMP/gate-b.out" 2>&1 &
gate_pid=$!
ok "(b) the relink holds the link lock" wait_for "$dsn" \
	"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1885434476 AND mode = 'ExclusiveLock' AND granted" 1
wa_text "wamid.GATE-B1" 31655500001 "while relinking, known customer" >"$TEST_TMP/gb1.json"
wa_text "wamid.GATE-B2" 31655500002 "while relinking, new customer" >"$TEST_TMP/gb2.json"
post_signed "$url" "$TEST_TMP/gb1.json" >"$TEST_TMP/gb1.status" &
p1=$!
post_signed "$url" "$TEST_TMP/gb2.json" >"$TEST_TMP/gb2.status" &
p2=$!
ok "(b) the webhooks wait for the relink" wait_at_least \
	"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1885434476 AND mode = 'ShareLock' AND NOT granted" 1
eq "(b) nothing stored while the relink is open" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE platform_message_id LIKE 'wamid.GATE-B%'")"
sql "$dsn" "INSERT INTO admin_gate VALUES (1)" >/dev/null
wait "$gate_pid" "$p1" "$p2"
eq "(b) both webhooks: 200" "200 200" "$(cat "$TEST_TMP/gb1.status") $(cat "$TEST_TMP/gb2.status")"
eq "(b) both messages went to the new agent, in active conversations" "ag-gate-b|true ag-gate-b|true" \
	"$(sql "$dsn" "SELECT string_agg(c.agent_id || '|' || c.is_active, ' ' ORDER BY m.platform_message_id) FROM messages m JOIN conversations c USING (conversation_id) WHERE m.platform_message_id LIKE 'wamid.GATE-B%'")"
eq "(b) no active conversation of an unlinked agent" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM conversations c JOIN agents a USING (agent_id) WHERE c.is_active AND a.unlinked_at IS NOT NULL")"

# ============================================================ relinks while webhooks pour in

# Four senders post 50 webhooks each, one after the other (each waits for
# its 200); every ten messages a sender's customer changes, so first
# contacts race the relinks too. Meanwhile the channel is relinked three
# times.
blast() { # K
	local k=$1 i f
	for i in $(seq 1 50); do
		f="$TEST_TMP/blast-$k-$i.json"
		wa_text "wamid.BLAST-$k-$i" "3177${k}000$((i / 10))" "m $k $i" >"$f"
		post_signed "$url" "$f"
	done
}
blasted="SELECT count(*) FROM messages WHERE text LIKE 'm %'"
before_relinks=$(sql "$dsn" "SELECT count(*) FROM agents WHERE phone_number_id = '$ch'")
pids=
for k in 1 2 3 4; do
	blast "$k" >"$TEST_TMP/blast-$k.status" 2>&1 &
	pids="$pids $!"
done
for at in 30 80 130; do
	wait_at_least "$blasted" "$at" || break
	"$PARLEY_BIN" agent link --channel "$ch" --prompt "pmpt_blast_$at" --name "Agent $at" -c "$conf" \
		>>"$TEST_TMP/blast-links.out" 2>&1 || echo "relink at $at failed" >>"$TEST_TMP/blast-links.err"
done
wait $pids
eq "three relinks while webhooks arrived" "3" \
	"$(($(sql "$dsn" "SELECT count(*) FROM agents WHERE phone_number_id = '$ch'") - before_relinks))"
eq "no relink failed" "" "$(cat "$TEST_TMP/blast-links.err" 2>/dev/null)"
eq "every webhook answered 200" "200" "$(cat "$TEST_TMP"/blast-*.status | sort -u | paste -sd' ')"
eq "every message stored exactly once" "200|200" \
	"$(sql "$dsn" "SELECT count(*) || '|' || count(DISTINCT platform_message_id) FROM messages WHERE text LIKE 'm %'")"
eq "messages landed under several agents (the relinks were concurrent)" t \
	"$(sql "$dsn" "SELECT count(DISTINCT c.agent_id) >= 3 FROM messages m JOIN conversations c USING (conversation_id) WHERE m.text LIKE 'm %'")"
eq "no active conversation of an unlinked agent" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM conversations c JOIN agents a USING (agent_id) WHERE c.is_active AND a.unlinked_at IS NOT NULL")"
eq "each archive counts exactly the old agent's conversations" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM conversation_archives r
	               WHERE r.archived_conversations_count <> (SELECT count(*) FROM conversations c WHERE c.agent_id = r.old_agent_id)")"
# A customer's messages, in the order they were sent, go to agents in the
# order the agents were linked: never back to one already replaced.
eq "no message went to an agent after it was replaced" 0 \
	"$(sql "$dsn" "WITH ord AS (SELECT agent_id, row_number() OVER (ORDER BY created_at, agent_id) AS n
	                            FROM agents WHERE phone_number_id = '$ch'),
	                    m AS (SELECT c.customer_phone AS cust, split_part(m.text, ' ', 3)::int AS i, o.n
	                            FROM messages m JOIN conversations c USING (conversation_id) JOIN ord o USING (agent_id)
	                           WHERE m.text LIKE 'm %')
	               SELECT count(*) FROM m a JOIN m b ON a.cust = b.cust AND a.i < b.i AND a.n > b.n")"
eq "sequences run 1..n without gaps, in sending order" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM (
	                 SELECT c.conversation_id, c.last_sequence_no, count(*) AS n, max(m.sequence_no) AS top,
	                        bool_and(m.sequence_no = r.k) AS ordered
	                   FROM conversations c JOIN messages m USING (conversation_id)
	                   JOIN (SELECT message_id, row_number() OVER (PARTITION BY conversation_id
	                                ORDER BY split_part(text, ' ', 3)::int) AS k
	                           FROM messages WHERE text LIKE 'm %') r USING (message_id)
	                  GROUP BY c.conversation_id, c.last_sequence_no) s
	               WHERE n <> top OR n <> last_sequence_no OR NOT ordered")"
stop_parley "$PARLEY_PID"

# ============================================================ bad usage: exit 2

expect_exit "no subcommand" 2 "which one?" tenant
expect_exit "unknown subcommand" 2 "unknown subcommand 'frobnicate'" tenant frobnicate
expect_exit "unknown option" 2 "unknown option '--bogus'" tenant list --bogus
expect_exit "option without its value" 2 "needs a value" tenant add --id
expect_exit "tenant add without --id" 2 "--id ID is required" tenant add --email a@b.test
expect_exit "tenant add with a bad email" 2 "not an email address" tenant add --id x --email nope
expect_exit "tenant add with a bad id" 2 "may contain only" tenant add --id "a b" --email a@b.test
expect_exit "tenant add with non-numeric credits" 2 "--credits must be a whole number" \
	tenant add --id x --email x@b.test --credits lots
expect_exit "tenant show without an id" 2 "which tenant?" tenant show
expect_exit "channel add without --tenant" 2 "--tenant ID is required" \
	channel add --platform whatsapp --meta-id 1 --token-file "$token_file"
expect_exit "channel add with an unknown platform" 2 "unknown platform 'telegram'" \
	channel add --tenant acme --platform telegram --meta-id 1 --token-file "$token_file"
expect_exit "channel add with the token on the command line" 2 "command line" \
	channel add --tenant acme --platform whatsapp --meta-id 1 --token EAAG-on-argv
expect_exit "channel add --token=VALUE" 2 "command line" \
	channel add --tenant acme --platform whatsapp --meta-id 1 --token=EAAG-on-argv
expect_exit "channel set-token with the token on the command line" 2 "command line" \
	channel set-token "$ch" --token EAAG-on-argv
expect_exit "channel add without a token file" 2 "--token-file FILE is required" \
	channel add --tenant acme --platform whatsapp --meta-id 1
expect_exit "channel add: non-numeric WhatsApp id" 2 "numeric" \
	channel add --tenant acme --platform whatsapp --meta-id abc --token-file "$token_file"
: >"$TEST_TMP/empty-token"
expect_exit "channel add with an empty token file" 2 "empty" \
	channel add --tenant acme --platform whatsapp --meta-id 1 --token-file "$TEST_TMP/empty-token"
expect_exit "agent link without --prompt" 2 "--prompt PROMPT_ID is required" \
	agent link --channel "$ch" --name x
expect_exit "credits add without --tenant" 2 "--tenant ID is required" credits add 5
expect_exit "credits add with non-numeric credits" 2 "N must be a whole number" \
	credits add --tenant acme five
expect_exit "credits add of zero" 2 "N must be a whole number" credits add --tenant acme 0
expect_exit "credits add of a negative number" 2 "unknown option '-5'" credits add --tenant acme -5
expect_exit "credits add without N" 2 "how many?" credits add --tenant acme
expect_exit "conversation list without --tenant" 2 "--tenant ID is required" conversation list
expect_exit "conversation list with a bad --limit" 2 "--limit must be" \
	conversation list --tenant acme --limit many
out=$("$PARLEY_BIN" tenant list -c "$TEST_TMP/no-such.conf" 2>&1)
eq "a missing configuration file: exit 2" 2 $?
run tenant help
eq "tenant help: exit 0" 0 "$RC"
contains "tenant help lists the subcommands" "parley tenant show" "$OUT"
run channel add --help
eq "channel add --help: exit 0" 0 "$RC"
contains "channel add --help: usage" "--token-file" "$OUT"
eq "nothing was created by the bad calls" "2|3" \
	"$(sql "$dsn" "SELECT (SELECT count(*) FROM users) || '|' || (SELECT count(*) FROM phone_numbers)")"

# ============================================================ runtime errors: exit 1

expect_exit "tenant show of an unknown tenant" 1 "no tenant 'nosuch'" tenant show nosuch
expect_exit "credits add to an unknown tenant" 1 "no tenant 'nosuch'" credits add --tenant nosuch 5
expect_exit "credits show of an unknown tenant" 1 "no tenant 'nosuch'" credits show --tenant nosuch
expect_exit "channel add to an unknown tenant" 1 "no tenant 'nosuch'" \
	channel add --tenant nosuch --platform whatsapp --meta-id 1 --token-file "$token_file"
expect_exit "channel list of an unknown tenant" 1 "no tenant 'nosuch'" channel list --tenant nosuch
expect_exit "conversation list of an unknown tenant" 1 "no tenant 'nosuch'" conversation list --tenant nosuch
expect_exit "conversation show of an unknown conversation" 1 "no conversation 'nosuch'" conversation show nosuch
expect_exit "agent link to an unknown channel" 1 "no channel 'nosuch'" \
	agent link --channel nosuch --prompt p --name n
expect_exit "set-token of an unknown channel" 1 "no channel 'nosuch'" \
	channel set-token nosuch --token-file "$token_file"
expect_exit "a tenant id twice" 1 "tenant 'acme' already exists" tenant add --id acme --email new@acme.test
expect_exit "an email twice" 1 "already has the email" tenant add --id acme2 --email ops@acme.test
expect_exit "an agent id twice" 1 "agent id 'ag-gate-b' already exists" \
	agent link --channel "$ch" --prompt p --name n --id ag-gate-b
eq "a refused link leaves the linked agent linked" 1 \
	"$(sql "$dsn" "SELECT count(*) FROM agents WHERE phone_number_id = '$ch' AND unlinked_at IS NULL")"
expect_exit "an unreadable token file" 1 "cannot read the access token" \
	channel add --tenant acme --platform whatsapp --meta-id 1 --token-file "$TEST_TMP/no-such-token"
run tenant add --id bee --email hello@bee.test
expect_exit "the same WhatsApp id for a second tenant" 1 "is already channel '$ch' of tenant 'acme'" \
	channel add --tenant bee --platform whatsapp --meta-id "$WA" --token-file "$token_file"
expect_exit "the same WhatsApp id twice for one tenant" 1 "is already channel" \
	channel add --tenant acme --platform whatsapp --meta-id "$WA" --token-file "$token_file"
expect_exit "a channel id twice" 1 "channel id 'acme-ig' already exists" \
	channel add --tenant acme --platform instagram --meta-id 17841400000000002 --token-file "$token_file" --id acme-ig
conf_bad=$(new_config "host=127.0.0.1 port=1 dbname=none user=none")
out=$("$PARLEY_BIN" tenant list -c "$conf_bad" 2>&1)
eq "database unreachable: exit 1" 1 $?
contains "database unreachable: says so" "cannot connect to the database" "$out"

# ============================================================ tenant isolation

printf 'bee-token-1\n' >"$TEST_TMP/bee-token"
run channel add --tenant bee --platform whatsapp --meta-id 106540352299999 --token-file "$TEST_TMP/bee-token" --id bee-wa
eq "tenant bee's channel" 0 "$RC"
run agent link --channel bee-wa --prompt pmpt_bee --name "Bee bot" --id ag-bee
sql "$dsn" "INSERT INTO conversations (conversation_id, agent_id, customer_phone) VALUES ('conv-bee', 'ag-bee', '3199');
            INSERT INTO messages (message_id, conversation_id, sender, text, status, sequence_no)
            VALUES ('m-bee', 'conv-bee', 'user', 'bee secret', 'sent', 1);" >/dev/null
expect_exit "set-token of another tenant's channel" 1 "no channel 'bee-wa' for tenant 'acme'" \
	channel set-token bee-wa --tenant acme --token-file "$token_file"
eq "its token is unchanged" "bee-token-1" "$(sql "$dsn" "SELECT access_token FROM phone_numbers WHERE id = 'bee-wa'")"
expect_exit "agent link on another tenant's channel" 1 "no channel 'bee-wa' for tenant 'acme'" \
	agent link --channel bee-wa --tenant acme --prompt p --name n --id ag-intruder
eq "no agent was made, bee's agent stays linked" "0|ag-bee" \
	"$(sql "$dsn" "SELECT (SELECT count(*) FROM agents WHERE agent_id = 'ag-intruder') || '|' ||
	                      (SELECT agent_id FROM agents WHERE phone_number_id = 'bee-wa' AND unlinked_at IS NULL)")"
expect_exit "conversation show of another tenant's conversation" 1 "no conversation 'conv-bee' for tenant 'acme'" \
	conversation show conv-bee --tenant acme
run conversation show conv-bee --tenant bee
contains "conversation show for its own tenant" "bee secret" "$OUT"
run conversation list --tenant acme --json
eq "acme's conversation list has none of bee's" 0 "$(printf '%s' "$OUT" | jq '[.[] | select(.agent_id == "ag-bee")] | length')"
run channel list --tenant acme --json
eq "acme's channel list has none of bee's" 0 "$(printf '%s' "$OUT" | jq '[.[] | select(.tenant_id != "acme")] | length')"
run agent link --channel bee-wa --prompt pmpt_bee2 --name "Bee bot 2" --json
eq "agent link --channel acts for the channel's own tenant" "bee|bee" \
	"$(printf '%s' "$OUT" | jq -r .tenant_id)|$(sql "$dsn" "SELECT user_id FROM agents WHERE phone_number_id = 'bee-wa' AND unlinked_at IS NULL")"
run conversation list --tenant acme --active --limit 2 --json
eq "conversation list --active --limit" "2|true" \
	"$(printf '%s' "$OUT" | jq -r '"\(length)|\(all(.[]; .active))"')"

finish
