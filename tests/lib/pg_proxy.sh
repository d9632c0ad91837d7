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
	wait_up "the proxy" "$PROXY_CTL.log" grep -q "proxy up" "$PROXY_CTL.log"
}

# proxy_dsn DSN: DSN through the proxy.
proxy_dsn() { dsn_via "$PROXY_PORT" "$1"; }

# proxy_arm FAULT PATTERN: arms a fault (pg_proxy.py); it fires once.
proxy_arm() {
	rm -f "$PROXY_CTL/$1.done"
	printf '%s' "$2" >"$PROXY_CTL/$1.tmp" && mv "$PROXY_CTL/$1.tmp" "$PROXY_CTL/$1"
}

# proxy_fired FAULT [SECONDS]: waits (10 s unless told) until the fault fired.
proxy_fired() { WAIT_SECONDS=${2:-10} retry test -e "$PROXY_CTL/$1.done"; }

# proxied_reply_frame: the reply path's test frame (replylib.sh: the
# stand-ins, a parley with a 100 ms debounce, the seeded tenant) with
# parley's database connections through a new proxy; sets dsn (direct),
# conf, pid and url.
proxied_reply_frame() {
	reply_standins || return 1
	start_pg_proxy || return 1
	dsn=$(new_db)
	conf=$(reply_config "$(proxy_dsn "$dsn")" replies debounce_ms 100)
	reply_migrate "$conf" "$dsn"
	reply_start "$conf"
}
