# The reply path's test frame, sourced after testlib.sh by the tests that
# drive replies end to end: the OpenAI and Graph stand-ins, a config that
# points parley at them, and the questions those tests ask of the stand-ins,
# the database and /metrics. Written once so that every such test starts the
# same way and a new one does not copy twenty lines of another.

# reply_standins: starts fake_openai and fake_graph; sets OPENAI and GRAPH
# (their URLs) and openai_pid and graph_pid.
reply_standins() {
	start_standin fake_openai || return 1
	openai_pid=$STANDIN_PID OPENAI=$STANDIN_URL
	start_standin fake_graph || return 1
	graph_pid=$STANDIN_PID GRAPH=$STANDIN_URL
}

# reply_config DSN [SECTION KEY VALUE]...: prints the path of a new config
# for a parley on DSN that sends to both stand-ins, with lead extraction off
# (its requests would add to the OpenAI counts), then the settings given.
reply_config() {
	local conf
	conf=$(new_config "$1")
	shift
	conf_set "$conf" meta whatsapp_url "$GRAPH/v24.0"
	conf_set "$conf" meta instagram_url "$GRAPH/v24.0"
	conf_set "$conf" openai api_key sk-test
	conf_set "$conf" openai url "$OPENAI/v1"
	conf_set "$conf" extraction enabled false
	while [ $# -ge 3 ]; do
		conf_set "$conf" "$1" "$2" "$3"
		shift 3
	done
	echo "$conf"
}

# reply_migrate CONF DSN [WIDGET]: migrates DSN and seeds the test tenant's
# channels (seed_channels: with WIDGET, a webchat channel too).
reply_migrate() {
	ok "migrate" "$PARLEY_BIN" migrate -c "$1"
	seed_channels "$2" "${3:-}"
}

# reply_start CONF: starts parley; sets pid and url.
reply_start() {
	start_parley "$1" || return 1
	pid=$PARLEY_PID
	url=$(parley_url "$1")
}

# What the stand-ins received, and resetting them between cases.
n_responses() { curl -sS "$OPENAI/_requests" | jq '[.[] | select(.path == "/v1/responses")] | length'; }
n_sends() { curl -sS "$GRAPH/_requests" | jq '[.[] | select(.path | endswith("/messages"))] | length'; }
reset_standins() {
	curl -sS -X POST "$OPENAI/_reset" >/dev/null
	curl -sS -X POST "$GRAPH/_reset" >/dev/null
}

# The test tenant's credits as remaining/total_used.
credits() { sql "$dsn" "SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'"; }

# metric NAME{LABELS}: that sample's value on $url/metrics (exact match).
metric() { curl -sS "$url/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
