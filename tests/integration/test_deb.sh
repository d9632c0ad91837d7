#!/usr/bin/env bash
# The Debian package (SPEC 11, README "Running it as a service"): `make deb`
# builds a lintian-clean package that installs with dpkg -i, creates the
# parley user, runs `parley --version` and `parley migrate` (as that user,
# with the installed migrations), carries a unit systemd-analyze accepts,
# keeps the configuration on `dpkg -r` and deletes it on `dpkg -P`.
# It installs into the real system, so it needs root (CI runs as root) and
# holds a lock while the package is installed; it purges the package however
# it ends. The other tests run $PARLEY_BIN, never /usr/bin/parley.
. "$(dirname "$0")/../lib/testlib.sh"

if [ "$(id -u)" != 0 ] || ! command -v dpkg-deb >/dev/null; then
	echo "skip - $T_NAME: installing a package needs root and dpkg"
	finish
	exit
fi

deb=$(make -s -C "$REPO_DIR" deb 2>"$TEST_TMP/deb.err" | tail -1)
ok "make deb builds a package" test -f "$REPO_DIR/$deb"
deb=$REPO_DIR/$deb
version=$(cat "$REPO_DIR/VERSION")
eq "named parley_<version>_<arch>.deb" "parley_${version}_$(dpkg --print-architecture).deb" "$(basename "$deb")"
[ -f "$deb" ] || { cat "$TEST_TMP/deb.err"; finish; exit 1; }
if command -v lintian >/dev/null; then
	lint=$(lintian "$deb" 2>&1 | grep -E '^[EW]:' || true)
	eq "lintian: no errors or warnings" "" "$lint"
else
	echo "# lintian not installed: not run"
fi
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libevent libpq5 libcjson1 libcurl4 libssl3 adduser; do
	contains "Depends names $lib" "$lib" "$depends"
done
eq "the example config is the conffile" "/etc/parley/parley.conf.example" \
	"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)"

# One installer at a time on this machine; the package goes however we end.
exec 9>/tmp/parley-test-deb.lock
flock -w 600 9 || { _t_report fail "lock /tmp/parley-test-deb.lock"; finish; exit 1; }
trap '_t_cleanup; dpkg -P parley >/dev/null 2>&1' EXIT
dpkg -P parley >/dev/null 2>&1

ok "dpkg -i installs it" dpkg -i "$deb"
eq "installed" "install ok installed" "$(dpkg-query -W -f='${Status}' parley)"
eq "parley --version" "parley $version" "$(/usr/bin/parley --version 2>&1 | head -1)"
ok "a parley system user" test "$(getent passwd parley | cut -d: -f3)" -lt 1000
ok "and group" getent group parley
eq "/var/lib/parley: parley's, 0750" "parley:parley 750" "$(stat -c '%U:%G %a' /var/lib/parley)"
eq "credentials directory: root:parley 0750" "root:parley 750" "$(stat -c '%U:%G %a' /etc/parley/credentials)"
eq "parley.conf made from the example, root:parley 0640" "root:parley 640" "$(stat -c '%U:%G %a' /etc/parley/parley.conf)"
ok "  with the example's content" cmp /etc/parley/parley.conf /etc/parley/parley.conf.example
ok "migrations installed where the binary finds them" test -f /usr/share/parley/migrations/0001_seed_schema.sql
ok "function files too" test -f /usr/share/parley/functions/common.sql
ok "man pages" test -f /usr/share/man/man1/parley.1.gz -a -f /usr/share/man/man5/parley.conf.5.gz
contains "the unit runs the installed binary" "ExecStart=/usr/bin/parley serve -c /etc/parley/parley.conf" \
	"$(cat /lib/systemd/system/parley.service)"
fails "the shipped config's placeholders are refused" /usr/bin/parley check-config -c /etc/parley/parley.conf

# parley migrate, as the parley user, from the installed files.
dsn=$(new_db)
tcp=$(echo "$dsn" | sed -E "s|host=[^ ]+|host=127.0.0.1|")
conf=$TEST_TMP/deb-parley.conf
printf '[database]\nurl = %s\n' "$tcp" >"$conf"
chmod 0644 "$conf"
out=$(cd / && env -u PARLEY_MIGRATIONS_DIR -u PARLEY_FUNCTIONS_DIR runuser -u parley -- /usr/bin/parley migrate -c "$conf" 2>&1)
eq "parley migrate (as parley) exits 0" 0 $?
contains "  from the installed migrations" "applied 0001_seed_schema.sql" "$out"
contains "  and function files" "applied functions/common.sql" "$out"
eq "  all of them" "$(ls "$REPO_DIR"/sql/migrations/*.sql | wc -l)" "$(sql "$dsn" "SELECT count(*) FROM schema_migrations")"

if command -v systemd-analyze >/dev/null; then
	ok "systemd-analyze verify on the installed unit" systemd-analyze verify /lib/systemd/system/parley.service
else
	echo "# systemd-analyze not installed: unit not verified"
fi

# An upgrade (the same package again) keeps the admin's edits.
echo "# edited by the test" >>/etc/parley/parley.conf
echo "# edited by the test" >>/etc/parley/parley.conf.example
ok "dpkg -i again (upgrade in place)" env DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$deb"
contains "parley.conf keeps its edits" "edited by the test" "$(tail -1 /etc/parley/parley.conf)"
contains "the conffile keeps its edits" "edited by the test" "$(tail -1 /etc/parley/parley.conf.example)"

ok "dpkg -r removes it" dpkg -r parley
eq "only its configuration is left" "deinstall ok config-files" "$(dpkg-query -W -f='${Status}' parley)"
fails "the binary is gone" test -e /usr/bin/parley
ok "the unit is gone" test ! -e /lib/systemd/system/parley.service
ok "parley.conf stays" test -f /etc/parley/parley.conf
ok "the example conffile stays" test -f /etc/parley/parley.conf.example
ok "the user stays" getent passwd parley

ok "dpkg -P purges it" dpkg -P parley
ok "the configuration is gone" test ! -e /etc/parley
ok "/var/lib/parley is gone" test ! -e /var/lib/parley
eq "the package is unknown to dpkg" "" "$(dpkg-query -W -f='${Status}' parley 2>/dev/null)"
ok "the user stays after purge (Debian keeps system users)" getent passwd parley
finish
