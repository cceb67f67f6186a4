#!/bin/bash
# upstream.sh: upstream faults (issue 8, part 3).  Concurrent clients send
# distinct messages while the upstream (tests/fake-wecom) resets, closes
# without answering, stalls past the gateway's timeout, answers HTTP 500,
# answers garbage or a WeCom error, refuses connections (stopped), or
# presents a certificate that does not verify.  For each: every client
# gets a complete answer (a clean refusal, or upstream's own answer passed
# back), every message is journaled with an OUTCOME (none "unknown"), the
# gateway stays up, and it stops cleanly (under the ASan build a leak
# makes the exit status non-zero, which fails here).
# WW_FAULT_LONG=1: longer load per fault.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"
command -v python3 >/dev/null || ww_skip_all "python3 is needed"
secs=1.5
[ "${WW_FAULT_LONG:-0}" = 1 ] && secs=6
ww_plan 42

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_mkcerts "$WW_TMP/other" >/dev/null 2>&1 || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
# a second fake whose certificate comes from a CA the gateway does not trust
ww_start_fake bad --cert "$WW_TMP/other/server.crt" \
	--key "$WW_TMP/other/server.key" || ww_bail "fake-wecom bad did not start"
printf 'version: 1\nrules: []\n' >"$WW_TMP/policy.yaml"
mkconf() { # mkconf FILE UPSTREAM-URL JOURNAL
	cat >"$1" <<CONF
gateway_id: gw-upstream
workers: 2
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream:
  url: $2
  ca_file: $certs/ca.crt
  timeout_ms: 1000
journal: { path: $3, sync: full }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: "" }
log: { level: warn }
CONF
}
journal=$WW_TMP/journal
port=$(ww_port)
mkconf "$WW_TMP/gw.yaml" "$(ww_fake_url up)" "$journal"
ww_start_gateway "$WW_TMP/gw.yaml" || ww_bail "wwgate did not start"

# fault NAME WANT-ERRCODE: load under the current fault; 4 checks
fault() {
	local name=$1 want=$2 out=$WW_TMP/$1.log n bad
	python3 "$top_srcdir/tests/fault/load.py" --port "$port" \
		--ca "$certs/ca.crt" --prefix "U$name" --out "$out" \
		--stop "$WW_TMP/never" --threads 4 --max-seconds "$secs"
	n=$(wc -l <"$out")
	ww_is "$(awk '$2 == "error"' "$out" | wc -l)" 0 \
		"$name: all $n clients got a complete answer"
	bad=$(awk -v w="$want" '$3 != w' "$out" | head -n 3)
	ww_is "$bad" "" "$name: every answer has errcode $want"
	ww_ok "$name: wwgate is still up" ww_alive wwgate
	eval "n_$name=$n"
}

ww_fake_mode up reset >/dev/null
fault reset -1
ww_fake_mode up close >/dev/null
fault close -1
ww_fake_mode up stall >/dev/null
fault stall -1
ww_fake_mode up http500 >/dev/null
fault http500 -1
ww_fake_mode up garbage >/dev/null
fault garbage '?'
ww_fake_mode up error '"errcode":60020,"errmsg":"not allow to access from your ip"' \
	>/dev/null
fault error 60020
ww_fake_mode up ok >/dev/null
fault ok 0
ww_stop_fake up
fault refused -1
ww_stop_gateway 15
ww_is "$?" 0 "wwgate stops cleanly after the faults (no sanitizer report)"

# the journal: every message with an OUTCOME
wwj() { "$top_builddir/wwjournal" -j "$1" export --format jsonl; }
check_journal() { # check_journal JOURNAL NAME...
	local j=$1 name m
	shift
	wwj "$j" | jq -r 'select(.kind == "REQUEST") | [(.texts[0].text |
		capture("(?<m>U[a-z0-9]+-[0-9]+-[0-9]+)").m),
		(if .outcome == null then "unknown"
		 elif .outcome.forwarded then "forwarded" else "notsent" end),
		(.outcome.http_status // 0)] | join(" ")' | sort >"$WW_TMP/j.txt"
	for name in "$@"; do
		cut -d' ' -f1 "$WW_TMP/$name.log" | sort >"$WW_TMP/m.txt"
		m=$(join "$WW_TMP/m.txt" "$WW_TMP/j.txt" | awk '$2 != "unknown"' | wc -l)
		ww_is "$m" "$(wc -l <"$WW_TMP/m.txt")" \
			"$name: every message journaled with an OUTCOME"
	done
}
check_journal "$journal" reset close stall http500 garbage error ok refused
ww_ok "refused: the OUTCOME says nothing was sent" \
	test "$(grep -c '^Urefused-.* notsent' "$WW_TMP/j.txt")" = "$n_refused"
ww_ok "http500: the OUTCOME keeps upstream's status" \
	test "$(grep -c '^Uhttp500-.* 500$' "$WW_TMP/j.txt")" = "$n_http500"

# a certificate that does not verify
mkconf "$WW_TMP/gw2.yaml" "$(ww_fake_url bad)" "$WW_TMP/journal2"
ww_start_gateway "$WW_TMP/gw2.yaml" || ww_bail "wwgate did not start"
fault tls -1
ww_stop_gateway 15
ww_is "$?" 0 "wwgate stops cleanly after the TLS failures"
ww_is "$(ww_fake_count bad)" 0 "the unverified upstream never got a request"
check_journal "$WW_TMP/journal2" tls
ww_ok "tls: the OUTCOME says nothing was sent" \
	test "$(grep -c '^Utls-.* notsent' "$WW_TMP/j.txt")" = "$n_tls"
ww_diag "messages per fault: reset $n_reset, close $n_close, stall $n_stall," \
	"http500 $n_http500, garbage $n_garbage, error $n_error, ok $n_ok," \
	"refused $n_refused, tls $n_tls"
ww_done
