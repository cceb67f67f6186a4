#!/bin/bash
# wwca round trip: init -> issue -> a TLS server with that certificate ->
# openssl s_client -verify_return_error -CAfile ca.crt succeeds for the
# issued name and fails for any other; show and export-trust agree with
# openssl; a key file others may read is refused.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v openssl >/dev/null || ww_skip_all "openssl not installed"
wwca=$top_builddir/wwca
[ -x "$wwca" ] || ww_bail "no $wwca: build it first"
cd "$WW_TMP" || ww_bail "no temporary directory"
host=gw-test.example.internal

ww_ok "wwca --version" "$wwca" --version
ww_ok "wwca --help" "$wwca" --help
ww_nok "wwca without a command is a usage error" "$wwca"

# --- init
ww_ok "wwca init" "$wwca" init ca
ww_is "$(stat -c %a ca/ca.key)" 600 "ca.key is mode 0600"
ww_like "$(openssl x509 -in ca/ca.crt -noout -text)" \
	'CA:TRUE.*' "ca.crt is a CA certificate"
ww_like "$(openssl pkey -in ca/ca.key -noout -text 2>&1)" 'P-256|prime256v1' \
	"the default CA key is EC P-256"
ww_nok "init refuses to replace an existing CA" "$wwca" init ca

# --- issue
ww_ok "wwca issue" "$wwca" issue --ca ca -o srv "$host" 127.0.0.1
ww_is "$(stat -c %a srv/server.key)" 600 "server.key is mode 0600"
ww_ok "openssl verify accepts the issued certificate" \
	openssl verify -CAfile ca/ca.crt -purpose sslserver srv/server.crt
ww_nok "issue refuses to overwrite without --force" \
	"$wwca" issue --ca ca -o srv "$host"
ww_nok "issue refuses a bad host name" "$wwca" issue --ca ca -o x 'a b'

ww_ok "issue --client --name" "$wwca" issue --ca ca -o srv --client \
	--name device1 device1.corp.example
ww_ok "a client certificate verifies for sslclient" \
	openssl verify -CAfile ca/ca.crt -purpose sslclient srv/device1.crt
ww_nok "a server certificate does not" \
	openssl verify -CAfile ca/ca.crt -purpose sslclient srv/server.crt

# --- the round trip over TLS
port=$(ww_port) || ww_bail "no free port"
ww_spawn s_server openssl s_server -accept "127.0.0.1:$port" \
	-cert srv/server.crt -key srv/server.key -www
ww_wait_port 127.0.0.1 "$port" 10 "$(ww_pid s_server)" ||
	ww_bail "openssl s_server did not start: $(cat "$WW_TMP/s_server.log")"
s_client() { # s_client SNI VERIFY-HOST CAFILE
	timeout 10 openssl s_client -connect "127.0.0.1:$port" \
		-servername "$1" -verify_hostname "$2" -verify_return_error \
		-CAfile "$3" </dev/null 2>&1
}
ww_ok "s_client -verify_return_error succeeds for $host" \
	s_client "$host" "$host" ca/ca.crt
ww_like "$(s_client "$host" "$host" ca/ca.crt)" \
	'Verify return code: 0 \(ok\)' "and reports verify ok"
ww_nok "s_client fails for another host name" \
	s_client other.example.internal other.example.internal ca/ca.crt
ww_like "$(s_client other.example.internal other.example.internal ca/ca.crt)" \
	'hostname mismatch' "because of a hostname mismatch"
ww_mkcerts othercas >/dev/null
ww_nok "s_client fails against an unrelated CA" \
	s_client "$host" "$host" othercas/ca.crt

# --- show and export-trust agree with openssl
fp=$(openssl x509 -in ca/ca.crt -noout -fingerprint -sha256 | sed 's/.*=//')
ww_like "$("$wwca" export-trust --ca ca)" "SHA-256 fingerprint: $fp" \
	"export-trust prints the SHA-256 fingerprint"
ww_ok "export-trust --der" "$wwca" export-trust --ca ca --der ca.der
openssl x509 -in ca/ca.crt -outform DER -out ca.expected.der
ww_ok "the DER equals openssl's" cmp ca.der ca.expected.der
ww_like "$("$wwca" export-trust --ca ca)" 'com\.apple\.security\.root' \
	"export-trust carries the MDM note"
json=$("$wwca" show --json srv/server.crt)
ww_is "$(printf '%s' "$json" | jq -r '.san | join(",")')" \
	"DNS:$host,IP:127.0.0.1" "show --json lists the SANs"
sfp=$(openssl x509 -in srv/server.crt -noout -fingerprint -sha256 | sed 's/.*=//')
ww_is "$(printf '%s' "$json" | jq -r .sha256)" "$sfp" \
	"show --json fingerprint equals openssl's"
ww_like "$("$wwca" show srv/server.crt)" "Issuer +CN=wwgate interception CA" \
	"show prints the issuer"

# --- name constraints and RSA
ww_ok "init --rsa --name-constraint" "$wwca" init --rsa \
	--name-constraint example.internal nc
ww_like "$(openssl x509 -in nc/ca.crt -noout -text)" \
	'Name Constraints: critical' "the constraint is critical"
ww_ok "issue inside the constraint" "$wwca" issue --ca nc -o nc-in "$host"
ww_ok "verifies inside the constraint" \
	openssl verify -CAfile nc/ca.crt nc-in/server.crt
ww_ok "issue outside the constraint" "$wwca" issue --ca nc -o nc-out \
	outside.example.com
ww_nok "fails verification outside the constraint" \
	openssl verify -CAfile nc/ca.crt nc-out/server.crt

# --- a CA key others may read is refused
chmod 644 ca/ca.key
ww_nok "issue refuses a world-readable CA key" "$wwca" issue --ca ca -o x2 \
	"$host"
ww_like "$("$wwca" issue --ca ca -o x2 "$host" 2>&1)" 'permission denied' \
	"and says why"
ww_done
