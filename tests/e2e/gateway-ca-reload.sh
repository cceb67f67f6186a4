#!/bin/bash
# gateway-ca-reload.sh: SIGHUP reloads the interception CA (explicit mode):
# new intercepted connections get certificates from the new CA, a
# connection opened before keeps working, and a CA that cannot be loaded
# leaves the old one in use.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v openssl >/dev/null || ww_skip_all "openssl is needed"

ihost=qyapi.weixin.qq.com
WW_CERT_HOSTS="$ihost"
certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
for ca in ca1 ca2; do
	"$top_builddir/wwca" init "$WW_TMP/$ca" >/dev/null || ww_bail "wwca init $ca"
done
mkdir -p "$WW_TMP/ica"
cp "$WW_TMP/ca1/ca.crt" "$WW_TMP/ca1/ca.key" "$WW_TMP/ica/"
port=$(ww_port)
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"
cat >"$WW_TMP/wwgate.yaml" <<CONF
gateway_id: gw-ca-reload
workers: 2
listen:
  - address: 127.0.0.1:$port
    mode: explicit
upstream:
  url: https://$ihost
  ca_file: $certs/ca.crt
  timeout_ms: 3000
  resolve:
    "$ihost:443": "127.0.0.1:$(ww_fake_port up)"
intercept:
  ca: { cert: $WW_TMP/ica/ca.crt, key: $WW_TMP/ica/ca.key }
  hosts: [$ihost]
default: refuse
journal: { path: $WW_TMP/journal, sync: full }
admin: { address: "" }
policy: { file: $WW_TMP/policy.yaml }
log: { level: info }
CONF
ww_start_gateway "$WW_TMP/wwgate.yaml" || ww_bail "wwgate did not start"
gwpid=$(ww_pid wwgate)

msg='{"touser":"zhangsan","msgtype":"text","agentid":1,"text":{"content":"lunch"}}'
send() { # send CA_CERT: one message through the proxy, trusting CA_CERT
	WW_CACERT=$1 ww_curl --proxy "http://127.0.0.1:$port" \
		-H 'Content-Type: application/json' --data-binary "$msg" \
		"https://$ihost/cgi-bin/message/send?access_token=T" 2>&1
}
issuer_cn() { # the issuer an intercepted client is shown
	timeout 10 openssl s_client -proxy "127.0.0.1:$port" \
		-connect "$ihost:443" -servername "$ihost" -showcerts </dev/null \
		2>/dev/null | openssl x509 -noout -issuer 2>/dev/null
}
subject_of() { openssl x509 -noout -subject -in "$1" | sed 's/^subject=/issuer=/'; }
# wait_log TEXT: until the gateway's log says TEXT (bounded: 5 s)
wait_log() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -qF -- "$1" "$(ww_gateway_log)" && return 0
		ww_sleep_ms 100
	done
	return 1
}

ww_like "$(send "$WW_TMP/ca1/ca.crt")" '"errcode":0' \
	"intercepted with the first CA: the client trusts ca1"
ww_is "$(issuer_cn)" "$(subject_of "$WW_TMP/ca1/ca.crt")" \
	"the minted certificate is issued by ca1"

# a connection opened before the reload and used after it: one request,
# then (once $WW_TMP/go exists: bounded wait) a second on the same TLS
# connection
python3 - "$port" "$ihost" "$WW_TMP/ca1/ca.crt" "$WW_TMP/go" "$msg" \
	>"$WW_TMP/open.out" 2>&1 <<'PYEOF' &
import os, socket, ssl, sys, time
port, host, ca, go, msg = sys.argv[1:]
s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
s.sendall(("CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n" % (host, host)).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
ctx = ssl.create_default_context(cafile=ca)
t = ctx.wrap_socket(s, server_hostname=host)
req = ("POST /cgi-bin/message/send?access_token=T HTTP/1.1\r\nHost: %s\r\n"
       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
       % (host, len(msg.encode()), msg)).encode()
def ask():
    t.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += t.recv(4096)
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n")
             if l.lower().startswith(b"content-length")][0])
    while len(body) < n:
        body += t.recv(4096)
    print(body.decode(), flush=True)
ask()
for _ in range(100):
    if os.path.exists(go):
        break
    time.sleep(0.1)
ask()
PYEOF
openpid=$!
for ((i = 0; i < 50; i++)); do
	grep -q errcode "$WW_TMP/open.out" && break
	ww_sleep_ms 100
done
ww_like "$(cat "$WW_TMP/open.out")" '"errcode":0' \
	"a connection opened before the reload is answered"

cp "$WW_TMP/ca2/ca.crt" "$WW_TMP/ca2/ca.key" "$WW_TMP/ica/"
kill -HUP "$gwpid"
ww_ok "SIGHUP: the gateway says the new CA is in use" \
	wait_log "interception CA $WW_TMP/ica/ca.crt in use"
ww_like "$(send "$WW_TMP/ca2/ca.crt")" '"errcode":0' \
	"after the reload a client that trusts ca2 is served"
ww_is "$(issuer_cn)" "$(subject_of "$WW_TMP/ca2/ca.crt")" \
	"and the minted certificate is issued by ca2"
ww_like "$(send "$WW_TMP/ca1/ca.crt")" '(60|certificate|SSL)' \
	"a client that trusts only ca1 now refuses the gateway's certificate"
touch "$WW_TMP/go"
wait "$openpid"
ww_is "$(grep -o '"errcode":0' "$WW_TMP/open.out" | wc -l)" 2 \
	"and answered again after it, on the same connection and certificate"

printf 'not a key\n' >"$WW_TMP/ica/ca.key"
kill -HUP "$gwpid"
ww_ok "a CA that cannot be loaded is reported" \
	wait_log "interception CA not reloaded"
ww_like "$(send "$WW_TMP/ca2/ca.crt")" '"errcode":0' \
	"and the CA in use stays ca2"
ww_ok "wwgate is still running" kill -0 "$gwpid"
ww_ok "wwgate stops cleanly" ww_stop_gateway
ww_done
