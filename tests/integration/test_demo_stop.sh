#!/usr/bin/env bash
# Stopping `make demo` (tests/demo.sh, issue #21 item 4): in kept mode
# (DEMO_KEEP=1) it answers as the shop's assistant on the address DEMO_LISTEN
# names; Ctrl-C (SIGINT to its process group) is not a failure; SIGKILL of
# the process that started it makes it stop too; either way no parley,
# stand-in or PostgreSQL of it is left running and its temporary
# directories are gone.
. "$(dirname "$0")/../lib/testlib.sh"

# start_demo OUT [WRAP]: tests/demo.sh in kept mode in a process group of
# its own (setsid), under a bash parent; sets GROUP (the parent's pid, which
# leads the group) and waits until the demo says it is still running.
start_demo() {
	local out=$1
	DEMO_KEEP=1 DEMO_LISTEN=${2:-} PARLEY_BIN=$PARLEY_BIN PARLEY_BUILD=$PARLEY_BUILD \
		setsid bash -c "bash '$REPO_DIR/tests/demo.sh'; echo \"demo exit \$?\"" >"$out" 2>&1 </dev/null &
	GROUP=$!
	for _ in $(seq 1 1200); do # the whole demo runs first: up to 4 minutes on a busy machine
		grep -q 'Still running (DEMO_KEEP=1)' "$out" && break
		grep -q 'demo exit' "$out" && break
		sleep 0.2
	done
	sleep 0.5 # the rest of the kept-mode lines
	grep -q 'Still running (DEMO_KEEP=1)' "$out"
}
# The demo's own directories and processes, from what it printed.
demo_dirs() { # OUT: its temp dir and PostgreSQL's
	sed -nE 's/^  config, logs +([^ ]+) .*/\1/p' "$1"
	sed -nE "s/^  database +psql 'host=([^ ]+) .*/\1/p" "$1"
}
left_running() { # DIRS...: processes whose command line names one of them
	local d
	for d in "$@"; do pgrep -af -- "$d" || true; done
}
any_exists() { # PATHS...: true when one of them exists
	local d
	for d in "$@"; do [ -e "$d" ] && return 0; done
	return 1
}
wait_gone() { # DIRS...: up to 30 s for no process and no directory
	for _ in $(seq 1 150); do
		if [ -z "$(left_running "$@")" ] && ! any_exists "$@"; then return 0; fi
		sleep 0.2
	done
	echo "left: $(left_running "$@") $(ls -d "$@" 2>/dev/null)"
	return 1
}

# ---- 1. Ctrl-C: SIGINT to the whole process group, as a terminal sends it
out1=$TEST_TMP/demo1.out
port=$(free_port)
if start_demo "$out1" "127.0.0.1:$port"; then
	_t_report ok "DEMO_KEEP=1: the demo runs and stays up"
else
	_t_report fail "DEMO_KEEP=1: the demo runs and stays up" "$(tail -30 "$out1")"
fi
mapfile -t dirs1 < <(demo_dirs "$out1")
eq "it names its two temporary directories" 2 "${#dirs1[@]}"
eq "DEMO_LISTEN chooses parley's address" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")"
contains "and the demo says so" "parley           http://127.0.0.1:$port" "$(cat "$out1")"
dsn=$(sed -nE "s/^  database +psql '([^']+)'.*/\1/p" "$out1")
eq "WhatsApp, Instagram and the widget are one shop's conversations" "instagram webchat whatsapp" \
	"$(sql "$dsn" "SELECT string_agg(DISTINCT p.platform, ' ' ORDER BY p.platform) FROM messages m
	               JOIN conversations c USING (conversation_id) JOIN agents a USING (agent_id)
	               JOIN phone_numbers p ON p.id = a.phone_number_id
	               WHERE m.sender = 'agent' AND m.text LIKE '%Demo Shop%'")"
contains "the lead names Anna, who gave her name" "Anna" "$(sed -n '/^== Leads/,/^== Meetings/p' "$out1")"
# Kept mode: the customer's next message is answered as the shop would.
replay_cmd=$(sed -nE 's/^    (.*\/parley replay -c .*)$/\1/p' "$out1" | head -1)
openai=$(sed -nE 's/^  OpenAI stand-in +(http[^ ]+) .*/\1/p' "$out1")
if [ -n "$replay_cmd" ] && [ -n "$openai" ]; then
	eval "$replay_cmd" >/dev/null 2>&1
	answer=''
	for _ in $(seq 1 100); do
		answer=$(curl -s "$openai/_requests" | jq -r '[.[] | select(.path == "/v1/responses" and (.body.text.format == null)) | .response.output[]? | select(.type == "message") | .content[0].text] | last // ""')
		case "$answer" in *workshop*) break ;; esac
		sleep 0.2
	done
	contains "kept mode: the stand-in answers like the shop's assistant" "our workshop repairs" "$answer"
	eq "not with an echo" "" "$(printf '%s' "$answer" | grep '^Echo:' || true)"
else
	_t_report fail "kept mode: the replay command and the stand-in's URL are printed" "$(tail -20 "$out1")"
fi
kill -INT -- "-$GROUP"
wait "$GROUP" 2>/dev/null
ok "after Ctrl-C nothing of it is left running and its directories are gone" wait_gone "${dirs1[@]}"
eq "Ctrl-C is not reported as a failure" "" "$(grep -E 'FAILED|logs kept' "$out1" || true)"
contains "Ctrl-C: it says it stopped everything" "stopping parley, the stand-ins and PostgreSQL" "$(cat "$out1")"
contains "Ctrl-C: exit status 130" "demo exit 130" "$(cat "$out1")"

# ---- 2. the parent dies (SIGKILL: no chance to pass anything on)
out2=$TEST_TMP/demo2.out
if start_demo "$out2"; then
	_t_report ok "second run: the demo stays up"
else
	_t_report fail "second run: the demo stays up" "$(tail -30 "$out2")"
fi
mapfile -t dirs2 < <(demo_dirs "$out2")
demo_pid=$(pgrep -f -P "$GROUP" "tests/demo.sh" | head -1)
kill -KILL "$GROUP"
wait "$GROUP" 2>/dev/null
ok "after its parent is killed nothing of it is left running and its directories are gone" \
	wait_gone "${dirs2[@]}"
demo_alive() { [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; }
for _ in $(seq 1 50); do demo_alive || break; sleep 0.2; done
eq "the demo itself exited" no "$(demo_alive && echo yes || echo no)"
contains "it says it stopped everything" "stopping parley, the stand-ins and PostgreSQL" "$(cat "$out2")"
# Anything left (a failure above) is not left for the next test.
for p in $(left_running "${dirs1[@]}" "${dirs2[@]}" | awk '{print $1}'); do kill -KILL "$p" 2>/dev/null; done
finish
