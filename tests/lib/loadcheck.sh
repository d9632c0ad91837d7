# Sourced after testlib.sh by the tests that run tests/lib/chaos_load.py
# against parley and then check, whatever the faults were, what SPEC 5.1 and
# 6 promise (tests/integration/test_chaos.sh, tests/topology/run.sh). The
# replies use the stand-ins' echo ("Echo: a | b"), so each agent message
# says which customer messages it answers.
#
#   load_drained DSN        waits up to 60 s until no reply is due, claimed
#                           or pending (a killed process's claims end with
#                           their lease), and checks it
#   load_checks DSN OUT GRAPH CREDITS
#                           loads OUT's sent and acked files and the Graph
#                           stand-in's requests into DSN and checks: every
#                           message answered 200 stored exactly once, as sent,
#                           sequences contiguous, each customer message
#                           answered by one reply, nothing sent twice, credits
#                           (starting at CREDITS) add up, nothing pending

load_drained() {
	local dsn=$1 left= drained
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
}

load_checks() {
	local dsn=$1 out=$2 GRAPH=$3 CREDITS=$4
	# What the client sent and what got a 200, and what the Graph stand-in
	# received (sends only: read receipts and typing indicators carry no text).
	curl -sS "$GRAPH/_requests" | jq -r '.[] | select(.body.text.body != null)
		| [.body.to, .body.text.body, .status, (.response.messages[0].id // "")] | @tsv' >"$out/graph"
	psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<-SQL
	CREATE TABLE chaos_sent (wamid text, customer text, text text);
	CREATE TABLE chaos_acked (wamid text);
	CREATE TABLE chaos_graph (customer text, text text, status integer, pmid text);
	\copy chaos_sent FROM '$out/sent'
	\copy chaos_acked FROM '$out/acked'
	\copy chaos_graph FROM '$out/graph'
	SQL
	echo "# $(sql "$dsn" "SELECT 'graph sends ' || count(*) FROM chaos_graph")"

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

}
