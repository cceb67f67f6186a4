#!/bin/bash
# gateway-http.sh: wwgate's connection layer over real TLS: keep-alive,
# pipelining, Expect, limits and smuggling defences, timeouts, plain HTTP
# to the TLS port, admin endpoint, SIGHUP with an open connection, SIGTERM
# while a request is in flight.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v python3 >/dev/null || ww_skip_all "python3 is needed"
ww_plan 38

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
port=$(ww_port)
admin=$(ww_port)
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"
printf 'version: 1\nrules:\n  - id: no-falcon\n    match:\n      keywords: [falcon]\n    action: block\n    message: falcon is secret\n' \
	>"$WW_TMP/policy2.yaml"
conf=$WW_TMP/wwgate.yaml
# sync: none keeps 1000 sequential requests quick; durability has its
# own tests.
cat >"$conf" <<CONF
gateway_id: gw-e2e
workers: 2
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream:
  url: $(ww_fake_url up)
  ca_file: $certs/ca.crt
  timeout_ms: 5000
journal: { path: $WW_TMP/journal, sync: none }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: 127.0.0.1:$admin }
limits:
  max_body_bytes: 4KiB
  max_upload_bytes: 64KiB
  header_timeout_ms: 800
  keepalive_timeout_ms: 5000
drain_timeout_ms: 5000
log: { level: debug }
CONF
# systemd's side of Type=notify: a datagram socket that logs what it gets.
ww_spawn notify python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(300)
with open(sys.argv[2], "a") as f:
    while True:
        m = s.recv(4096).decode()
        f.write(m + "\n")
        f.flush()
        if "STOPPING=1" in m:
            break
' "$WW_TMP/notify.sock" "$WW_TMP/notify.log"
ww_wait_file "$WW_TMP/notify.sock" 5 || [ -S "$WW_TMP/notify.sock" ] ||
	ww_diag "notify socket missing"
NOTIFY_SOCKET=$WW_TMP/notify.sock ww_start_gateway "$conf" ||
	ww_bail "wwgate did not start"
ww_wait_file "$WW_TMP/notify.log" 5
ww_is "$(cat "$WW_TMP/notify.log" 2>/dev/null)" "READY=1" \
	"READY=1 reaches \$NOTIFY_SOCKET once it listens"
gwpid=$(ww_pid wwgate)
url=https://127.0.0.1:$port
httpc() { timeout 60 python3 "$top_srcdir/tests/e2e/httpc.py" "$@" --port "$port" --ca "$certs/ca.crt"; }
fakes() { ww_fake_count up; }

out=$(ww_curl "$url/cgi-bin/gettoken?corpid=ww1&corpsecret=S3CRET")
ww_like "$out" '"access_token":"fake-token' "a request goes through to upstream"
ww_is "$(ww_fake_get up -1 .path)" "/cgi-bin/gettoken?corpid=ww1&corpsecret=S3CRET" \
	"upstream got the path and query"

ww_is "$(httpc keepalive -n 1000)" "1000 1" "1000 requests on one keep-alive connection"

out=$(ww_curl -o /dev/null -w '%{num_connects}\n' "$url/cgi-bin/user/get?userid=a" \
	"$url/cgi-bin/user/get?userid=b" "$url/cgi-bin/user/get?userid=c" |
	grep -c '^1$')
ww_is "$out" 1 "curl reuses one connection for three URLs"

ww_is "$(httpc concurrent -n 500)" 500 "500 concurrent connections are all answered"
ww_is "$(httpc http10)" "200 keep-alive 200" "HTTP/1.0 keep-alive is honoured"

ww_is "$(httpc pipeline -n 8)" "req-0 req-1 req-2 req-3 req-4 req-5 req-6 req-7" \
	"pipelined requests are answered in order"
# OpenSSL reads ahead: records it holds must be read without a new event
n=$(ww_fake_count up)
ww_is "$(httpc records)" "with-finished split two-a two-b answered-closed" \
	"records sent with the Finished, split, or packed in one segment are answered; with a close_notify, then closed"
ww_is "$(ww_fake_count up)" "$((n + 5))" "and all five reached upstream"

out=$(ww_curl -H 'Expect: 100-continue' -H 'Content-Type: application/json' \
	--data-binary '{"touser":"wm-1","open_kfid":"wk","msgtype":"text","text":{"content":"x"}}' \
	"$url/cgi-bin/kf/send_msg?access_token=T")
ww_like "$out" '"errcode":0' "Expect: 100-continue is honoured"

out=$(ww_curl -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' \
	--data-binary '{"touser":"wm-1","open_kfid":"wk","msgtype":"text","text":{"content":"chunked"}}' \
	"$url/cgi-bin/kf/send_msg?access_token=T")
ww_like "$out" '"errcode":0' "a chunked request body is accepted"
ww_like "$(ww_fake_get up -1 .body)" '"content":"chunked"' "the chunked body reached upstream whole"

# Absolute-form target and foreign Host: only the upstream is contacted.
n=$(fakes)
out=$(printf 'GET http://evil.example/cgi-bin/user/get?userid=z HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n' |
	httpc raw)
ww_like "$out" '^HTTP/1.1 200' "an absolute-form request is answered"
ww_is "$(fakes):$(ww_fake_get up -1 .path)" "$((n + 1)):/cgi-bin/user/get?userid=z" \
	"and went to the configured upstream only"

# Limits and smuggling: refused, WeCom-shaped, closed, never forwarded.
n=$(fakes)
big=$(head -c 5000 /dev/zero | tr '\0' a)
out=$(ww_curl -w ' %{http_code}' -H 'Content-Type: application/json' \
	--data-binary "{\"touser\":\"$big\"}" "$url/cgi-bin/message/send?access_token=T")
ww_like "$out" '^\{"errcode":985012,"errmsg":"[^"]+"\} 413$' "an oversized body gets 413"
out=$(head -c 20000 /dev/zero | tr '\0' a | ww_curl -w ' %{http_code}' \
	-F "media=@-;filename=a.txt" "$url/cgi-bin/media/upload?access_token=T&type=file")
ww_like "$out" ' 200$' "an upload may exceed max_body_bytes (max_upload_bytes)"
n=$((n + 1))
out=$(printf 'POST /cgi-bin/message/send HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
	httpc raw)
ww_like "$(echo "$out" | head -n 1)" '^HTTP/1.1 400' "Content-Length with Transfer-Encoding gets 400"
ww_like "$out" 'Connection: close' "and the connection is closed"
ww_like "$out" '"errcode":985011' "with a WeCom-shaped body"
out=$(printf 'POST /cgi-bin/message/send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}' |
	httpc raw)
ww_like "$out" '^HTTP/1.1 400' "duplicate Content-Length gets 400"
out=$(printf 'GET /cgi-bin/user/get HTTP/1.1\r\nHost: h\r\nX-A: b\r\n c\r\n\r\n' | httpc raw)
ww_like "$out" '^HTTP/1.1 400' "an obs-folded header gets 400"
out=$(printf 'POST /cgi-bin/message/send HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n' | httpc raw)
ww_like "$out" '^HTTP/1.1 400' "a Transfer-Encoding other than chunked gets 400"
ww_is "$(fakes)" "$n" "no refused request reached upstream"

# A bad request behind a slow good one: answers stay in order.
ww_fake_mode up stall '"delay_ms":700,"times":1'
out=$(printf 'GET /cgi-bin/user/get?userid=first HTTP/1.1\r\nHost: h\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n' |
	httpc raw | grep -o 'HTTP/1.1 [0-9]*' | tr '\n' ' ')
ww_is "$out" "HTTP/1.1 200 HTTP/1.1 400 " \
	"an error behind a pending request is answered after it"

out=$( (printf 'GET /cgi-bin/user/get HTTP/1.1\r\nHost: h\r\n'; sleep 3) | httpc raw)
ww_like "$out" '^HTTP/1.1 408.*' "incomplete headers get 408 after header_timeout_ms"

# TLS: 1.2 and 1.3 only, ALPN http/1.1, resumption.
sc() { timeout 10 openssl s_client -connect "127.0.0.1:$port" "$@" </dev/null 2>&1; }
ww_like "$(sc -tls1_1 -cipher 'DEFAULT@SECLEVEL=0')" 'alert protocol version' \
	"TLS 1.1 is refused by the gateway"
ww_like "$(sc -tls1_3 -alpn h2,http/1.1)" 'ALPN protocol: http/1.1' "ALPN selects http/1.1"
sc -tls1_2 -sess_out "$WW_TMP/sess.pem" >/dev/null
ww_like "$(sc -tls1_2 -sess_in "$WW_TMP/sess.pem")" '^Reused, TLSv1.2' \
	"a TLS session is resumed"

out=$(curl -sS --max-time 10 -w ' %{http_code}' "http://127.0.0.1:$port/cgi-bin/gettoken" 2>&1)
ww_like "$out" '985011.* 400$' "plain HTTP to the TLS port is answered 400 and closed"
metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$admin/metrics")
ww_like "$metrics" 'wwgate_tls_handshake_failures_total [1-9]' "and counted"
ww_is "$(curl -sS --max-time 5 "http://127.0.0.1:$admin/healthz")" ok "/healthz answers"
ww_is "$(curl -sS --max-time 5 "http://127.0.0.1:$admin/readyz")" ready "/readyz answers ready"

new=$("$top_builddir/wwpolicy" check "$WW_TMP/policy2.yaml" | sed -n 's/.*digest \([0-9a-f]*\).*/\1/p')
ww_is "$(httpc reload --pid "$gwpid" --log "$(ww_gateway_log)" \
	--policy "$WW_TMP/policy.yaml" --new "$WW_TMP/policy2.yaml")" \
	"0 985001 same-connection" \
	"SIGHUP: a new policy changes the verdict on a connection that stays open"
seq=$("$top_builddir/wwjournal" -j "$WW_TMP/journal" export --format jsonl |
	jq -r 'select(.endpoint == "kf/send_msg") | .seq' | tail -n 1)
ww_like "$("$top_builddir/wwjournal" -j "$WW_TMP/journal" show "$seq" | grep 'verdict')" \
	"policy ${new:-none}" "SIGHUP: the next request on it is judged by the new policy"

# SIGTERM while a request waits for a slow upstream: it is answered.
ww_fake_mode up stall '"delay_ms":1500,"times":1'
n=$(fakes)
ww_curl -o "$WW_TMP/slow.out" "$url/cgi-bin/user/get?userid=slow" &
cpid=$!
ww_fake_wait_count up $((n + 1)) 10 || ww_diag "the slow request did not arrive"
kill -TERM "$gwpid"
wait "$cpid"
ww_like "$(cat "$WW_TMP/slow.out")" '"errcode":0' "SIGTERM: the request in flight is answered"
ww_is "$(ww_exit_status wwgate 15)" 0 "SIGTERM: wwgate exits 0"
ww_like "$(cat "$WW_TMP/notify.log")" "STOPPING=1" "STOPPING=1 is sent on SIGTERM"

ww_done
