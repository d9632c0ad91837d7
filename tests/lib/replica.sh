# Sourced after pg.sh (testlib.sh sources it). A PostgreSQL primary and a
# synchronous streaming standby of its own, for the tests that kill the
# primary (tests/integration/test_failover.sh, tests/topology/run.sh): the
# runner's PostgreSQL is shared with the other tests.
#
#   rep_primary            initdb + start; sets REP_P_ROOT, REP_P_PORT
#   rep_standby            pg_basebackup -R from the primary + start, waits
#                          until it streams; sets REP_S_ROOT, REP_S_PORT
#   rep_synchronous        synchronous_standby_names = '*' on the primary
#                          (after the base backup, so that a promoted standby
#                          does not wait for a standby of its own), waits
#                          until the standby is `sync`
#   rep_stop_primary       pg_ctl stop -m immediate (a crash)
#   rep_promote            pg_ctl promote on the standby
#   rep_cleanup            stops every server started here and removes its
#                          directory (kept when REP_KEEP is set); callers run
#                          it from their EXIT trap
# Each returns non-zero (and prints the server's log) when a step fails. As
# root the servers run as the postgres user, like pg.sh's. REP_PORT_BASE
# (default PG_PORT + 2000) is where the search for free ports starts.

REP_DIRS=

rep_as() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# _rep_root VAR: a new directory the postgres user owns, in VAR (not echoed:
# a command substitution's subshell could not add it to REP_DIRS).
_rep_root() {
	local d
	d=$(mktemp -d /tmp/parley-rep.XXXXXX) || return 1
	[ "$(id -u)" = 0 ] && chown postgres:postgres "$d"
	REP_DIRS="$REP_DIRS $d"
	printf -v "$1" '%s' "$d"
}

_rep_start() { # _rep_start ROOT
	rep_as "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 start >/dev/null ||
		{ cat "$1/server.log" >&2; return 1; }
}

# _rep_wait DSN QUERY WANT: up to 10 s.
_rep_wait() {
	local i got=
	for i in $(seq 1 200); do
		got=$(psql -X -q -At "$1" -c "$2" 2>/dev/null)
		[ "$got" = "$3" ] && return 0
		sleep 0.05
	done
	echo "replica.sh: timed out waiting for '$2' = '$3' (last: '$got')" >&2
	return 1
}

rep_primary() {
	_rep_root REP_P_ROOT || return 1
	REP_P_PORT=$(pg_free_port "${REP_PORT_BASE:-$((${PG_PORT:-15432} + 2000))}")
	rep_as "$PG_BIN/initdb" -D "$REP_P_ROOT/data" -U postgres -E UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=trust --no-sync >"$REP_P_ROOT/initdb.log" 2>&1 ||
		{ cat "$REP_P_ROOT/initdb.log" >&2; return 1; }
	cat >>"$REP_P_ROOT/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $REP_P_PORT
unix_socket_directories = '$REP_P_ROOT'
max_connections = 100
wal_level = replica
max_wal_senders = 4
CONF
	_rep_start "$REP_P_ROOT"
}

rep_standby() {
	_rep_root REP_S_ROOT || return 1
	REP_S_PORT=$(pg_free_port $((REP_P_PORT + 1)))
	rep_as "$PG_BIN/pg_basebackup" -D "$REP_S_ROOT/data" -h 127.0.0.1 -p "$REP_P_PORT" \
		-U postgres -R -X stream -c fast --no-sync || return 1
	cat >>"$REP_S_ROOT/data/postgresql.conf" <<CONF
port = $REP_S_PORT
unix_socket_directories = '$REP_S_ROOT'
CONF
	_rep_start "$REP_S_ROOT" || return 1
	_rep_wait "host=127.0.0.1 port=$REP_P_PORT user=postgres dbname=postgres" \
		"SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 1
}

rep_synchronous() {
	local admin="host=127.0.0.1 port=$REP_P_PORT user=postgres dbname=postgres"
	psql -X -q "$admin" -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" \
		>/dev/null || return 1
	_rep_wait "$admin" "SELECT sync_state FROM pg_stat_replication" sync
}

rep_stop_primary() { rep_as "$PG_BIN/pg_ctl" -D "$REP_P_ROOT/data" -m immediate -w stop >/dev/null; }
rep_promote() { rep_as "$PG_BIN/pg_ctl" -D "$REP_S_ROOT/data" -w promote >/dev/null; }

rep_cleanup() {
	local d
	for d in $REP_DIRS; do
		[ -f "$d/data/postmaster.pid" ] && rep_as "$PG_BIN/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null 2>&1
		if [ -n "${REP_KEEP:-}" ]; then echo "# kept $d" >&2; else rm -rf "$d"; fi
	done
	REP_DIRS=
	return 0
}
