#!/bin/bash
# abuse.sh: hostile clients (issue 8, part 4), while a well-behaved client
# keeps sending messages: many idle TLS connections (RSS per connection
# measured), slowloris (headers a byte at a time), slow bodies, a
# connection flood, oversized headers and bodies, smuggling attempts
# (CL+TE, double CL, chunk-size overflow...), TLS garbage and truncated
# handshakes, invalid UTF-8 and deeply nested JSON.  wwgate must never
# crash, answer each malformed request with the documented refusal and
# close, never forward a smuggled request, and keep serving the good
# client: its success rate, p50/p99 latency and wwgate's peak RSS
# (VmHWM) are printed as diagnostics.
# WW_FAULT_LONG=1: 10,000 idle connections (1,000 otherwise) and more of
# everything else.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"
command -v python3 >/dev/null || ww_skip_all "python3 is needed"
if [ "${WW_FAULT_LONG:-0}" = 1 ]; then
	idle=${WW_IDLE:-10000} slow=400 flood=20000 hold=20
else
	idle=${WW_IDLE:-1000} slow=100 flood=2000 hold=6
fi
# descriptors for the idle connections, on both sides
ulimit -n $((idle + 4096)) 2>/dev/null ||
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
# the client and wwgate each hold one end of every connection (the limit
# is per process): fewer idle connections when it cannot be raised enough
if [ "$(ulimit -n)" -lt $((idle + 600)) ]; then
	ww_diag "ulimit -n $(ulimit -n): $(($(ulimit -n) - 600)) idle connections instead of $idle"
	idle=$(($(ulimit -n) - 600))
fi
[ "$idle" -ge 100 ] || ww_skip_all "ulimit -n $(ulimit -n) is too low for the idle connections"

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
printf 'version: 1\nrules:\n  - id: no-falcon\n    match: {keywords: [falcon]}\n    action: block\n' \
	>"$WW_TMP/policy.yaml"
port=$(ww_port)
cat >"$WW_TMP/gw.yaml" <<CONF
gateway_id: gw-abuse
workers: 2
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream:
  url: $(ww_fake_url up)
  ca_file: $certs/ca.crt
  timeout_ms: 3000
journal: { path: $WW_TMP/journal, sync: full }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: "" }
limits:
  max_connections: $((idle + 2000))
  header_timeout_ms: 2000
  body_timeout_ms: 2000
  handshake_timeout_ms: 2000
  keepalive_timeout_ms: 60000
log: { level: warn }
CONF
ww_start_gateway "$WW_TMP/gw.yaml" || ww_bail "wwgate did not start"
pid=$(ww_pid wwgate)
abuse() { python3 "$top_srcdir/tests/fault/abuse.py" "$@" --port "$port" --ca "$certs/ca.crt"; }

# the well-behaved client, throughout (bounded)
good=$WW_TMP/good.log
ww_spawn good python3 "$top_srcdir/tests/fault/load.py" --port "$port" \
	--ca "$certs/ca.crt" --prefix GOOD --out "$good" --stop "$WW_TMP/good.stop" \
	--threads 4 --pause-ms 20 --block-every 10 --max-seconds 600
sleep 2
base=$(wc -l <"$good")
cp "$good" "$WW_TMP/good-base.log"

# 1. idle TLS connections: RSS per connection
abuse idle -n "$idle" --hold "$hold" --pid "$pid" >"$WW_TMP/idle.out" \
	2>"$WW_TMP/idle.err"
read -r opened rss0 rss1 hwm1 <<<"$(head -n 1 "$WW_TMP/idle.out")"
alive=$(sed -n 2p "$WW_TMP/idle.out")
ww_is "$opened" "$idle" "$idle idle TLS connections opened"
ww_is "$alive" "$opened" "all still open after ${hold} s (keep-alive timeout not reached)"
per=$(((rss1 - rss0) / (opened > 0 ? opened : 1)))
# a sanitizer's shadow memory and quarantine make RSS figures meaningless
if ldd "$top_builddir/wwgate" 2>/dev/null | grep -Eq 'lib(a|t|ub)san'; then
	ww_skip 1 "RSS per connection: $top_builddir is a sanitizer build ($((per / 1024)) KiB)"
else
	ww_ok "RSS per idle TLS connection $((per / 1024)) KiB <= 64 KiB" test "$per" -le 65536
fi
ww_ok "wwgate survives $idle idle connections" ww_alive wwgate

# 2. slowloris, slow bodies, a flood and malformed requests, all at once
abuse slowloris -n "$slow" --seconds 8 >"$WW_TMP/loris.out" 2>&1 &
p1=$!
abuse slowbody -n "$slow" --seconds 8 >"$WW_TMP/slowbody.out" 2>&1 &
p2=$!
abuse flood -n "$flood" >"$WW_TMP/flood.out" 2>&1 &
p3=$!
abuse attacks >"$WW_TMP/attacks.out" 2>&1
wait $p1 $p2 $p3
read -r l408 lclosed <"$WW_TMP/loris.out"
ww_is "$((l408 + lclosed))" "$slow" "slowloris: all $slow closed by the header timeout ($l408 with 408)"
read -r sclosed sopen <"$WW_TMP/slowbody.out"
ww_diag "slow bodies (a byte every 100 ms): $sclosed closed, $sopen still open after 8 s"
ww_is "$(cat "$WW_TMP/flood.out")" "$flood" "flood: $flood connections opened and dropped"

expect() { # expect NAME STATUS-ERE
	local got
	got=$(awk -v n="$1" '$1 == n { $1 = ""; print substr($0, 2) }' "$WW_TMP/attacks.out")
	ww_like "$got" "^($2)\$" "$1: $got"
}
expect oversized_header '413'
expect many_headers '413'
expect oversized_body '413'
expect oversized_chunked '413'
expect cl_te '400'
expect te_cl '400'
expect double_cl '400'
expect cl_list '400'
expect te_obfuscated '400'
expect te_space '400'
expect chunk_overflow '400|413'
expect chunk_negative '400'
expect chunk_ext_bomb '400|413'
expect cl_overflow '400|413'
expect bare_lf '400|200'
expect obs_fold '400'
expect nul_in_header '400'
expect invalid_utf8 '200'
expect nested_json '200'
expect nested_objects '200'
expect huge_string_escape '200'
expect nul_in_json '200'
expect tls_random 'CLOSED|RESET|ALERT'
expect tls_plain_http 'CLOSED|RESET|ANSWERED'
expect tls_truncated_hello 'CLOSED|RESET|ALERT'
# a TLS alert then the close: read when OpenSSL read all that was sent
expect tls_huge_record 'CLOSED|RESET|ALERT'
ww_is "$(grep -c smuggled "$(ww_fake_records up)")" 0 "no smuggled request reached upstream"
ww_ok "wwgate is still running" ww_alive wwgate

# the good client during all of it
sleep 1
: >"$WW_TMP/good.stop"
ww_exit_status good 30 >/dev/null
tail -n +$((base + 1)) "$good" >"$WW_TMP/good-abuse.log"
read -r n ok refused err rate p50 p99 <<<"$(python3 "$top_srcdir/tests/fault/load.py" summary "$WW_TMP/good-abuse.log")"
read -r bn bok _ _ brate bp50 bp99 <<<"$(python3 "$top_srcdir/tests/fault/load.py" summary "$WW_TMP/good-base.log")"
ww_is "$err" 0 "the good client got an answer to every request during the abuse ($n)"
ww_is "$(awk '$2 == "refused" && $3 != 985001' "$WW_TMP/good-abuse.log" | wc -l)" 0 \
	"and no refusal other than its policy blocks"
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
ww_stop_gateway 15
ww_is "$?" 0 "wwgate stops cleanly"
ww_ok "verify passes" "$top_builddir/wwjournal" -j "$WW_TMP/journal" verify
ww_diag "good client before: $bn requests, p50 $bp50 ms, p99 $bp99 ms" \
	"good client during abuse: $n requests, $ok ok, $refused blocked by policy," \
	"$err failed: success rate $(awk -v n="$n" -v e="$err" 'BEGIN { printf "%.4f", n ? (n - e) / n : 0 }')" \
	"(allowed and answered by upstream: $rate), p50 $p50 ms, p99 $p99 ms" \
	"idle: $opened TLS connections, RSS $((rss0 / 1024)) -> $((rss1 / 1024)) KiB," \
	"$((per)) bytes per connection; peak RSS (VmHWM) $hwm KiB"
ww_done
