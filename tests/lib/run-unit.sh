#!/usr/bin/env bash
# Runs each cmocka binary given, keeps its output (the summary is on stderr),
# and ends with "unit: N passed, N failed, N skipped". A binary that prints
# no summary (a crash) counts as a failure.
set -u
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0 fail=0 skip=0 rc=0
for t in "$@"; do
	out=$("$t" 2>&1); r=$?
	printf '%s\n' "$out"
	((r != 0)) && rc=1
	p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test\(s\)\.$/\1/p' <<<"$out" | tail -1)
	f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test\(s\), listed below:$/\1/p' <<<"$out" | tail -1)
	s=$(sed -nE 's/^\[  SKIPPED \] ([0-9]+) test\(s\), listed below:$/\1/p' <<<"$out" | tail -1)
	if [ -z "$p$f" ]; then
		echo "no cmocka summary from $t (crashed?)"
		f=${f:-1}; rc=1
	fi
	pass=$((pass + ${p:-0})) fail=$((fail + ${f:-0})) skip=$((skip + ${s:-0}))
done
echo "unit: $pass passed, $fail failed, $skip skipped"
exit $rc
