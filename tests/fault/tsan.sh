#!/bin/bash
# tsan.sh: a ThreadSanitizer build of wwgate (clang -fsanitize=thread) in
# $top_srcdir/build/tsan (or $WW_TSAN_DIR), then the multi-threaded tests
# on it: the journal writer thread and the exchange unit tests, and the
# end-to-end runs with several workers (the pipeline, and the fault
# tests' crash and upstream runs, short versions).  A data race makes
# the program exit non-zero (TSAN_OPTIONS halt_on_error), which fails here.
# Part of `make check-fault`, not of make check (a build of its own).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v clang >/dev/null || ww_skip_all "clang is needed for ThreadSanitizer"
dir=${WW_TSAN_DIR:-$top_srcdir/build/tsan}
units="test_journal test_exchange test_chain test_upstream test_identity test_metrics"
e2e="tests/e2e/gateway-pipeline.sh tests/e2e/gateway-drain.sh tests/fault/upstream.sh tests/fault/crash.sh"
ww_plan $((1 + $(wc -w <<<"$units") + $(wc -w <<<"$e2e")))

mkdir -p "$dir"
if (cd "$dir" && { [ -f Makefile ] || "$top_srcdir/configure" -q CC=clang \
	CFLAGS="-g -O1 -fsanitize=thread -fno-omit-frame-pointer" \
	LDFLAGS="-fsanitize=thread"; } &&
	make -j"$(nproc)" -s all >"$WW_TMP/build.log" 2>&1 &&
	make -j"$(nproc)" -s $(for u in $units; do echo "tests/unit/$u"; done) \
		tests/fake-wecom >>"$WW_TMP/build.log" 2>&1); then
	ww_pass "ThreadSanitizer build in $dir"
else
	ww_fail "ThreadSanitizer build in $dir"
	ww_diag "$(tail -n 20 "$WW_TMP/build.log")"
	ww_done
fi
# halt_on_error: a race is a failure, not a warning in a log nobody reads;
# second_deadlock_stack for readable lock-order reports
# reports go to files of their own: the e2e scripts remove their logs
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 log_path=$WW_TMP/tsan ${TSAN_OPTIONS:-}"
# races: the reports written since the last call, as TAP diagnostics
races() {
	local f
	for f in "$WW_TMP"/tsan.*; do
		[ -f "$f" ] || continue
		ww_diag "$(grep -A30 'WARNING: ThreadSanitizer' "$f" | head -n 40)"
		mv "$f" "$WW_TMP/seen-${f##*/}"
		return 0
	done
	return 1
}
for u in $units; do
	out=$("$dir/tests/unit/$u" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && ! ls "$WW_TMP"/tsan.* >/dev/null 2>&1; then
		ww_pass "$u under ThreadSanitizer"
	else
		ww_fail "$u under ThreadSanitizer (exit $rc)"
		races || ww_diag "$(tail -n 20 <<<"$out")"
	fi
done
for t in $e2e; do
	out=$(top_builddir=$dir WW_START_TIMEOUT=60 WW_FAULT_LONG=0 bash "$top_srcdir/$t" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && ! ls "$WW_TMP"/tsan.* >/dev/null 2>&1; then
		ww_pass "$t under ThreadSanitizer"
	else
		ww_fail "$t under ThreadSanitizer (exit $rc)"
		ww_diag "$(grep -E '^not ok' <<<"$out" | head -n 10)"
		races
	fi
done
ww_done
