# Sourced. Starts a throwaway PostgreSQL 15 in a temporary directory and
# exports PG_ROOT, PG_PORT, PG_ADMIN_DSN (superuser over the unix socket).
# pg_stop stops it and removes the directory; callers trap it on EXIT.
# As root, the server runs as the postgres user (initdb refuses root).

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

# as_postgres DIR CMD...: CMD in DIR, as the postgres user when run as root.
as_postgres() {
	local dir=$1
	shift
	if [ "$(id -u)" = 0 ]; then
		(cd "$dir" && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}
pg_as() { as_postgres "$PG_ROOT" "$@"; }

# dsn_via PORT DSN: DSN to the same database through 127.0.0.1:PORT (a
# proxy or pooler in front of the server).
dsn_via() { echo "$2" | sed -E "s/host=[^ ]+/host=127.0.0.1/; s/port=[0-9]+/port=$1/"; }

# retry CMD...: runs CMD every 50 ms until it succeeds, for WAIT_SECONDS
# (10 unless set); fails when it never did.
retry() {
	local i
	for i in $(seq 1 $((${WAIT_SECONDS:-10} * 20))); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# wait_up WHAT LOG CMD...: waits up to 5 s until CMD succeeds; if it does
# not, says that WHAT did not come up, with LOG, and fails.
wait_up() {
	local what=$1 log=$2
	shift 2
	WAIT_SECONDS=5 retry "$@" 2>/dev/null && return 0
	echo "$what did not come up:" >&2
	cat "$log" >&2
	return 1
}

# pg_listening PORT: something accepts connections on 127.0.0.1:PORT.
pg_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_free_port() {
	local port=$1
	while pg_listening "$port"; do port=$((port + 1)); done
	echo "$port"
}

pg_start() {
	[ -x "$PG_BIN/initdb" ] || { echo "pg.sh: no PostgreSQL server found (run 'make deps')" >&2; return 1; }
	PG_ROOT=$(mktemp -d /tmp/parley-pg.XXXXXX)
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_ROOT"
	# Below the kernel's ephemeral range (32768+), where outgoing connections
	# could take the port between our check and the bind.
	PG_PORT=$(pg_free_port "${PG_PORT_BASE:-$((15432 + RANDOM % 5000))}")
	pg_as "$PG_BIN/initdb" -D "$PG_ROOT/data" -U postgres -E UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=trust --no-sync >"$PG_ROOT/initdb.log" 2>&1 \
		|| { cat "$PG_ROOT/initdb.log" >&2; return 1; }
	cat >>"$PG_ROOT/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_ROOT'
max_connections = 200
${PG_EXTRA_CONF:-}
CONF
	pg_as "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -w -t 60 start >/dev/null \
		|| { cat "$PG_ROOT/server.log" >&2; return 1; }
	export PG_ROOT PG_PORT
	export PG_ADMIN_DSN="host=$PG_ROOT port=$PG_PORT user=postgres dbname=postgres"
}

# Stops the server without removing it (tests of database outages).
pg_pause() { pg_as "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m fast -w stop >/dev/null; }
pg_resume() { pg_as "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -w -t 60 start >/dev/null; }

pg_stop() {
	if [ -n "${PG_ROOT:-}" ] && [ -f "$PG_ROOT/data/postmaster.pid" ]; then
		pg_as "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	[ -n "${PG_ROOT:-}" ] && rm -rf "$PG_ROOT"
	PG_ROOT=
}
