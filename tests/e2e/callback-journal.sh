#!/bin/bash
# callback-journal.sh: callbacks when the journal cannot be written
# (issue 7, point 4).  The journal sits on a small tmpfs that is then
# filled: with callback.on_journal_failure: refuse, WeCom gets 503 (it
# retries later) and nothing unjournaled reaches the internal receiver;
# with forward, callbacks are forwarded anyway, logged and counted in
# wwgate_journal_failures_total.  Needs root and a private mount
# namespace (unshare -m); skipped otherwise.
if [ "$(id -u)" = 0 ] && [ -z "${WW_CB_NS:-}" ] &&
	command -v unshare >/dev/null &&
	unshare -m --propagation private true 2>/dev/null; then
	WW_CB_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"
[ "${WW_CB_NS:-}" = 1 ] || ww_skip_all "needs root and unshare -m for a tmpfs"
mkdir -p "$WW_TMP/fs"
mount -t tmpfs -o size=24m tmpfs "$WW_TMP/fs" 2>/dev/null ||
	ww_skip_all "cannot mount a tmpfs"
cb_cleanup() {
	ww_stop_gateway 5 >/dev/null 2>&1
	umount -l "$WW_TMP/fs" 2>/dev/null
	ww_cleanup
}
trap cb_cleanup EXIT

TOKEN=jTok3n
KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
CORP=ww0123456789abcdef
cb() { "$top_builddir/tests/wecom-callback" -t "$TOKEN" -k "$KEY" -r "$CORP" "$@"; }

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake recv --plain || ww_bail "fake receiver did not start"
printf '%s\n' "$TOKEN" >"$WW_TMP/token"
printf '%s\n' "$KEY" >"$WW_TMP/aeskey"
chmod 600 "$WW_TMP/token" "$WW_TMP/aeskey"
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"
port=$(ww_port)
admin=$(ww_port)
conf=$WW_TMP/wwgate.yaml
mkconf() { # mkconf JOURNAL refuse|forward
	cat >"$conf" <<CONF
gateway_id: gw-cbj
workers: 1
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream: { url: "https://127.0.0.1:9", ca_file: $certs/ca.crt }
journal: { path: $1, sync: full }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: 127.0.0.1:$admin }
limits: { max_body_bytes: 4MiB }
callbacks:
  - path: /cb
    forward_to: $(ww_fake_url recv)/internal
    token_file: $WW_TMP/token
    aes_key_file: $WW_TMP/aeskey
    receive_id: $CORP
callback: { on_journal_failure: $2 }
CONF
}
# send MARKER: one ~300 KB text callback; prints the HTTP status
send() {
	local now
	now=$(date +%s)
	{
		printf '<xml><ToUserName>%s</ToUserName><FromUserName>u1</FromUserName><MsgType>text</MsgType><Content>%s ' "$CORP" "$1"
		head -c 225000 /dev/urandom | base64 -w0
		printf '</Content></xml>'
	} | cb -T "$now" -n "$RANDOM$RANDOM" post >"$WW_TMP/m.out" || return 1
	ww_curl -o /dev/null -w '%{http_code}' -H 'Content-Type: text/xml' \
		--data-binary @<(tail -n +2 "$WW_TMP/m.out") \
		"https://127.0.0.1:$port/cb?$(head -n 1 "$WW_TMP/m.out")"
}
# fill_and_send PREFIX: fill the tmpfs, then send until one callback is
# refused (bounded); writes "MARKER STATUS" lines to PREFIX.log
fill_and_send() {
	local i st
	: >"$WW_TMP/$1.log"
	dd if=/dev/zero of="$WW_TMP/fs/ballast" bs=64k 2>/dev/null
	for ((i = 0; i < 60; i++)); do
		st=$(send "$1-$i-")
		echo "$1-$i- $st" >>"$WW_TMP/$1.log"
		grep -q "not journaled" "$(ww_gateway_log)" && [ "$i" -ge 2 ] && break
	done
}
ww_plan 8

# 1. refuse (the default): 503, never forwarded unjournaled
mkconf "$WW_TMP/fs/j1" refuse
ww_start_gateway "$conf" || ww_bail "wwgate did not start"
fill_and_send R
ww_ok "a full journal gives 503 answers" grep -q ' 503$' "$WW_TMP/R.log"
ww_ok "wwgate survives it" ww_alive wwgate
ok=$(grep -c ' 200$' "$WW_TMP/R.log")
ww_is "$(ww_fake_count recv)" "$ok" \
	"the receiver got exactly the callbacks answered 200 ($ok)"
rm -f "$WW_TMP/fs/ballast"
ww_stop_gateway
jm=$("$top_builddir/wwjournal" -j "$WW_TMP/fs/j1" export --format jsonl |
	jq -r 'select(.kind == "CALLBACK") | .texts[0].text' | cut -d' ' -f1 | sort)
fw=$(awk '$2 == 200 {print $1}' "$WW_TMP/R.log" | sort)
ww_is "$(comm -23 <(echo "$fw") <(echo "$jm") | wc -w)" 0 \
	"every forwarded callback is in the journal"
rm -rf "$WW_TMP/fs/j1"

# 2. forward: answered and forwarded anyway, logged and counted
mkconf "$WW_TMP/fs/j2" forward
ww_fake_clear recv
ww_start_gateway "$conf" || ww_bail "wwgate did not start"
fill_and_send F
ww_nok "with on_journal_failure: forward nothing is refused" \
	grep -qv ' 200$' "$WW_TMP/F.log"
ww_is "$(ww_fake_count recv)" "$(wc -l <"$WW_TMP/F.log")" \
	"and every callback reached the receiver"
ww_ok "the unjournaled forward is logged" \
	grep -q 'forwarded (on_journal_failure: forward)' "$(ww_gateway_log)"
m=$(curl -s --max-time 5 "http://127.0.0.1:$admin/metrics" |
	awk '/^wwgate_journal_failures_total/ {print $2}')
ww_ok "and counted in wwgate_journal_failures_total ($m)" test "${m:-0}" -gt 0
rm -f "$WW_TMP/fs/ballast"
ww_stop_gateway
