#!/usr/bin/env bash
# Chaos (issue #15): two `parley serve` processes on one database under a
# steady stream of signed webhooks from a client that, like Meta, delivers a
# body again until it gets a 2xx (tests/lib/chaos_load.py), while one process
# is killed with SIGKILL and restarted, PostgreSQL is restarted, and the
# other process is stopped with SIGTERM and restarted. Afterwards, whatever
# the timing was: every message answered 200 is stored exactly once,
# sequences are contiguous, no reply was stored or sent twice, credits add
# up, and nothing is left pending. About a minute (longer under ASan).
. "$(dirname "$0")/../lib/testlib.sh"

# Load: CHAOS_SECONDS of new webhooks at CHAOS_RATE bodies/s over
# CHAOS_CUSTOMERS conversations; the faults are spread over that time.
CHAOS_SECONDS=${CHAOS_SECONDS:-20}
CHAOS_RATE=${CHAOS_RATE:-25}
CHAOS_CUSTOMERS=${CHAOS_CUSTOMERS:-40}
CREDITS=100000
# A killed process's claims are taken over after this, not after 30 s.
export PARLEY_TEST_LEASE_SECONDS=5
t_start=$(date +%s)

start_standin fake_openai || { finish; exit 1; }
openai_pid=$STANDIN_PID OPENAI=$STANDIN_URL
start_standin fake_graph || { finish; exit 1; }
graph_pid=$STANDIN_PID GRAPH=$STANDIN_URL
# Sends and answers take a little while, so that a kill finds some on the
# wire, and one in fifteen fails in a way that is retried (Graph: Meta's
# rate limit or a 503; OpenAI: a 500).
steps() { # steps STEP FAILURE FAILURE: 1000 steps, every 15th a failure, in turn
	local i sep=
	printf '['
	for i in $(seq 1 1000); do
		if ((i % 15)); then printf '%s%s' "$sep" "$1"
		elif ((i % 30)); then printf '%s%s' "$sep" "$2"
		else printf '%s%s' "$sep" "$3"; fi
		sep=,
	done
	printf ']'
}
curl -sS -d "$(steps '{"delay_ms":200}' '{"status":400,"meta_code":130429}' '{"status":503}')" \
	"$GRAPH/_script" >/dev/null
curl -sS -d "$(steps '{"delay_ms":200}' '{"status":500}' '{"status":503}')" "$OPENAI/_script" >/dev/null

dsn=$(new_db)
conf_a=$(new_config "$dsn")
conf_b=$(new_config "$dsn")
for conf in "$conf_a" "$conf_b"; do
	conf_set "$conf" meta whatsapp_url "$GRAPH/v24.0"
	conf_set "$conf" openai api_key sk-test
	conf_set "$conf" openai url "$OPENAI/v1"
	conf_set "$conf" openai timeout_seconds 10
	conf_set "$conf" replies debounce_ms 300
	# Only replies spend credits here, so that they can be counted.
	conf_set "$conf" extraction enabled false
done
ok "migrate" "$PARLEY_BIN" migrate -c "$conf_a"
seed_channels "$dsn"
sql "$dsn" "UPDATE credits SET remaining_credits = $CREDITS, total_used = 0" >/dev/null
url_a=$(parley_url "$conf_a")
url_b=$(parley_url "$conf_b")
start_parley "$conf_a" || { finish; exit 1; }
pid_a=$PARLEY_PID
start_parley "$conf_b" || { finish; exit 1; }
pid_b=$PARLEY_PID

out="$TEST_TMP/chaos"
mkdir -p "$out"
python3 "$TESTS_DIR/lib/chaos_load.py" --url "$url_a" --url "$url_b" --out "$out" \
	--secret test-meta-app-secret \
	--customers "$CHAOS_CUSTOMERS" --rate "$CHAOS_RATE" --seconds "$CHAOS_SECONDS" \
	--settle 90 >"$out/summary" 2>&1 &
load_pid=$!

# at SECONDS: sleeps until that many seconds after the load started.
t0=$(date +%s%N)
at() {
	local ms=$(($1 * 1000 - ($(date +%s%N) - t0) / 1000000))
	[ "$ms" -gt 0 ] && sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
	return 0
}

at $((CHAOS_SECONDS * 3 / 20))
kill -9 "$pid_a"
wait "$pid_a" 2>/dev/null
at $((CHAOS_SECONDS * 5 / 20))
start_parley "$conf_a" || { finish; exit 1; }
pid_a=$PARLEY_PID
at $((CHAOS_SECONDS * 8 / 20))
pg_pause
at $((CHAOS_SECONDS * 10 / 20))
pg_resume
at $((CHAOS_SECONDS * 13 / 20))
stop_parley "$pid_b"
eq "SIGTERM under load, after the database restart: exit 0" 0 $?
at $((CHAOS_SECONDS * 15 / 20))
start_parley "$conf_b" || { finish; exit 1; }
pid_b=$PARLEY_PID

wait "$load_pid"
eq "the load client ran" 0 $?
summary=$(cat "$out/summary")
echo "# $summary"
conn_errors=$(sed -nE 's/.* conn_errors=([0-9]+) .*/\1/p' "$out/summary")
codes=$(sed -nE 's/.* codes=([^ ]+) .*/\1/p' "$out/summary")
ok "the faults were felt: connection errors ($conn_errors) and 503s ($codes)" \
	test "${conn_errors:-0}" -gt 0 -a -n "$(echo "$codes" | grep -E '(^|,)503:')"
eq "every message got its 200 in the end" 0 "$(wc -l <"$out/unacked")"

# The replies drain: nothing due, claimed or waiting to be sent. A dead
# process's claims end with their lease.
drained="SELECT (SELECT count(*) FROM conversations
                  WHERE reply_due_at IS NOT NULL OR reply_lease_owner IS NOT NULL)
              + (SELECT count(*) FROM messages WHERE sender = 'agent' AND status = 'pending')"
left=
for _ in $(seq 1 600); do
	left=$(sql "$dsn" "$drained")
	[ "$left" = 0 ] && break
	sleep 0.1
done
eq "the replies drained" 0 "$left"
stop_parley "$pid_a"
eq "process A stops cleanly" 0 $?
stop_parley "$pid_b"
eq "process B stops cleanly" 0 $?

# What the client sent and what got a 200, and what the Graph stand-in
# received (sends only: read receipts and typing indicators carry no text).
curl -sS "$GRAPH/_requests" | jq -r '.[] | select(.body.text.body != null)
	| [.body.to, .body.text.body, .status, (.response.messages[0].id // "")] | @tsv' >"$out/graph"
psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<SQL
CREATE TABLE chaos_sent (wamid text, customer text, text text);
CREATE TABLE chaos_acked (wamid text);
CREATE TABLE chaos_graph (customer text, text text, status integer, pmid text);
\copy chaos_sent FROM '$out/sent'
\copy chaos_acked FROM '$out/acked'
\copy chaos_graph FROM '$out/graph'
SQL
echo "# $(sql "$dsn" "SELECT 'graph sends ' || count(*) FROM chaos_graph") in $(($(date +%s) - t_start)) s"

# --- ingestion
eq "every message answered 200 is stored exactly once" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM chaos_acked a
	               WHERE (SELECT count(*) FROM messages m WHERE m.platform_message_id = a.wamid) <> 1")"
eq "as sent, in its customer's conversation" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM chaos_sent s
	               LEFT JOIN messages m ON m.platform_message_id = s.wamid
	               LEFT JOIN conversations c USING (conversation_id)
	               WHERE m.text IS DISTINCT FROM s.text OR c.customer_phone IS DISTINCT FROM s.customer
	                  OR m.sender <> 'user'")"
eq "no other customer message stored" "$(wc -l <"$out/sent")" \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'user'")"
eq "one conversation per customer" "$(cut -f2 "$out/sent" | sort -u | wc -l)" \
	"$(sql "$dsn" "SELECT count(*) FROM conversations")"
eq "every conversation numbered 1..n without gap or repeat, counter matching" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM (
	     SELECT c.conversation_id FROM conversations c JOIN messages m USING (conversation_id)
	      GROUP BY c.conversation_id, c.last_sequence_no
	     HAVING min(m.sequence_no) <> 1 OR max(m.sequence_no) <> count(*)
	         OR count(DISTINCT m.sequence_no) <> count(*) OR c.last_sequence_no <> count(*)) x")"

# --- replies. A reply echoes the customer messages it answers
# ("Echo: a | b"), so each agent message says which ones it covers.
covered="SELECT m.conversation_id, m.message_id, m.sequence_no AS reply_seq, t.text
           FROM messages m, regexp_split_to_table(substr(m.text, 7), ' \| ') AS t(text)
          WHERE m.sender = 'agent'"
eq "every agent message is a stand-in echo" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND text NOT LIKE 'Echo: %'")"
eq "every customer message is answered by exactly one stored reply" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages u
	               WHERE u.sender = 'user' AND (SELECT count(*) FROM ($covered) r
	                      WHERE r.conversation_id = u.conversation_id AND r.text = u.text) <> 1")"
eq "every reply answers its own conversation's earlier messages" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM ($covered) r WHERE NOT EXISTS (
	                 SELECT 1 FROM messages u WHERE u.conversation_id = r.conversation_id
	                    AND u.sender = 'user' AND u.text = r.text AND u.sequence_no < r.reply_seq)")"
unexplained="FROM messages m JOIN message_delivery_status d USING (message_id)
	       WHERE m.sender = 'agent' AND NOT (m.status = 'sent' AND d.status = 'sent'
	          OR m.status = 'failed' AND d.status = 'failed'
	             AND d.error_message LIKE 'send outcome unknown%')"
eq "every reply sent, or failed only because a crash left its send unknown" 0 \
	"$(sql "$dsn" "SELECT count(*) $unexplained")"
# What they are, when there are any: the check alone says only how many.
sql "$dsn" "SELECT '#   ' || m.status || '/' || d.status || ': ' || coalesce(d.error_message, '')
            $unexplained LIMIT 10"
eq "every agent message has its delivery row" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages m WHERE m.sender = 'agent'
	               AND NOT EXISTS (SELECT 1 FROM message_delivery_status d WHERE d.message_id = m.message_id)")"
echo "# $(sql "$dsn" "SELECT count(*) FILTER (WHERE status = 'sent') || ' replies sent, '
                             || count(*) FILTER (WHERE status = 'failed') || ' lost to a crash'
                      FROM messages WHERE sender = 'agent'")"

# --- nothing sent twice
eq "the Graph API accepted no text twice for one customer" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM (SELECT 1 FROM chaos_graph WHERE status = 200
	                                     GROUP BY customer, text HAVING count(*) > 1) x")"
eq "a send the Graph API refused was retried until accepted (unless its process was killed)" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM chaos_graph r WHERE r.status <> 200 AND NOT EXISTS (
	                 SELECT 1 FROM chaos_graph a WHERE a.status = 200
	                    AND a.customer = r.customer AND a.text = r.text)
	               AND NOT EXISTS (
	                 SELECT 1 FROM messages m JOIN conversations c USING (conversation_id)
	                   JOIN message_delivery_status d USING (message_id)
	                  WHERE c.customer_phone = r.customer AND m.text = r.text
	                    AND d.error_message LIKE 'send outcome unknown%')")"
eq "each sent reply went out exactly once, as stored, to its customer" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
	               WHERE m.sender = 'agent' AND m.status = 'sent'
	                 AND (SELECT count(*) FROM chaos_graph g WHERE g.pmid = m.platform_message_id
	                         AND g.customer = c.customer_phone AND g.text = m.text) <> 1")"
eq "every send the Graph API got is a stored reply" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM chaos_graph g WHERE NOT EXISTS (
	                 SELECT 1 FROM messages m JOIN conversations c USING (conversation_id)
	                  WHERE m.sender = 'agent' AND c.customer_phone = g.customer AND m.text = g.text)")"

# --- credits: each stored reply took one, nothing was refunded (no send
# failed for good) and no charge is left waiting for a reply
eq "credits: remaining + used = the starting balance" $CREDITS \
	"$(sql "$dsn" "SELECT remaining_credits + total_used FROM credits WHERE user_id = 'acme'")"
eq "credits: used = replies stored" "$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent'")" \
	"$(sql "$dsn" "SELECT total_used FROM credits WHERE user_id = 'acme'")"

# --- nothing left pending
eq "nothing pending: no conversation due, claimed or charged" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM conversations
	               WHERE reply_due_at IS NOT NULL OR reply_lease_owner IS NOT NULL
	                  OR reply_lease_until IS NOT NULL OR reply_charged")"
eq "nothing pending: every customer message counted as answered" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
	               WHERE m.sender = 'user' AND m.triggers_reply AND m.sequence_no > c.replied_through_seq")"
eq "nothing pending: no message or delivery row pending" "0|0" \
	"$(sql "$dsn" "SELECT (SELECT count(*) FROM messages WHERE status = 'pending'),
	                      (SELECT count(*) FROM message_delivery_status WHERE status = 'pending')")"
eq "nothing pending: no early status waiting" 0 "$(sql "$dsn" "SELECT count(*) FROM pending_delivery_status")"

ok "the stand-ins lived through it" kill -0 "$openai_pid" "$graph_pid"
finish
