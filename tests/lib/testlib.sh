# Sourced by every tests/integration/test_*.sh. Gives:
#   new_db           creates a fresh database, prints its libpq DSN
#   sql DSN QUERY    runs QUERY, prints unaligned tuples (fields split by |)
#   ok DESC CMD...   passes when CMD exits 0
#   eq DESC WANT GOT passes when the strings are equal
#   finish           prints "N passed, N failed" and sets the exit status
# The runner exports PARLEY_BIN, PG_ADMIN_DSN, PG_ROOT, PG_PORT, TEST_TMP.
set -u
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$TESTS_DIR/.." && pwd)
. "$TESTS_DIR/lib/pg.sh"
T_PASS=0
T_FAIL=0
T_NAME=$(basename "$0" .sh)

# Read receipts and typing (README, Read receipts and typing) add Graph
# requests that the tests counting sends do not expect: off unless a test
# turns them on (test_read_typing.sh, test_browser.sh unset these). The
# environment wins over the config file.
export PARLEY_REPLIES_READ_RECEIPTS=false PARLEY_REPLIES_TYPING=false

# Every parley and stand-in a test starts is stopped when the script ends,
# however it ends, so that a failing test leaves nothing running.
_T_PIDS=
_t_cleanup() {
	local p
	for p in $_T_PIDS; do kill "$p" 2>/dev/null; done
	return 0
}
trap _t_cleanup EXIT

_t_report() {
	if [ "$1" = ok ]; then
		T_PASS=$((T_PASS + 1))
		echo "ok - $T_NAME: $2"
	else
		T_FAIL=$((T_FAIL + 1))
		echo "not ok - $T_NAME: $2"
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/    # /'
	fi
	return 0
}

ok() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then _t_report ok "$desc"; else _t_report fail "$desc" "$out"; fi
}

# Passes when CMD exits non-zero.
fails() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then _t_report fail "$desc" "expected failure, got success: $out"; else _t_report ok "$desc"; fi
}

eq() {
	if [ "$2" = "$3" ]; then _t_report ok "$1"; else _t_report fail "$1" "want: $2
got:  $3"; fi
}

# Passes when HAYSTACK contains NEEDLE.
contains() {
	case "$3" in *"$2"*) _t_report ok "$1" ;; *) _t_report fail "$1" "want substring: $2
in: $3" ;; esac
}

sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$1" -c "$2"; }

# Usually called as $(new_db), in a subshell, so the name cannot come from a
# counter kept here: the clock and $RANDOM make it unique instead.
new_db() {
	local name="t_${T_NAME//[^a-zA-Z0-9]/_}_$(date +%s%N)_${RANDOM}"
	psql -X -q "$PG_ADMIN_DSN" -c "CREATE DATABASE $name" >/dev/null || return 1
	echo "host=$PG_ROOT port=$PG_PORT user=postgres dbname=$name"
}

# A loopback port nobody listens on (random start, so parallel callers rarely collide).
free_port() {
	local port=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768+)
	while pg_listening "$port"; do port=$((port + 1)); done
	echo "$port"
}

# A config file for parley pointing at DSN, listening on a free port. Callers
# append sections with `cat >>`. Prints the path.
new_config() {
	local dsn=$1 path
	path=$(mktemp "$TEST_TMP/parley-XXXXXX.conf")
	cat >"$path" <<CONF
[server]
listen = 127.0.0.1:$(free_port)
[database]
url = $dsn
[meta]
app_secret = test-meta-app-secret
verify_token = test-verify-token
CONF
	echo "$path"
}

# conf_set CONF SECTION KEY VALUE: sets a key, adding the section when missing
# (a key set twice or a section opened twice would be a config error).
conf_set() {
	local conf=$1 section=$2 key=$3 value=$4
	awk -v sec="[$section]" -v key="$key" -v line="$key = $value" '
		/^\[/ { if (cur == sec && !done) { print line; done = 1 } cur = $0 }
		cur == sec && index($0, key " = ") == 1 { next }
		{ print }
		END { if (!done) { if (cur != sec) print sec; print line } }
	' "$conf" >"$conf.tmp" && mv "$conf.tmp" "$conf"
}

# start_standin NAME [ARGS…]: starts build/tests/NAME, or the script
# tests/standins/NAME.py (fake_receiver), on a free loopback port and waits
# for its "listening on" line; sets STANDIN_PID, STANDIN_URL
# (http://127.0.0.1:PORT) and STANDIN_OUT (the file of its standard output;
# its standard error is STANDIN_OUT.err). Call it directly (not in $(...)) so
# that it stays this shell's child. Stop with stop_parley.
start_standin() {
	local name=$1 line i
	shift
	STANDIN_OUT="$TEST_TMP/$name.$RANDOM.out"
	if [ -f "$TESTS_DIR/standins/$name.py" ]; then
		python3 "$TESTS_DIR/standins/$name.py" --listen 127.0.0.1:0 "$@" >"$STANDIN_OUT" 2>"$STANDIN_OUT.err" &
	else
		"${PARLEY_BUILD:-$(dirname "$PARLEY_BIN")}/tests/$name" --listen 127.0.0.1:0 "$@" \
			>"$STANDIN_OUT" 2>"$STANDIN_OUT.err" &
	fi
	STANDIN_PID=$!
	_T_PIDS="$_T_PIDS $STANDIN_PID"
	for i in $(seq 1 200); do
		line=$(head -1 "$STANDIN_OUT" 2>/dev/null)
		case $line in
		"listening on "*) STANDIN_URL="http://${line#listening on }"; return 0 ;;
		esac
		kill -0 "$STANDIN_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "$name did not come up:" >&2
	cat "$STANDIN_OUT" "$STANDIN_OUT.err" >&2
	return 1
}

# run ARGS...: `parley ARGS -c $conf`; sets OUT, ERR and RC.
run() {
	OUT=$("$PARLEY_BIN" "$@" -c "$conf" 2>"$TEST_TMP/run.err")
	RC=$?
	ERR=$(cat "$TEST_TMP/run.err")
}
# lines TEXT: how many lines TEXT has (0 when it is empty).
lines() { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }
# expect_exit DESC STATUS MESSAGE-PART ARGS...: an administration command
# that fails (README, Commands): exit STATUS, one line on stderr containing
# MESSAGE-PART, nothing on stdout.
expect_exit() {
	local desc=$1 want=$2 part=$3
	shift 3
	run "$@"
	eq "$desc: exit $want" "$want" "$RC"
	contains "$desc: says why" "$part" "$ERR"
	eq "$desc: one line on stderr" 1 "$(lines "$ERR")"
	eq "$desc: nothing on stdout" "" "$OUT"
}

# The base URL of the parley that CONF describes.
parley_url() { echo "http://$(sed -nE 's/^listen = (.*)$/\1/p' "$1" | head -1)"; }

# Starts `parley serve -c CONF` in the background, logging to CONF.log, and
# waits until it answers /healthz and has left "starting". Sets PARLEY_PID (call it directly, not in
# $(...), so that the process stays this shell's child for stop_parley).
start_parley() {
	local conf=$1 url i internal
	url=$(parley_url "$conf")
	internal=$(sed -nE 's/^internal_listen = (.+)$/\1/p' "$conf" | head -1)
	[ -n "$internal" ] && url="http://$internal"
	"$PARLEY_BIN" serve -c "$conf" >>"$conf.log" 2>&1 &
	local pid=$!
	_T_PIDS="$_T_PIDS $pid"
	for i in $(seq 1 100); do
		if curl -fsS -o /dev/null "$url/healthz" 2>/dev/null; then
			PARLEY_PID=$pid
			# Past "starting" too (serve logged ready, or /readyz says why
			# not: the database is down or unmigrated), so that a test
			# reading /readyz or parley_ready does not race the first
			# probe, which a sanitized build takes longer to reach.
			for i in $(seq 1 100); do
				curl -sS "$url/readyz" 2>/dev/null | grep -q '"starting"' || return 0
				sleep 0.05
			done
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	echo "parley did not come up; log:" >&2
	cat "$conf.log" >&2
	return 1
}

# serve CONF: start_parley, then sets pid and url (call it directly).
serve() {
	start_parley "$1" || return 1
	pid=$PARLEY_PID
	url=$(parley_url "$1")
}

# serve_two CONF_A CONF_B: two `parley serve` (start_parley); sets pid_a,
# pid_b, url_a and url_b.
serve_two() {
	start_parley "$1" || return 1
	pid_a=$PARLEY_PID
	start_parley "$2" || return 1
	pid_b=$PARLEY_PID
	url_a=$(parley_url "$1")
	url_b=$(parley_url "$2")
}

# post_burst PREFIX FROM TEXT DUP_URL: 40 WhatsApp messages of FROM (ids
# wamid.PREFIX1..40, texts "TEXT 1".."TEXT 40") posted at once, alternately
# to url_a and url_b, every fifth also to DUP_URL (Meta re-delivering);
# waits for the answers: the statuses in $TEST_TMP/pN.status and pN.dup.
post_burst() {
	local i u posts=
	for i in $(seq 1 40); do
		wa_text "wamid.$1$i" "$2" "$3 $i" >"$TEST_TMP/p$i.json"
	done
	for i in $(seq 1 40); do
		if ((i % 2)); then u=$url_a; else u=$url_b; fi
		post_signed "$u" "$TEST_TMP/p$i.json" >"$TEST_TMP/p$i.status" &
		posts="$posts $!"
		if ((i % 5 == 0)); then
			post_signed "$4" "$TEST_TMP/p$i.json" >"$TEST_TMP/p$i.dup" &
			posts="$posts $!"
		fi
	done
	wait $posts
}

# seeded_db [DESC]: a fresh database (dsn), a config for it (conf),
# migrated (checked as DESC, "migrate" unless told) and seeded
# (seed_channels). Call it directly: it sets dsn and conf.
seeded_db() {
	dsn=$(new_db)
	conf=$(new_config "$dsn")
	ok "${1:-migrate}" "$PARLEY_BIN" migrate -c "$conf"
	seed_channels "$dsn"
}

# wait_status URL WANT: waits up to 10 s until a GET of URL answers WANT
# (an HTTP status).
wait_status() { wait_until "$2" curl -sS -o /dev/null -w '%{http_code}' "$1"; }

# check_idle DSN SETTLE: checks that DSN's database commits a few
# transactions in 3 s, not hundreds (an idle parley polls about once a
# second), counted after SETTLE seconds (pg_stat_database lags the backends).
check_idle() {
	local c0 c1 q="SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
	sleep "$2"
	c0=$(sql "$1" "$q")
	sleep 3
	c1=$(sql "$1" "$q")
	eq "idle: a few transactions in 3 s, not hundreds" yes "$([ $((c1 - c0)) -lt 60 ] && echo yes || echo "no ($((c1 - c0)))")"
}

# SIGTERM and wait; returns parley's exit status.
stop_parley() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
}

# wait_until WANT CMD...: retries CMD (pg.sh: every 50 ms, for WAIT_SECONDS,
# 10 unless set) until it prints WANT; says what it printed last if never.
_t_prints() {
	local want=$1
	shift
	_T_GOT=$("$@")
	[ "$_T_GOT" = "$want" ]
}
wait_until() {
	_T_GOT=
	retry _t_prints "$@" && return 0
	echo "timed out waiting for '${*:2}' = '$1' (last: '$_T_GOT')" >&2
	return 1
}

# wait_for DSN QUERY WANT [SECONDS]: waits up to SECONDS (10 unless told)
# until QUERY on DSN prints WANT.
wait_for() { WAIT_SECONDS=${4:-10} wait_until "$3" sql "$1" "$2"; }

# The corpus's tenant, channels and agents (ids in tests/corpus/README.md).
# seed_channels DSN [WIDGET]: the tenant acme (100 credits), its WhatsApp and
# Instagram channels pn-wa and pn-ig with their agents ag-wa and ag-ig; with
# WIDGET, also the webchat channel pn-web of that widget id and its agent
# ag-web.
seed_channels() {
	psql -X -q -v ON_ERROR_STOP=1 "$1" <<SQL || return 1
INSERT INTO users (user_id, email, company_name) VALUES ('acme', 'ops@acme.test', 'Acme');
INSERT INTO credits (user_id, remaining_credits) VALUES ('acme', 100);
INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
VALUES ('pn-wa', 'acme', 'whatsapp', '106540352242922', 'wa-token', 'Acme WhatsApp'),
       ('pn-ig', 'acme', 'instagram', '17841400000000001', 'ig-token', 'Acme Instagram');
INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
VALUES ('ag-wa', 'acme', 'pn-wa', 'pmpt_wa', 'WhatsApp agent'),
       ('ag-ig', 'acme', 'pn-ig', 'pmpt_ig', 'Instagram agent');
SQL
	[ -z "${2:-}" ] || webchat_channel "$1" pn-web "$2" "Acme website" ag-web "Web agent"
}

# webchat_channel DSN ID WIDGET DISPLAY_NAME [AGENT_ID AGENT_NAME]: a
# webchat channel of acme for that widget id, with an agent (prompt
# pmpt_web) when AGENT_ID is given.
webchat_channel() {
	sql "$1" "INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
	          VALUES ('$2', 'acme', 'webchat', '$3', '', '$4')" >/dev/null || return 1
	[ -z "${5:-}" ] || sql "$1" "INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
	                             VALUES ('$5', 'acme', '$2', 'pmpt_web', '$6')" >/dev/null
}

# Webhook bodies for the corpus's channels (tests/corpus/README.md ids).
# Their messages carry the platform's timestamp of now (Unix seconds), or of
# MSG_TS when set: the 24-hour window (SPEC 9.2) counts from it, and a
# fixed date would have closed it long ago.
# wa_text WAMID FROM TEXT [PHONE_NUMBER_ID]: one WhatsApp text message.
wa_text() {
	local ts=${MSG_TS:-$(date +%s)}
	cat <<JSON
{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"${4:-106540352242922}"},"contacts":[{"profile":{"name":"Ana"},"wa_id":"$2"}],"messages":[{"from":"$2","id":"$1","timestamp":"$ts","type":"text","text":{"body":"$3"}}]}}]}]}
JSON
}

# wa_status WAMID STATUS: one WhatsApp status notification.
wa_status() {
	cat <<JSON
{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"106540352242922"},"statuses":[{"id":"$1","status":"$2","timestamp":"1764300100","recipient_id":"31612345678"}]}}]}]}
JSON
}

# ig_text MID FROM TEXT: one Instagram text message.
ig_text() {
	local ts=${MSG_TS:-$(date +%s)}
	cat <<JSON
{"object":"instagram","entry":[{"id":"17841400000000001","time":${ts}000,"messaging":[{"sender":{"id":"$2"},"recipient":{"id":"17841400000000001"},"timestamp":${ts}000,"message":{"mid":"$1","text":"$3"}}]}]}
JSON
}

# POSTs FILE (or a body on stdin with -) to URL's webhook, signed with SECRET
# (default test-meta-app-secret); prints the HTTP status.
post_signed() {
	local url=$1 file=$2 secret=${3:-test-meta-app-secret} sig
	sig="sha256=$(openssl dgst -sha256 -hmac "$secret" -r <"$file" | cut -d' ' -f1)"
	curl -sS -o "$TEST_TMP/last-body.$BASHPID" -w '%{http_code}\n' -H "X-Hub-Signature-256: $sig" \
		-H 'Content-Type: application/json' --data-binary "@$file" "$url/webhooks/meta"
}

# say_wa PREFIX FROM TEXT [PHONE_NUMBER_ID]: a customer's WhatsApp message
# (id wamid.PREFIX<N>.<random>, N counting the calls of this shell) posted
# to $url's webhook; prints the HTTP status.
N=0
say_wa() {
	N=$((N + 1))
	wa_text "wamid.$1$N.$RANDOM" "$2" "$3" "${4:-}" >"$TEST_TMP/say.json"
	post_signed "$url" "$TEST_TMP/say.json"
}

finish() {
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" = 0 ]
}
