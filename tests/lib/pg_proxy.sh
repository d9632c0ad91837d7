# Sourced by tests that break a database connection on purpose
# (tests/lib/pg_proxy.py); needs testlib.sh.

# start_pg_proxy: a proxy to the test PostgreSQL on a free port; sets
# PROXY_PORT and PROXY_CTL (the directory where faults are armed).
start_pg_proxy() {
	PROXY_PORT=$(free_port)
	PROXY_CTL=$(mktemp -d "$TEST_TMP/proxy-XXXXXX")
	python3 "$TESTS_DIR/lib/pg_proxy.py" "$PROXY_PORT" "$PG_PORT" "$PROXY_CTL" \
		>"$PROXY_CTL.log" 2>&1 &
	_T_PIDS="$_T_PIDS $!"
	local i
	for i in $(seq 1 100); do
		grep -q "proxy up" "$PROXY_CTL.log" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "the proxy did not start:" >&2
	cat "$PROXY_CTL.log" >&2
	return 1
}

# proxy_dsn DSN: DSN through the proxy.
proxy_dsn() { echo "$1" | sed -E "s/host=[^ ]+/host=127.0.0.1/; s/port=[0-9]+/port=$PROXY_PORT/"; }

# proxy_arm FAULT PATTERN: arms a fault (pg_proxy.py); it fires once.
proxy_arm() {
	rm -f "$PROXY_CTL/$1.done"
	printf '%s' "$2" >"$PROXY_CTL/$1.tmp" && mv "$PROXY_CTL/$1.tmp" "$PROXY_CTL/$1"
}

# proxy_fired FAULT [SECONDS]: waits (10 s unless told) until the fault fired.
proxy_fired() {
	local i
	for i in $(seq 1 $((${2:-10} * 20))); do
		[ -e "$PROXY_CTL/$1.done" ] && return 0
		sleep 0.05
	done
	return 1
}
