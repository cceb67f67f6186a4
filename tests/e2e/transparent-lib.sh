#!/bin/bash
# transparent-lib.sh: the checks the transparent-mode tests share
# (gateway-transparent.sh, gateway-transparent6.sh, gateway-tproxy.sh).
# Sourced after lib.sh.  The caller defines client HOST CAFILE [curl
# args...] (a connection the firewall diverts to wwgate) and wwj
# (wwjournal on the test's journal), and sets ihost (intercepted), phost
# (passthrough), ica (the interception CA) and certs.

# tr_tunnels: the journal's TUNNEL records, as JSON lines, once written.
tr_tunnels() {
	sleep 0.3
	wwj list --json --kind tunnel
}

# tr_last_tunnel FILTER: the last TUNNEL record the jq FILTER selects.
tr_last_tunnel() {
	tr_tunnels | jq -c "select($1)" | tail -n 1
}

# tr_blocked TOKEN: a message the policy blocks is refused (985001).
tr_blocked() {
	local out
	out=$(client "$ihost" "$ica" -H 'Content-Type: application/json' \
		--data-binary '{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"falcon plans"}}' \
		"https://$ihost/cgi-bin/message/send?access_token=$1" 2>&1)
	ww_like "$out" '"errcode": *985001' "and judged: a blocked message is refused"
}

# tr_passthrough FAKE DST HOW: a passthrough host reaches the fake-wecom
# FAKE at its original destination DST ("10.99.0.1:443") untouched, and
# the TUNNEL record has DST (found by HOW); the record is left in
# TR_TUNNEL for the caller's own checks.
tr_passthrough() {
	local fake=$1 dst=$2 how=$3 out
	out=$(client "$phost" "$certs/ca.crt" "https://$phost/cgi-bin/gettoken?corpid=c" 2>&1)
	ww_like "$out" 'access_token|errcode' "passthrough: $dst answers"
	ww_is "$(ww_fake_count "$fake")" 1 "the server at $dst got the request"
	ww_is "$(ww_fake_get "$fake" -1 .sni)" "$phost" "over end-to-end TLS with the client's SNI"
	TR_TUNNEL=$(tr_last_tunnel '.tunnel.decision == "passthrough"')
	ww_is "$(printf '%s' "$TR_TUNNEL" | jq -r .tunnel.original_dst)" "$dst" \
		"the TUNNEL record has the original destination ($how)"
}

# tr_refuse DST: a host in no class is refused, journaled as refused with
# where it was going (DST).
tr_refuse() {
	local t
	ww_nok "a host in no class is refused" client evil.example.org "$certs/ca.crt" https://evil.example.org/
	t=$(tr_last_tunnel '.tunnel.host == "evil.example.org"')
	ww_is "$(printf '%s' "$t" | jq -r .tunnel.decision)" refuse "journaled as refused"
	ww_is "$(printf '%s' "$t" | jq -r .tunnel.original_dst)" "$1" "with where it was going"
}
