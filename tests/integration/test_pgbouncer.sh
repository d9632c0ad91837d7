#!/usr/bin/env bash
# parley through PgBouncer in transaction pooling mode (SPEC 11,
# docs/operations.md, PgBouncer): database.url goes through a PgBouncer with
# two server connections, database.listen_url straight to PostgreSQL. The
# whole path: two concurrent migrates, admin commands, concurrent webhooks on
# two `parley serve` processes, a reply, a webchat long poll woken by NOTIFY.
# Nothing may rely on session state: every statement of a client can land on
# another server connection, so a session advisory lock, a SET or a named
# prepared statement would show here.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/replylib.sh"
. "$TESTS_DIR/lib/pgbouncer.sh"

# CI installs pgbouncer with tests/lib/deps.sh; a machine without it gets it
# here when it can, and the test is skipped only when it cannot.
if ! [ -x "$PGB_BIN" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null 2>&1
	PGB_BIN=$(command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer)
fi
if ! [ -x "$PGB_BIN" ]; then
	echo "skip - $T_NAME: pgbouncer is not installed and cannot be (run 'make deps')"
	finish
	exit
fi

PGB_POOL_SIZE=2 pgb_start || {
	_t_report fail "pgbouncer starts"
	finish
	exit 1
}
trap '_t_cleanup; pgb_stop' EXIT

WIDGET=wgt_pgbouncer
SECRET=test-webchat-secret-pgbouncer

direct=$(new_db)
pooled=$(pgb_dsn "$direct")
db=${direct##*dbname=}
# Times the admin commands print are UTC whatever the database's default.
sql "$PG_ADMIN_DSN" "ALTER DATABASE $db SET timezone = 'America/New_York'"
eq "the pooled DSN reaches the database through PgBouncer" "$db|127.0.0.1/32" \
	"$(sql "$pooled" "SELECT current_database() || '|' || inet_client_addr()")"

reply_standins || { finish; exit 1; }
dsn=$direct # replylib's credits() reads it
# new_config writes database.url; listen_url is the direct connection.
mkconf() {
	reply_config "$pooled" database listen_url "$direct" database connections 4 \
		openai timeout_seconds 5 replies debounce_ms 300 \
		webchat secret "$SECRET" webchat allowed_origins "https://shop.example"
}
conf_a=$(mkconf)
conf_b=$(mkconf)

# --- migrate: two at once, the session lock on listen_url serialises them
"$PARLEY_BIN" migrate -c "$conf_a" >"$TEST_TMP/mig1" 2>&1 &
m1=$!
"$PARLEY_BIN" migrate -c "$conf_b" >"$TEST_TMP/mig2" 2>&1 &
m2=$!
wait $m1
r1=$?
wait $m2
r2=$?
eq "two concurrent migrates both succeed" "0 0" "$r1 $r2"
nmig=$(ls "$REPO_DIR"/sql/migrations/*.sql | wc -l)
eq "every migration applied once" "$nmig" "$(sql "$direct" "SELECT count(*) FROM schema_migrations")"
eq "one of them found nothing to do" 1 "$(cat "$TEST_TMP/mig1" "$TEST_TMP/mig2" | grep -c '^up to date')"
ok "migrate again: up to date" "$PARLEY_BIN" migrate -c "$conf_a"
ok "migrate --status" "$PARLEY_BIN" migrate --status -c "$conf_a"
ok "check-config accepts database.listen_url" "$PARLEY_BIN" check-config -c "$conf_a"

# --- admin commands, every one through PgBouncer
seed_channels "$direct"
adm() { "$PARLEY_BIN" "$@" -c "$conf_a"; }
ok "tenant add" adm tenant add --id globex --email ops@globex.test --company Globex --credits 5
ok "channel add (webchat)" adm channel add --tenant acme --platform webchat --meta-id "$WIDGET" \
	--name "Acme website" --id pn-web
ok "agent link" adm agent link --channel pn-web --prompt pmpt_web --name "Web agent" --id ag-web
ok "credits add" adm credits add --tenant acme 50
eq "credits show" 150 "$(adm credits show --tenant acme --json | jq .credits_remaining)"
eq "tenant list: both tenants" "acme globex" "$(adm tenant list --json | jq -r '[.[].tenant_id] | sort | join(" ")')"
ok "tenant show" adm tenant show acme

# --- two parley serve processes
serve_two "$conf_a" "$conf_b" || { finish; exit 1; }
url=$url_a
ok "A ready" curl -fsS "$url_a/readyz"
ok "B ready" curl -fsS "$url_b/readyz"

# --- webhooks: concurrent, over both processes, with Meta's re-deliveries
post_burst PGB 31687654321 burst "$url_b"
eq "all 48 posts answered 200" 48 "$(cat "$TEST_TMP"/p*.status "$TEST_TMP"/p*.dup | grep -c '^200$')"
eq "40 customer messages stored, each once" "40|40" \
	"$(sql "$direct" "SELECT count(*), count(DISTINCT platform_message_id) FROM messages WHERE sender = 'user'")"
# In order: a second customer's messages one after another, alternating
# processes, are numbered in the order they were sent.
for i in $(seq 1 10); do
	if ((i % 2)); then u=$url_a; else u=$url_b; fi
	wa_text "wamid.PGO$i" 31611112222 "order $i" >"$TEST_TMP/o.json"
	post_signed "$u" "$TEST_TMP/o.json" >/dev/null
done
eq "sequential messages are stored in order" "$(seq -f 'order %g' 1 10)" \
	"$(sql "$direct" "SELECT m.text FROM messages m JOIN conversations c USING (conversation_id)
	                  WHERE c.customer_phone = '31611112222' AND m.sender = 'user' ORDER BY m.sequence_no")"

# --- replies: each conversation answered, nothing sent twice, credits add up
ok "both conversations answered" wait_for "$direct" \
	"SELECT count(DISTINCT conversation_id) FROM messages WHERE sender = 'agent' AND status = 'sent'" 2
ok "every due reply done" wait_for "$direct" "SELECT count(*) FROM conversations WHERE reply_due_at IS NOT NULL" 0
sleep 0.5
agents=$(sql "$direct" "SELECT count(*) FROM messages WHERE sender = 'agent'")
eq "one Graph send per stored reply" "$agents" "$(n_sends)"
eq "no Graph send of the same text twice" "$(curl -sS "$GRAPH/_requests" | jq '[.[] | select(.path | endswith("/messages")) | .body.text.body] | length')" \
	"$(curl -sS "$GRAPH/_requests" | jq '[.[] | select(.path | endswith("/messages")) | .body.text.body] | unique | length')"
eq "credits: one per reply" "$((150 - agents))/$agents" "$(credits)"
eq "each conversation's sequence is contiguous, without repeat" "" \
	"$(sql "$direct" "SELECT conversation_id FROM messages GROUP BY conversation_id
	                  HAVING count(*) <> max(sequence_no) OR count(DISTINCT sequence_no) <> count(*) OR min(sequence_no) <> 1")"

# --- the admin transcript, in UTC although the database's zone is not
conv=$(sql "$direct" "SELECT conversation_id FROM conversations WHERE customer_phone = '31611112222'")
# messages."timestamp" is UTC without a zone: what the transcript must print.
first_utc=$(sql "$direct" "SELECT to_char(m.\"timestamp\", 'YYYY-MM-DD HH24:MI:SS') FROM messages m
                           WHERE m.conversation_id = '$conv' AND m.sequence_no = 1")
eq "conversation show prints UTC times" "$first_utc" \
	"$(adm conversation show "$conv" --json | jq -r '.transcript[0].time')"
contains "conversation list sees both" 31687654321 "$(adm conversation list --tenant acme)"

# --- webchat: a poll on A woken by a reply, through LISTEN on listen_url
wreq() { curl -sS -H 'Content-Type: application/json' "$@"; }
TOKEN=$(wreq -X POST --data-binary "{\"widget_id\":\"$WIDGET\"}" "$url_a/webchat/v1/sessions" | jq -r .token)
ok "a webchat session" test -n "$TOKEN" -a "$TOKEN" != null
sleep 1 # both processes' LISTEN connections are up well before this
code=$(wreq -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST \
	--data-binary '{"text":"Open on Sundays?","client_message_id":"w-1"}' "$url_b/webchat/v1/messages")
eq "a webchat message through B (202)" 202 "$code"
before=$(date +%s%N)
poll=$(curl -sS -H "Authorization: Bearer $TOKEN" "$url_a/webchat/v1/messages?after=1&wait=20")
after=$(date +%s%N)
eq "the poll on A gets the reply" "agent|Echo: Open on Sundays?" \
	"$(echo "$poll" | jq -r '.messages[] | "\(.sender)|\(.text)"')"
ok "woken by NOTIFY, well before its wait ran out" test $(((after - before) / 1000000)) -lt 10000

# --- where the connections went
eq "the LISTEN connections are direct (one per process, none through PgBouncer)" "2|0" \
	"$(sql "$direct" "SELECT count(*) FILTER (WHERE client_addr IS NULL), count(*) FILTER (WHERE client_addr IS NOT NULL)
	                  FROM pg_stat_activity WHERE datname = '$db' AND query LIKE 'LISTEN%'")"
ok "PgBouncer held at most 2 server connections" test \
	"$(sql "$direct" "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND client_addr IS NOT NULL")" -le 2
logs=$(cat "$conf_a.log" "$conf_b.log")
eq "no prepared-statement or protocol error in parley's logs" "" \
	"$(echo "$logs" | grep -Ei 'prepared statement|26000|42P05|08P01|unsupported' || true)"
eq "PgBouncer refused nothing" "" \
	"$(grep -Ei 'unsupported|error' "$PGB_ROOT/pgbouncer.log" | grep -v 'client close request' || true)"

stop_parley "$pid_a"
eq "A stops cleanly" 0 $?
stop_parley "$pid_b"
eq "B stops cleanly" 0 $?
finish
