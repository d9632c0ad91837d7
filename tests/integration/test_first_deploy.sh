#!/usr/bin/env bash
# The first deployment (issue #21 item 3; docs/operations.md, "First
# deployment, step by step"): the fenced blocks tagged `first-deployment` are
# taken from the document and run, in order, as one `bash -e` script, as
# root, in the source tree: make install, the user and /etc/parley, the
# role, its database, its password and the pg_hba line, the credential
# files, parley.conf and check-config, migrate, the unit's drop-in and
# systemd-analyze verify, the start (systemctl, or without systemd as PID 1
# the document's equivalent), /readyz and the log. Then the result is
# checked, the service stopped and everything the steps made removed.
# Twice: installing from the Debian package (blocks tagged `package`), then
# from the source tree (`source`).
#
# What differs from a real host (also said in the document): PGHOST/PGPORT
# point the PostgreSQL tools at a throwaway server started here (its
# pg_hba.conf has no host line: parley gets in over TCP only through the
# document's line) and its port goes into database.url (a service started
# by systemd would not see PGPORT); the ports 8080 and 9090 become free
# ones; the two typed secrets come on stdin.
#
# It installs into the real system, so it needs root (CI runs as root); it
# holds test_deb.sh's lock and skips when a parley is already installed.
. "$(dirname "$0")/../lib/testlib.sh"

DOC=$REPO_DIR/docs/operations.md

if [ "$(id -u)" != 0 ] || ! command -v runuser >/dev/null || ! command -v setpriv >/dev/null \
	|| ! getent passwd postgres >/dev/null; then
	echo "skip - $T_NAME: the first deployment installs into the system: needs root, runuser, setpriv and a postgres user"
	finish
	exit
fi

# --- the commands, from the document
if [ -d /run/systemd/system ]; then mode=systemd; else mode=no-systemd; fi
blocks() { # "TAG…" [only]: the untagged blocks and those tagged one of TAG… (only: those alone)
	awk -v want=" $1 " -v only="${2:-}" '
		/^```sh first-deployment( |$)/ { tag = $3; on = ((tag == "" && only == "") || (tag != "" && index(want, " " tag " "))); next }
		/^```/ { on = 0; next }
		on { print }
	' "$DOC"
}
nblocks=$(grep -cE '^```sh first-deployment( |$)' "$DOC")
ok "docs/operations.md has first-deployment blocks ($nblocks)" test "$nblocks" -ge 10
eq "  every tag is known" "" "$(sed -nE 's/^```sh first-deployment ([^ ]+).*/\1/p' "$DOC" |
	grep -vxE 'package|source|systemd|no-systemd' | sort -u)"
if [ "$mode" = no-systemd ]; then
	echo "# systemd is not PID 1 here: these blocks need it and are not run (the document's no-systemd equivalents are):"
	blocks systemd only | sed 's/^/#   not run: /'
fi

# One installer at a time on this machine (test_deb.sh takes the same lock).
exec 9>/tmp/parley-test-deb.lock
flock -w 600 9 || { _t_report fail "lock /tmp/parley-test-deb.lock"; finish; exit 1; }

# Nothing of a parley installation may be here: this test would remove it.
made="/usr/bin/parley /usr/share/parley /usr/lib/systemd/system/parley.service
	/usr/share/man/man1/parley.1 /usr/share/man/man5/parley.conf.5 /etc/parley
	/etc/systemd/system/parley.service.d /run/parley /var/log/parley.log"
present=
for f in $made; do [ -e "$f" ] && present="$present $f"; done
dpkg-query -W -f='${Status}' parley 2>/dev/null | grep -q installed && present="$present (package parley)"
if [ -n "$present" ]; then
	echo "skip - $T_NAME: a parley installation is present, not touching it:$present"
	finish
	exit
fi
user_before=$(getent passwd parley >/dev/null && echo yes || echo no)
varlib_before=$([ -e /var/lib/parley ] && echo yes || echo no)

# --- a throwaway PostgreSQL like a fresh Debian one, but stricter: local
# connections by peer only, no host line at all.
FD_PG=
fd_pg() { (cd "$FD_PG" && runuser -u postgres -- "$@"); }

cleanup_all() {
	_t_cleanup
	local pid
	if [ "$mode" = systemd ]; then
		systemctl disable --now parley >/dev/null 2>&1
	elif [ -f /run/parley/serve.pid ]; then
		pid=$(cat /run/parley/serve.pid)
		kill "$pid" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	fi
	dpkg -P parley >/dev/null 2>&1
	rm -rf /usr/bin/parley /usr/share/parley /usr/lib/systemd/system/parley.service \
		/usr/share/man/man1/parley.1 /usr/share/man/man5/parley.conf.5 /etc/parley \
		/etc/systemd/system/parley.service.d /run/parley /var/log/parley.log
	[ "$mode" = systemd ] && systemctl daemon-reload >/dev/null 2>&1
	[ "$varlib_before" = no ] && rm -rf /var/lib/parley
	[ "$user_before" = no ] && getent passwd parley >/dev/null && userdel parley 2>/dev/null
	if [ -n "$FD_PG" ]; then
		fd_pg "$PG_BIN/pg_ctl" -D "$FD_PG/data" -m immediate -w stop >/dev/null 2>&1
		rm -rf "$FD_PG"
		FD_PG=
	fi
	return 0
}
trap cleanup_all EXIT

deploy() { # package|source
	local from=$1
	echo "# --- first deployment, installing from the $from"
	FD_PG=$(mktemp -d /tmp/parley-fd-pg.XXXXXX)
	chown postgres:postgres "$FD_PG"
	FD_PORT=$(pg_free_port $((15432 + RANDOM % 5000)))

	fd_pg "$PG_BIN/initdb" -D "$FD_PG/data" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=peer \
		--no-sync >"$FD_PG/initdb.log" 2>&1 || { cat "$FD_PG/initdb.log"; _t_report fail "initdb"; finish; exit 1; }
	cat >"$FD_PG/data/pg_hba.conf" <<-'HBA'
	local all all peer
	HBA
	cat >>"$FD_PG/data/postgresql.conf" <<-CONF
	listen_addresses = '127.0.0.1'
	port = $FD_PORT
	unix_socket_directories = '$FD_PG'
	CONF
	ok "a throwaway PostgreSQL (peer only, no host line)" \
		fd_pg "$PG_BIN/pg_ctl" -D "$FD_PG/data" -l "$FD_PG/server.log" -w -t 60 start

	# --- run the document's commands
	script=$(blocks "$mode $from")
	p_listen=$(free_port)
	p_internal=$(free_port)
	[ "$p_internal" = "$p_listen" ] && p_internal=$((p_listen + 1))
	printf '%s\n' "$script" | sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$p_listen/g" \
		-e "s/127\.0\.0\.1:9090/127.0.0.1:$p_internal/g" \
		-e "s|postgresql://parley@127\.0\.0\.1/parley|postgresql://parley@127.0.0.1:$FD_PORT/parley|" \
		>"$TEST_TMP/first-deploy.sh"
	san=
	case "$PARLEY_BIN" in */build/san/*) san=1 ;; esac
	app_secret="fd-meta-app-secret-$(openssl rand -hex 8)"
	openai_key="sk-fd-$(openssl rand -hex 8)"
	out=$(cd "$REPO_DIR" && printf '%s\n%s\n' "$app_secret" "$openai_key" |
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
			PGHOST="$FD_PG" PGPORT="$FD_PORT" SANITIZE="$san" \
			ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
			bash -e "$TEST_TMP/first-deploy.sh" 2>&1)
	rc=$?
	eq "the document's commands run to the end (bash -e)" 0 "$rc" || true
	[ "$rc" = 0 ] || printf '%s\n' "$out" | tail -40 | sed 's/^/    # /'

	# --- what they made
	ok "parley installed in /usr/bin" test -x /usr/bin/parley
	if [ "$from" = package ]; then
		eq "the package installed" "install ok installed" "$(dpkg-query -W -f='${Status}' parley 2>&1)"
	elif [ -n "$san" ]; then
		ok "  (the sanitized build, in this pass)" cmp /usr/bin/parley "$PARLEY_BIN"
	fi
	ok "a parley system user" test "$(id -u parley 2>/dev/null || echo 99999)" -lt 1000
	if [ "$from" = source ]; then
		eq "/etc/parley: root:parley 0750" "root:parley 750" "$(stat -c '%U:%G %a' /etc/parley 2>&1)"
	else
		eq "/etc/parley: as dpkg makes it, root 0755" "root:root 755" "$(stat -c '%U:%G %a' /etc/parley 2>&1)"
	fi
	eq "/etc/parley/credentials: root:parley 0750" "root:parley 750" "$(stat -c '%U:%G %a' /etc/parley/credentials 2>&1)"
	eq "parley.conf: root:parley 0640" "root:parley 640" "$(stat -c '%U:%G %a' /etc/parley/parley.conf 2>&1)"
	for f in database.password meta.app_secret meta.verify_token openai.api_key webchat.secret; do
		eq "credential $f: root 0600" "root:root 600" "$(stat -c '%U:%G %a' "/etc/parley/credentials/$f" 2>&1)"
	done
	eq "  the typed app secret stored as typed" "$app_secret" "$(cat /etc/parley/credentials/meta.app_secret 2>&1)"
	fails "the service user cannot read the credential files" \
		runuser -u parley -- cat /etc/parley/credentials/database.password
	ok "the service user reads parley.conf" runuser -u parley -- cat /etc/parley/parley.conf
	contains "check-config masks the database password" "password=********" "$out"
	fails "  and never prints it" grep -qF "$(cat /etc/parley/credentials/database.password 2>/dev/null || echo x)" <<<"$out"
	fails "  nor the typed secrets" grep -qF -e "$app_secret" -e "$openai_key" <<<"$out"

	pw=$(cat /etc/parley/credentials/database.password 2>/dev/null)
	ok "the role logs in over TCP with its password (only the document's pg_hba line allows it)" \
		psql -X -At "host=127.0.0.1 port=$FD_PORT dbname=parley user=parley password=$pw" -c 'SELECT 1'
	out2=$(psql -X -At "host=127.0.0.1 port=$FD_PORT dbname=parley user=parley password=wrong" -c 'SELECT 1' 2>&1)
	contains "  and not without it" "password authentication failed" "$out2"
	out2=$(psql -X -At "host=127.0.0.1 port=$FD_PORT dbname=postgres user=postgres" -c 'SELECT 1' 2>&1)
	contains "  the line lets in that role to that database only" "no pg_hba.conf entry" "$out2"
	fdsql() { fd_pg psql -X -At -h "$FD_PG" -p "$FD_PORT" -d parley -c "$1"; }
	eq "the database is the role's" parley "$(fdsql "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'parley'")"
	eq "the role is no superuser and creates no roles or databases" "f|f|f" \
		"$(fdsql "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'parley'")"
	eq "migrated: every migration applied" "$(ls "$REPO_DIR"/sql/migrations/*.sql | wc -l)" \
		"$(fdsql "SELECT count(*) FROM schema_migrations" 2>&1)"
	eq "  the tables are the role's" parley "$(fdsql "SELECT tableowner FROM pg_tables WHERE tablename = 'messages'" 2>&1)"
	contains "migrate --status: nothing pending" " 0 pending" "$out"

	fails "systemd-analyze verify: no complaint about the drop-in" grep -E 'credentials\.conf' <<<"$out"
	dropin=/etc/systemd/system/parley.service.d/credentials.conf
	eq "the drop-in has one LoadCredential= per credential file" \
		"$(ls /etc/parley/credentials | wc -l)" "$(grep -c '^LoadCredential=' "$dropin" 2>/dev/null)"
	contains "  naming each" "LoadCredential=database.password:/etc/parley/credentials/database.password" \
		"$(cat "$dropin" 2>&1)"

	# --- the running service
	if [ "$mode" = systemd ]; then
		eq "systemctl: active" active "$(systemctl is-active parley)"
		pid=$(systemctl show -p MainPID --value parley)
	else
		echo "# started as the unit's ExecStart by the document's no-systemd block (systemd is not PID 1)"
		pid=$(cat /run/parley/serve.pid 2>/dev/null)
	fi
	ok "serve runs" kill -0 "${pid:-0}"
	eq "  as parley" parley "$(ps -o user= -p "${pid:-0}" 2>&1)"
	eq "  the unit's command" "/usr/bin/parley serve -c /etc/parley/parley.conf" \
		"$(tr '\0' ' ' <"/proc/${pid:-0}/cmdline" 2>&1 | sed 's/ $//')"
	if [ "$mode" = no-systemd ]; then
		contains "  with CREDENTIALS_DIRECTORY" "CREDENTIALS_DIRECTORY=/run/parley/credentials" \
			"$(tr '\0' '\n' <"/proc/${pid:-0}/environ" 2>&1)"
		eq "  whose files only parley reads" "parley:parley 400" \
			"$(stat -c '%U:%G %a' /run/parley/credentials/meta.app_secret 2>&1)"
	fi
	eq "/readyz 200" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p_internal/readyz")"
	eq "/healthz on the internal listener" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p_internal/healthz")"
	eq "not on the public one" 404 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p_listen/readyz")"
	# Connections per process (docs/operations.md, Sizing): the pool's
	# database.connections (4 by default) and one LISTEN connection.
	for _ in $(seq 1 50); do
		nconn=$(fdsql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'parley'" 2>&1)
		[ "$nconn" = 5 ] && break
		sleep 0.1
	done
	eq "database connections of one serve: database.connections (4) + 1 LISTEN" 5 "$nconn"
	# The verify-token handshake with the generated token: the secret reached serve.
	vt=$(cat /etc/parley/credentials/meta.verify_token 2>/dev/null)
	eq "Meta's handshake with the generated verify token" c0ffee \
		"$(curl -sS "http://127.0.0.1:$p_listen/webhooks/meta?hub.mode=subscribe&hub.verify_token=$vt&hub.challenge=c0ffee")"
	if [ "$mode" = systemd ]; then
		log=$(journalctl -u parley -b --no-pager 2>&1)
	else
		log=$(cat /var/log/parley.log 2>&1)
	fi
	contains "the log says ready" "info  ready [serve]" "$log"
	contains "  after listening" "listening on 127.0.0.1:$p_listen" "$log"
	contains "the document showed the log" "info  ready [serve]" "$out"
	# The one warning a first deployment has, as the document says: lead
	# extraction waits for openai.model or extraction.prompt_id.
	fails "no warning or error in the log (but lead extraction's)" grep -E ' (warn|error) ' \
		<<<"$(grep -v 'lead extraction has no model' <<<"$log")"
	fails "  no secret in it" grep -qF -e "$app_secret" -e "$openai_key" -e "${pw:-x}" <<<"$log"

	# --- the admin commands, run like migrate (step 5)
	ok "admin commands as root with the credentials directory (tenant list)" \
		env -i PATH=/usr/bin:/bin CREDENTIALS_DIRECTORY=/etc/parley/credentials \
		ASAN_OPTIONS="${ASAN_OPTIONS:-}" parley tenant list -c /etc/parley/parley.conf

	# --- stop (systemctl stop, or its equivalent: SIGTERM)
	if [ "$mode" = systemd ]; then
		ok "systemctl stop" systemctl stop parley
	else
		kill "${pid:-0}" 2>/dev/null
		for _ in $(seq 1 250); do kill -0 "${pid:-0}" 2>/dev/null || break; sleep 0.1; done
		fails "SIGTERM stops it" kill -0 "${pid:-0}"
		contains "  gracefully" "info  stopped [serve]" "$(cat /var/log/parley.log 2>&1)"
	fi
	if [ -n "$san" ] && [ "$from" = source ]; then
		fails "no sanitizer report in the log" grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' /var/log/parley.log
	fi

	cleanup_all
	ok "cleaned up: nothing of it left" test -z "$(for f in $made; do [ -e "$f" ] && echo "$f"; done)"
	[ "$user_before" = no ] && fails "  the user it made is gone" getent passwd parley
	return 0
}

deploy package
deploy source
trap _t_cleanup EXIT
finish
