#!/bin/bash
# gateway-drain.sh: clients that leave while their requests are in flight
# (exchanges detached), then SIGTERM: the gateway finishes every exchange,
# journals every OUTCOME and exits 0 (non-zero if a sanitizer complains).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
command -v python3 >/dev/null || ww_skip_all "python3 is needed"
ww_plan 7
certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
port=$(ww_port)
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"
cat >"$WW_TMP/gw.yaml" <<CONF
workers: 2
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream: { url: $(ww_fake_url up), ca_file: $certs/ca.crt }
journal: { path: $WW_TMP/journal }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: "" }
drain_timeout_ms: 10000
CONF
ww_start_gateway "$WW_TMP/gw.yaml" || ww_bail "wwgate did not start"
ww_fake_mode up stall '"delay_ms":800,"times":30'
python3 - "$port" "$certs/ca.crt" <<'PY'
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca); ctx.check_hostname = False
for k in range(10):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="x")
    req = b"GET /cgi-bin/user/get?userid=d HTTP/1.1\r\nHost: h\r\n\r\n"
    s.sendall(req * 3 + b"POST /cgi-bin/message/send HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n{\"a\"")
    time.sleep(0.05)
    s.close()
PY
ww_fake_wait_count up 1 10
ww_stop_gateway 20
ww_is "$?" 0 "clean exit after clients left with pending exchanges"
n=$("$top_builddir/wwjournal" -j "$WW_TMP/journal" list | grep -c OUTCOME)
r=$("$top_builddir/wwjournal" -j "$WW_TMP/journal" list | grep -c REQUEST)
ww_is "$n" "$r" "every REQUEST has its OUTCOME"
ww_is "$r" "$(ww_fake_count up)" "every journaled request was forwarded once"
ww_like "$(grep -c 'ERROR: AddressSanitizer\|LeakSanitizer' "$(ww_gateway_log)")" '^0$' "no sanitizer report"
# drain_timeout_ms shorter than a slow upstream: the client's connection
# is closed at the deadline, but the forwarded request still gets its real
# outcome journaled (a grace of upstream.timeout_ms), and the exit is clean.
port=$(ww_port)
sed -e "s/127.0.0.1:[0-9]*$/127.0.0.1:$port/" -e 's/drain_timeout_ms: .*/drain_timeout_ms: 300/' \
	-e "s#journal: { path: .* }#journal: { path: $WW_TMP/journal2 }#" \
	"$WW_TMP/gw.yaml" >"$WW_TMP/gw2.yaml"
ww_start_gateway "$WW_TMP/gw2.yaml" || ww_bail "wwgate did not start again"
ww_fake_mode up stall '"delay_ms":2000,"times":1'
n=$(ww_fake_count up)
ww_curl -o "$WW_TMP/cut.out" "https://127.0.0.1:$port/cgi-bin/user/get?userid=cut" 2>/dev/null &
cpid=$!
ww_fake_wait_count up $((n + 1)) 10 || ww_diag "the slow request did not arrive"
ww_stop_gateway 30
ww_is "$?" 0 "drain timeout with a slow upstream: clean exit"
wait "$cpid"
ww_is "$(cat "$WW_TMP/cut.out" 2>/dev/null)" "" "the client's connection was closed at the deadline"
seq=$("$top_builddir/wwjournal" -j "$WW_TMP/journal2" list | awk '/REQUEST/ { s = $1 } END { print s }')
ww_like "$("$top_builddir/wwjournal" -j "$WW_TMP/journal2" show "$seq")" 'forwarded +yes +http 200' \
	"the forwarded request's real outcome is journaled"

ww_done
