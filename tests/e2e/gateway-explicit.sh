#!/bin/bash
# gateway-explicit.sh: the explicit (CONNECT) mode end to end (issue 6):
# curl --proxy to an intercepted host (minted certificate, judged,
# journaled, forwarded to tests/fake-wecom), to a passthrough host
# (spliced: the client sees the server's own certificate; TUNNEL record
# with byte counts), to any other host (403, TUNNEL record); proxy
# authentication; other ports; slow, oversized and hostile input.
# upstream.resolve sends the real host names to loopback fakes.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"
command -v python3 >/dev/null || ww_skip_all "python3 is needed"

ihost=qyapi.weixin.qq.com
phost=pass.example.com
WW_CERT_HOSTS="$ihost $phost"
certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
ww_start_fake pt || ww_bail "fake-wecom (passthrough) did not start"
"$top_builddir/wwca" init "$WW_TMP/ica" >/dev/null || ww_bail "wwca init"
ica=$WW_TMP/ica/ca.crt
port=$(ww_port)
aport=$(ww_port)
printf 'version: 1\nrules:\n  - id: no-falcon\n    match: {keywords: [falcon]}\n    action: block\n' \
	>"$WW_TMP/policy.yaml"
pw=$(openssl passwd -6 -salt e2esalt 'open sesame') || ww_bail "openssl passwd"
printf '# proxy users\nalice:%s\n' "$pw" >"$WW_TMP/htpasswd"
journal=$WW_TMP/journal
conf=$WW_TMP/wwgate.yaml
cat >"$conf" <<CONF
gateway_id: gw-explicit
workers: 2
listen:
  - address: 127.0.0.1:$port
    mode: explicit
  - address: 127.0.0.1:$aport
    mode: explicit
    auth_file: $WW_TMP/htpasswd
upstream:
  url: https://$ihost
  ca_file: $certs/ca.crt
  timeout_ms: 3000
  resolve:
    "$ihost:443": "127.0.0.1:$(ww_fake_port up)"
    "$phost:443": "127.0.0.1:$(ww_fake_port pt)"
intercept:
  ca: { cert: $WW_TMP/ica/ca.crt, key: $WW_TMP/ica/ca.key }
  hosts: [$ihost, "*.work.$ihost"]
passthrough:
  hosts: [$phost, localhost]
default: refuse
journal: { path: $journal, sync: full }
admin: { address: "" }
policy: { file: $WW_TMP/policy.yaml }
limits: { header_timeout_ms: 700 }
log: { level: debug }
CONF
ww_start_gateway "$conf" || ww_bail "wwgate did not start"
wwj() { "$top_builddir/wwjournal" -j "$journal" "$@"; }
proxy=http://127.0.0.1:$port
msg='{"touser":"zhangsan","msgtype":"text","agentid":1,"text":{"content":"lunch at noon"}}'
send() { # send PROXY [curl args...]: a message to the intercepted host
	local p=$1
	shift
	WW_CACERT=$ica ww_curl --proxy "$p" -H 'Content-Type: application/json' \
		--data-binary "$msg" "$@" \
		"https://$ihost/cgi-bin/message/send?access_token=TOKEN-x1"
}
connect_code() { # connect_code PROXY URL [curl args]: the CONNECT status
	local p=$1 u=$2
	shift 2
	curl -s -o /dev/null --max-time 10 --proxy "$p" -w '%{http_connect}' \
		"$@" "$u"
}
issuer() { # issuer HOST PROXYPORT: the issuer the client is shown
	openssl s_client -proxy "127.0.0.1:$2" -connect "$1:443" \
		-servername "$1" </dev/null 2>/dev/null |
		openssl x509 -noout -issuer 2>/dev/null
}

# --- intercept
out=$(send "$proxy" 2>&1)
ww_like "$out" '"errcode": *0' "intercepted: the message reaches fake-wecom and its answer comes back"
ww_is "$(ww_fake_count up)" 1 "fake-wecom received exactly one request"
ww_is "$(ww_fake_get up -1 .path)" "/cgi-bin/message/send?access_token=TOKEN-x1" \
	"forwarded to the path asked for"
ww_is "$(ww_fake_get up -1 .sni)" "$ihost" "the upstream call names the intercepted host (SNI)"
ww_like "$(issuer "$ihost" "$port")" "$(openssl x509 -in "$ica" -noout -subject | sed 's/^subject=//')" \
	"the client is shown a certificate minted by the interception CA"
ww_nok "a client that does not trust the interception CA refuses it" \
	env WW_CACERT="$certs/ca.crt" ww_curl --proxy "$proxy" "https://$ihost/cgi-bin/gettoken"
blocked=$(WW_CACERT=$ica ww_curl --proxy "$proxy" -H 'Content-Type: application/json' \
	--data-binary '{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"project falcon"}}' \
	"https://$ihost/cgi-bin/message/send?access_token=TOKEN-x1")
ww_like "$blocked" '"errcode": *985001' "intercepted traffic is judged: a blocked message is refused"
ww_is "$(ww_fake_count up)" 1 "and never reaches fake-wecom"
# plain HTTP proxy request (absolute form) to the intercepted host
out=$(curl -sS --max-time 10 --proxy "$proxy" -H 'Content-Type: application/json' \
	--data-binary '{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"plain http hello"}}' \
	"http://$ihost/cgi-bin/message/send?access_token=TOKEN-x1" 2>&1)
ww_like "$out" '"errcode": *0' "plain HTTP to an intercepted host is served like reverse mode"
ww_is "$(ww_fake_get up -1 .tls)" true "and sent upstream over TLS"
ww_like "$(printf 'GET http://%s/cgi-bin/gettoken HTTP/1.1\r\nHost: %s\r\n\r\nGET http://evil.example.org/x HTTP/1.1\r\nHost: evil.example.org\r\n\r\n' "$ihost" "$ihost" |
	python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=5); s.sendall(sys.stdin.buffer.read())
d=b""
while True:
    c=s.recv(65536)
    if not c: break
    d+=c
print(d.decode(errors="replace"))' "$port")" 'HTTP/1.1 400' \
	"a second request on that connection for another host is refused"
sleep 0.5
exp=$(wwj export --format jsonl --kind request 2>&1)
ww_like "$exp" 'lunch at noon' "the intercepted message is in the journal"
ww_like "$exp" 'plain http hello' "so is the plain-HTTP one"
ww_like "$exp" "\"sni\":\"$ihost\"" "with the client's SNI"

# --- domain fronting: CONNECT to the intercepted host, SNI of another
ww_nok "an SNI that differs from the CONNECT host gets no certificate" \
	sh -c "openssl s_client -proxy 127.0.0.1:$port -connect $ihost:443 \
		-servername evil.example.org </dev/null 2>&1 | grep -q 'BEGIN CERTIFICATE'"
printf 'GET /cgi-bin/gettoken HTTP/1.1\r\nHost: x\r\n\r\n' >"$WW_TMP/get.txt"
fronted=$(openssl s_client -quiet -proxy "127.0.0.1:$port" -connect "$ihost:443" \
	-servername "a.work.$ihost" <"$WW_TMP/get.txt" 2>/dev/null | head -c 200)
ww_is "$fronted" "" "an allowed SNI that differs from the CONNECT host is cut off"
ww_like "$(cat "$(ww_gateway_log)")" "SNI does not name the intercepted host" "and the gateway says why"

# --- passthrough
before=$(ww_fake_count pt)
out=$(WW_CACERT=$certs/ca.crt ww_curl --proxy "$proxy" "https://$phost/cgi-bin/gettoken?corpid=c" 2>&1)
ww_like "$out" 'access_token|errcode' "passthrough: the server answers through the tunnel"
ww_is "$(ww_fake_count pt)" $((before + 1)) "the passthrough server got the request"
ww_is "$(ww_fake_get pt -1 .sni)" "$phost" "with the client's own SNI (end-to-end TLS)"
ww_like "$(issuer "$phost" "$port")" "$(openssl x509 -in "$certs/ca.crt" -noout -subject | sed 's/^subject=//')" \
	"the client sees the server's own certificate, not a minted one"
sleep 0.5
tun=$(wwj list --json --kind tunnel 2>&1)
pt=$(printf '%s\n' "$tun" | jq -c "select(.tunnel.decision == \"passthrough\" and .tunnel.host == \"$phost\")" | head -n 1)
ww_ok "a TUNNEL record for the passthrough connection" test -n "$pt"
ww_ok "with bytes both ways" test "$(printf '%s' "$pt" | jq '.tunnel.bytes_up > 100 and .tunnel.bytes_down > 100')" = true
ww_is "$(printf '%s' "$pt" | jq -r .tunnel.original_dst)" "127.0.0.1:$(ww_fake_port pt)" \
	"and the destination it was spliced to"

# a passthrough host without a resolve entry is looked up (evdns); nothing
# listens on localhost:443, so the CONNECT fails after the lookup: 502
ww_is "$(connect_code "$proxy" https://localhost/)" 502 \
	"passthrough to a name that is resolved but does not answer: 502"
sleep 0.3
ww_like "$(wwj list --json --kind tunnel)" '"host":"localhost","original_dst":"[^"]*:443"[^}]*"end_reason":"connect failed"' \
	"and recorded with the address it tried"

# --- refuse
ww_is "$(connect_code "$proxy" https://evil.example.org/)" 403 "any other host: 403"
ww_is "$(connect_code "$proxy" https://127.0.0.1/)" 403 "an IP literal: 403"
ww_is "$(connect_code "$proxy" "https://$ihost:8443/")" 403 "CONNECT to a port other than 443: 403"
ww_is "$(connect_code "$proxy" "https://$phost:22/")" 403 "also for passthrough hosts"
sleep 0.5
tun=$(wwj list --json --kind tunnel 2>&1)
ww_like "$tun" '"host":"evil.example.org"[^}]*"decision":"refuse"' "the refusal is journaled as a TUNNEL record"
ww_like "$tun" '"end_reason":"port not allowed"' "so is the refused port"

# --- proxy authentication
aproxy=http://127.0.0.1:$aport
ww_is "$(connect_code "$aproxy" "https://$ihost/")" 407 "auth listener without credentials: 407"
ww_is "$(connect_code "$aproxy" "https://$ihost/" --proxy-user alice:wrong)" 407 "wrong password: 407"
ww_is "$(connect_code "$aproxy" "https://$ihost/" --proxy-user mallory:x)" 407 "unknown user: 407"
out=$(send "$aproxy" --proxy-user 'alice:open sesame' 2>&1)
ww_like "$out" '"errcode": *0' "right password: the message goes through"
sleep 0.5
ww_is "$(wwj list --json --kind request | jq -r .client.proxy_user | tail -n 1)" alice \
	"the proxy user is recorded as the sender's device identity"
ww_like "$(wwj list --json --kind tunnel)" '"end_reason":"proxy authentication required"' \
	"rejected authentication is journaled"

# --- hostile and slow input
cat >"$WW_TMP/raw.py" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
data = open(sys.argv[2], "rb").read()
mode = data[:5]
if mode == b"SLOW:":
    s.sendall(data[5:]); time.sleep(2)
elif mode == b"TLS1:":
    host, hello = data[5:].split(b"|", 1)
    s.sendall(b"CONNECT %s:443 HTTP/1.1\r\n\r\n" % host)
    s.recv(4096); s.sendall(hello); time.sleep(0.3)
else:
    s.sendall(data)
try:
    print(s.recv(4096).split(b"\r\n")[0].decode())
except Exception as e:
    print("error", e)
PY
raw() { # raw PORT < DATA: send DATA, print the answer's first line
	cat >"$WW_TMP/raw.in"
	python3 "$WW_TMP/raw.py" "$1" "$WW_TMP/raw.in"
}
ww_like "$(printf 'SLOW:CONNECT %s:443 HT' "$ihost" | raw "$port")" '408' "a slow CONNECT line times out (408)"
ww_like "$(python3 -c 'print("CONNECT " + "a" * 9000, end="")' | raw "$port")" '431' "an oversized CONNECT head: 431"
ww_like "$(printf 'GET /cgi-bin/gettoken HTTP/1.1\r\nHost: x\r\n\r\n' | raw "$port")" '405' \
	"an origin-form request (not a proxy request): 405"
ww_like "$(printf 'GET http://evil.example.org/ HTTP/1.1\r\nHost: evil.example.org\r\n\r\n' | raw "$port")" '403' \
	"plain HTTP to a host that is not intercepted: 403 (no generic proxy)"
{ printf 'CONNECT %s:443 HTTP/1.1\r\n\r\n' "$phost"; cat "$top_srcdir/tests/fuzz/corpus/sni/openssl-sni"; } >"$WW_TMP/early.bin"
ww_like "$(raw "$port" <"$WW_TMP/early.bin")" '200' \
	"a ClientHello sent before the 200 stays for the tunnel"
printf 'TLS1:%s|\x16\x03\x01\x00' "$ihost" | raw "$port" >/dev/null
python3 -c 'import sys; sys.stdout.buffer.write(b"TLS1:qyapi.weixin.qq.com|\x16\x03\x01\x40\x00" + b"\x01" * 17000)' | raw "$port" >/dev/null
python3 -c 'import sys; sys.stdout.buffer.write(b"TLS1:qyapi.weixin.qq.com|\x16\x03\x01\x00\x30\x01\x00\xff\xff" + b"\x00" * 44)' | raw "$port" >/dev/null
ww_ok "truncated, oversized and lying ClientHellos leave the gateway running" ww_alive wwgate
flood=0
for i in $(seq 1 200); do
	printf 'CONNECT x%d.example.org:443 HTTP/1.1\r\n\r\n' "$i" >/dev/tcp/127.0.0.1/"$port" 2>/dev/null && flood=$((flood + 1))
done
ww_is "$flood" 200 "a flood of 200 CONNECTs is accepted and refused one by one"
out=$(send "$proxy" 2>&1)
ww_like "$out" '"errcode": *0' "and the gateway still serves afterwards"

ww_ok "the journal verifies" wwj verify
ww_stop_gateway
ww_is "$(ww_exit_status wwgate)" 0 "wwgate exits cleanly"
ww_done
