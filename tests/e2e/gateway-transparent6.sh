#!/bin/bash
# gateway-transparent6.sh: the transparent mode over IPv6, in a network
# namespace this script creates: a veth pair gives the "internet"
# fd99::1 (a fake server on :443) and the client fd99::2; an nftables (or
# ip6tables) REDIRECT rule sends the client's port-443 traffic to wwgate
# on [::1].  Checks that the original destination is read with
# IP6T_SO_ORIGINAL_DST: intercept (judged, journaled, forwarded),
# passthrough to [fd99::1]:443 untouched, refuse, each TUNNEL record with
# the bracketed original destination.  Skipped (TAP SKIP) without root,
# ip netns, IPv6, or nft/ip6tables.
if [ -z "${WW_IN_NETNS:-}" ]; then
	skip() {
		echo "1..0 # SKIP $*"
		exit 0
	}
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	command -v ip >/dev/null || skip "needs ip (iproute2)"
	command -v nft >/dev/null || command -v ip6tables >/dev/null ||
		skip "needs nft or ip6tables for the REDIRECT rule"
	[ -e /proc/net/if_inet6 ] || skip "no IPv6 in this kernel"
	ns=wwtr6$$
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

# --- the namespace's network (nodad: the addresses are usable at once)
ip link set lo up
ip link add wwv0 type veth peer name wwv1 || ww_bail "no veth pair"
ip -6 addr add fd99::1/64 dev wwv0 nodad || ww_skip_all "no IPv6 addresses here"
ip -6 addr add fd99::2/64 dev wwv1 nodad
# an IPv4 address too: getaddrinfo(AI_ADDRCONFIG) resolves 127.0.0.1 (the
# upstream fake) only while some interface has one
ip addr add 10.98.0.1/24 dev wwv0
ip link set wwv0 up
ip link set wwv1 up
port=$(ww_port)
if command -v nft >/dev/null; then
	nft -f - <<NFT || ww_bail "nft rule"
table ip6 wwtest6 {
	chain output {
		type nat hook output priority -100; policy accept;
		ip6 saddr fd99::2 tcp dport 443 redirect to :$port
	}
}
NFT
else
	ip6tables -t nat -A OUTPUT -s fd99::2 -p tcp --dport 443 \
		-j REDIRECT --to-ports "$port" || ww_bail "ip6tables rule"
fi

ihost=qyapi.weixin.qq.com
phost=pass.example.com
WW_CERT_HOSTS="$ihost $phost"
certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
ww_start_fake orig --listen "[fd99::1]:443" || ww_bail "fake on [fd99::1]:443"
"$top_builddir/wwca" init "$WW_TMP/ica" >/dev/null || ww_bail "wwca init"
ica=$WW_TMP/ica/ca.crt
printf 'version: 1\nrules:\n  - id: no-falcon\n    match: {keywords: [falcon]}\n    action: block\n' \
	>"$WW_TMP/policy.yaml"
journal=$WW_TMP/journal
cat >"$WW_TMP/wwgate.yaml" <<CONF
gateway_id: gw-transparent6
workers: 2
listen:
  - address: "[::1]:$port"
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
journal: { path: $journal, sync: full }
admin: { address: "" }
policy: { file: $WW_TMP/policy.yaml }
log: { level: debug }
CONF
ww_start_gateway "$WW_TMP/wwgate.yaml" "[::1]:$port" ||
	ww_bail "wwgate did not start"
wwj() { "$top_builddir/wwjournal" -j "$journal" "$@"; }
# client: from fd99::2 to the "real" address fd99::1 (redirected)
client() { # client HOST CAFILE [curl args...]
	local h=$1 ca=$2
	shift 2
	curl -sS --max-time 10 --interface fd99::2 --cacert "$ca" \
		--resolve "$h:443:[fd99::1]" "$@"
}
msg() { printf '{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"%s"}}' "$1"; }

# --- intercept
out=$(client "$ihost" "$ica" -H 'Content-Type: application/json' \
	--data-binary "$(msg 'hello over v6')" \
	"https://$ihost/cgi-bin/message/send?access_token=TOKEN-t6" 2>&1)
ww_like "$out" '"errcode": *0' "intercept over IPv6: the message reaches fake-wecom"
ww_is "$(ww_fake_count orig)" 0 "and not the original destination"
sleep 0.3
req=$(wwj export --format jsonl --kind request | grep 'hello over v6')
ww_like "$req" '"address":"fd99::2"' "journaled with the client's IPv6 address"
tr_blocked TOKEN-t6

# --- passthrough to the original IPv6 destination, untouched
tr_passthrough orig "[fd99::1]:443" IP6T_SO_ORIGINAL_DST

# --- refuse
tr_refuse "[fd99::1]:443"

ww_ok "the journal verifies" wwj verify
ww_stop_gateway
ww_is "$(ww_exit_status wwgate)" 0 "wwgate exits cleanly"
ww_done
