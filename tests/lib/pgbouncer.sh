# Sourced. pgb_start starts a throwaway PgBouncer (Debian's) in transaction
# pooling mode in front of the PostgreSQL that pg.sh started, on a loopback
# port; exports PGB_ROOT and PGB_PORT. pgb_dsn DSN rewrites a DSN of that
# PostgreSQL (host=$PG_ROOT port=$PG_PORT …) to go through PgBouncer.
# PGB_POOL_SIZE (default 2) is the server connections per database and user.
# PgBouncer refuses to run as root: as root it runs as the postgres user, like
# the PostgreSQL of pg.sh. pgb_stop stops it and removes its directory.

PGB_BIN=${PGB_BIN:-$(command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer)}

pgb_start() {
	[ -x "$PGB_BIN" ] || { echo "pgbouncer.sh: no pgbouncer (run 'make deps')" >&2; return 1; }
	PGB_ROOT=$(mktemp -d /tmp/parley-pgb.XXXXXX)
	PGB_PORT=$(pg_free_port $((PG_PORT + 1000)))
	echo '"postgres" ""' >"$PGB_ROOT/users.txt"
	cat >"$PGB_ROOT/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PG_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir = $PGB_ROOT
auth_type = trust
auth_file = $PGB_ROOT/users.txt
pool_mode = transaction
default_pool_size = ${PGB_POOL_SIZE:-2}
max_client_conn = 500
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $PGB_ROOT/pgbouncer.log
pidfile = $PGB_ROOT/pgbouncer.pid
INI
	[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PGB_ROOT"
	as_postgres "$PGB_ROOT" "$PGB_BIN" -d "$PGB_ROOT/pgbouncer.ini" >/dev/null 2>&1 \
		|| { cat "$PGB_ROOT/pgbouncer.log" >&2; return 1; }
	export PGB_ROOT PGB_PORT
	wait_up pgbouncer "$PGB_ROOT/pgbouncer.log" pg_listening "$PGB_PORT"
}

# A DSN of pg.sh's PostgreSQL, through PgBouncer (TCP: its port, not the socket).
pgb_dsn() { dsn_via "$PGB_PORT" "$1"; }

pgb_stop() {
	if [ -n "${PGB_ROOT:-}" ] && [ -f "$PGB_ROOT/pgbouncer.pid" ]; then
		kill "$(cat "$PGB_ROOT/pgbouncer.pid")" 2>/dev/null || true
		local i
		for i in $(seq 1 50); do [ -f "$PGB_ROOT/pgbouncer.pid" ] || break; sleep 0.1; done
	fi
	[ -n "${PGB_ROOT:-}" ] && rm -rf "$PGB_ROOT"
	PGB_ROOT=
}
