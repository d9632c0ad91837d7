#!/usr/bin/env bash
# Runs every tests/integration/test_*.sh against one throwaway PostgreSQL
# (each test makes its own databases), then prints the total as
# "N passed, N failed". A script that dies without its summary counts as a
# failure. TESTS=pattern limits which scripts run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg.sh"
export TEST_TMP
TEST_TMP=$(mktemp -d /tmp/parley-test.XXXXXX)
chmod 755 "$TEST_TMP"
cleanup() { pg_stop; rm -rf "$TEST_TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

pg_start || exit 1
pass=0 fail=0 rc=0
for t in "$here"/../integration/test_*.sh; do
	[ -e "$t" ] || continue
	case "$(basename "$t")" in ${TESTS:-*}) ;; *) continue ;; esac
	out=$(bash "$t" 2>&1)
	r=$?
	printf '%s\n' "$out"
	summary=$(printf '%s\n' "$out" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' | tail -1)
	if [ -z "$summary" ]; then
		echo "not ok - $(basename "$t"): no summary (crashed?)"
		fail=$((fail + 1)); rc=1; continue
	fi
	set -- $summary
	pass=$((pass + $1)); fail=$((fail + $2))
	[ $r -ne 0 ] && rc=1
done
echo "integration: $pass passed, $fail failed"
exit $rc
