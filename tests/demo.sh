#!/usr/bin/env bash
# `make demo`: the whole flow on this machine, no accounts needed.
#
# A throwaway PostgreSQL (tests/lib/pg.sh), the project's stand-ins for OpenAI,
# the Meta Graph API and Google (build/tests/fake_openai, fake_graph,
# fake_google), and a real `parley serve`. A demo tenant gets a WhatsApp, an Instagram and a webchat
# channel; customers' messages arrive as signed webhooks (`parley replay`),
# parley answers them through the stand-ins, and Meta's delivery and read
# receipts are posted back; one customer books a video call, which the agent
# puts in the tenant's (stand-in) Google Calendar with a Meet link. Then the
# transcripts, the lead extracted from a conversation (`parley leads`), the
# booked meeting (`parley meeting list`), the signed events the shop's own
# webhook receiver got (lead.extracted, lead.hot, meeting.booked; `parley
# endpoint add`, tests/standins/fake_receiver.py), a few metrics and the
# credits used are printed, and everything is stopped again.
#
#   DEMO_KEEP=1   stay up after printing (URLs, examples) until Ctrl-C; the
#                 OpenAI stand-in then answers as the shop's assistant
#                 (tests/demo-replies.json), not "Echo: …"
#   DEMO_LISTEN=HOST:PORT   parley's address (default: 127.0.0.1, a free port)
#
# Exit status 0 when every step worked; otherwise 1, with the failing step and
# the tail of parley's log. Stopping it early is not a failure: on SIGINT
# (Ctrl-C), SIGTERM or SIGHUP, and when the process that started it dies
# (make killed, a closed terminal), it stops parley, the stand-ins and
# PostgreSQL, removes its temporary directories and exits 130 (143, 129).
set -Eeuo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PARLEY_BIN=${PARLEY_BIN:-$REPO_DIR/build/parley}
PARLEY_BUILD=${PARLEY_BUILD:-$(dirname "$PARLEY_BIN")}
DEMO_KEEP=${DEMO_KEEP:-0}

# The demo's fixed ids: the corpus's channel ids (tests/corpus/README.md).
TENANT=demo-shop
WA_CHANNEL=106540352242922
IG_CHANNEL=17841400000000001
WIDGET=demo-widget
APP_SECRET=demo-meta-app-secret
WA_CUSTOMER=31612345678
WA_NAME="Anna de Vries"
IG_CUSTOMER=5551234567890001

DEMO_LISTEN=${DEMO_LISTEN:-}
if [ -n "$DEMO_LISTEN" ] && ! [[ "$DEMO_LISTEN" =~ ^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$ ]]; then
	echo "demo: DEMO_LISTEN='$DEMO_LISTEN' is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080)" >&2
	exit 2
fi

T0=$(date +%s%N)
STEP="starting"
INTERRUPTED='' # the exit status of a stop signal once one came (130, 143, 129)
DEMO_TMP=
PARLEY_PID='' OPENAI_PID='' GRAPH_PID='' GOOGLE_PID='' RECEIVER_PID=''

if [ -t 1 ]; then B=$'\e[1m' D=$'\e[2m' R=$'\e[0m'; else B='' D='' R=''; fi
section() { printf '\n%s== %s%s\n' "$B" "$1" "$R"; }
say() { printf '  %s\n' "$*"; }
elapsed() { # seconds since $1 (date +%s%N), one decimal
	local ns=$(($(date +%s%N) - $1))
	printf '%d.%d' $((ns / 1000000000)) $((ns / 100000000 % 10))
}

# ---------------------------------------------------------------- failure, cleanup

fail() {
	# A step cut short by a stop signal (the whole process group gets
	# Ctrl-C's SIGINT) is not a failure: the trap is about to run.
	if [ -n "$INTERRUPTED" ]; then exit "$INTERRUPTED"; fi
	printf '\n%sdemo: FAILED while %s:%s %s\n' "$B" "$STEP" "$R" "$*" >&2
	[ -n "$DEMO_TMP" ] && : >"$DEMO_TMP/failed"
	exit 1
}

on_err() { # an unexpected command failure (set -e), reported once, by the main shell
	local rc=$? line=$1 cmd=${2%%$'\n'*}
	[ "$BASHPID" = "$$" ] || return 0
	# A command killed by Ctrl-C or SIGTERM: the stop, not a failure.
	if [ -n "$INTERRUPTED" ] || [ "$rc" = 130 ] || [ "$rc" = 143 ]; then return 0; fi
	[ -n "$DEMO_TMP" ] && [ -e "$DEMO_TMP/failed" ] && return 0
	printf '\n%sdemo: FAILED while %s:%s line %s: %s (exit %s)\n' "$B" "$STEP" "$R" "$line" "$cmd" "$rc" >&2
	[ -n "$DEMO_TMP" ] && : >"$DEMO_TMP/failed"
}
trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR

# stop_pid PID: SIGTERM, up to 10 s for a clean exit, then SIGKILL. Returns
# the process's exit status (0 when there was nothing to stop).
stop_pid() {
	local pid=$1 rc=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "demo: pid $pid did not stop within 10 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

stop_all() {
	stop_pid "$PARLEY_PID"
	stop_pid "$OPENAI_PID"
	stop_pid "$GRAPH_PID"
	stop_pid "$GOOGLE_PID"
	stop_pid "$RECEIVER_PID" || true # a Python stand-in: its status says nothing about parley
	PARLEY_PID='' OPENAI_PID='' GRAPH_PID='' GOOGLE_PID='' RECEIVER_PID=''
	if declare -F pg_stop >/dev/null; then pg_stop; fi
}

# The parent watchdog: when the process that started the demo goes away
# (`make demo` killed, even with SIGKILL; a terminal closed), the demo gets
# SIGTERM and stops everything as on Ctrl-C (SIGTERM, not SIGHUP: under
# `nohup` SIGHUP is ignored from the start, and bash cannot trap a signal
# ignored on entry). A subshell polling, since nothing
# tells a child that its parent died. It watches parent links, not pids: the
# kernel gives an orphan a new parent the moment its parent exits, whereas
# `kill -0 PID` still succeeds on a dead parent nobody has reaped yet (a
# zombie), and on an unrelated process that took its pid. The demo's parent
# and that parent's parent are watched, since make may run the script
# through `sh -c`, which outlives a killed make.
DEMO_PARENT=$PPID WATCHDOG_PID=''
parent_of() { # PID: sets PARENT to its parent's pid ('' when PID is gone)
	local line
	PARENT=''
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	line=${line##*) } # after the command, which may hold spaces
	line=${line#* }   # after the state
	PARENT=${line%% *}
}
parent_of "$PPID"
DEMO_GRANDPARENT=$PARENT
if [ -z "$DEMO_GRANDPARENT" ] || [ "$DEMO_GRANDPARENT" -le 1 ]; then DEMO_GRANDPARENT=''; fi
start_watchdog() {
	(
		trap - ERR EXIT INT TERM HUP
		while :; do
			parent_of "$$"
			[ "$PARENT" = "$DEMO_PARENT" ] || break
			if [ -n "$DEMO_GRANDPARENT" ]; then
				parent_of "$DEMO_PARENT"
				[ "$PARENT" = "$DEMO_GRANDPARENT" ] || break
			fi
			sleep 0.5
		done
		kill -TERM "$$" 2>/dev/null
	) </dev/null >/dev/null 2>&1 &
	WATCHDOG_PID=$!
}

cleanup() {
	local rc=$?
	trap - ERR INT TERM HUP
	trap '' PIPE # the terminal or pipe may be gone with the parent
	set +e
	if [ -n "$WATCHDOG_PID" ]; then kill "$WATCHDOG_PID" 2>/dev/null; fi
	if [ -n "$INTERRUPTED" ]; then
		rc=$INTERRUPTED
		echo "  stopped (signal): stopping parley, the stand-ins and PostgreSQL" >&2
	elif [ "$rc" != 0 ] && [ -n "$DEMO_TMP" ] && [ -s "$DEMO_TMP/parley.log" ]; then
		printf '\n%s-- last lines of the parley log (%s) --%s\n' "$B" "$DEMO_TMP/parley.log" "$R" >&2
		tail -n 25 "$DEMO_TMP/parley.log" >&2
	fi
	stop_all
	if [ -n "$DEMO_TMP" ]; then
		if [ "$rc" = 0 ] || [ -n "$INTERRUPTED" ]; then
			rm -rf "$DEMO_TMP"
		else
			echo "demo: logs kept in $DEMO_TMP" >&2
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'INTERRUPTED=130; exit 130' INT
trap 'INTERRUPTED=143; exit 143' TERM
trap 'INTERRUPTED=129; exit 129' HUP
start_watchdog

# ---------------------------------------------------------------- helpers

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$DSN" -c "$1"; }

# A loopback port nobody listens on, below Linux's ephemeral range (32768 and
# up), where outgoing connections could take it between this check and bind().
free_port() {
	local port=$((20000 + RANDOM % 12000))
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
	echo "$port"
}

# start_standin NAME VAR_PID VAR_URL [ARGS…]: build/tests/NAME on a port the
# kernel picks; its "listening on HOST:PORT" line gives the URL.
start_standin() {
	local name=$1 pid_var=$2 url_var=$3 out="$DEMO_TMP/$1.out" url='' pid
	shift 3
	"$PARLEY_BUILD/tests/$name" --listen 127.0.0.1:0 --log "$DEMO_TMP/$name.log" "$@" >"$out" 2>&1 &
	pid=$!
	printf -v "$pid_var" %s "$pid"
	for _ in $(seq 1 100); do
		url=$(sed -nE 's/^listening on (.*)$/http:\/\/\1/p' "$out")
		[ -n "$url" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$url" ] || fail "$name did not start: $(cat "$out")"
	printf -v "$url_var" %s "$url"
}

# The stand-in OpenAI answers the next response with TEXT (otherwise it says
# "Echo: …"), so that the transcript reads like a real conversation.
# With REPLY_KEY=text_template, {field}s of the tool's last output are filled in.
script_reply() {
	[ -n "$1" ] || return 0 # none: the stand-in decides (the handoff below)
	jq -nc --arg k "${REPLY_KEY:-text}" --arg t "$1" '[{($k): $t}]' | curl -fsS --max-time 5 -o /dev/null --data-binary @- "$OPENAI_URL/_script" \
		|| fail "could not script the OpenAI stand-in"
}

replay() { # FILE: signed with meta.app_secret and POSTed, as Meta would
	local out
	out=$("$PARLEY_BIN" replay -c "$CONF" --url "$PARLEY_URL/webhooks/meta" "$1" 2>&1) \
		|| fail "parley replay $(basename "$1") was not accepted: $out"
}

N_FILE=0
body_file() { # NAME: the next numbered file for a webhook body
	N_FILE=$((N_FILE + 1))
	printf '%s/webhooks/%02d-%s.json' "$DEMO_TMP" "$N_FILE" "$1"
}

# ---------------------------------------------------------------- webhook bodies
# Built the way Meta sends them: compact JSON, non-ASCII escaped as \uXXXX.

wa_message() { # ID FROM NAME TEXT
	jq -nac --arg ch "$WA_CHANNEL" --arg id "$1" --arg from "$2" --arg name "$3" --arg text "$4" \
		--arg ts "$(date +%s)" \
		'{object: "whatsapp_business_account", entry: [{id: "100000000000001", changes: [{value: {
		  messaging_product: "whatsapp",
		  metadata: {display_phone_number: "15550001111", phone_number_id: $ch},
		  contacts: [{profile: {name: $name}, wa_id: $from}],
		  messages: [{from: $from, id: $id, timestamp: $ts, type: "text", text: {body: $text}}]},
		  field: "messages"}]}]}'
}

wa_status() { # WAMID STATUS RECIPIENT
	jq -nac --arg ch "$WA_CHANNEL" --arg id "$1" --arg st "$2" --arg to "$3" --arg ts "$(date +%s)" \
		'{object: "whatsapp_business_account", entry: [{id: "100000000000001", changes: [{value: {
		  messaging_product: "whatsapp",
		  metadata: {display_phone_number: "15550001111", phone_number_id: $ch},
		  statuses: [{id: $id, status: $st, timestamp: $ts, recipient_id: $to}
		    + if $st == "read" then {} else {pricing: {billable: true, pricing_model: "PMP",
		        type: "free_customer_service", category: "service"}} end]},
		  field: "messages"}]}]}'
}

ig_event() { # FROM EVENT-JSON: one messaging[] event from a customer to the account
	jq -nac --arg ch "$IG_CHANNEL" --arg from "$1" --argjson ev "$2" --argjson ts "$(date +%s%3N)" \
		'{object: "instagram", entry: [{time: $ts, id: $ch, messaging: [
		  {sender: {id: $from}, recipient: {id: $ch}, timestamp: $ts} + $ev]}]}'
}
ig_message() { ig_event "$1" "$(jq -nc --arg mid "$2" --arg t "$3" '{message: {mid: $mid, text: $t}}')"; } # FROM MID TEXT
ig_delivery() { ig_event "$1" "$(jq -nc --arg mid "$2" --argjson w "$(date +%s%3N)" '{delivery: {mids: [$mid], watermark: $w}}')"; }
ig_read() { ig_event "$1" "$(jq -nc --arg mid "$2" '{read: {mid: $mid}}')"; }

# Ids shaped like the platforms' own.
new_wamid() { printf 'wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQT%s%sA=' "$(openssl rand -hex 8 | tr a-f A-F)" "$1"; }
new_mid() { printf 'aWdf%s' "$(printf 'ig_item:1:IGMessage:%s:3402823668417103%s:%s' "$IG_CHANNEL" "$(openssl rand -hex 6)" "$1" | base64 -w0 | tr -d '=')"; }

# ---------------------------------------------------------------- the tenant
# ===== TENANT SETUP ====================================================
# With the administration commands, as an operator would: the tenant with
# its credits, one channel per platform (access tokens from files, never on
# the command line), and an agent linked to each channel. The ids are chosen
# (--id) so that the rest of this script can name them.
admin() { "$PARLEY_BIN" "$@" -c "$CONF"; }
create_demo_tenant() {
	printf 'demo-wa-token\n' >"$DEMO_TMP/wa.token"
	printf 'demo-ig-token\n' >"$DEMO_TMP/ig.token"
	admin tenant add --id "$TENANT" --email owner@demo-shop.example --company "Demo Shop" --credits 100
	admin channel add --tenant "$TENANT" --id "$TENANT-wa" --platform whatsapp --meta-id "$WA_CHANNEL" \
		--name "Demo Shop WhatsApp" --token-file "$DEMO_TMP/wa.token"
	admin channel add --tenant "$TENANT" --id "$TENANT-ig" --platform instagram --meta-id "$IG_CHANNEL" \
		--name "Demo Shop Instagram" --token-file - <"$DEMO_TMP/ig.token"
	admin channel add --tenant "$TENANT" --id "$TENANT-web" --platform webchat --meta-id "$WIDGET" \
		--name "Demo Shop website chat"
	local ch
	for ch in wa ig web; do
		admin agent link --channel "$TENANT-$ch" --id "$TENANT-$ch-agent" --prompt pmpt_demo_shop \
			--name "Shop assistant"
	done
}
# ===== END TENANT SETUP ===============================================

# The tenant's Google Calendar, as an operator connects it once the tenant
# gave consent: the refresh token from a file, never the command line.
connect_demo_calendar() {
	printf 'demo-google-refresh-token\n' >"$DEMO_TMP/google.token"
	admin google connect --tenant "$TENANT" --refresh-token-file "$DEMO_TMP/google.token"
}

# The model's function calls for a booking, scripted into the stand-in: it
# looks at the calendar, then books START (RFC 3339 with the offset).
script_booking() { # START EMAIL
	local day=${1%%T*} off=${1:19}
	jq -nc --arg s "$1" --arg from "${day}T09:00:00$off" --arg to "${day}T12:00:00$off" --arg e "$2" \
		'[{function_call: {name: "check_availability", arguments: {start: $from, end: $to, duration_minutes: 30}}},
		  {function_call: {name: "book_meeting", arguments: {start: $s, duration_minutes: 30,
		     timezone: "Europe/Amsterdam", customer_name: "Anna de Vries", customer_email: $e,
		     title: "E-bike video call with Demo Shop"}}}]' \
		| curl -fsS --max-time 5 -o /dev/null --data-binary @- "$OPENAI_URL/_script" \
		|| fail "could not script the OpenAI stand-in"
}

# ---------------------------------------------------------------- conversations

conv_of() { # AGENT CUSTOMER: the active conversation's id (empty when none)
	q "SELECT conversation_id FROM conversations WHERE agent_id = '$1' AND customer_phone = '$2' AND is_active"
}
agent_msgs() { q "SELECT count(*) FROM messages WHERE conversation_id = '$1' AND sender = 'agent'"; }

# wait_reply CONV BEFORE: waits until the conversation has more sent agent
# messages than BEFORE and nothing of the reply is still on its way; sets
# REPLY_ID (the last part's platform id) and REPLY_PARTS.
wait_reply() {
	local conv=$1 before=$2 row sent failed released deadline=$(($(date +%s) + 30))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		row=$(q "SELECT count(*) FILTER (WHERE m.status = 'sent') || ' ' || count(*) FILTER (WHERE m.status = 'failed')
		                || ' ' || (c.reply_due_at IS NULL AND c.reply_lease_owner IS NULL)::int
		         FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.conversation_id AND m.sender = 'agent'
		         WHERE c.conversation_id = '$conv' GROUP BY c.reply_due_at, c.reply_lease_owner")
		read -r sent failed released <<<"$row"
		[ "$failed" = 0 ] || fail "the reply was not sent: $(q "SELECT d.error_message FROM messages m JOIN message_delivery_status d USING (message_id) WHERE m.conversation_id = '$conv' AND m.status = 'failed' LIMIT 1")"
		if [ "$released" = 1 ]; then
			[ "$sent" -gt "$before" ] || fail "parley gave up on the reply (see its log below)"
			REPLY_PARTS=$((sent - before))
			REPLY_ID=$(q "SELECT platform_message_id FROM messages WHERE conversation_id = '$conv' AND sender = 'agent' ORDER BY sequence_no DESC LIMIT 1")
			return 0
		fi
		sleep 0.1
	done
	fail "no reply within 30 s"
}

wait_delivery() { # PLATFORM-ID STATUS
	local got='' deadline=$(($(date +%s) + 5))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		got=$(q "SELECT status FROM message_delivery_status WHERE platform_message_id = '$1'")
		[ "$got" = "$2" ] && return 0
		sleep 0.1
	done
	fail "delivery status of $1 is '$got', not '$2'"
}

# customer_turn PLATFORM CUSTOMER LABEL REPLY TEXT…: the customer's messages
# in quick succession, then the agent's reply (scripted into the stand-in),
# then Meta's delivery and read receipts for it.
customer_turn() {
	local platform=$1 customer=$2 label=$3 reply=$4 agent conv before t0 t text f n=0
	shift 4
	case $platform in whatsapp) agent=$TENANT-wa-agent ;; instagram) agent=$TENANT-ig-agent ;; esac
	STEP="replaying $label's messages ($platform)"
	script_reply "$reply"
	conv=$(conv_of "$agent" "$customer")
	before=0
	if [ -n "$conv" ]; then before=$(agent_msgs "$conv"); fi
	for text in "$@"; do
		n=$((n + 1))
		f=$(body_file "$platform-$customer-message")
		if [ "$platform" = whatsapp ]; then
			wa_message "$(new_wamid "$N_FILE")" "$customer" "$WA_NAME" "$text" >"$f"
		else
			ig_message "$customer" "$(new_mid "$N_FILE")" "$text" >"$f"
		fi
		replay "$f"
		if [ "$n" -lt "$#" ]; then sleep 0.3; fi # typing the next one, well inside the debounce
	done
	t0=$(date +%s%N)
	if [ -z "$conv" ]; then conv=$(conv_of "$agent" "$customer"); fi
	[ -n "$conv" ] || fail "parley stored no conversation for $customer"
	STEP="waiting for the reply to $label ($platform)"
	wait_reply "$conv" "$before"
	t=$(elapsed "$t0")
	STEP="posting delivery receipts ($platform)"
	sleep 0.2
	f=$(body_file "$platform-delivered")
	if [ "$platform" = whatsapp ]; then wa_status "$REPLY_ID" delivered "$customer" >"$f"; else ig_delivery "$customer" "$REPLY_ID" >"$f"; fi
	replay "$f"
	wait_delivery "$REPLY_ID" delivered
	sleep 0.2
	f=$(body_file "$platform-read")
	if [ "$platform" = whatsapp ]; then wa_status "$REPLY_ID" read "$customer" >"$f"; else ig_read "$customer" "$REPLY_ID" >"$f"; fi
	replay "$f"
	wait_delivery "$REPLY_ID" read
	printf '  %-9s  %-16s  %-10s -> %d reply, sent %s s after the last -> delivered -> read\n' \
		"$platform" "$label" "$# message$([ $# = 1 ] || echo s)" "$REPLY_PARTS" "$t"
}

# transcript AGENT CUSTOMER TITLE: the conversation as a table, the text last
# and wrapped at word boundaries to the terminal's width.
# webchat_turn REPLY TEXT...: a visitor of the shop's website opens a widget
# session, sends TEXT..., and the widget's long poll gets the reply (the same
# HTTP calls src/widget/widget.js makes); then it reports it read.
webchat_turn() {
	local reply=$1 token r n=0 t0 t seq page
	shift
	STEP="opening a website chat session (POST /webchat/v1/sessions)"
	script_reply "$reply"
	r=$(curl -fsS --max-time 5 -H 'Content-Type: application/json' \
		--data-binary "{\"widget_id\":\"$WIDGET\"}" "$PARLEY_URL/webchat/v1/sessions") \
		|| fail "no webchat session for widget $WIDGET"
	token=$(jq -r .token <<<"$r")
	WEB_SESSION=$(jq -r .session_id <<<"$r")
	for text in "$@"; do
		n=$((n + 1))
		STEP="sending a website chat message (POST /webchat/v1/messages)"
		r=$(jq -nc --arg t "$text" --arg id "demo-$n" '{text: $t, client_message_id: $id}' \
			| curl -fsS --max-time 5 -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
				--data-binary @- "$PARLEY_URL/webchat/v1/messages") || fail "webchat message not accepted"
		seq=$(jq .sequence_no <<<"$r")
		if [ "$n" -lt "$#" ]; then sleep 0.3; fi
	done
	t0=$(date +%s%N)
	STEP="waiting for the website chat reply (GET /webchat/v1/messages long poll)"
	# As the widget does: a poll also ends, with no messages, when
	# agent_typing changes (the reply started); poll again until it lands.
	local deadline=$(($(date +%s) + 30)) typing_seen=false
	while :; do
		page=$(curl -fsS --max-time 30 -H "Authorization: Bearer $token" \
			"$PARLEY_URL/webchat/v1/messages?after=$seq&wait=25") || fail "the webchat poll failed"
		[ "$(jq .agent_typing <<<"$page")" = true ] && typing_seen=true
		[ "$(jq '[.messages[] | select(.sender == "agent")] | length' <<<"$page")" -gt 0 ] && break
		[ "$(date +%s)" -lt "$deadline" ] || fail "the webchat poll ended without the reply: $page"
	done
	t=$(elapsed "$t0")
	seq=$(jq '.messages[-1].sequence_no' <<<"$page")
	curl -fsS --max-time 5 -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		--data-binary "{\"up_to\":$seq}" "$PARLEY_URL/webchat/v1/read" || fail "webchat read receipt failed"
	printf '  %-9s  %-16s  %-10s -> 1 reply, in the long poll %s s after the last%s -> delivered -> read\n' \
		webchat "website visitor" "$# message$([ $# = 1 ] || echo s)" "$t" \
		"$([ "$typing_seen" = true ] && echo ' (agent_typing meanwhile)')"
}

transcript() {
	local conv cols width seq time from status delivery text first line
	conv=$(conv_of "$1" "$2")
	section "$3"
	cols=${COLUMNS:-120}
	if [ -t 1 ]; then cols=$(tput cols 2>/dev/null || echo "$cols"); fi
	width=$((cols - 53))
	[ "$width" -ge 30 ] || width=30
	printf '  %s%3s  %-8s  %-15s %-8s %-9s %s%s\n' "$D" "#" "time UTC" "from" "message" "delivery" "text" "$R"
	while IFS=$'\x1f' read -r seq time from status delivery text; do
		first=1
		while IFS= read -r line; do
			if [ "$first" = 1 ]; then
				printf '  %3s  %-8s  %-15s %-8s %-9s %s\n' "$seq" "$time" "$from" "$status" "$delivery" "$line"
				first=0
			else
				printf '  %3s  %-8s  %-15s %-8s %-9s %s\n' "" "" "" "" "" "$line"
			fi
		done < <(printf '%s\n' "$text" | fold -s -w "$width" | sed 's/ *$//')
	done < <(psql -X -q -At -F $'\x1f' -v ON_ERROR_STOP=1 "$DSN" <<SQL
SELECT m.sequence_no,
       to_char(m."timestamp", 'HH24:MI:SS'),
       CASE WHEN m.sender = 'user' THEN coalesce(c.customer_name, 'customer')
            WHEN m.author = 'human' THEN 'a person'
            ELSE a.name END,
       coalesce(m.status, ''),
       coalesce(d.status, ''),
       translate(m.text, E'\n\r\t', '   ')
FROM messages m
JOIN conversations c USING (conversation_id)
JOIN agents a USING (agent_id)
LEFT JOIN message_delivery_status d USING (message_id)
WHERE m.conversation_id = '$conv'
ORDER BY m.sequence_no
SQL
	)
}

# ================================================================ the demo

printf '%sparley demo%s: a throwaway PostgreSQL, stand-ins for OpenAI and Meta; nothing leaves this machine\n' "$B" "$R"

STEP="checking the tools"
[ -x "$PARLEY_BIN" ] || fail "$PARLEY_BIN is missing: run 'make demo'"
for s in fake_openai fake_graph fake_google; do
	[ -x "$PARLEY_BUILD/tests/$s" ] || fail "$PARLEY_BUILD/tests/$s is missing: run 'make demo'"
done
missing_tools() {
	local tool missing=''
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing="$missing initdb"
	for tool in psql curl jq openssl; do command -v "$tool" >/dev/null || missing="$missing $tool"; done
	echo "$missing"
}
missing=$(missing_tools)
if [ -n "$missing" ]; then
	echo "  missing:$missing; installing the packages (tests/lib/deps.sh)"
	STEP="installing packages"
	"$REPO_DIR/tests/lib/deps.sh" || fail "tests/lib/deps.sh failed"
	missing=$(missing_tools)
	[ -z "$missing" ] || fail "still missing after tests/lib/deps.sh:$missing"
fi
# Sourced only now: it finds the newest PostgreSQL when it is loaded.
. "$REPO_DIR/tests/lib/pg.sh"

DEMO_TMP=$(mktemp -d /tmp/parley-demo.XXXXXX)
mkdir "$DEMO_TMP/webhooks"

section "Setting up"
STEP="starting PostgreSQL"
# A port of its own, away from `make check`'s (which may run at the same
# time); another attempt on another port if someone takes it first.
for attempt in 1 2 3; do
	PG_PORT_BASE=$(free_port)
	pg_start >"$DEMO_TMP/pg_start.log" 2>&1 && break
	pg_stop
	if [ "$attempt" = 3 ]; then fail "$(cat "$DEMO_TMP/pg_start.log")"; fi
done
DSN="host=$PG_ROOT port=$PG_PORT user=postgres dbname=parley_demo"
psql -X -q -v ON_ERROR_STOP=1 "$PG_ADMIN_DSN" -c "CREATE DATABASE parley_demo" >/dev/null
say "PostgreSQL $(basename "$(dirname "$PG_BIN")") on port $PG_PORT, database parley_demo"

STEP="starting the stand-ins"
# Unscripted replies (DEMO_KEEP=1, or the widget in a browser) come from
# tests/demo-replies.json: the shop's assistant, not "Echo: …".
# A customer who asks for "a person" gets the agent's escalate_to_human.
start_standin fake_openai OPENAI_PID OPENAI_URL --delay-ms 300 --api-key sk-demo \
	--replies "$REPO_DIR/tests/demo-replies.json" --escalate-on "a person"
start_standin fake_graph GRAPH_PID GRAPH_URL
start_standin fake_google GOOGLE_PID GOOGLE_URL --client-id demo-client.apps.googleusercontent.com \
	--client-secret demo-client-secret
# The business's own webhook receiver (events out): records what parley POSTs.
python3 "$REPO_DIR/tests/standins/fake_receiver.py" --listen 127.0.0.1:0 >"$DEMO_TMP/receiver.out" 2>&1 &
RECEIVER_PID=$!
for _ in $(seq 1 100); do
	RECEIVER_URL=$(sed -nE 's/^listening on (.*)$/http:\/\/\1/p' "$DEMO_TMP/receiver.out")
	[ -n "$RECEIVER_URL" ] && break
	sleep 0.05
done
[ -n "$RECEIVER_URL" ] || fail "the webhook receiver did not start"
say "stand-ins: OpenAI $OPENAI_URL, Meta Graph $GRAPH_URL, Google $GOOGLE_URL, the shop's webhook receiver $RECEIVER_URL"

STEP="writing the configuration"
CONF=$DEMO_TMP/parley.conf
write_config() { # HOST:PORT
	PARLEY_URL=http://$1
	cat >"$CONF" <<CONF
# written by tests/demo.sh
[server]
listen = $1
[database]
url = $DSN
[meta]
app_secret = $APP_SECRET
verify_token = demo-verify-token
whatsapp_url = $GRAPH_URL/v24.0
instagram_url = $GRAPH_URL/v24.0
[openai]
api_key = sk-demo
url = $OPENAI_URL/v1
[replies]
debounce_ms = 800
[webchat]
secret = demo-webchat-secret
[extraction]
# A lead after two customer messages and two quiet seconds (defaults: 4, 120 s):
# Anna's four messages give two extractions, the second reading all four.
every_messages = 2
idle_seconds = 2
prompt_id = pmpt_demo_leads
[google]
client_id = demo-client.apps.googleusercontent.com
client_secret = demo-client-secret
token_url = $GOOGLE_URL/token
calendar_url = $GOOGLE_URL/calendar/v3
[events]
# The shop's receiver is a local http:// stand-in (defaults: https, public addresses only).
allow_http = true
allow_private_targets = true
CONF
}
write_config "${DEMO_LISTEN:-127.0.0.1:$(free_port)}"

STEP="running parley migrate"
"$PARLEY_BIN" migrate -c "$CONF" >"$DEMO_TMP/migrate.log" 2>&1 || fail "$(cat "$DEMO_TMP/migrate.log")"
say "parley migrate: $(q "SELECT count(*) FROM schema_migrations") migrations applied"

STEP="creating the demo tenant"
create_demo_tenant >/dev/null
say "tenant $TENANT with one agent per channel (parley tenant add, channel add, agent link):"
admin tenant show "$TENANT" | sed 's/^./    &/'
STEP="connecting the tenant's Google Calendar"
connect_demo_calendar >/dev/null
say "its Google Calendar connected (parley google connect): the agent can book meetings"
STEP="subscribing the shop's webhook receiver"
EVENTS_SECRET=$(admin endpoint add --tenant "$TENANT" --url "$RECEIVER_URL/parley" --id "$TENANT-hooks" \
	--events lead.extracted,lead.hot,meeting.booked,conversation.handoff | sed -nE 's/^signing secret .*: (whsec_.*)$/\1/p')
[ -n "$EVENTS_SECRET" ] || fail "parley endpoint add printed no secret"
say "its webhook receiver subscribed to lead.extracted, lead.hot, meeting.booked and conversation.handoff (parley endpoint add)"

STEP="starting parley serve"
# start_parley: 0 once /readyz answers, 1 if parley exited, 2 if it stayed unready.
start_parley() {
	"$PARLEY_BIN" serve -c "$CONF" >>"$DEMO_TMP/parley.log" 2>&1 &
	PARLEY_PID=$!
	for _ in $(seq 1 200); do
		curl -fsS --max-time 1 -o /dev/null "$PARLEY_URL/readyz" 2>/dev/null && return 0
		if ! kill -0 "$PARLEY_PID" 2>/dev/null; then
			wait "$PARLEY_PID" || true
			PARLEY_PID=''
			return 1
		fi
		sleep 0.05
	done
	return 2
}
t0=$(date +%s%N)
for attempt in 1 2 3; do
	rc=0
	start_parley || rc=$?
	if [ "$rc" = 0 ]; then break; fi
	if [ "$rc" = 2 ]; then fail "parley serve was not ready within 10 s"; fi
	# Exited: someone took the port in the meantime? Then another one
	# (not when DEMO_LISTEN chose it).
	if [ -n "$DEMO_LISTEN" ] && grep -q 'cannot listen on' "$DEMO_TMP/parley.log"; then
		fail "parley cannot listen on DEMO_LISTEN=$DEMO_LISTEN: $(grep -m1 'cannot listen on' "$DEMO_TMP/parley.log")"
	fi
	if [ "$attempt" = 3 ] || ! grep -q 'cannot listen on' "$DEMO_TMP/parley.log"; then
		fail "parley serve exited"
	fi
	write_config "127.0.0.1:$(free_port)"
done
say "parley serve on $PARLEY_URL, ready in $(elapsed "$t0") s"

section "Conversations (signed webhooks through parley replay; the website widget's HTTP API)"
# One shop, Demo Shop (bicycles and e-bikes), on three channels: Anna on
# WhatsApp, a customer in Portugal on Instagram, a visitor of its website.
customer_turn whatsapp "$WA_CUSTOMER" "Anna" \
	"Hi Anna! Yes, Demo Shop is open this Saturday from 10:00 to 17:00. On Sundays the shop is closed." \
	"Hi, this is Anna! Are you open this Saturday?" \
	"And until what time?"
sleep 1 # a little later…
customer_turn whatsapp "$WA_CUSTOMER" "Anna" \
	"Of course! Your bike will be ready at the counter after its service, see you at 16:30 on Saturday." \
	"Great, then I'll pick up my bike from its service around 16:30"
STEP="scripting Anna's booking"
MEET_START=$(TZ=Europe/Amsterdam date -d 'tomorrow 10:00' '+%Y-%m-%dT%H:%M:%S%:z')
script_booking "$MEET_START" anna.devries@example.com
REPLY_KEY=text_template customer_turn whatsapp "$WA_CUSTOMER" "Anna" \
	"Done! Tomorrow at 10:00 we'll show you the e-bikes in a video call: {meet_link} - the invitation is on its way to {invited}." \
	"I'm also thinking about an e-bike, my budget is around 2500 euros. Could someone show me your e-bikes in a video call tomorrow at 10? My email is anna.devries@example.com"
customer_turn instagram "$IG_CUSTOMER" "$IG_CUSTOMER" \
	"Yes, Demo Shop ships helmets, locks and other accessories to Portugal! DHL takes 3-5 working days, and shipping is free above €50." \
	"Hi! I saw your bike helmets on Instagram. Do you ship them to Portugal?" \
	"How long does delivery take?"

webchat_turn "Hello! I'm the assistant of Demo Shop. Yes, the Gazelle city bike comes in 53 and 57 cm; at 1.85 m the 57 cm fits you, and you can test-ride both in the shop." \
	"Hi there, is the Gazelle city bike available in a 57 cm frame?" \
	"I'm 1.85 m tall"

STEP="handing the Instagram customer to a person"
section "Handing over to a person (escalate_to_human, parley conversation send, resume)"
customer_turn instagram "$IG_CUSTOMER" "$IG_CUSTOMER" "" \
	"Could I talk to a person about helmets for our whole cycling club? We are 14 riders."
ig_conv=$(conv_of "$TENANT-ig-agent" "$IG_CUSTOMER")
[ "$(q "SELECT ai_paused_until = 'infinity' FROM conversations WHERE conversation_id = '$ig_conv'")" = t ] \
	|| fail "the agent did not hand the conversation to a person"
say "the agent called escalate_to_human (\"$(q "SELECT ai_paused_reason FROM conversations WHERE conversation_id = '$ig_conv'")\"): the AI is paused there until someone resumes it"
STEP="a person answers (parley conversation send)"
printf '%s\n' "Hi, this is Marta from Demo Shop. For 14 riders we can do 15% off the helmets; send me your sizes and I'll put the order together." \
	| admin conversation send "$ig_conv" --text-file - | sed 's/^/  a person answered (parley conversation send): message /' \
	|| fail "parley conversation send failed"
STEP="resuming the AI (parley conversation resume)"
admin conversation resume "$ig_conv" | sed 's/^/  /' || fail "parley conversation resume failed"
[ "$(q "SELECT ai_paused_until IS NULL FROM conversations WHERE conversation_id = '$ig_conv'")" = t ] \
	|| fail "the conversation is still paused after resume"

STEP="printing the transcripts"
transcript "$TENANT-wa-agent" "$WA_CUSTOMER" "WhatsApp: $WA_NAME (+$WA_CUSTOMER)"
transcript "$TENANT-ig-agent" "$IG_CUSTOMER" "Instagram: customer $IG_CUSTOMER"
transcript "$TENANT-web-agent" "$WEB_SESSION" "Website chat: session $WEB_SESSION"

STEP="waiting for Anna's lead"
# The lead printed is the one that read everything Anna wrote: an earlier
# extraction (after her first messages) knows neither her email nor her
# budget.
anna_conv=$(conv_of "$TENANT-wa-agent" "$WA_CUSTOMER")
anna_last=$(q "SELECT max(sequence_no) FROM messages WHERE conversation_id = '$anna_conv' AND sender = 'user'")
deadline=$(($(date +%s) + 30))
until [ "$(q "SELECT count(*) FROM conversations WHERE conversation_id = '$anna_conv' AND extracted_through_seq >= $anna_last")" = 1 ]; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "no lead was extracted from all of Anna's messages within 30 s"
	sleep 0.2
done
STEP="checking Anna's lead"
IFS='|' read -r lead_name lead_email lead_budget < <(q "SELECT coalesce(name, ''), coalesce(email, ''), coalesce(budget_constraint, '')
	FROM extractions WHERE conversation_id = '$anna_conv' AND is_latest")
[ "$lead_name" = Anna ] || fail "the lead names '$lead_name', not Anna, who said 'this is Anna'"
[ "$lead_email" = anna.devries@example.com ] || fail "the lead's email is '$lead_email', not the one Anna gave"
[ "$lead_budget" = Yes ] || fail "the lead's budget_constraint is '$lead_budget', though Anna gave her budget"
section "Leads (parley leads list --tenant $TENANT, parley leads show)"
"$PARLEY_BIN" leads list --tenant "$TENANT" -c "$CONF" | sed 's/^./  &/' || fail "parley leads list failed"
echo
"$PARLEY_BIN" leads show "$anna_conv" -c "$CONF" | sed 's/^./  &/' || fail "parley leads show failed"

STEP="listing the meetings"
section "Meetings (parley meeting list --tenant $TENANT; the Google Calendar stand-in)"
[ "$(q "SELECT count(*) FROM meetings WHERE user_id = '$TENANT' AND status = 'scheduled' AND meet_link IS NOT NULL")" = 1 ] \
	|| fail "Anna's meeting was not booked"
admin meeting list --tenant "$TENANT" | sed 's/^./  &/' || fail "parley meeting list failed"
curl -fsS --max-time 5 "$GOOGLE_URL/_events" \
	| jq -r '.primary[] | "  event \(.id) in the calendar: \"\(.summary)\", \(.start.dateTime) (\(.start.timeZone)), \(.conferenceData.conferenceSolution.name) \(.hangoutLink), guest \(.attendees[0].email)"' \
	|| fail "could not read the Google stand-in's events"

STEP="reading the events the shop received"
section "Events out (what the shop's receiver got; signatures checked with Python's hmac)"
for _ in $(seq 1 100); do
	[ "$(q "SELECT count(*) FROM event_deliveries WHERE state = 'pending'")" = 0 ] && break
	sleep 0.1
done
curl -fsS --max-time 5 "$RECEIVER_URL/_requests" | python3 -c '
import base64, hashlib, hmac, json, sys
key = base64.b64decode(sys.argv[1][len("whsec_"):])
seen = {}
for r in json.load(sys.stdin):
    h, body = r["headers"], r["body"]
    msg = ("%s.%s.%s" % (h["webhook-id"], h["webhook-timestamp"], body)).encode()
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    ok = "valid" if want in h["webhook-signature"].split(" ") else "INVALID"
    e = json.loads(body)
    d = e["data"]
    if "lead" in d:
        what = "%s lead %s (%s/15): %s" % (d["customer_name"] or d["customer"], d["lead"]["tag"],
                                         d["lead"]["score"], d["lead"]["smart_notification"])
    elif e["type"] == "conversation.handoff":
        what = "%s: %s" % (d["customer"], d["reason"])
    elif "meeting" in d:
        what = "%s at %s, %s" % (d["meeting"]["title"], d["meeting"]["time"], d["meeting"]["meet_link"])
    else:
        what = ""
    print("  %-15s %s  signature %s\n    %s" % (e["type"], h["webhook-id"], ok, what))
    seen[e["type"]] = seen.get(e["type"], True) and ok == "valid"
missing = [t for t in ("lead.hot", "meeting.booked", "conversation.handoff") if not seen.get(t)]
if missing:
    sys.exit("no validly signed %s event" % " or ".join(missing))
' "$EVENTS_SECRET" || fail "the receiver did not get validly signed lead.hot, meeting.booked and conversation.handoff events"

STEP="reading /metrics"
section "Metrics (from $PARLEY_URL/metrics)"
curl -fsS --max-time 5 "$PARLEY_URL/metrics" >"$DEMO_TMP/metrics.txt" || fail "GET /metrics failed"
grep -E '^parley_(webhooks_total|replies_total|extractions_total|meeting_tool_calls_total|upstream_requests_total)[{ ]' "$DEMO_TMP/metrics.txt" | sed 's/^/  /' \
	|| fail "/metrics has none of parley_webhooks_total, parley_replies_total, parley_upstream_requests_total"
IFS='|' read -r left used < <(q "SELECT remaining_credits || '|' || total_used FROM credits WHERE user_id = '$TENANT'")
section "Credits"
say "$TENANT used $used credits for $(q "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id) JOIN agents a USING (agent_id) WHERE a.user_id = '$TENANT' AND m.sender = 'agent'") replies; $left of 100 left"

if [ "$DEMO_KEEP" = 1 ]; then
	STEP="staying up (DEMO_KEEP=1)"
	f=$DEMO_TMP/try-me.json
	wa_message "$(new_wamid 99)" "$WA_CUSTOMER" "$WA_NAME" "One more question: do you repair e-bikes too?" >"$f"
	section "Still running (DEMO_KEEP=1): Ctrl-C stops everything"
	say "parley           $PARLEY_URL  (/webhooks/meta, /healthz, /readyz, /metrics)"
	say "website chat     $PARLEY_URL/webchat/v1/demo?widget=$WIDGET  (open it in a browser)"
	say "OpenAI stand-in  $OPENAI_URL  (/_requests, /_stats; answers as the shop's assistant, tests/demo-replies.json)"
	say "Graph stand-in   $GRAPH_URL  (/_requests, /_stats)"
	say "Google stand-in  $GOOGLE_URL  (/_requests, /_events)"
	say "database         psql '$DSN'"
	say "config, logs     $DEMO_TMP  (parley.conf, parley.log, webhooks/)"
	echo
	say "Anna's next message, ready to send (to send it again, change its id first: Meta's ids are unique):"
	say "  $PARLEY_BIN replay -c $CONF --url $PARLEY_URL/webhooks/meta $f"
	say "or signed by hand:"
	say "  curl -H \"X-Hub-Signature-256: sha256=\$(openssl dgst -sha256 -hmac $APP_SECRET -r <$f | cut -d' ' -f1)\" \\"
	say "       -H 'Content-Type: application/json' --data-binary @$f $PARLEY_URL/webhooks/meta"
	say "then:"
	say "  psql '$DSN' -c 'SELECT conversation_id, sequence_no, sender, status, text FROM messages ORDER BY 1, 2'"
	say "  curl -s $PARLEY_URL/metrics | grep ^parley_replies"
	# Ctrl-C ends kept mode: the INT trap above stops everything. Waiting
	# with `wait` (not a foreground sleep) lets a trap run at once. A
	# Ctrl-C reaches parley too (the whole process group gets it): parley
	# then exits 0 on its own, which is the same stop, not a failure.
	while kill -0 "$PARLEY_PID" 2>/dev/null; do
		sleep 1 &
		wait $! || true
	done
	rc=0
	wait "$PARLEY_PID" || rc=$?
	PARLEY_PID=
	if [ -n "$INTERRUPTED" ]; then exit "$INTERRUPTED"; fi
	[ "$rc" = 0 ] || fail "parley serve exited on its own with status $rc"
	INTERRUPTED=130
	exit 130
fi

STEP="stopping parley"
rc=0
stop_pid "$PARLEY_PID" || rc=$?
PARLEY_PID=
[ "$rc" = 0 ] || fail "parley serve exited with status $rc on SIGTERM"
STEP="stopping the stand-ins and PostgreSQL"
stop_all
printf '\n%sdone in %s s%s: parley, the stand-ins and PostgreSQL are stopped.\n' "$B" "$(elapsed "$T0")" "$R"
