#!/usr/bin/env bash
# parley replay and parley capture (README, Commands): traffic stored in one
# database, captured to files, replayed into a fresh one, gives the same rows.
. "$(dirname "$0")/../lib/testlib.sh"

rows() {
	sql "$1" "SELECT c.customer_phone, m.sequence_no, m.sender, m.kind, m.platform_message_id, m.text
	          FROM messages m JOIN conversations c USING (conversation_id)
	          ORDER BY c.customer_phone, m.sequence_no"
}

in="$TEST_TMP/in"
mkdir -p "$in/b"
for i in 1 2 3; do wa_text "wamid.R$i" 31612345678 "first customer $i" >"$in/a$i.json"; done
for i in 1 2; do wa_text "wamid.S$i" 31687654321 "second customer $i" >"$in/b/$i.json"; done
wa_text "wamid.R1" 31612345678 "first customer 1" >"$in/z-duplicate.json"
echo "not a body" >"$in/notes.txt"

seeded_db "migrate A"
serve "$conf" || { finish; exit 1; }
dsn_a=$dsn conf_a=$conf pid_a=$pid

out=$("$PARLEY_BIN" replay -c "$conf_a" "$in" 2>&1)
eq "replay of a directory: exit 0" 0 $?
eq "replay: one line per JSON file, recursively, in name order" \
	"200 $in/a1.json: stored 1|200 $in/a2.json: stored 1|200 $in/a3.json: stored 1|200 $in/b/1.json: stored 1|200 $in/b/2.json: stored 1|200 $in/z-duplicate.json: duplicate 1 (stored before)" \
	"$(printf '%s\n' "$out" | grep '^[0-9E]' | paste -sd'|')"
contains "replay: the summary counts files and what parley did with them" \
	"replay: 6 files, 6 accepted, 0 failed; messages: 5 stored, 1 duplicate, 0 skipped; 0 statuses" "$out"
eq "replay stored each message once" 5 "$(sql "$dsn_a" "SELECT count(*) FROM messages")"

out=$("$PARLEY_BIN" replay -c "$conf_a" --secret wrong "$in/a1.json" 2>&1)
eq "replay with a wrong secret: exit 1" 1 $?
contains "replay prints the status" "401 $in/a1.json" "$out"
contains "replay prints why it was refused" "401 $in/a1.json: refused: " "$out"
out=$("$PARLEY_BIN" replay -c "$conf_a" "$TEST_TMP/nothing-here" 2>&1)
eq "replay of a missing path: exit 1" 1 $?
out=$("$PARLEY_BIN" replay -c "$conf_a" 2>&1)
eq "replay without a path: exit 2" 2 $?

cap="$TEST_TMP/captured"
out=$("$PARLEY_BIN" capture -c "$conf_a" --out "$cap" 2>&1)
eq "capture: exit 0" 0 $?
eq "capture: every verified body (six posts, one 401 not kept)" 6 "$(ls "$cap" | wc -l)"
eq "capture: name order is arrival order" "000001-whatsapp.json" "$(ls "$cap" | head -1)"
eq "capture: bytes as received" "$(md5sum <"$in/a1.json" | cut -d' ' -f1)" "$(md5sum <"$cap/000001-whatsapp.json" | cut -d' ' -f1)"
out=$("$PARLEY_BIN" capture -c "$conf_a" --since 'tomorrow' --out "$TEST_TMP/none" 2>&1)
eq "capture --since tomorrow: nothing" 0 "$(ls "$TEST_TMP/none" | wc -l)"
out=$("$PARLEY_BIN" capture -c "$conf_a" --since 'not a time' --out "$TEST_TMP/bad" 2>&1)
eq "capture with an unreadable time: exit 2" 2 $?
out=$("$PARLEY_BIN" capture -c "$conf_a" 2>&1)
eq "capture without --out: exit 2" 2 $?
stop_parley "$pid_a"

seeded_db "migrate B"
serve "$conf" || { finish; exit 1; }
dsn_b=$dsn conf_b=$conf pid_b=$pid
ok "replay the capture into a fresh database" "$PARLEY_BIN" replay -c "$conf_b" "$cap"
eq "the same rows" "$(rows "$dsn_a")" "$(rows "$dsn_b")"
wa_text "wamid.U1" 31612345678 "to nobody" 999999999999 >"$TEST_TMP/unknown-channel.json"
out=$("$PARLEY_BIN" replay -c "$conf_b" "$TEST_TMP/unknown-channel.json" 2>&1)
contains "replay: a skipped message says why" \
	"200 $TEST_TMP/unknown-channel.json: skipped 1: unknown_channel (whatsapp channel 999999999999)" "$out"
stop_parley "$pid_b"
eq "parley B stops cleanly" 0 $?
finish
