#!/bin/bash
# bench_modes.sh: TLS handshakes per second through a real wwgate
# (issue 6): reverse mode with its static certificate, explicit mode
# with a minted certificate from the cache (CONNECT + handshake to one
# intercepted name), and explicit mode with a fresh mint for every
# connection (a new name under "*.bench.example" each time), plus a
# passthrough splice for comparison.  Figures only; nothing is asserted.
#
#   top_builddir=build/NAME bench/bench_modes.sh [CONNECTIONS] [CLIENTS]
#
# Each case opens CONNECTIONS connections (default 2000) from CLIENTS
# client processes (default 4), each doing one full TLS 1.3 handshake
# and closing; no HTTP request is sent, so the journal is not involved.
# The clients (Python) share the machine with the gateway: compare the
# cases with each other, not with other machines.
. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/e2e/lib.sh"
n=${1:-2000}
clients=${2:-4}
WW_CERT_HOSTS="qyapi.weixin.qq.com pass.example.com"
certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake pt >/dev/null || ww_bail "fake-wecom did not start"
"$top_builddir/wwca" init "$WW_TMP/ica" >/dev/null || ww_bail "wwca init"
rport=$(ww_port)
eport=$(ww_port)
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"
cat >"$WW_TMP/wwgate.yaml" <<CONF
listen:
  - address: 127.0.0.1:$rport
    tls: { cert: $certs/server.crt, key: $certs/server.key }
  - address: 127.0.0.1:$eport
    mode: explicit
upstream:
  url: https://qyapi.weixin.qq.com
  resolve: { "pass.example.com:443": "127.0.0.1:$(ww_fake_port pt)" }
intercept:
  ca: { cert: $WW_TMP/ica/ca.crt, key: $WW_TMP/ica/ca.key }
  hosts: [qyapi.weixin.qq.com, "*.bench.example"]
passthrough: { hosts: [pass.example.com] }
journal: { path: $WW_TMP/journal, sync: none }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: "" }
log: { level: warn }
CONF
ww_start_gateway "$WW_TMP/wwgate.yaml" "127.0.0.1:$rport" >/dev/null ||
	ww_bail "wwgate did not start"
cat >"$WW_TMP/hs.py" <<'PY'
import socket, ssl, sys, time
mode, port, n, ca, worker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if mode == "reverse":
        name = "qyapi.weixin.qq.com"
    else:
        name = {"hit": "qyapi.weixin.qq.com",
                "miss": "w%s-%d.bench.example" % (worker, i),
                "pass": "pass.example.com"}[mode]
        s.sendall(b"CONNECT %s:443 HTTP/1.1\r\n\r\n" % name.encode())
        if not s.recv(100).startswith(b"HTTP/1.1 200"):
            sys.exit("CONNECT refused")
    t = ctx.wrap_socket(s, server_hostname=name)
    t.close()
PY
run() { # run CASE PORT CAFILE: handshakes per second
	local t0 t1 pids=() i
	t0=$(date +%s.%N)
	for ((i = 0; i < clients; i++)); do
		python3 "$WW_TMP/hs.py" "$1" "$2" $((n / clients)) "$3" "$$-$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || echo "# a client failed"; done
	t1=$(date +%s.%N)
	awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$1" \
		'BEGIN { printf "%-8s %7.0f handshakes/s (%d in %.2f s)\n", c, n / (b - a), n, b - a }'
}
echo "# bench_modes: $n connections from $clients clients, $(nproc) CPUs"
run hit "$eport" "$WW_TMP/ica/ca.crt"
run reverse "$rport" "$certs/ca.crt"
run miss "$eport" "$WW_TMP/ica/ca.crt"
run pass "$eport" "$certs/ca.crt"
ww_stop_gateway >/dev/null
