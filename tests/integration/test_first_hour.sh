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

finish
