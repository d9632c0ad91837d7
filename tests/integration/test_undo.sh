#!/usr/bin/env bash
# Undo (issue #21 item 6, README "Administration"): `channel remove` (refused
# with an agent linked unless --force; a soft delete that keeps history and
# frees the platform id), `tenant disable|enable` (webhooks stored, no reply
# or extraction while disabled) and `conversation archive` (the next message
# starts a new conversation). Exit statuses, one-line errors, --json.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"

WA=106540352242922
say() { # FROM TEXT [PHONE_NUMBER_ID]: a WhatsApp message; prints the HTTP status
	say_wa U "$1" "$2" "${3:-$WA}"
}
agent_msgs() { sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '$1' AND m.sender = 'agent'"; }

reply_standins || { finish; exit 1; }
dsn=$(new_db)
conf=$(reply_config "$dsn" replies debounce_ms 200)
reply_migrate "$conf" "$dsn"
reply_start "$conf" || { finish; exit 1; }

# ============================================================ tenant disable|enable
expect_exit "disable without an id" 2 "which tenant?" tenant disable
expect_exit "disable an unknown tenant" 1 "no tenant 'nobody'" tenant disable nobody
run tenant disable acme
eq "tenant disable: exit 0" 0 "$RC"
contains "tenant disable: says what it means" "no reply, extraction or event is produced" "$OUT"
run tenant disable acme
eq "disabling twice: exit 0" 0 "$RC"
contains "disabling twice says so" "was already disabled" "$OUT"
run tenant show acme --json
eq "tenant show --json: disabled" true "$(printf '%s' "$OUT" | jq -r .disabled)"

eq "a disabled tenant's webhook is accepted" 200 "$(say 31600000001 "Hello, anyone?")"
ok "and its message stored" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31600000001' AND m.sender = 'user'" 1
sleep 1.5
eq "no reply produced while disabled" 0 "$(agent_msgs 31600000001)"
eq "nothing sent while disabled" 0 "$(n_sends)"
eq "the reply stays due (answered at enable)" t \
	"$(sql "$dsn" "SELECT reply_due_at IS NOT NULL FROM conversations WHERE customer_phone = '31600000001'")"
eq "the reply workers are not woken for it (next due: none)" -1 "$(sql "$dsn" "SELECT parley_next_reply_ms()")"
eq "no extraction is claimed for a disabled tenant" 0 \
	"$(sql "$dsn" "BEGIN; SELECT count(*) FROM parley_claim_extractions('t', 10, 30, 1, 0, 0); ROLLBACK;" | head -1)"
eq "and the extraction workers are not woken for it" -1 "$(sql "$dsn" "SELECT parley_next_extraction_ms(0)")"

run tenant enable acme --json
eq "tenant enable --json: exit 0" 0 "$RC"
eq "tenant enable --json: enabled and changed" "false true" "$(printf '%s' "$OUT" | jq -r '"\(.disabled) \(.changed)"')"
ok "enabled again, the waiting message is answered" wait_sent "31600000001" 1
eq "an extraction can be claimed again" 1 \
	"$(sql "$dsn" "BEGIN; SELECT count(*) FROM parley_claim_extractions('t', 10, 30, 1, 0, 0); ROLLBACK;" | head -1)"
run tenant enable acme
contains "enabling twice says so" "was already enabled" "$OUT"

# ============================================================ conversation archive
conv=$(sql "$dsn" "SELECT conversation_id FROM conversations WHERE customer_phone = '31600000001'")
expect_exit "archive without an id" 2 "which conversation?" conversation archive
expect_exit "archive an unknown conversation" 1 "no conversation 'nope'" conversation archive nope
sql "$dsn" "INSERT INTO users (user_id, email) VALUES ('other', 'o@other.test')" >/dev/null
expect_exit "archive another tenant's conversation" 1 "no conversation '$conv' for tenant 'other'" \
	conversation archive "$conv" --tenant other
run conversation archive "$conv" --tenant acme
eq "conversation archive: exit 0" 0 "$RC"
contains "conversation archive: says what follows" "next message starts a new one" "$OUT"
eq "the conversation is inactive, nothing due" "f|t" \
	"$(sql "$dsn" "SELECT is_active, reply_due_at IS NULL FROM conversations WHERE conversation_id = '$conv'")"
run conversation archive "$conv" --json
eq "archiving twice: exit 0" 0 "$RC"
eq "archiving twice --json: not changed" "false false" "$(printf '%s' "$OUT" | jq -r '"\(.active) \(.changed)"')"
eq "the customer's next message" 200 "$(say 31600000001 "Me again")"
ok "starts a new conversation" wait_for "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '31600000001'" 2
eq "the archived one keeps its messages" 2 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE conversation_id = '$conv'")"
ok "the new one is answered" wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) WHERE c.customer_phone = '31600000001' AND c.is_active AND m.sender = 'agent' AND m.status = 'sent'" 1

# ============================================================ channel remove
expect_exit "remove without an id" 2 "which channel?" channel remove --tenant acme
expect_exit "remove without --tenant" 2 "--tenant ID is required" channel remove pn-wa
expect_exit "remove an unknown channel" 1 "no channel 'pn-nope' for tenant 'acme'" channel remove pn-nope --tenant acme
expect_exit "remove another tenant's channel" 1 "no channel 'pn-wa' for tenant 'other'" channel remove pn-wa --tenant other
expect_exit "remove with an agent linked" 1 "has agent 'ag-wa' linked: remove it with --force" \
	channel remove pn-wa --tenant acme
eq "refused: nothing changed" "t|t" \
	"$(sql "$dsn" "SELECT (SELECT removed_at IS NULL FROM phone_numbers WHERE id = 'pn-wa'), (SELECT unlinked_at IS NULL FROM agents WHERE agent_id = 'ag-wa')")"
msgs_before=$(sql "$dsn" "SELECT count(*) FROM messages")
run channel remove pn-wa --tenant acme --force --json
eq "remove --force: exit 0" 0 "$RC"
eq "remove --force --json: the agent unlinked, one conversation archived" "true ag-wa 1" \
	"$(printf '%s' "$OUT" | jq -r '"\(.removed) \(.unlinked_agent_id) \(.archived_conversations)"')"
eq "the agent is unlinked" t "$(sql "$dsn" "SELECT unlinked_at IS NOT NULL FROM agents WHERE agent_id = 'ag-wa'")"
eq "no active conversation left on it" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM conversations WHERE agent_id = 'ag-wa' AND is_active")"
eq "messages all kept" "$msgs_before" "$(sql "$dsn" "SELECT count(*) FROM messages")"
eq "the channel row is kept, marked removed" t "$(sql "$dsn" "SELECT removed_at IS NOT NULL FROM phone_numbers WHERE id = 'pn-wa'")"
run channel list --tenant acme --json
eq "channel list leaves it out" "pn-ig" "$(printf '%s' "$OUT" | jq -r '[.[].channel_id] | join(" ")')"
run conversation show "$conv"
eq "its conversations stay readable" 0 "$RC"
expect_exit "remove twice" 1 "channel 'pn-wa' was already removed" channel remove pn-wa --tenant acme
eq "a message to the removed number" 200 "$(say 31600000002 "Hello?")"
eq "is skipped as an unknown channel" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '31600000002'")"
contains "the skip is logged" "message skipped: unknown_channel channel $WA" "$(cat "$conf.log")"
expect_exit "linking an agent to the removed channel" 1 "" agent link --channel pn-wa --tenant acme --prompt pmpt_x --name X
printf 'wa-token-2\n' >"$TEST_TMP/tok"
run channel add --tenant acme --platform whatsapp --meta-id "$WA" --token-file "$TEST_TMP/tok" --id pn-wa2
eq "the number can be added again" 0 "$RC"
run agent link --channel pn-wa2 --tenant acme --prompt pmpt_wa2 --name "WA again"
eq "and get an agent" 0 "$RC"
eq "a message to it" 200 "$(say 31600000003 "Back again")"
ok "is stored on the new channel" wait_for "$dsn" "SELECT count(*) FROM conversations c JOIN agents a USING (agent_id) WHERE a.phone_number_id = 'pn-wa2' AND c.customer_phone = '31600000003'" 1
run channel add --tenant acme --platform webchat --meta-id wgt_undo --id pn-wc
run channel remove pn-wc --tenant acme
eq "a channel without an agent is removed without --force" 0 "$RC"
contains "and says history is kept" "conversations and messages kept" "$OUT"
run tenant show acme --json
eq "tenant show counts current channels only" "2 pn-ig pn-wa2" \
	"$(printf '%s' "$OUT" | jq -r '"\(.channel_count) \([.channels[].channel_id] | join(" "))"')"

stop_parley "$pid"
eq "parley exits 0" 0 $?
finish
