#!/usr/bin/env bash
# PostgreSQL restarted under open webchat long polls (issue #15, item 2).
# When the LISTEN connection came back before any pool connection, waking
# the polls ran their reads, the pool refused them from inside db_query and
# each poll was freed while the wake-up loop still walked the list: a
# use-after-free (ASan) or SIGSEGV. Here the server is restarted several
# times with polls open, with one pool connection and with four; parley must
# stay up, answer the polls and stop cleanly (under SANITIZE=1 a leak or any
# sanitizer report fails the exit status).
. "$(dirname "$0")/../lib/testlib.sh"

WIDGET=wgt_restart
SECRET=test-webchat-secret
SESSIONS=6 # two polls each, the most a session may hold
RESTARTS=6

dsn=$(new_db)
conf0=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf0"
seed_channels "$dsn" "$WIDGET"

# GET URL PATH TOKEN: prints the HTTP status (000 when nothing answered).
status_of() {
	curl -sS -o /dev/null -w '%{http_code}' -m 20 -H "Authorization: Bearer $3" "$1$2" 2>/dev/null
}

# Waits up to 20 s until a poll with wait=0 answers 200.
polls_answer() {
	WAIT_SECONDS=20 wait_until 200 status_of "$1" "/webchat/v1/messages?after=0&wait=0" "$2" && return 0
	echo "no 200 from a poll after the restart" >&2
	return 1
}

# Restarts the test's PostgreSQL; the fast mode ends every session at once.
pg_restart() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -m fast -w -t 60 restart \
		>/dev/null
}

run_with_connections() {
	local n=$1 conf url pid tokens=() i r round
	conf=$(new_config "$dsn")
	conf_set "$conf" database connections "$n"
	conf_set "$conf" webchat secret "$SECRET"
	start_parley "$conf" || return 1
	pid=$PARLEY_PID
	url=$(parley_url "$conf")
	# Ready: the pool is connected before the first poll reaches it.
	for i in $(seq 1 100); do
		[ "$(curl -sS -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && break
		sleep 0.1
	done
	for i in $(seq 1 "$SESSIONS"); do
		r=$(curl -sS -X POST -H 'Content-Type: application/json' \
			--data-binary "{\"widget_id\":\"$WIDGET\"}" "$url/webchat/v1/sessions")
		tokens+=("$(jq -r .token <<<"$r")")
	done
	eq "connections=$n: $SESSIONS sessions opened" "$SESSIONS" \
		"$(printf '%s\n' "${tokens[@]}" | grep -vc '^null$\|^$')"

	local alive=yes pids=()
	for round in $(seq 1 "$RESTARTS"); do
		# Open polls on every session, then let them reach the database and wait.
		for t in "${tokens[@]}"; do
			for _ in 1 2; do
				curl -sS -o /dev/null -m 40 -H "Authorization: Bearer $t" \
					"$url/webchat/v1/messages?after=1000&wait=30" 2>/dev/null &
				pids+=($!)
			done
		done
		for i in $(seq 1 100); do
			[ "$(curl -sS "$url/metrics" 2>/dev/null |
				sed -nE 's/^parley_webchat_open_polls ([0-9]+).*/\1/p')" = $((SESSIONS * 2)) ] && break
			sleep 0.05
		done
		pg_restart
		# The pool and the LISTEN connection come back within their backoff.
		if ! polls_answer "$url" "${tokens[0]}" || ! kill -0 "$pid" 2>/dev/null; then
			alive=no
			break
		fi
	done
	eq "connections=$n: parley survived $RESTARTS restarts under open polls" yes "$alive"
	ok "connections=$n: still running" kill -0 "$pid"

	# A poll still answers with what is stored: the customer's message.
	r=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer ${tokens[1]}" \
		-H 'Content-Type: application/json' \
		--data-binary '{"text":"after the restarts","client_message_id":"c-1"}' \
		"$url/webchat/v1/messages")
	eq "connections=$n: a message is stored after the restarts" 202 "$r"
	r=$(curl -sS -m 20 -H "Authorization: Bearer ${tokens[1]}" \
		"$url/webchat/v1/messages?after=0&wait=5")
	eq "connections=$n: a poll returns it" "after the restarts" "$(jq -r '.messages[0].text' <<<"$r")"

	# For the record (timing decides it): how often the crash's path ran,
	# the LISTEN connection back while no pool connection was.
	echo "# connections=$n: the LISTEN connection came back first $(awk '
		/listen connection up/ { if (!ready && restarted) first++ }
		/connection -?[0-9]* down/ { restarted = 1 }
		/connection [0-9]+ up/ { match($0, /connection [0-9]+/); up[substr($0, RSTART + 11, RLENGTH - 11)] = 1 }
		/connection [0-9]+ down/ { match($0, /connection [0-9]+/); up[substr($0, RSTART + 11, RLENGTH - 11)] = 0 }
		{ ready = 0; for (k in up) ready += up[k] }
		END { print first + 0 }' "$conf.log") time(s) in $RESTARTS restarts;" \
		"$(grep -c 'poll failed: database unavailable' "$conf.log") polls answered 503"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait "${pids[@]}" 2>/dev/null
	stop_parley "$pid"
	eq "connections=$n: SIGTERM: exit 0 (no crash, no sanitizer report)" 0 $?
	if grep -q 'Sanitizer\|runtime error' "$conf.log"; then
		_t_report fail "connections=$n: the log has no sanitizer report" \
			"$(grep -m5 -A20 'Sanitizer\|runtime error' "$conf.log")"
	else
		_t_report ok "connections=$n: the log has no sanitizer report"
	fi
}

run_with_connections 1
run_with_connections 4
finish
