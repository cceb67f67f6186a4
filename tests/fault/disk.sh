#!/bin/bash
# disk.sh: disk faults (issue 8, part 2).
#  1. The journal on a small tmpfs that fills up under load: the gateway
#     refuses (errcode -1) instead of forwarding, nothing unjournaled
#     reaches upstream, and it recovers by itself once space is freed.
#  2. A read-only journal directory: wwgate refuses to start (exit 1, a
#     message naming the journal), wwjournal still reads it.
#  3. LMDB map growth under load: uploads and messages together write far
#     more than the initial 64 MiB map; everything is answered, journaled,
#     and verifies.
# The tmpfs parts need root and a private mount namespace (unshare -m);
# without them they are skipped with a clear reason.
# WW_FAULT_LONG=1: longer phases and more upload data.
if [ "$(id -u)" = 0 ] && [ -z "${WW_FAULT_NS:-}" ] &&
	command -v unshare >/dev/null &&
	unshare -m --propagation private true 2>/dev/null; then
	WW_FAULT_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"
command -v python3 >/dev/null || ww_skip_all "python3 is needed"

if [ "${WW_FAULT_LONG:-0}" = 1 ]; then
	phase=5 uploads=200
else
	phase=2 uploads=72
fi
ww_plan 22

mounts=()
fault_cleanup() {
	local m
	for m in "${mounts[@]}"; do
		ww_stop_gateway 5 >/dev/null 2>&1
		umount -l "$m" 2>/dev/null
	done
	ww_cleanup
}
trap fault_cleanup EXIT

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
cat >"$WW_TMP/policy.yaml" <<'POLICY'
version: 1
rules:
  - id: no-falcon
    match: {keywords: [falcon]}
    action: block
    message: blocked by the disk test
POLICY
# mkconf FILE JOURNAL PORT
mkconf() {
	cat >"$1" <<CONF
gateway_id: gw-disk
workers: 2
listen:
  - address: 127.0.0.1:$3
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream:
  url: $(ww_fake_url up)
  ca_file: $certs/ca.crt
  timeout_ms: 3000
journal: { path: $2, sync: full }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: "" }
limits: { max_upload_bytes: 4MiB }
log: { level: warn }
CONF
}
# load PREFIX SECONDS OUT: message load in the foreground (bounded)
load() {
	python3 "$top_srcdir/tests/fault/load.py" --port "$port" \
		--ca "$certs/ca.crt" --prefix "$1" --out "$3" \
		--stop "$WW_TMP/never" --threads 6 --block-every 5 \
		--max-seconds "$2"
}
count() { # count FILE RESULT [ERRCODE]
	awk -v r="$2" -v e="${3:-}" '$2 == r && (e == "" || $3 == e)' "$1" | wc -l
}
# check_upstream JOURNAL PATTERN: markers upstream saw but the journal
# does not have (or has with a verdict other than allow)
check_upstream() {
	grep -o "$2" "$(ww_fake_records up)" | sort -u >"$WW_TMP/up.txt"
	"$top_builddir/wwjournal" -j "$1" export --format jsonl |
		jq -r 'select(.kind == "REQUEST" and (.verdict.action // "") == "allow") |
			.texts[0].text' | grep -o "$2" | sort -u >"$WW_TMP/jallow.txt"
	comm -23 "$WW_TMP/up.txt" "$WW_TMP/jallow.txt"
}

# ---------------------------------------------------------- 1. disk full
if [ "${WW_FAULT_NS:-}" = 1 ] && mkdir -p "$WW_TMP/fs" &&
	mount -t tmpfs -o size=128m tmpfs "$WW_TMP/fs" 2>/dev/null; then
	mounts+=("$WW_TMP/fs")
	port=$(ww_port)
	journal=$WW_TMP/fs/journal
	mkconf "$WW_TMP/full.yaml" "$journal" "$port"
	ww_start_gateway "$WW_TMP/full.yaml" || ww_bail "wwgate did not start"
	load DA "$phase" "$WW_TMP/a.log"
	ww_ok "before the disk fills, messages are answered" \
		test "$(count "$WW_TMP/a.log" ok)" -gt 0
	# fill every byte left, then keep sending
	dd if=/dev/zero of="$WW_TMP/fs/ballast" bs=64k 2>/dev/null
	# LMDB first reuses the pages it freed: send until refusals come
	# (bounded), then one more phase on the full disk
	for ((i = 0; i < 20; i++)); do
		load DB 1 "$WW_TMP/b.log"
		[ "$(count "$WW_TMP/b.log" refused -1)" -gt 0 ] && break
	done
	load DB "$phase" "$WW_TMP/b.log"
	nb_ok=$(count "$WW_TMP/b.log" ok) nb_busy=$(count "$WW_TMP/b.log" refused -1)
	ww_ok "a full disk gives refusals with errcode -1 ($nb_busy refused, $nb_ok ok)" \
		test "$nb_busy" -gt 0
	ww_ok "wwgate survives the full disk" ww_alive wwgate
	rm -f "$WW_TMP/fs/ballast"
	load DC "$phase" "$WW_TMP/c.log"
	nc_ok=$(count "$WW_TMP/c.log" ok)
	ww_ok "space freed: messages are answered again ($nc_ok ok)" test "$nc_ok" -gt 0
	ww_is "$(tail -n 200 "$WW_TMP/c.log" | awk '$3 == "-1" || $2 == "error"' | wc -l)" 0 \
		"and the last 200 answers are no refusals: it recovered for good"
	ww_stop_gateway
	cp "$(ww_gateway_log)" "$WW_TMP/full.log"
	# LMDB turns a short pwrite (the disk filled mid-write) into EIO; the
	# journal names it a full disk when its space reserved ahead could
	# not be written (most refusals read "input/output error" before)
	ww_ok "the full disk is logged as such" \
		grep -q 'not journaled: no space left' "$WW_TMP/full.log"
	ww_diag "refusal reasons in the access log:" "$(grep -o '"errcode":-1,.*"error":"[^"]*"' \
		"$WW_TMP/full.log" | sed 's/.*"error"://' | sort | uniq -c)"
	ww_ok "verify passes after the full disk" "$top_builddir/wwjournal" -j "$journal" verify
	missing=$(check_upstream "$journal" 'D[ABC]-[0-9]*-[0-9]*')
	ww_is "$(wc -w <<<"$missing")" 0 \
		"nothing unjournaled (or blocked) reached upstream ($(wc -l <"$WW_TMP/up.txt") forwarded)"
	[ -n "$missing" ] && ww_diag "$(head -n 5 <<<"$missing")"
	ww_diag "disk full: before ok=$(count "$WW_TMP/a.log" ok);" \
		"full ok=$nb_ok busy=$nb_busy error=$(count "$WW_TMP/b.log" error);" \
		"freed ok=$nc_ok busy=$(count "$WW_TMP/c.log" refused -1)"

	# ------------------------------------------------ 2. read-only directory
	mkdir -p "$WW_TMP/ro"
	mount -t tmpfs -o size=$(($(du -sm "$journal" | cut -f1) + 32))m tmpfs \
		"$WW_TMP/ro" && mounts+=("$WW_TMP/ro")
	ww_ok "the journal is copied" cp -a "$journal" "$WW_TMP/ro/journal"
	mkdir -p "$WW_TMP/ro/empty"
	mount -o remount,ro "$WW_TMP/ro"
	ww_ok "the copy is on a read-only file system" \
		bash -c "! touch '$WW_TMP/ro/journal/x' 2>/dev/null"
	for j in journal empty/journal; do
		port=$(ww_port)
		mkconf "$WW_TMP/ro.yaml" "$WW_TMP/ro/$j" "$port"
		timeout 20 "$top_builddir/wwgate" -c "$WW_TMP/ro.yaml" \
			>"$WW_TMP/ro.log" 2>&1
		st=$?
		ww_is "$st" 1 "read-only $j: wwgate refuses to start (exit 1)"
		ww_ok "and says why, naming the journal" grep -q "$WW_TMP/ro/$j" "$WW_TMP/ro.log"
	done
	ww_ok "wwjournal verifies the read-only journal" \
		"$top_builddir/wwjournal" -j "$WW_TMP/ro/journal" verify
else
	ww_skip 15 "needs root and a private mount namespace for a tmpfs"
fi

# ----------------------------------------------------- 3. map growth
port=$(ww_port)
journal=$WW_TMP/grow
mkconf "$WW_TMP/grow.yaml" "$journal" "$port"
ww_start_gateway "$WW_TMP/grow.yaml" || ww_bail "wwgate did not start"
mkdir -p "$WW_TMP/up"
for ((i = 0; i < uploads; i++)); do
	head -c 1048576 /dev/urandom >"$WW_TMP/up/f$i.bin"
done
python3 "$top_srcdir/tests/fault/load.py" --port "$port" --ca "$certs/ca.crt" \
	--prefix DG --out "$WW_TMP/g.log" --stop "$WW_TMP/g.stop" --threads 2 \
	--max-seconds 120 &
loadpid=$!
# shellcheck disable=SC2016
seq 0 $((uploads - 1)) | xargs -P 8 -I{} sh -c 'curl -sS --max-time 60 \
	--cacert "$1" -F "media=@$2/up/f{}.bin;filename=f{}.bin" \
	"https://127.0.0.1:$3/cgi-bin/media/upload?access_token=T&type=file" \
	>"$2/up/f{}.out" 2>&1' _ "$certs/ca.crt" "$WW_TMP" "$port"
: >"$WW_TMP/g.stop"
wait "$loadpid"
nup=$(grep -l '"media_id"' "$WW_TMP"/up/f*.out | wc -l)
ww_is "$nup" "$uploads" "every upload is answered while the map grows"
ww_ok "and the messages alongside ($(count "$WW_TMP/g.log" ok) ok)" \
	test "$(count "$WW_TMP/g.log" error)" = 0
ww_stop_gateway
size=$(find "$journal" -name data.mdb -printf '%s\n' | sort -n | tail -n 1)
ww_ok "the journal grew past its initial 64 MiB map ($((size >> 20)) MiB)" \
	test "$size" -gt $((64 << 20))
ww_ok "verify passes after the growth" "$top_builddir/wwjournal" -j "$journal" verify
sha=$(sha256sum "$WW_TMP/up/f$((uploads - 1)).bin" | cut -c1-64)
"$top_builddir/wwjournal" -j "$journal" blob "$sha" -o "$WW_TMP/blob.bin"
ww_ok "the last upload reads back byte-identical" \
	cmp "$WW_TMP/blob.bin" "$WW_TMP/up/f$((uploads - 1)).bin"
# a copy cut short (as cp on a full disk leaves it) is a clear error, not
# a SIGBUS in LMDB's map
cp -a "$journal" "$WW_TMP/cut"
truncate -s 1M "$(find "$WW_TMP/cut" -name data.mdb | head -n 1)"
out=$("$top_builddir/wwjournal" -j "$WW_TMP/cut" verify 2>&1)
st=$?
ww_is "$st" 1 "verify of a truncated copy exits 1 (not a signal)"
ww_like "$out" 'data file truncated' "and says the data file is truncated"
ww_done
