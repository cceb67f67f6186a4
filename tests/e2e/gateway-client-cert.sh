#!/bin/bash
# gateway-client-cert.sh: listen[].client_ca (issue 6, client identity):
# a reverse-mode listener that requires a client certificate verified
# against client_ca refuses clients without one and journals the subject
# of the one it accepted.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"

WW_CERT_HOSTS=qyapi.weixin.qq.com
certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
other=$WW_TMP/other
ww_mkcerts "$other" >/dev/null || ww_bail "mkcerts (other CA) failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
port=$(ww_port)
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"
journal=$WW_TMP/journal
conf=$WW_TMP/wwgate.yaml
cat >"$conf" <<CONF
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
    client_ca: $certs/ca.crt
upstream: { url: $(ww_fake_url up), ca_file: $certs/ca.crt }
journal: { path: $journal }
admin: { address: "" }
policy: { file: $WW_TMP/policy.yaml }
CONF
ww_start_gateway "$conf" || ww_bail "wwgate did not start"
url="https://127.0.0.1:$port/cgi-bin/message/send?access_token=T"
msg='{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"with a client certificate"}}'

ww_nok "no client certificate: the handshake fails" \
	ww_curl -H 'Content-Type: application/json' --data-binary "$msg" "$url"
ww_nok "a certificate from another CA: the handshake fails" \
	ww_curl --cert "$other/client.crt" --key "$other/client.key" \
	-H 'Content-Type: application/json' --data-binary "$msg" "$url"
ww_is "$(ww_fake_count up)" 0 "nothing was forwarded"
out=$(ww_curl --cert "$certs/client.crt" --key "$certs/client.key" \
	-H 'Content-Type: application/json' --data-binary "$msg" "$url" 2>&1)
ww_like "$out" '"errcode": *0' "a verified client certificate: forwarded"
sleep 0.3
ww_is "$("$top_builddir/wwjournal" -j "$journal" list --json --kind request |
	jq -r .client.cert_subject | tail -n 1)" "CN=wwgate-test-client,O=wwgate tests" \
	"its subject is journaled as the client's identity"
ww_stop_gateway

# explicit mode: the certificate is asked for in the intercepted TLS
"$top_builddir/wwca" init "$WW_TMP/ica" >/dev/null || ww_bail "wwca init"
eport=$(ww_port)
ihost=qyapi.weixin.qq.com
cat >"$conf" <<CONF
listen:
  - address: 127.0.0.1:$eport
    mode: explicit
    client_ca: $certs/ca.crt
upstream:
  url: https://$ihost
  ca_file: $certs/ca.crt
  resolve: { "$ihost:443": "127.0.0.1:$(ww_fake_port up)" }
intercept:
  ca: { cert: $WW_TMP/ica/ca.crt, key: $WW_TMP/ica/ca.key }
  hosts: [$ihost]
journal: { path: $journal }
admin: { address: "" }
policy: { file: $WW_TMP/policy.yaml }
CONF
ww_start_gateway "$conf" || ww_bail "wwgate (explicit) did not start"
eurl="https://$ihost/cgi-bin/message/send?access_token=T"
ww_nok "explicit: no client certificate, no handshake" \
	env WW_CACERT="$WW_TMP/ica/ca.crt" ww_curl --proxy "http://127.0.0.1:$eport" \
	-H 'Content-Type: application/json' --data-binary "$msg" "$eurl"
out=$(WW_CACERT="$WW_TMP/ica/ca.crt" ww_curl --proxy "http://127.0.0.1:$eport" \
	--cert "$certs/client.crt" --key "$certs/client.key" \
	-H 'Content-Type: application/json' --data-binary "$msg" "$eurl" 2>&1)
ww_like "$out" '"errcode": *0' "explicit: a verified client certificate: forwarded"
ww_stop_gateway
ww_is "$("$top_builddir/wwjournal" -j "$journal" list --json --kind request |
	jq -r .client.cert_subject | tail -n 1)" "CN=wwgate-test-client,O=wwgate tests" \
	"explicit: its subject is journaled"

sed -i '/^intercept:/,/^  hosts:/d' "$conf"
out=$("$top_builddir/wwgate" -c "$conf" -t 2>&1)
ww_like "$out" "client_ca: nothing is intercepted" \
	"client_ca on an explicit listener that intercepts nothing is refused"
ww_done
