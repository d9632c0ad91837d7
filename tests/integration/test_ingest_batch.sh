#!/usr/bin/env bash
# Group commit of webhooks (include/ingest/ingest_batch.h, sql/migrations/0006):
# webhooks that wait for a statement slot are stored several per
# transaction, each still answered 200 only after its data committed, stored
# exactly once, with contiguous per-conversation sequences; a batch the
# database refuses is stored again one by one; 503 when the database goes
# away, also for webhooks that were waiting.
. "$(dirname "$0")/../lib/testlib.sh"

# wa_text WAMID FROM TEXT
wa_text() {
	cat <<JSON
{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Ana"},"wa_id":"$2"}],"messages":[{"from":"$2","id":"$1","timestamp":"1764300000","type":"text","text":{"body":"$3"}}]}}]}]}
JSON
}

dsn=$(new_db)
conf=$(new_config "$dsn")
# Two statement slots: the webhooks beyond them wait and are batched.
# Eight connections: two ingest statements at once (a quarter), six free.
conf_set "$conf" database connections 8
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"

# --- parley_ingest() is a batch of one and keeps its contract
out=$(sql "$dsn" "SELECT parley_ingest('whatsapp_business_account',
	'[{\"t\":\"m\",\"platform\":\"whatsapp\",\"channel\":\"106540352242922\",\"customer\":\"31600000000\",\"id\":\"wamid.DIRECT\",\"kind\":\"text\",\"text\":\"direct\",\"reply\":true}]',
	'\\x7b7d'::bytea, 1000)")
eq "parley_ingest(): one outcome" \
	'{"skips": [], "stored": 1, "skipped": 0, "statuses": 0, "duplicates": 0, "early_statuses": 0}' "$out"
out=$(sql "$dsn" "SELECT array_length(parley_ingest_batch(ARRAY['a','b'], ARRAY['[]'::jsonb, NULL], ARRAY[NULL::bytea, NULL], 1000), 1)")
eq "parley_ingest_batch(): one outcome per webhook" 2 "$out"
eq "raw body kept once by the direct call" 1 "$(sql "$dsn" "SELECT count(*) FROM webhook_raw")"

# A gate: holds a lock that every ingest transaction needs (the raw body
# insert) until a row appears in batch_gate, so that webhooks pile up behind
# the two slots whatever the speed of this machine.
sql "$dsn" "CREATE TABLE batch_gate (x integer)" >/dev/null
close_gate() {
	sql "$dsn" "DELETE FROM batch_gate" >/dev/null
	psql -X -q -At "$dsn" -c "BEGIN" -c "LOCK TABLE webhook_raw IN SHARE ROW EXCLUSIVE MODE" \
		-c "DO \$\$ BEGIN FOR i IN 1..600 LOOP EXIT WHEN EXISTS (SELECT 1 FROM batch_gate); PERFORM pg_sleep(0.05); END LOOP; END \$\$" \
		-c "COMMIT" >/dev/null 2>&1 &
	GATE_PID=$!
	wait_for "$dsn" "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	                 WHERE c.relname = 'webhook_raw' AND l.mode = 'ShareRowExclusiveLock' AND l.granted" 1
}
open_gate() {
	sql "$dsn" "INSERT INTO batch_gate VALUES (1)" >/dev/null
	wait "$GATE_PID" 2>/dev/null
	return 0
}
metric() { curl -sS "$url/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
# Waits up to 10 s until parley_ingest_queued is WANT.
wait_queued() { wait_until "$1" metric parley_ingest_queued; }
# arrived BASE: webhooks parley has taken since the batch-size histogram's
# sum was BASE: those waiting plus those in statements sent (the histogram
# counts a statement when it goes). Behind the gate, how many each of the
# two statements holds depends on timing (the second one waits up to
# INGEST_BATCH_LINGER_US for more), their sum does not.
arrived() {
	echo $(($(metric parley_ingest_queued) + $(metric parley_ingest_batch_size_sum) - $1))
}
wait_posts() { local p; for p in $(jobs -p); do [ "$p" = "$pid" ] || wait "$p"; done; }

start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")

# --- 200 concurrent posts, 20 customers, 20 of them redeliveries
mkdir -p "$TEST_TMP/b"
for c in $(seq 1 20); do
	for m in $(seq 1 9); do
		wa_text "wamid.B$c.$m" "3161000$((1000 + c))" "customer $c message $m" >"$TEST_TMP/b/$c.$m.json"
	done
done
# Signed before the gate closes: the two statements held behind it are
# dropped by parley's silent-connection watchdog after 15 s, so all 200
# posts must be out well before that, on a loaded machine too (an openssl
# per post inside the loop took ~15 s there).
declare -A sig
for f in "$TEST_TMP"/b/*.json; do
	sig[$f]="sha256=$(openssl dgst -sha256 -hmac test-meta-app-secret -r <"$f" | cut -d' ' -f1)"
done
post_presigned() {
	curl -sS -o /dev/null -w '%{http_code}\n' -H "X-Hub-Signature-256: ${sig[$1]}" \
		-H 'Content-Type: application/json' --data-binary "@$1" "$url/webhooks/meta"
}
close_gate
eq "gate closed" 0 $?
n=0
for c in $(seq 1 20); do
	for m in $(seq 1 9); do
		post_presigned "$TEST_TMP/b/$c.$m.json" >"$TEST_TMP/b/$c.$m.status" &
		n=$((n + 1))
	done
	# Meta delivering message 1 of this customer a second time.
	post_presigned "$TEST_TMP/b/$c.1.json" >"$TEST_TMP/b/$c.1.again" &
	n=$((n + 1))
done
eq "200 posts sent" 200 "$n"
# Two statements in flight (stuck behind the gate): the first with one
# webhook, the second with what came within its linger (at most 32);
# everything else waiting to be batched.
ok "all 200 taken" wait_until 200 arrived 0
ok "two statements sent, the rest waiting" \
	test "$(metric parley_ingest_batch_size_count)|$(metric parley_ingest_queued)" \
	= "2|$((200 - $(metric parley_ingest_batch_size_sum)))"
ok "at most 1 + 32 in flight" test "$(metric parley_ingest_queued)" -ge 167
eq "the rest of the pool still answers: /readyz 200 while ingest waits" 200 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -m 5 "$url/readyz")"
eq "nothing answered while the transaction has not committed" 0 \
	"$(cat "$TEST_TMP"/b/*.status "$TEST_TMP"/b/*.again 2>/dev/null | grep -c '^200$')"
open_gate
wait_posts
eq "every post answered 200" 200 "$(cat "$TEST_TMP"/b/*.status "$TEST_TMP"/b/*.again | grep -c '^200$')"
eq "180 messages, each once" "180|180" \
	"$(sql "$dsn" "SELECT count(*), count(DISTINCT platform_message_id) FROM messages WHERE platform_message_id LIKE 'wamid.B%'")"
eq "20 conversations" 20 "$(sql "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone LIKE '3161000%'")"
eq "every conversation numbered 1..9 without gap or repeat, counter matching" 20 \
	"$(sql "$dsn" "SELECT count(*) FROM (
	     SELECT c.conversation_id FROM conversations c JOIN messages m USING (conversation_id)
	      WHERE c.customer_phone LIKE '3161000%'
	      GROUP BY c.conversation_id, c.last_sequence_no
	     HAVING count(*) = 9 AND count(DISTINCT m.sequence_no) = 9 AND min(m.sequence_no) = 1
	        AND max(m.sequence_no) = 9 AND c.last_sequence_no = 9) x")"
eq "each customer's messages in the right conversation" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
	               WHERE m.platform_message_id LIKE 'wamid.B%'
	                 AND substring(m.platform_message_id FROM 'wamid\\.B([0-9]+)\\.')::integer + 31610001000 <> c.customer_phone::bigint")"
eq "every body kept raw once, with its own outcome" "200|180|20" \
	"$(sql "$dsn" "SELECT count(*), sum((outcome->>'stored')::integer), sum((outcome->>'duplicates')::integer)
	               FROM webhook_raw WHERE raw_id > 1")"
batches=$(metric parley_ingest_batch_size_count)
webhooks=$(metric parley_ingest_batch_size_sum)
eq "every webhook went through a batch" 200 "$webhooks"
ok "several webhooks per transaction (200 webhooks in $batches transactions)" \
	test "$batches" -le 12
ok "batches of more than one webhook happened" \
	test "$(metric 'parley_ingest_batch_size_bucket{le="1"}')" -lt "$batches"
eq "one log line per webhook, with its own outcome" 200 \
	"$(grep -c 'webhook whatsapp_business_account stored in .*"stored": [01],' "$conf.log")"

# --- webhooks with several customers each, in opposite orders, batched
# together and concurrently: one global lock order, so no deadlock
wa_multi() { # wa_multi TAG CUSTOMER...
	local tag=$1 sep='' c
	shift
	printf '{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"messages":['
	for c in "$@"; do
		printf '%s{"from":"%s","id":"wamid.M%s.%s","timestamp":"1764300000","type":"text","text":{"body":"multi"}}' "$sep" "$c" "$tag" "$c"
		sep=,
	done
	printf ']}}]}]}\n'
}
mkdir -p "$TEST_TMP/m"
for i in $(seq 1 60); do
	if ((i % 2)); then
		wa_multi "$i" 31640000001 31640000002 31640000003 31640000004 >"$TEST_TMP/m/$i.json"
	else
		wa_multi "$i" 31640000004 31640000003 31640000002 31640000001 >"$TEST_TMP/m/$i.json"
	fi
done
for round in 1 2; do
	close_gate
	base=$(metric parley_ingest_batch_size_sum)
	for i in $(seq $((round * 30 - 29)) $((round * 30))); do
		post_signed "$url" "$TEST_TMP/m/$i.json" >"$TEST_TMP/m/$i.status" &
	done
	# All 30 taken (two statements behind the gate, the rest waiting)
	# before the gate opens; well within the 15 s after which parley drops
	# a connection whose query does not answer.
	wait_until 30 arrived "$base"
	open_gate
	wait_posts
done
# and without the gate: whatever batches form under plain concurrency
for i in $(seq 1 60); do post_signed "$url" "$TEST_TMP/m/$i.json" >"$TEST_TMP/m/$i.again" & done
wait_posts
eq "multi-customer posts: all 200" 120 "$(cat "$TEST_TMP"/m/*.status "$TEST_TMP"/m/*.again | grep -c '^200$')"
eq "four conversations numbered 1..60 each" "4|240|60" \
	"$(sql "$dsn" "SELECT count(DISTINCT conversation_id), count(*), max(sequence_no) FROM messages WHERE platform_message_id LIKE 'wamid.M%'")"
eq "no gap, no repeat" 240 \
	"$(sql "$dsn" "SELECT count(DISTINCT (conversation_id, sequence_no)) FROM messages WHERE platform_message_id LIKE 'wamid.M%'")"
eq "no deadlock, no failed batch" 0 "$(grep -c 'deadlock\|one by one' "$conf.log")"
batches=$(metric parley_ingest_batch_size_count)
webhooks=$(metric parley_ingest_batch_size_sum)

# --- no backlog: a webhook goes alone, at once
wa_text "wamid.ALONE" 31610009999 "alone" >"$TEST_TMP/alone.json"
eq "a lone webhook: 200" 200 "$(post_signed "$url" "$TEST_TMP/alone.json")"
eq "a lone webhook is a batch of one" "$((batches + 1)) $((webhooks + 1))" \
	"$(metric parley_ingest_batch_size_count) $(metric parley_ingest_batch_size_sum)"

# --- a webhook the database refuses does not take its batch down with it
sql "$dsn" "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
            BEGIN IF NEW.text = 'poison' THEN RAISE EXCEPTION 'poison refused'; END IF; RETURN NEW; END \$\$;
            CREATE TRIGGER refuse_poison BEFORE INSERT ON messages
               FOR EACH ROW EXECUTE FUNCTION refuse_poison();" >/dev/null
mkdir -p "$TEST_TMP/p"
for i in $(seq 1 12); do wa_text "wamid.P$i" 31620000001 "fine $i" >"$TEST_TMP/p/$i.json"; done
wa_text "wamid.POISON" 31620000001 "poison" >"$TEST_TMP/p/poison.json"
close_gate
eq "gate closed again" 0 $?
base=$(metric parley_ingest_batch_size_sum)
for i in $(seq 1 9); do post_signed "$url" "$TEST_TMP/p/$i.json" >"$TEST_TMP/p/$i.status" & done
ok "9 webhooks taken" wait_until 9 arrived "$base"
# Both statements are behind the gate once the second one's linger (1 ms)
# is over: whatever comes next waits, together.
sleep 0.2
queued=$(metric parley_ingest_queued)
post_signed "$url" "$TEST_TMP/p/poison.json" >"$TEST_TMP/p/poison.status" &
for i in 10 11 12; do post_signed "$url" "$TEST_TMP/p/$i.json" >"$TEST_TMP/p/$i.status" & done
ok "the refused one waiting with three others" wait_queued $((queued + 4))
open_gate
wait_posts
eq "the others: 200" 12 "$(cat "$TEST_TMP"/p/[0-9]*.status | grep -c '^200$')"
eq "the refused one: 503" 503 "$(cat "$TEST_TMP/p/poison.status")"
eq "the others stored once, numbered 1..12" "12|1|12" \
	"$(sql "$dsn" "SELECT count(DISTINCT sequence_no), min(sequence_no), max(sequence_no) FROM messages
	               WHERE platform_message_id LIKE 'wamid.P%'")"
eq "nothing of the refused one kept" 0 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE platform_message_id = 'wamid.POISON'")"
ok "the failed batch was split" test "$(metric parley_ingest_batch_splits_total)" -ge 1
contains "the split is logged, with the SQLSTATE" "storing them one by one: poison refused (SQLSTATE P0001)" "$(cat "$conf.log")"
sql "$dsn" "DROP TRIGGER refuse_poison ON messages" >/dev/null
eq "its redelivery: 200" 200 "$(post_signed "$url" "$TEST_TMP/p/poison.json")"
eq "its redelivery stored, numbered next" 13 \
	"$(sql "$dsn" "SELECT sequence_no FROM messages WHERE platform_message_id = 'wamid.POISON'")"

# --- the database goes away: waiting webhooks get 503 too, nothing half-stored
mkdir -p "$TEST_TMP/d"
for i in $(seq 1 20); do wa_text "wamid.D$i" 31630000001 "down $i" >"$TEST_TMP/d/$i.json"; done
close_gate
eq "gate closed a third time" 0 $?
base=$(metric parley_ingest_batch_size_sum)
for i in $(seq 1 20); do post_signed "$url" "$TEST_TMP/d/$i.json" >"$TEST_TMP/d/$i.status" & done
ok "20 webhooks taken" wait_until 20 arrived "$base"
sleep 0.2 # the second statement's linger over: both behind the gate
queued=$(metric parley_ingest_queued)
pg_pause
wait "$GATE_PID" 2>/dev/null
wait_posts
n503=$(cat "$TEST_TMP"/d/*.status | grep -c '^503$')
# The two statements in flight die with the gate; in the unlikely race
# where one commits first, its webhooks may get their 200 (or a 503 with
# the outcome unknown). Nothing else can commit.
eq "database gone: every post answered" 20 "$((n503 + $(cat "$TEST_TMP"/d/*.status | grep -c '^200$')))"
ok "database gone: the $queued waiting ones and any in flight 503 ($n503 of 20)" \
	test "$queued" -ge 1 -a "$n503" -ge "$queued"
pg_resume
ok "database back: ready" wait_status "$url/readyz" 200
answered=$(grep -l '^200$' "$TEST_TMP"/d/*.status | sed -E 's/.*\/([0-9]+)\.status$/wamid.D\1/' | LC_ALL=C sort | paste -sd,)
eq "every one answered 200 was stored" "$answered" \
	"$(sql "$dsn" "SELECT string_agg(platform_message_id, ',' ORDER BY platform_message_id COLLATE \"C\") FROM messages
	               WHERE platform_message_id = ANY (string_to_array('$answered', ','))")"
for i in $(seq 1 20); do post_signed "$url" "$TEST_TMP/d/$i.json" >"$TEST_TMP/d/$i.status" & done
wait_posts
eq "redeliveries: 200" 20 "$(cat "$TEST_TMP"/d/*.status | grep -c '^200$')"
eq "redeliveries stored once, numbered 1..20" "20|20|1|20" \
	"$(sql "$dsn" "SELECT count(*), count(DISTINCT sequence_no), min(sequence_no), max(sequence_no) FROM messages
	               WHERE platform_message_id ~ '^wamid\\.D[0-9]+$'")"

stop_parley "$pid"
eq "SIGTERM: exit 0" 0 $?
finish
