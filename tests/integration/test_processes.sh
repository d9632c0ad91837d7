#!/usr/bin/env bash
# Several `parley serve` processes on one database behave as one
# (docs/architecture.md, Several processes): posts spread over two processes
# into one conversation get a contiguous sequence; the same message sent to
# both is stored once.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf_a=$(new_config "$dsn")
conf_b=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf_a"
seed_channels "$dsn"
start_parley "$conf_a" || { finish; exit 1; }
pid_a=$PARLEY_PID
start_parley "$conf_b" || { finish; exit 1; }
pid_b=$PARLEY_PID
url_a=$(parley_url "$conf_a")
url_b=$(parley_url "$conf_b")

for i in $(seq 1 40); do
	wa_text "wamid.P$i" 31687654321 "message $i" >"$TEST_TMP/p$i.json"
done
for i in $(seq 1 40); do
	if ((i % 2)); then u=$url_a; else u=$url_b; fi
	post_signed "$u" "$TEST_TMP/p$i.json" >"$TEST_TMP/p$i.status" &
	# The same message to the other process as well: Meta re-delivering.
	if ((i % 5 == 0)); then post_signed "$url_a" "$TEST_TMP/p$i.json" >"$TEST_TMP/p$i.dup" & fi
done
for p in $(jobs -p); do
	[ "$p" = "$pid_a" ] || [ "$p" = "$pid_b" ] || wait "$p"
done
eq "all posts answered 200" 48 "$(cat "$TEST_TMP"/p*.status "$TEST_TMP"/p*.dup | grep -c '^200$')"
eq "one conversation" 1 "$(sql "$dsn" "SELECT count(*) FROM conversations")"
eq "40 messages, sequence 1..40 without gap or repeat" "40|40|1|40" \
	"$(sql "$dsn" "SELECT count(*), count(DISTINCT sequence_no), min(sequence_no), max(sequence_no) FROM messages")"

stop_parley "$pid_a"
eq "process A stops cleanly" 0 $?
stop_parley "$pid_b"
eq "process B stops cleanly" 0 $?
finish
