#!/usr/bin/env bash
# Issue #15, "never a lost or duplicated message": a reply step whose
# statement committed but whose answer was lost (the connection broke in
# between: DB_ERR_LOST, outcome unknown) is run again with the effect of
# once, and a process killed between a reply's final failure and its refund
# does not lose the credit (migration 0016). The connection is broken by a
# proxy between parley and PostgreSQL (tests/lib/pg_proxy.py).
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"
. "$TESTS_DIR/lib/pg_proxy.sh"

# A killed process's claim is taken over after this, not after 30 s.
export PARLEY_TEST_LEASE_SECONDS=3
proxied_reply_frame || { finish; exit 1; }
agent_rows() { # agent_rows CUSTOMER: the reply's messages, one line each
	sql "$dsn" "SELECT m.sequence_no || '|' || m.status || '|' || m.text
	              FROM messages m JOIN conversations c USING (conversation_id)
	             WHERE c.customer_phone = '$1' AND m.sender = 'agent' ORDER BY 1"
}

# --- the store commits, its answer is lost: stored and sent once
proxy_arm cut-answer parley_store_replies
wa_text "wamid.L1" 31600000041 "Store me once" >"$TEST_TMP/l1.json"
eq "store: posted" 200 "$(post_signed "$url" "$TEST_TMP/l1.json")"
ok "store: the answer was cut" proxy_fired cut-answer
ok "store: released" settled 31600000041
eq "store: one agent message, sent" "2|sent|Echo: Store me once" "$(agent_rows 31600000041)"
eq "store: sent once" 1 "$(graph_sends 31600000041)"
eq "store: one credit" "99/1" "$(credits)"
contains "store: the lost answer was retried" "step store failed, retrying" "$(cat "$conf.log")"

# --- a send fails for good; the refund commits, its answer is lost: the
# credit comes back once
curl -sS -d '[{"meta_code":131047}]' "$GRAPH/_script" >/dev/null
proxy_arm cut-answer parley_refund_reply
wa_text "wamid.L2" 31600000042 "Refund me once" >"$TEST_TMP/l2.json"
eq "refund: posted" 200 "$(post_signed "$url" "$TEST_TMP/l2.json")"
ok "refund: the answer was cut" proxy_fired cut-answer
ok "refund: released" settled 31600000042
eq "refund: the reply failed" "2|failed|Echo: Refund me once" "$(agent_rows 31600000042)"
eq "refund: the credit came back once" "99/1" "$(credits)"
contains "refund: the lost answer was retried" "step refund failed, retrying" "$(cat "$conf.log")"

# --- a send fails for good and the process dies before its refund: the
# next claim gives the credit back
sql "$dsn" "UPDATE credits SET remaining_credits = 50, total_used = 0" >/dev/null
curl -sS -d '[{"meta_code":131047}]' "$GRAPH/_script" >/dev/null
proxy_arm freeze-query parley_refund_reply
wa_text "wamid.L3" 31600000043 "Refund me after a crash" >"$TEST_TMP/l3.json"
eq "crash: posted" 200 "$(post_signed "$url" "$TEST_TMP/l3.json")"
ok "crash: the refund never reached the database" proxy_fired freeze-query
kill -9 "$pid"
wait "$pid" 2>/dev/null
eq "crash: the credit is still taken" "49/1" "$(credits)"
eq "crash: the failure was recorded" "2|failed|Echo: Refund me after a crash" \
	"$(agent_rows 31600000043)"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "crash: the next claim settled the charge" settled 31600000043
eq "crash: the credit came back" "50/0" "$(credits)"
eq "crash: nothing sent again" "0 2|failed|Echo: Refund me after a crash" \
	"$(graph_sends 31600000043) $(agent_rows 31600000043)"

# --- and a new message there is charged and answered as usual
wa_text "wamid.L4" 31600000043 "Still there?" >"$TEST_TMP/l4.json"
eq "after: posted" 200 "$(post_signed "$url" "$TEST_TMP/l4.json")"
ok "after: released" settled 31600000043
eq "after: answered" "1 49/1" "$(graph_sends 31600000043) $(credits)"

stop_parley "$pid"
eq "parley stops cleanly" 0 $?
finish
