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

# lead_config DSN EVERY CREDITS [SECTION KEY VALUE]...: reply_config with
# lead extraction on, quick (idle_seconds 1, every EVERY messages, CREDITS
# a run), a model named, 5 s OpenAI timeout, 200 ms debounce and free
# replies; then the settings given.
lead_config() {
	local dsn=$1 every=$2 credits=$3
	shift 3
	reply_config "$dsn" openai model gpt-test openai timeout_seconds 5 replies debounce_ms 200 \
		replies credits_per_reply 0 extraction enabled true extraction idle_seconds 1 \
		extraction every_messages "$every" extraction credits "$credits" "$@"
}

# reply_migrate CONF DSN [WIDGET]: migrates DSN and seeds the test tenant's
# channels (seed_channels: with WIDGET, a webchat channel too).
reply_migrate() {
	ok "migrate" "$PARLEY_BIN" migrate -c "$1"
	seed_channels "$2" "${3:-}"
}

# reply_start CONF: starts parley; sets pid and url.
reply_start() { serve "$1"; }

# refuse_updates DSN NAME TABLE CONDITION TIMES MESSAGE ERRCODE: a trigger
# NAME on TABLE that fails the first TIMES updates where CONDITION holds (on
# NEW and OLD) with MESSAGE and ERRCODE. The sequence NAME counts them (it
# is not rolled back with the update). DROP TRIGGER NAME ON TABLE ends it.
refuse_updates() {
	psql -X -q -v ON_ERROR_STOP=1 "$1" <<SQL
CREATE SEQUENCE $2;
CREATE FUNCTION $2() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    IF $4 AND nextval('$2') <= $5 THEN
        RAISE EXCEPTION '$6' USING ERRCODE = '$7';
    END IF;
    RETURN NEW;
END \$\$;
CREATE TRIGGER $2 BEFORE UPDATE ON $3 FOR EACH ROW EXECUTE FUNCTION $2();
SQL
}

# What the stand-ins received, and resetting them between cases.
n_responses() { curl -sS "$OPENAI/_requests" | jq '[.[] | select(.path == "/v1/responses")] | length'; }
n_sends() { curl -sS "$GRAPH/_requests" | jq '[.[] | select(.path | endswith("/messages"))] | length'; }
# fault STANDIN SCRIPT FROM TEXT: the stand-ins reset, SCRIPT scripted into
# the stand-in at URL STANDIN, then the customer's message (the test's own
# say FROM TEXT).
fault() {
	reset_standins
	curl -sS -d "$2" "$1/_script" >/dev/null
	say "$3" "$4" >/dev/null
}
# in_flight STANDIN: how many answers the stand-in at URL STANDIN holds now.
in_flight() { curl -sS "$1/_stats" | jq '.in_flight'; }
# held STANDIN: waits up to 5 s until the stand-in holds an answer back (a
# scripted delay).
held() { WAIT_SECONDS=5 wait_until 1 in_flight "$1" 2>/dev/null; }
# first_input: the input of the first response OpenAI was asked for.
first_input() { curl -sS "$OPENAI/_requests" | jq -c '[.[] | select(.path == "/v1/responses")][0].body.input'; }
reset_standins() {
	curl -sS -X POST "$OPENAI/_reset" >/dev/null
	curl -sS -X POST "$GRAPH/_reset" >/dev/null
}

# graph_sends CUSTOMER: the texts the Graph API accepted for the customer.
graph_sends() {
	curl -sS "$GRAPH/_requests" | jq -r --arg to "$1" \
		'[.[] | select(.body.to == $to and .body.text.body != null and .status == 200)] | length'
}

# settled CUSTOMER: waits until the conversation is released, nothing due
# or charged.
settled() {
	wait_for "$dsn" "SELECT count(*) FROM conversations WHERE customer_phone = '$1'
	                 AND reply_lease_owner IS NULL AND reply_due_at IS NULL AND NOT reply_charged" 1
}

# wait_sent CUSTOMER WANT: waits until the customer has WANT sent agent messages.
wait_sent() {
	wait_for "$dsn" "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)
	                 WHERE c.customer_phone = '$1' AND m.sender = 'agent' AND m.status = 'sent'" "$2"
}

# The test tenant's credits as remaining/total_used.
credits() { sql "$dsn" "SELECT remaining_credits || '/' || total_used FROM credits WHERE user_id = 'acme'"; }

# metric NAME{LABELS}: that sample's value on $url/metrics (exact match).
metric() { curl -sS "$url/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
