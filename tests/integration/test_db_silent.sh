#!/usr/bin/env bash
# Issue #15: a database connection that dies without a word (no FIN, no
# RST) does not hang a reply for ever -- a query without an answer for 15 s
# fails as "connection lost" and is retried, and the pool's connections
# carry TCP keepalives of their own (src/db/db.c) -- and what the server says
# outside a result (a restart's "terminating connection") goes through
# parley's log, not raw to stderr (pgerr_log_notices). The silence comes
# from a proxy between parley and PostgreSQL (tests/lib/pg_proxy.py).
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"
. "$TESTS_DIR/lib/pg_proxy.sh"

export PARLEY_TEST_LEASE_SECONDS=5
proxied_reply_frame || { finish; exit 1; }
# timers PORT: the TCP timers of parley's connections to PORT, one a line
timers() { ss -tnoH state established "( dport = :$1 )" | grep -o 'timer:([^)]*)'; }

# --- keepalives: every pool connection probes an idle peer within a
# minute (the kernel's default waits two hours)
# A connection with a statement in flight shows its retransmission timer
# ("on,200ms") instead for a moment: sample until every one shows keepalive.
t=$(timers "$PROXY_PORT")
for _ in $(seq 1 30); do
	[ -n "$t" ] && ! echo "$t" | grep -q -v 'keepalive,' && break
	sleep 0.1
	t=$(timers "$PROXY_PORT")
done
ok "keepalives: parley's connections have a keepalive timer" test -n "$t"
eq "keepalives: none waits minutes" "" "$(echo "$t" | grep -v 'keepalive,[0-9.]*\(ms\|sec\),')"

# --- the store's answer never comes and the connection stays silent: the
# query is given up after its deadline, run again on another connection,
# and the reply goes out once
proxy_arm freeze-answer parley_store_replies
wa_text "wamid.S1" 31600000051 "Are you there?" >"$TEST_TMP/s1.json"
eq "silent: posted" 200 "$(post_signed "$url" "$TEST_TMP/s1.json")"
ok "silent: the connection went silent" proxy_fired freeze-answer
ok "silent: the reply was sent after the deadline" wait_for "$dsn" \
	"SELECT count(*) FROM conversations c JOIN messages m USING (conversation_id)
	  WHERE c.customer_phone = '31600000051' AND m.sender = 'agent' AND m.status = 'sent'
	    AND c.reply_lease_owner IS NULL" 1 45
eq "silent: one agent message, sent once" "1 1" \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent'") $(graph_sends 31600000051)"
contains "silent: the dead connection was dropped" "no answer to a query in 15 s" "$(cat "$conf.log")"

# --- SIGTERM while a query waits on a silent connection: parley leaves
# within its drain, with nothing left unanswered
proxy_arm freeze-answer parley_store_replies
wa_text "wamid.S2" 31600000052 "And now?" >"$TEST_TMP/s2.json"
eq "stop: posted" 200 "$(post_signed "$url" "$TEST_TMP/s2.json")"
ok "stop: the connection went silent" proxy_fired freeze-answer
stop_parley "$pid"
eq "stop: exit 0" 0 $?
eq "stop: nothing left unanswered" "" "$(grep 'unanswered' "$conf.log")"

# --- the server ends the sessions (as at a restart): its message is a
# log line like any other
: >"$conf.log"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
ok "restart: the reply stored before the stop is settled" wait_for "$dsn" \
	"SELECT count(*) FROM conversations WHERE customer_phone = '31600000052'
	    AND reply_lease_owner IS NULL AND reply_due_at IS NULL" 1 30
sql "$dsn" "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'parley' AND datname = current_database()" >/dev/null
ok "restart: parley reconnects" wait_for "$dsn" \
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'parley'
	    AND datname = current_database()" t 10
sleep 0.5
contains "restart: the server's message is logged" \
	"postgres FATAL: terminating connection due to administrator command (SQLSTATE 57P01)" \
	"$(cat "$conf.log")"
eq "restart: every line of stderr is a log line" "" \
	"$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z (debug|info|warn|error) ' "$conf.log")"

stop_parley "$pid"
eq "parley stops cleanly" 0 $?

# --- a keepalive the url sets is the url's
conf2=$(new_config "$(proxy_dsn "$dsn") keepalives_idle=600")
start_parley "$conf2" || { finish; exit 1; }
pid=$PARLEY_PID
contains "url keepalives: the url's idle time is used" "min" "$(timers "$PROXY_PORT")"
stop_parley "$pid"
eq "url keepalives: parley stops cleanly" 0 $?
finish
