#!/bin/bash
# gateway-limits.sh: wwgate under limits: max_connections, the TLS
# handshake timeout, the body idle timeout, max_header_bytes, and accept
# back-off when the process runs out of descriptors; and what SIGHUP does
# with a new certificate and with a policy that does not compile.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v python3 >/dev/null || ww_skip_all "python3 is needed"
ww_plan 15

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"
conf=$WW_TMP/wwgate.yaml
write_conf() { # $1: port, $2: limits
	cat >"$conf" <<CONF
workers: 1
listen:
  - address: 127.0.0.1:$1
    tls: { cert: $WW_TMP/live/server.crt, key: $WW_TMP/live/server.key }
upstream: { url: $(ww_fake_url up), ca_file: $certs/ca.crt }
journal: { path: $WW_TMP/journal, sync: none }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: "" }
limits: { $2 }
log: { level: debug }
CONF
}
httpc() { timeout 60 python3 "$top_srcdir/tests/e2e/httpc.py" "$@" --port "$port" --ca "$certs/ca.crt"; }

mkdir -p "$WW_TMP/live"
cp "$certs/server.crt" "$certs/server.key" "$WW_TMP/live/"
port=$(ww_port)
write_conf "$port" "max_connections: 3, handshake_timeout_ms: 500, body_timeout_ms: 500, max_header_bytes: 2KiB"
ww_start_gateway "$conf" || ww_bail "wwgate did not start"

ww_is "$(httpc limit -n 3)" "refused then 200" \
	"max_connections: one more is refused; freed slots serve again"
ww_like "$(httpc silent)" '^closed [0-5]$' "a client that never says hello is closed (handshake timeout)"
out=$( (printf 'POST /cgi-bin/message/send HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n{"a"'; sleep 3) |
	httpc raw)
ww_like "$out" '^HTTP/1.1 408' "a body that stops arriving gets 408 (body timeout)"
ww_like "$(httpc trickle -n 8)" '^HTTP/1.1 408' \
	"a body trickled a byte every 100 ms gets 408 (minimum body rate)"
hdr=$(head -c 3000 /dev/zero | tr '\0' x)
out=$(printf 'GET /cgi-bin/user/get HTTP/1.1\r\nHost: h\r\nX-Big: %s\r\n\r\n' "$hdr" | httpc raw)
ww_like "$out" '^HTTP/1.1 413' "headers over max_header_bytes get 413"
ww_like "$(cat "$(ww_gateway_log)")" 'max_connections \(3\) reached' "the refusal is logged"
out=$(timeout 20 "$top_builddir/wwgate" -c "$conf" 2>&1)
ww_like "$?:$out" "^1:.*listen\[0\]: cannot listen on 127.0.0.1:$port: Address already in use" \
	"a second gateway on the same address refuses to start"

# SIGHUP: a policy that does not compile is reported and the old one kept;
# a new certificate is served to new connections.
gwlog=$(ww_gateway_log)
printf 'version: 1\nrules:\n  - id: x\n    action: explode\n' >"$WW_TMP/policy.yaml"
kill -HUP "$(ww_pid wwgate)"
for ((i = 0; i < 100; i++)); do
	grep -q 'stays in force' "$gwlog" && break
	sleep 0.05
done
ww_like "$(cat "$gwlog")" 'does not compile; policy [0-9a-f]+ stays in force' \
	"SIGHUP with a broken policy: reported, the old one stays"
ww_like "$(ww_curl "https://127.0.0.1:$port/cgi-bin/user/get?userid=b")" \
	'"errcode":0' "and requests are still judged and served"
ww_mkcerts "$WW_TMP/certs2" >/dev/null 2>&1
cp "$WW_TMP/certs2/server.crt" "$WW_TMP/certs2/server.key" "$WW_TMP/live/"
kill -HUP "$(ww_pid wwgate)"
for ((i = 0; i < 100; i++)); do
	[ "$(grep -c 'stays in force' "$gwlog")" -ge 2 ] && break
	sleep 0.05
done
sleep 0.2 # the worker takes the new context from its own loop
fp() { openssl x509 -noout -fingerprint -sha256 -in "$1"; }
served=$(timeout 10 openssl s_client -connect "127.0.0.1:$port" </dev/null 2>/dev/null |
	openssl x509 -noout -fingerprint -sha256)
ww_is "$served" "$(fp "$WW_TMP/certs2/server.crt")" "SIGHUP: new connections get the new certificate"
WW_CACERT=$WW_TMP/certs2/ca.crt
ww_like "$(ww_curl "https://127.0.0.1:$port/cgi-bin/user/get?userid=c")" \
	'"errcode":0' "and are served with it"
unset WW_CACERT
cp "$certs/server.crt" "$certs/server.key" "$WW_TMP/live/"
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"

ww_stop_gateway
ww_is "$?" 0 "wwgate stops cleanly"

# Out of descriptors: accept pauses instead of spinning, and recovers.
port=$(ww_port)
write_conf "$port" "max_connections: 10000"
ww_spawn wwgate bash -c "ulimit -n 64 && exec '$top_builddir/wwgate' -c '$conf'"
ww_wait_port 127.0.0.1 "$port" 15 || ww_bail "wwgate did not start under ulimit -n 64"
httpc hold -n 150 >/dev/null
ww_like "$(cat "$(ww_gateway_log)")" 'accept: Too many open files; pausing' \
	"EMFILE: the listener pauses"
ww_like "$(ww_curl "https://127.0.0.1:$port/cgi-bin/user/get?userid=a")" \
	'"errcode":0' "and serves again once descriptors are free"
ww_stop_gateway
ww_is "$?" 0 "wwgate stops cleanly after running out of descriptors"

ww_done
