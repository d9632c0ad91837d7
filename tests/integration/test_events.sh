#!/usr/bin/env bash
# Events out end to end (issue #18, SPEC 10): `parley endpoint`, the outbox
# written with the change, signed deliveries verified independently (Python's
# hmac), retries, ordering, auto-disable, safety of targets, two processes.
# The receiver is tests/standins/fake_receiver.py.
. "$(dirname "$0")/../lib/testlib.sh"

# An "hour" of events.* settings is 2 seconds here, leases are short.
export PARLEY_TEST_EVENTS_HOUR_SECONDS=2
export PARLEY_TEST_LEASE_SECONDS=2

start_standin fake_receiver || { finish; exit 1; }
RECV=$STANDIN_URL

dsn=$(new_db)
conf=$(new_config "$dsn")
ep() { "$PARLEY_BIN" endpoint "$@" -c "$conf"; }
requests() { curl -sS "$RECV/_requests"; }
n_requests() { requests | jq --arg p "$1" '[.[] | select(.path == $p)] | length'; }
script() { curl -sS -d "$2" "$RECV/_script?path=$1" >/dev/null; }
say() {
	say_wa E "$@" >/dev/null
}
# verify SECRET: every request to PATH (default all) carries a valid
# Standard Webhooks signature for SECRET, checked with Python's hmac.
verify() {
	requests | python3 -c '
import base64, hashlib, hmac, json, sys
secret, path = sys.argv[1], sys.argv[2]
key = base64.b64decode(secret[len("whsec_"):])
reqs = [r for r in json.load(sys.stdin) if path == "" or r["path"] == path]
assert reqs, "no requests"
for r in reqs:
    h = r["headers"]
    msg = ("%s.%s.%s" % (h["webhook-id"], h["webhook-timestamp"], r["body"])).encode()
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    assert want in h["webhook-signature"].split(" "), (want, h["webhook-signature"])
    body = json.loads(r["body"])
    assert body["id"] == h["webhook-id"] and body["type"] == h["parley-event-type"]
print(len(reqs))
' "$1" "${2:-}"
}

ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
seed_channels "$dsn"

# ---- commands and exit codes --------------------------------------------
out=$(ep add --tenant acme --url "$RECV/a" 2>&1)
eq "http refused without events.allow_http (exit 2)" "2" "$(ep add --tenant acme --url "$RECV/a" >/dev/null 2>&1; echo $?)"
contains "says why" "events.allow_http" "$out"
conf_set "$conf" events allow_http true
out=$(ep add --tenant acme --url "$RECV/a" 2>&1)
eq "loopback refused without allow_private_targets (exit 1)" "1" "$(ep add --tenant acme --url "$RECV/a" >/dev/null 2>&1; echo $?)"
contains "says why" "loopback, private" "$out"
port=${RECV##*:}
out=$(ep add --tenant acme --url "http://localhost:$port/a" 2>&1)
contains "a host name resolving to 127.0.0.1 refused too" "allow_private_targets" "$out"
eq "a secret on the command line refused (exit 2)" "2" "$(ep add --tenant acme --url https://example.com/x --secret=whsec_x >/dev/null 2>&1; echo $?)"
eq "unknown event type (exit 2)" "2" "$(ep add --tenant acme --url https://example.com/x --events lead.warm >/dev/null 2>&1; echo $?)"
eq "no such tenant (exit 1)" "1" "$(ep add --tenant nobody --url https://example.com/x >/dev/null 2>&1; echo $?)"
eq "nothing was stored" "0" "$(sql "$dsn" "SELECT count(*) FROM event_endpoints")"
conf_set "$conf" events allow_private_targets true

out=$(ep add --tenant acme --url "$RECV/a" --id ep_a)
SECRET_A=$(printf '%s\n' "$out" | sed -nE 's/^signing secret .*: (whsec_.*)$/\1/p')
contains "add prints the endpoint" "added endpoint ep_a" "$out"
eq "add prints a whsec_ secret of 32 bytes" "32" "$(printf '%s' "${SECRET_A#whsec_}" | base64 -d | wc -c)"
list=$(ep list --json)
eq "list --json shows it enabled with every type" "ep_a enabled *" "$(echo "$list" | jq -r '.[0] | "\(.endpoint_id) \(.state) \(.events)"')"
case "$list$(ep list)" in *whsec_*) _t_report fail "list never prints the secret" ;; *) _t_report ok "list never prints the secret" ;; esac
python3 -c 'import base64,os; print("whsec_"+base64.b64encode(os.urandom(32)).decode())' >"$TEST_TMP/secret_b"
SECRET_B=$(cat "$TEST_TMP/secret_b")
out=$(ep add --tenant acme --url "$RECV/b" --id ep_b --events lead.hot,message.received --secret-file - <"$TEST_TMP/secret_b")
case "$out" in *whsec_*) _t_report fail "a given secret is not printed" ;; *) _t_report ok "a given secret is not printed" ;; esac
eq "bad secret file (exit 2)" "2" "$(echo whsec_short | ep add --tenant acme --url "$RECV/c" --secret-file - >/dev/null 2>&1; echo $?)"
eq "remove of an unknown endpoint (exit 1)" "1" "$(ep remove ep_nope >/dev/null 2>&1; echo $?)"
eq "deliveries without an id (exit 2)" "2" "$(ep deliveries >/dev/null 2>&1; echo $?)"

# ---- a change rolled back emits nothing ------------------------------------
sql "$dsn" "BEGIN; SELECT parley_emit_ping('ep_a'); ROLLBACK;" >/dev/null
psql -X -q "$dsn" -c "BEGIN; SELECT parley_emit_event('acme', 'message.received', NULL, '{}'); ROLLBACK;" >/dev/null
eq "rolled back: no event, no delivery" "0 0" "$(sql "$dsn" "SELECT (SELECT count(*) FROM event_outbox) || ' ' || (SELECT count(*) FROM event_deliveries)")"

# ---- delivery, signature ---------------------------------------------------
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")
say 31600000001 "hello there"
wait_for "$dsn" "SELECT count(*) FROM event_deliveries WHERE state = 'delivered'" "2"
eq "message.received went to both endpoints" "1 1" "$(n_requests /a) $(n_requests /b)"
eq "signature of ep_a verifies (python hmac)" "1" "$(verify "$SECRET_A" /a)"
eq "signature of ep_b verifies (python hmac)" "1" "$(verify "$SECRET_B" /b)"
body=$(requests | jq -r '.[0].body')
eq "body carries the message" "message.received acme hello there customer 1 whatsapp pn-wa 31600000001" \
	"$(echo "$body" | jq -r '"\(.type) \(.tenant) \(.data.text) \(.data.author) \(.data.sequence_no) \(.data.platform) \(.data.channel) \(.data.customer)"')"
contains "created_at is RFC 3339 UTC" "Z" "$(echo "$body" | jq -r .created_at)"

out=$(ep test ep_a)
contains "test queues a ping" "queued ping evt_" "$out"
wait_for "$dsn" "SELECT count(*) FROM event_deliveries WHERE state = 'delivered'" "3"
eq "the ping arrived (only at ep_a)" "ping 2 1" "$(requests | jq -r '[.[] | select(.path == "/a")][-1].headers["parley-event-type"]') $(n_requests /a) $(n_requests /b)"
eq "deliveries --json lists them with attempts" "delivered 1 200" \
	"$(ep deliveries ep_a --json | jq -r '.[0] | "\(.state) \(.attempts) \(.attempts_log[0].http_status)"')"

# ---- retries, Retry-After, final 4xx, ordering -----------------------------
curl -sS -X POST "$RECV/_reset" >/dev/null
script /a '[{"status":500},{"status":429,"retry_after":"2"}]'
say 31600000002 "first"
say 31600000002 "second"
wait_for "$dsn" "SELECT count(*) FROM event_deliveries d JOIN event_outbox o ON o.seq = d.event_seq WHERE d.endpoint_id = 'ep_a' AND o.type = 'message.received' AND d.state = 'delivered'" "3"
texts=$(requests | jq -r '[.[] | select(.path == "/a") | (.body | fromjson | .data.text)] | join(",")')
eq "500, 429 then 200; the second waited for the first" "first,first,first,second" "$texts"
gap=$(requests | jq '[.[] | select(.path == "/a")] | (.[2].at - .[1].at)')
ok "the retry after 429 waited Retry-After (2 s)" python3 -c "import sys; sys.exit(0 if $gap >= 1.9 else 1)"
eq "same webhook-id on every attempt" "1" "$(requests | jq '[.[] | select(.path == "/a") | select((.body | fromjson | .data.text) == "first") | .headers["webhook-id"]] | unique | length')"
eq "deliveries shows the one with 3 attempts" "1" "$(ep deliveries ep_a --json | jq '[.[] | select(.attempts == 3)] | length')"

script /a '[{"status":400}]'
ep test ep_a >/dev/null
wait_for "$dsn" "SELECT count(*) FROM event_deliveries WHERE state = 'failed'" "1"
eq "a 400 is final: one attempt" "1 HTTP 400" "$(sql "$dsn" "SELECT attempts || ' ' || last_error FROM event_deliveries WHERE state = 'failed'")"
eq "deliveries --failed shows it" "1" "$(ep deliveries ep_a --failed --json | jq length)"

# ---- auto-disable after disable_after_hours, enable resumes ----------------
conf_set "$conf" events disable_after_hours 1
conf_set "$conf" events max_age_hours 100
stop_parley "$pid"
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
script /b '[{"status":503},{"status":503},{"status":503},{"status":503},{"status":503},{"status":503},{"status":503},{"status":503}]'
say 31600000003 "are you there"
wait_for "$dsn" "SELECT disabled_at IS NOT NULL FROM event_endpoints WHERE endpoint_id = 'ep_b'" "t"
contains "list shows the reason" "every delivery failed" "$(ep list --json | jq -r '.[] | select(.endpoint_id == "ep_b") | .disabled_reason')"
eq "the delivery is still pending" "pending" "$(sql "$dsn" "SELECT d.state FROM event_deliveries d WHERE endpoint_id = 'ep_b' ORDER BY delivery_id DESC LIMIT 1")"
curl -sS -X POST "$RECV/_reset" >/dev/null
ok "enable" ep enable ep_b
wait_for "$dsn" "SELECT d.state FROM event_deliveries d WHERE endpoint_id = 'ep_b' ORDER BY delivery_id DESC LIMIT 1" "delivered"
ok "disable" ep disable ep_b
contains "disabled by an operator" "operator" "$(ep list --json | jq -r '.[] | select(.endpoint_id == "ep_b") | .disabled_reason')"

# ---- rotation: both signatures ---------------------------------------------
out=$(ep rotate-secret ep_a)
NEW_A=$(printf '%s\n' "$out" | sed -nE 's/^.*: (whsec_[A-Za-z0-9+\/=]+)$/\1/p')
curl -sS -X POST "$RECV/_reset" >/dev/null
ep test ep_a >/dev/null
wait_for "$dsn" "SELECT count(*) FROM event_deliveries WHERE endpoint_id = 'ep_a' AND state = 'pending'" "0"
eq "after rotation the new secret verifies" "1" "$(verify "$NEW_A" /a)"
eq "and the old one still does" "1" "$(verify "$SECRET_A" /a)"
eq "two signatures" "2" "$(requests | jq -r '.[0].headers["webhook-signature"]' | wc -w)"

# ---- two processes never deliver one attempt twice -------------------------
conf2=$(new_config "$dsn")
cat "$conf" | grep -v '^listen' >"$conf2.tmp"
sed -nE '/^listen/p' "$conf2" | head -1 >"$conf2.listen"
awk -v l="$(cat "$conf2.listen")" '/^\[server\]/ { print; print l; next } { print }' "$conf2.tmp" >"$conf2"
start_parley "$conf2" || { finish; exit 1; }
pid2=$PARLEY_PID
curl -sS -X POST "$RECV/_reset" >/dev/null
for i in $(seq 1 20); do sql "$dsn" "SELECT parley_emit_ping('ep_a')" >/dev/null; done
wait_for "$dsn" "SELECT count(*) FROM event_deliveries WHERE endpoint_id = 'ep_a' AND state = 'pending'" "0"
eq "20 pings, 20 requests, 20 distinct ids" "20 20" "$(requests | jq '[.[] | select(.path == "/a")] | "\(length) \([.[].headers["webhook-id"]] | unique | length)"' -r)"
eq "each delivered in one attempt" "0" "$(sql "$dsn" "SELECT count(*) FROM event_deliveries WHERE endpoint_id = 'ep_a' AND attempts > 1 AND delivery_id > (SELECT max(delivery_id) - 20 FROM event_deliveries)")"
stop_parley "$pid2"

# An idle worker looks for work about once a second, not in a loop (an empty
# "next due" once read as "due now": greatest(0, NULL) is 0).
# PostgreSQL 15 backends flush their counts to pg_stat_database at most
# once a second while busy and 10 s after they went idle: wait that out, or
# the pings' own transactions land in the window on a loaded machine.
check_idle "$dsn" 11

ok "remove" ep remove ep_b
eq "its deliveries went with it" "0" "$(sql "$dsn" "SELECT count(*) FROM event_deliveries WHERE endpoint_id = 'ep_b'")"
contains "metrics count deliveries" "parley_event_deliveries_total" "$(curl -sS "$url/metrics")"
stop_parley "$pid"
eq "stops cleanly" "0" "$?"
grep -E 'ERROR|sanitizer|runtime error' "$conf.log" "$conf2.log" && _t_report fail "no errors in the logs"
finish
