#!/bin/bash
# gateway-transparent.sh: the transparent mode for real (issue 6), in a
# network namespace this script creates: a veth pair gives the
# "internet" 10.99.0.1 (a fake server on :443) and the client 10.99.0.2;
# an nftables (or iptables) REDIRECT rule sends the client's port-443
# traffic to wwgate, and only the client's: the gateway's own upstream
# connections leave from other addresses, which is the loop-prevention
# rule of wwgate(8).  Checks SNI routing to intercept, passthrough (to the
# original destination, untouched) and refuse, a ClientHello without SNI,
# plain HTTP, hostile ClientHellos, and a connection that was not
# redirected.  Skipped (TAP SKIP) without root, ip netns, or nft/iptables.
if [ -z "${WW_IN_NETNS:-}" ]; then
	skip() {
		echo "1..0 # SKIP $*"
		exit 0
	}
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	command -v ip >/dev/null || skip "needs ip (iproute2)"
	command -v nft >/dev/null || command -v iptables >/dev/null ||
		skip "needs nft or iptables for the REDIRECT rule"
	ns=wwtr$$
	ip netns add "$ns" 2>/dev/null ||
		skip "cannot create a network namespace here (container?)"
	rc=0
	WW_IN_NETNS=$ns ip netns exec "$ns" bash "$0" "$@" || rc=$?
	ip netns del "$ns"
	exit $rc
fi
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/transparent-lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"
command -v python3 >/dev/null || ww_skip_all "python3 is needed"

# --- the namespace's network
ip link set lo up
ip link add wwv0 type veth peer name wwv1 || ww_bail "no veth pair"
ip addr add 10.99.0.1/24 dev wwv0
ip addr add 10.99.0.2/24 dev wwv1
ip link set wwv0 up
ip link set wwv1 up
port=$(ww_port)
if command -v nft >/dev/null; then
	nft -f - <<NFT || ww_bail "nft rule"
table ip wwtest {
	chain output {
		type nat hook output priority -100; policy accept;
		ip saddr 10.99.0.2 tcp dport 443 redirect to :$port
	}
}
NFT
else
	iptables -t nat -A OUTPUT -s 10.99.0.2 -p tcp --dport 443 \
		-j REDIRECT --to-ports "$port" || ww_bail "iptables rule"
fi

ihost=qyapi.weixin.qq.com
phost=pass.example.com
WW_CERT_HOSTS="$ihost $phost"
certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
ww_start_fake orig --listen 10.99.0.1:443 || ww_bail "fake on 10.99.0.1:443"
"$top_builddir/wwca" init "$WW_TMP/ica" >/dev/null || ww_bail "wwca init"
ica=$WW_TMP/ica/ca.crt
printf 'version: 1\nrules:\n  - id: no-falcon\n    match: {keywords: [falcon]}\n    action: block\n' \
	>"$WW_TMP/policy.yaml"
journal=$WW_TMP/journal
conf=$WW_TMP/wwgate.yaml
cat >"$conf" <<CONF
gateway_id: gw-transparent
workers: 2
listen:
  - address: 127.0.0.1:$port
    mode: transparent
upstream:
  url: https://$ihost
  ca_file: $certs/ca.crt
  timeout_ms: 3000
  resolve:
    "$ihost:443": "127.0.0.1:$(ww_fake_port up)"
intercept:
  ca: { cert: $WW_TMP/ica/ca.crt, key: $WW_TMP/ica/ca.key }
  hosts: [$ihost]
passthrough:
  hosts: [$phost]
default: refuse
transparent: { no_sni: refuse }
journal: { path: $journal, sync: full }
admin: { address: "" }
policy: { file: $WW_TMP/policy.yaml }
limits: { handshake_timeout_ms: 1000 }
log: { level: debug }
CONF
ww_start_gateway "$conf" || ww_bail "wwgate did not start"
wwj() { "$top_builddir/wwjournal" -j "$journal" "$@"; }
# client: from 10.99.0.2 to the "real" address 10.99.0.1 (redirected)
client() { # client HOST CAFILE [curl args...]
	local h=$1 ca=$2
	shift 2
	curl -sS --max-time 10 --interface 10.99.0.2 --cacert "$ca" \
		--resolve "$h:443:10.99.0.1" "$@"
}

# --- intercept
out=$(client "$ihost" "$ica" -H 'Content-Type: application/json' \
	--data-binary '{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"redirected hello"}}' \
	"https://$ihost/cgi-bin/message/send?access_token=TOKEN-t1" 2>&1)
ww_like "$out" '"errcode": *0' "intercept: the message reaches fake-wecom through the redirect"
ww_is "$(ww_fake_count up)" 1 "fake-wecom (the intercepted upstream) got it"
ww_is "$(ww_fake_count orig)" 0 "the original destination did not"
sleep 0.3
ww_like "$(wwj export --format jsonl --kind request)" 'redirected hello' \
	"the intercepted message is journaled"
tr_blocked TOKEN-t1

# --- passthrough to the original destination, untouched
tr_passthrough orig 10.99.0.1:443 SO_ORIGINAL_DST
ww_is "$(printf '%s' "$TR_TUNNEL" | jq -r .client.sni)" "$phost" "and the SNI"
ww_ok "and bytes both ways" test "$(printf '%s' "$TR_TUNNEL" | jq '.tunnel.bytes_up > 100 and .tunnel.bytes_down > 100')" = true

# --- refuse
tr_refuse 10.99.0.1:443

# --- raw clients from 10.99.0.2: no SNI, plain HTTP, hostile hellos
cat >"$WW_TMP/raw.py" <<'PY'
import socket, ssl, sys, time
mode = sys.argv[1]
s = socket.create_connection(("10.99.0.1", 443), timeout=5,
                             source_address=("10.99.0.2", 0))
if mode == "nosni":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.wrap_socket(s, server_hostname=None).do_handshake()
        print("handshake ok")
    except ssl.SSLError as e:
        print("alert", e.reason)
    sys.exit(0)
if mode == "http":
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
elif mode == "truncated":
    s.sendall(bytes.fromhex("1603010200010001fc0303") + b"\x00" * 20)
elif mode == "oversized":
    s.sendall(b"\x16\x03\x01\x40\x01" + b"\x01" * 17000)
elif mode == "lying":
    s.sendall(b"\x16\x03\x01\x00\x30\x01\x00\xff\xff" + b"\x00" * 44)
time.sleep(0.2)
try:
    print(repr(s.recv(100)))
except Exception as e:
    print("error", e)
PY
raw() { python3 "$WW_TMP/raw.py" "$1" 2>&1; }
ww_like "$(raw nosni)" 'alert' "a ClientHello without SNI gets a TLS alert (no_sni: refuse)"
ww_like "$(tr_tunnels)" '"end_reason":"no SNI"' "and a TUNNEL record"
raw http >/dev/null
ww_like "$(tr_tunnels)" '"end_reason":"not TLS","decision":"undecodable"' "plain HTTP is refused and recorded"
ww_like "$(raw oversized)" "x15" "an oversized ClientHello gets an alert"
raw lying >/dev/null
raw truncated >/dev/null
ww_like "$(tr_tunnels)" '"end_reason":"malformed ClientHello"' "malformed hellos are recorded"
ww_like "$(tr_tunnels)" '"end_reason":"ClientHello too slow"' "a truncated hello times out and is recorded"
ww_ok "the gateway survives them" ww_alive wwgate

# --- a connection that was not redirected cannot loop back to us
out=$(curl -sS --max-time 5 --cacert "$certs/ca.crt" --resolve "$phost:$port:127.0.0.1" \
	"https://$phost:$port/" 2>&1)
ww_like "$(tr_tunnels)" '"end_reason":"no original destination"' \
	"a direct connection (no original destination) is refused, not spliced to itself"

ww_ok "the journal verifies" wwj verify
ww_stop_gateway
ww_is "$(ww_exit_status wwgate)" 0 "wwgate exits cleanly"
ww_done
