#!/bin/bash
# valgrind.sh: valgrind memcheck over the unit tests of $top_builddir
# (a plain build: valgrind does not combine with ASan).  Any invalid
# access, use of uninitialised memory or definite leak fails the test
# (--error-exitcode).  Part of `make check-fault`, not of make check: it
# is slow.  WW_VALGRIND_TESTS="test_a test_b" picks tests; the allocation
# sweeps (*_alloc, *_torture), which run each case thousands of times,
# are left out unless named.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v valgrind >/dev/null || ww_skip_all "valgrind is not installed"
if grep -q 'fsanitize' "$top_builddir/config.log" 2>/dev/null &&
	grep -q '^WW_CFLAGS=.*fsanitize' "$top_builddir/config.log"; then
	ww_skip_all "$top_builddir is a sanitizer build; valgrind needs a plain one"
fi
tests=${WW_VALGRIND_TESTS:-}
if [ -z "$tests" ]; then
	for f in "$top_builddir"/tests/unit/test_*; do
		[ -x "$f" ] && [ -f "$f" ] || continue
		case ${f##*/} in *_alloc | *_torture | *.o | *.log | *.trs) continue ;; esac
		tests="$tests ${f##*/}"
	done
fi
[ -n "$tests" ] || ww_skip_all "no unit tests built in $top_builddir (make check first)"
ww_plan "$(wc -w <<<"$tests")"
for t in $tests; do
	log=$WW_TMP/$t.vg
	# cmocka forks nothing; --child-silent-after-fork for libraries that do
	timeout 900 valgrind --tool=memcheck --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--error-exitcode=99 --child-silent-after-fork=yes \
		--log-file="$log" "$top_builddir/tests/unit/$t" >"$WW_TMP/$t.out" 2>&1
	rc=$?
	errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		ww_pass "$t: memcheck clean (${errs:-0} errors)"
	else
		ww_fail "$t: memcheck (exit $rc, ${errs:-?} errors)"
		ww_diag "$(grep -E '^==[0-9]+== (Invalid|Conditional|Use of|[0-9,]+ bytes in|   (at|by) )' "$log" | head -n 30)"
		[ $rc -ne 99 ] && ww_diag "$(tail -n 10 "$WW_TMP/$t.out")"
	fi
done
ww_done
