#!/usr/bin/env bash
# The first hour (issue #21 items 1 and 5): a fresh machine's build checks
# its packages before it compiles, and errors say what to do.
. "$(dirname "$0")/../lib/testlib.sh"

# --- make: the pkg-config modules are checked (and `make deps` run) before
# any compile. A fake pkg-config hides libpq until the fake `make deps`
# "installs" it; a wrapper around cc records every compile.
fh="$TEST_TMP/first-hour"
mkdir -p "$fh"
cat >"$fh/pkg-config" <<EOF
#!/bin/sh
if [ ! -e "$fh/installed" ]; then
	for a; do [ "\$a" = libpq ] && { echo "Package libpq was not found" >&2; exit 1; }; done
fi
exec pkg-config "\$@"
EOF
cat >"$fh/deps" <<EOF
#!/bin/sh
echo deps >>"$fh/order"
touch "$fh/installed"
EOF
cat >"$fh/cc" <<EOF
#!/bin/sh
echo cc >>"$fh/order"
exec cc "\$@"
EOF
chmod +x "$fh/pkg-config" "$fh/deps" "$fh/cc"
fhmake() {
	make -C "$REPO_DIR" --no-print-directory BUILD="$fh/build" PKG_CONFIG="$fh/pkg-config" \
		CC="$fh/cc" "$@" "$fh/build/obj/db/db.o"
}

# make deps fails (no sudo, no network): nothing compiles, the message says why.
out=$(fhmake DEPS_INSTALL=false 2>&1)
eq "libpq missing, make deps fails: make fails" 2 $?
contains "libpq missing: the module is named" "missing pkg-config module(s): libpq" "$out"
contains "libpq missing: make deps is run" "running make deps" "$out"
eq "libpq missing: nothing compiled" "" "$(cat "$fh/order" 2>/dev/null)"

# make deps installs it: then the compile, with libpq's flags.
out=$(fhmake DEPS_INSTALL="$fh/deps" 2>&1)
eq "libpq missing, make deps installs it: make succeeds" 0 $? || echo "$out" | sed 's/^/    # /'
eq "make deps ran before the first compile" "deps cc" "$(tr '\n' ' ' <"$fh/order" | sed 's/ $//')"

# Everything present: no check again, nothing to do.
out=$(fhmake DEPS_INSTALL="$fh/deps" 2>&1)
eq "all present: make does nothing" 0 $?
eq "all present: make deps not run again" "deps cc" "$(tr '\n' ' ' <"$fh/order" | sed 's/ $//')"

# --- Every command, and every admin sub-command, accepts --help: usage on
# stdout, exit 0, nothing else needed (no config, no database).
cmds=$("$PARLEY_BIN" help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' | grep -v '^help$')
bad=
for c in $cmds; do
	out=$("$PARLEY_BIN" "$c" --help 2>/dev/null)
	rc=$?
	[ "$rc" = 0 ] && [[ "$out" == usage:* ]] || bad="$bad $c($rc)"
	for sub in $("$PARLEY_BIN" "$c" help 2>/dev/null | sed -nE "s/^(usage:)? *parley $c ([a-z-]+).*/\2/p"); do
		out=$("$PARLEY_BIN" "$c" "$sub" --help 2>/dev/null)
		rc=$?
		[ "$rc" = 0 ] && [[ "$out" == usage:* ]] || bad="$bad $c-$sub($rc)"
	done
done
eq "every command and sub-command: --help prints usage, exit 0" "" "$bad"
eq "the commands were found" yes "$([ "$(wc -w <<<"$cmds")" -ge 13 ] && echo yes)"

# --- The database down at start: one warning, one when it is back with the
# count of failed attempts; no line per connection per retry, no
# "connection -1", no libpq line breaks. The proxy to it starts late.
dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
ok "a tenant" "$PARLEY_BIN" tenant add --id acme --email o@acme.example -c "$conf"
"$PARLEY_BIN" channel add --tenant acme --platform webchat --meta-id acme-widget -c "$conf" >/dev/null 2>&1
port=$(free_port)
down_conf=$(new_config "$(echo "$dsn" | sed -E "s/host=[^ ]+/host=127.0.0.1/; s/port=[0-9]+/port=$port/")")
conf_set "$down_conf" database connections 4
start_parley "$down_conf" || { finish; exit 1; }
pid=$PARLEY_PID
sleep 3
eq "database down: one warning" 1 "$(grep -c 'database unreachable' "$down_conf.log")"
contains "database down: it says what is retried and which key" \
	"retrying in the background (database.url), answering 503 meanwhile" "$(cat "$down_conf.log")"
eq "database down: no line per connection" 0 "$(grep -c 'connection [0-9-]* down\|connection -1' "$down_conf.log")"
eq "database down: every log line is one line" 0 "$(grep -vc '^20[0-9][0-9]-' "$down_conf.log")"
eq "database down: /readyz 503" 503 "$(curl -sS -o /dev/null -w '%{http_code}' "$(parley_url "$down_conf")/readyz")"
ctl=$(mktemp -d "$TEST_TMP/proxy-XXXXXX")
python3 "$TESTS_DIR/lib/pg_proxy.py" "$port" "$PG_PORT" "$ctl" >"$ctl.log" 2>&1 &
_T_PIDS="$_T_PIDS $!"
back=
for i in $(seq 1 200); do
	back=$(grep -o 'database reachable again after [0-9]* failed connection attempts' "$down_conf.log") && break
	sleep 0.05
done
contains "database back: one line with the count of failed attempts" "database reachable again after" "$back"
eq "database back: the count is more than one" yes \
	"$([ "$(grep -o '[0-9]*' <<<"$back" | head -1)" -gt 1 ] && echo yes)"
for i in $(seq 1 200); do
	[ "$(curl -sS -o /dev/null -w '%{http_code}' "$(parley_url "$down_conf")/readyz")" = 200 ] && break
	sleep 0.05
done
eq "database back: ready" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$(parley_url "$down_conf")/readyz")"
sleep 0.5
eq "database back: still one warning in all" 1 "$(grep -c 'database unreachable' "$down_conf.log")"
contains "serve at start: a webchat channel without webchat.secret is named" \
	"webchat.secret is not set: the widgets of 1 webchat channel cannot open sessions" \
	"$(cat "$down_conf.log")"

# --- cannot listen: the reason and the key.
out=$("$PARLEY_BIN" serve -c "$down_conf" 2>&1)
eq "address in use: exit 1" 1 $?
contains "address in use: the reason and the key" \
	"cannot listen on $(sed -nE 's/^listen = (.*)$/\1/p' "$down_conf") (server.listen): address already in use" "$out"
stop_parley "$pid"
eq "SIGTERM: exit 0" 0 $?
nc_conf=$(new_config "$dsn")
conf_set "$nc_conf" server listen "192.0.2.1:$(free_port)"
out=$("$PARLEY_BIN" serve -c "$nc_conf" 2>&1)
eq "no such address: exit 1" 1 $?
contains "no such address: says so" "(server.listen): no such address on this machine" "$out"
conf_set "$nc_conf" server listen "127.0.0.1:$(free_port)"
conf_set "$nc_conf" server internal_listen "127.0.0.1:1"
if [ "$(id -u)" != 0 ]; then
	out=$("$PARLEY_BIN" serve -c "$nc_conf" 2>&1)
	eq "port 1 as a user: exit 1" 1 $?
	contains "port 1 as a user: permission, and the key" \
		"(server.internal_listen): permission denied: ports below 1024 need root" "$out"
else
	echo "# port 1 permission check skipped: running as root"
fi

finish
