#!/bin/sh
# bench_export.sh: wwjournal export throughput (not a test).
#
#   bench/bench_export.sh [BUILDDIR [REQUESTS]]
#
# Fills a journal with REQUESTS requests and their outcomes (2 records
# each, default 100000) using tests/journal-fill (make check builds it),
# then times `wwjournal export` to JSONL and CSV, three runs each, and
# prints records scanned per second and exported objects per second.
set -eu
b=${1:-build/release}
n=${2:-100000}
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench-export.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
[ -x "$b/tests/journal-fill" ] || make -C "$b" tests/journal-fill >/dev/null
"$b/tests/journal-fill" -j "$dir/j" -n "$n" 2>/dev/null
records=$("$b/wwjournal" -j "$dir/j" stats --json | sed 's/^{"records":\([0-9]*\).*/\1/')
echo "journal: $n requests, $records records, $(du -sh "$dir/j" | cut -f1)"
for fmt in jsonl csv; do
	for run in 1 2 3; do
		t0=$(date +%s%N)
		"$b/wwjournal" -j "$dir/j" export --format "$fmt" -o "$dir/out"
		t1=$(date +%s%N)
		ms=$(((t1 - t0) / 1000000))
		[ "$ms" -gt 0 ] || ms=1
		echo "export $fmt run $run: ${ms} ms, $((records * 1000 / ms)) records/s," \
			"$((n * 1000 / ms)) requests/s"
	done
done
