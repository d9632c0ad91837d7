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
serve_two "$conf_a" "$conf_b" || { finish; exit 1; }
# The same message to the other process as well: Meta re-delivering.
post_burst P 31687654321 message "$url_a"
eq "all posts answered 200" 48 "$(cat "$TEST_TMP"/p*.status "$TEST_TMP"/p*.dup | grep -c '^200$')"
eq "one conversation" 1 "$(sql "$dsn" "SELECT count(*) FROM conversations")"
eq "40 messages, sequence 1..40 without gap or repeat" "40|40|1|40" \
	"$(sql "$dsn" "SELECT count(*), count(DISTINCT sequence_no), min(sequence_no), max(sequence_no) FROM messages")"

stop_parley "$pid_a"
eq "process A stops cleanly" 0 $?
stop_parley "$pid_b"
eq "process B stops cleanly" 0 $?
finish
