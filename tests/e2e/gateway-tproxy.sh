#!/bin/bash
# gateway-tproxy.sh: the transparent mode with TPROXY (transparent.tproxy:
# true), no NAT.  TPROXY acts in prerouting only, so the client's packets
# must arrive from outside: two network namespaces this script creates,
# the gateway's (wwgate, the fake servers and the "internet" addresses
# 10.99.0.1 and fd99::1 with fake servers on :443) and the client's
# (10.98.0.2 and fd98::2, routed through the gateway's 10.98.0.1 and
# fd98::1), joined by a veth pair.  The nftables rules of wwgate(8)
# ("tproxy ip to :PORT", "tproxy ip6 to :PORT6") on the gateway's veth
# divert the client's port-443 traffic to wwgate's IP_TRANSPARENT
# listeners (0.0.0.0:PORT, and the dual-stack :PORT6); policy routing
# (fwmark 1, table 100) delivers it locally.  The gateway's own
# connections are locally generated and never pass those rules: the
# loop-prevention rule of wwgate(8).  Checks intercept (journaled with the
# client's address), passthrough to the original destination, refuse, and
# connections made to wwgate's own addresses (not redirected, as with
# REDIRECT), in both families; and that wwgate does not start without
# CAP_NET_ADMIN.  A third namespace holds a server the gateway only
# reaches by routing (10.97.0.1): the router's case, where policy routing,
# not a local address, is what delivers the diverted packets.
# Skipped (TAP SKIP) without root, ip netns, or nft.
if [ -z "${WW_IN_NETNS:-}" ]; then
	skip() {
		echo "1..0 # SKIP $*"
		exit 0
	}
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	command -v ip >/dev/null || skip "needs ip (iproute2)"
	command -v nft >/dev/null || skip "needs nft for the TPROXY rule"
	ns=wwtp$$
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

# --- the client's namespace, deleted on exit (after lib.sh's cleanup of
# the processes, which run in the gateway's namespace)
cns=${WW_IN_NETNS}c
sns=${WW_IN_NETNS}s
ww_tproxy_cleanup() {
	ww_cleanup
	ip netns del "$cns" 2>/dev/null
	ip netns del "$sns" 2>/dev/null
}
trap ww_tproxy_cleanup EXIT
ip netns add "$cns" || ww_bail "cannot create the client's namespace"
ip netns add "$sns" || ww_bail "cannot create the server's namespace"
inc() { ip netns exec "$cns" "$@"; }

# --- the network: client 10.98.0.2 -- 10.98.0.1 gateway; 10.99.0.1 is
# the "internet" server, an address of the gateway's namespace
ip link set lo up
ip addr add 10.99.0.1/32 dev lo
ip link add wwg0 type veth peer name wwc0 || ww_bail "no veth pair"
ip link set wwc0 netns "$cns" || ww_bail "cannot move the veth end"
ip addr add 10.98.0.1/24 dev wwg0
ip link set wwg0 up
inc ip link set lo up
inc ip addr add 10.98.0.2/24 dev wwc0
inc ip link set wwc0 up
inc ip route add default via 10.98.0.1 || ww_bail "client's default route"
# IPv6 (nodad: the addresses are usable at once)
ip -6 addr add fd99::1/128 dev lo || ww_bail "no IPv6 addresses here"
ip -6 addr add fd98::1/64 dev wwg0 nodad
inc ip -6 addr add fd98::2/64 dev wwc0 nodad
inc ip -6 route add default via fd98::1 || ww_bail "client's IPv6 route"
# the routed server: 10.97.0.1 in a namespace of its own, on the
# gateway's second veth (10.97.0.254)
ip link add wws0 type veth peer name wwx0 || ww_bail "no second veth pair"
ip link set wwx0 netns "$sns" || ww_bail "cannot move the server's veth end"
ip addr add 10.97.0.254/24 dev wws0
ip link set wws0 up
ip netns exec "$sns" ip link set lo up
ip netns exec "$sns" ip addr add 10.97.0.1/24 dev wwx0
ip netns exec "$sns" ip link set wwx0 up
port=$(ww_port)
port6=$(ww_port)
# the rules of wwgate(8), TPROXY, on the client's side of the veth
nft -f - <<NFT || ww_bail "nft tproxy rules"
table inet wwtproxy {
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "wwg0" tcp dport 443 tproxy ip to :$port meta mark set 1 accept
		iifname "wwg0" tcp dport 443 tproxy ip6 to :$port6 meta mark set 1 accept
	}
}
NFT
ip rule add fwmark 1 lookup 100 || ww_bail "ip rule"
ip route add local 0.0.0.0/0 dev lo table 100 || ww_bail "ip route"
ip -6 rule add fwmark 1 lookup 100 || ww_bail "ip -6 rule"
ip -6 route add local ::/0 dev lo table 100 || ww_bail "ip -6 route"

ihost=qyapi.weixin.qq.com
phost=pass.example.com
WW_CERT_HOSTS="$ihost $phost"
certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
ww_start_fake orig --listen 10.99.0.1:443 || ww_bail "fake on 10.99.0.1:443"
ww_start_fake orig6 --listen "[fd99::1]:443" || ww_bail "fake on [fd99::1]:443"
mkdir -p "$WW_TMP/far" && : >"$WW_TMP/far/records.jsonl"
ww_spawn far ip netns exec "$sns" "$top_builddir/tests/fake-wecom" \
	--listen 10.97.0.1:443 --port-file "$WW_TMP/far/port" \
	--record "$WW_TMP/far/records.jsonl" --pid-file "$WW_TMP/far/pid" \
	--cert "$certs/server.crt" --key "$certs/server.key"
ww_wait_file "$WW_TMP/far/port" 10 || ww_bail "fake on 10.97.0.1:443 (routed)"
"$top_builddir/wwca" init "$WW_TMP/ica" >/dev/null || ww_bail "wwca init"
ica=$WW_TMP/ica/ca.crt
printf 'version: 1\nrules:\n  - id: no-falcon\n    match: {keywords: [falcon]}\n    action: block\n' \
	>"$WW_TMP/policy.yaml"
journal=$WW_TMP/journal
conf=$WW_TMP/wwgate.yaml
# wildcard addresses: "tproxy to :PORT" looks the listener up on the
# incoming interface's address; ":PORT6" takes IPv4 too (v4-mapped)
cat >"$conf" <<CONF
gateway_id: gw-tproxy
workers: 2
listen:
  - address: 0.0.0.0:$port
    mode: transparent
  - address: ":$port6"
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
transparent: { no_sni: refuse, tproxy: ${WW_TPROXY:-true} }
journal: { path: $journal, sync: full }
admin: { address: "" }
policy: { file: $WW_TMP/policy.yaml }
limits: { handshake_timeout_ms: 1000 }
log: { level: debug }
CONF
ww_start_gateway "$conf" "127.0.0.1:$port" || ww_bail "wwgate did not start"
ww_wait_port ::1 "$port6" 10 "$(ww_pid wwgate)" || ww_bail "no listener on :$port6"
wwj() { "$top_builddir/wwjournal" -j "$journal" "$@"; }
# client: from its own namespace to the "real" address 10.99.0.1
client() { # client HOST CAFILE [curl args...]
	local h=$1 ca=$2
	shift 2
	inc curl -sS --max-time 10 --cacert "$ca" \
		--resolve "$h:443:10.99.0.1" "$@"
}

# --- intercept
out=$(client "$ihost" "$ica" -H 'Content-Type: application/json' \
	--data-binary '{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"tproxied hello"}}' \
	"https://$ihost/cgi-bin/message/send?access_token=TOKEN-tp" 2>&1)
ww_like "$out" '"errcode": *0' "intercept: the message reaches fake-wecom through TPROXY"
ww_is "$(ww_fake_count up)" 1 "fake-wecom (the intercepted upstream) got it"
ww_is "$(ww_fake_count orig)" 0 "the original destination did not"
sleep 0.3
req=$(wwj export --format jsonl --kind request | grep 'tproxied hello')
ww_like "$req" 'tproxied hello' "the intercepted message is journaled"
ww_like "$req" '"address":"10.98.0.2"' "with the client's own address (no NAT)"
ww_like "$(wwj list --json)" '10.98.0.2' "wwjournal list shows the client"
tr_blocked TOKEN-tp

# --- passthrough to the original destination, untouched; the gateway's
# own connection to 10.99.0.1:443 is not diverted back to it
tr_passthrough orig 10.99.0.1:443 "the local address"
ww_is "$(printf '%s' "$TR_TUNNEL" | jq -r .client.address)" "10.98.0.2" "and the client's address"
ww_ok "and bytes both ways" test "$(printf '%s' "$TR_TUNNEL" | jq '.tunnel.bytes_up > 100 and .tunnel.bytes_down > 100')" = true

# --- refuse
tr_refuse 10.99.0.1:443

# --- a destination the gateway does not own, reached by routing (the
# router's case): policy routing delivers the diverted packets locally,
# and the passthrough's own connection is routed out to the server
out=$(inc curl -sS --max-time 10 --cacert "$certs/ca.crt" \
	--resolve "$phost:443:10.97.0.1" "https://$phost/cgi-bin/gettoken?corpid=far" 2>&1)
ww_like "$out" 'access_token|errcode' "routed passthrough: the server at 10.97.0.1 answers"
ww_is "$(ww_fake_count far):$(ww_fake_get far -1 .sni)" "1:$phost" \
	"it got the request, over TLS with the client's SNI"
t=$(tr_last_tunnel '.tunnel.decision == "passthrough"')
ww_is "$(printf '%s' "$t" | jq -r .tunnel.original_dst)" "10.97.0.1:443" \
	"the TUNNEL record has the routed original destination"
n=$(ww_fake_count up)
out=$(inc curl -sS --max-time 10 --cacert "$ica" --resolve "$ihost:443:10.97.0.1" \
	-H 'Content-Type: application/json' \
	--data-binary '{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"routed hello"}}' \
	"https://$ihost/cgi-bin/message/send?access_token=TOKEN-tp" 2>&1)
ww_is "$(ww_fake_count up):$(ww_fake_count far)" "$((n + 1)):1" \
	"routed intercept: judged and forwarded to WeCom, never to 10.97.0.1"

# --- connections to wwgate's own address were not redirected: as with
# REDIRECT, no original destination, never spliced to itself
n0=$(tr_tunnels | grep -c '"end_reason":"no original destination"')
out=$(inc curl -sS --max-time 5 --cacert "$certs/ca.crt" \
	--resolve "$phost:$port:10.98.0.1" "https://$phost:$port/" 2>&1)
t=$(tr_last_tunnel '.tunnel.end_reason == "no original destination"')
ww_is "$(tr_tunnels | grep -c '"end_reason":"no original destination"')" $((n0 + 1)) \
	"a direct connection from the client (to 10.98.0.1:PORT) is refused, not spliced to itself"
ww_is "$(printf '%s' "$t" | jq -r .tunnel.original_dst)" null "with no original destination"
out=$(curl -sS --max-time 5 --cacert "$certs/ca.crt" \
	--resolve "$phost:$port:127.0.0.1" "https://$phost:$port/" 2>&1)
ww_is "$(tr_tunnels | grep -c '"end_reason":"no original destination"')" $((n0 + 2)) \
	"and so is one from the gateway host (to 127.0.0.1:PORT)"
ww_is "$(ww_fake_count orig)" 1 "neither reached the original-destination server"

# --- IPv6: the same through "tproxy ip6" and IPV6_TRANSPARENT
client6() { # client6 HOST CAFILE [curl args...]
	local h=$1 ca=$2
	shift 2
	inc curl -sS --max-time 10 --cacert "$ca" \
		--resolve "$h:443:[fd99::1]" "$@"
}
out=$(client6 "$ihost" "$ica" -H 'Content-Type: application/json' \
	--data-binary '{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"tproxied over v6"}}' \
	"https://$ihost/cgi-bin/message/send?access_token=TOKEN-tp" 2>&1)
ww_like "$out" '"errcode": *0' "IPv6 intercept: the message reaches fake-wecom"
ww_is "$(ww_fake_count orig6)" 0 "and not the original destination"
sleep 0.3
req=$(wwj export --format jsonl --kind request | grep 'tproxied over v6')
ww_like "$req" '"address":"fd98::2"' "journaled with the client's IPv6 address"
out=$(client6 "$phost" "$certs/ca.crt" "https://$phost/cgi-bin/gettoken?corpid=c" 2>&1)
ww_like "$out" 'access_token|errcode' "IPv6 passthrough: [fd99::1]:443 answers"
ww_is "$(ww_fake_count orig6)" 1 "the server at [fd99::1]:443 got the request"
t=$(tr_last_tunnel '.tunnel.decision == "passthrough"')
ww_is "$(printf '%s' "$t" | jq -r .tunnel.original_dst)" "[fd99::1]:443" \
	"the TUNNEL record has the IPv6 original destination"
n0=$(tr_tunnels | grep -c '"end_reason":"no original destination"')
out=$(inc curl -sS --max-time 5 --cacert "$certs/ca.crt" \
	--resolve "$phost:$port6:[fd98::1]" "https://$phost:$port6/" 2>&1)
ww_is "$(tr_tunnels | grep -c '"end_reason":"no original destination"')" $((n0 + 1)) \
	"a direct IPv6 connection (to [fd98::1]:PORT6) is not redirected"
out=$(curl -sS --max-time 5 --cacert "$certs/ca.crt" \
	--resolve "$phost:$port6:127.0.0.1" "https://$phost:$port6/" 2>&1)
ww_is "$(tr_tunnels | grep -c '"end_reason":"no original destination"')" $((n0 + 2)) \
	"nor an IPv4 one to the dual-stack listener (127.0.0.1:PORT6, v4-mapped)"
ww_is "$(ww_fake_count orig6)" 1 "neither reached the original-destination server"

ww_ok "the gateway survives them" ww_alive wwgate
ww_ok "the journal verifies" wwj verify
ww_stop_gateway
ww_is "$(ww_exit_status wwgate)" 0 "wwgate exits cleanly"

# --- without CAP_NET_ADMIN the listener cannot be transparent: wwgate
# refuses to start and says why (capsh drops the capability, and
# CAP_NET_RAW, which the kernel accepts as well)
if command -v capsh >/dev/null && [ "${WW_TPROXY:-true}" = true ]; then
	capsh --drop=cap_net_admin,cap_net_raw -- -c "'$top_builddir/wwgate' -c '$conf'" \
		>"$WW_TMP/nocap.log" 2>&1 </dev/null &
	nocap=$!
	for ((i = 0; i < 100; i++)); do
		kill -0 "$nocap" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$nocap" 2>/dev/null; then
		kill -KILL "$nocap" 2>/dev/null
		wait "$nocap"
		st=running
	else
		wait "$nocap"
		st=$?
	fi
	ww_ok "without CAP_NET_ADMIN wwgate does not start (status $st)" \
		test "$st" != running -a "$st" != 0
	ww_like "$(cat "$WW_TMP/nocap.log")" 'IP_TRANSPARENT needs CAP_NET_ADMIN' \
		"and names the cause"
else
	ww_skip 2 "no capsh to drop CAP_NET_ADMIN (or tproxy off)"
fi
ww_done
