#!/bin/bash
# crash.sh: crash consistency (issue 8, part 1).  wwgate runs under a steady
# load of distinct messages from many concurrent clients (so group commits
# are always in progress) and is killed with SIGKILL at random moments,
# then restarted on the same journal.  After every kill `wwjournal verify`
# must pass; at the end, against fake-wecom's record of what reached
# upstream and the clients' own log of their answers:
#   (a) every message that reached upstream is in the journal, with a verdict
#       that let it through (blocked ones never reach upstream);
#   (b) every message a client got a success answer for is in the journal;
#   (c) verify passed after every kill (and at the end);
#   (d) a journaled request without an OUTCOME shows as outcome null
#       ("unknown") in the export, and no marker is journaled twice.
# WW_FAULT_LONG=1 (make check-fault): 25 kills; otherwise 5.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"
command -v python3 >/dev/null || ww_skip_all "python3 is needed"

if [ "${WW_FAULT_LONG:-0}" = 1 ]; then
	trials=${WW_CRASH_TRIALS:-25} threads=24
else
	trials=${WW_CRASH_TRIALS:-5} threads=12
fi
ww_plan $((trials + 11))

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
port=$(ww_port)
cat >"$WW_TMP/policy.yaml" <<'POLICY'
version: 1
rules:
  - id: no-falcon
    match: {keywords: [falcon]}
    action: block
    message: blocked by the crash test
POLICY
journal=$WW_TMP/journal
conf=$WW_TMP/wwgate.yaml
cat >"$conf" <<CONF
gateway_id: gw-crash
workers: 2
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream:
  url: $(ww_fake_url up)
  ca_file: $certs/ca.crt
  timeout_ms: 3000
journal: { path: $journal, sync: full, checkpoint_every: 500, checkpoint_secs: 1 }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: "" }
log: { level: warn }
CONF
wwj() { "$top_builddir/wwjournal" -j "$journal" "$@"; }

ww_start_gateway "$conf" || ww_bail "wwgate did not start"
stop=$WW_TMP/load.stop
clients=$WW_TMP/clients.log
ww_spawn load python3 "$top_srcdir/tests/fault/load.py" --port "$port" \
	--ca "$certs/ca.crt" --prefix FMK --out "$clients" --stop "$stop" \
	--threads "$threads" --block-every 7 --max-seconds $((trials * 20 + 60))

verify_fail=0 start_fail=0
for ((t = 1; t <= trials; t++)); do
	# a random moment: 0.3 to 1.8 s into this run, under full load
	ww_sleep_ms $((300 + RANDOM % 1500))
	pid=$(ww_pid wwgate)
	kill -KILL "$pid" 2>/dev/null
	st=$(ww_exit_status wwgate 10)
	cp "$WW_TMP/wwgate.log" "$WW_TMP/wwgate-$t.log" 2>/dev/null
	out=$(wwj verify 2>&1)
	if [ $? -eq 0 ]; then
		ww_pass "kill $t (status $st): verify passes ($(head -n 1 <<<"$out"))"
	else
		verify_fail=$((verify_fail + 1))
		ww_fail "kill $t: verify passes"
		ww_diag "$out"
	fi
	ww_start_gateway "$conf" || { start_fail=$((start_fail + 1)); break; }
done
ww_is "$start_fail" 0 "wwgate restarts on the journal after every kill"

# let the clients see the last restart, then stop them and the gateway
ww_sleep_ms 1000
: >"$stop"
ww_exit_status load 30 >/dev/null
ww_stop_gateway
ww_ok "verify passes at the end" wwj verify

# markers: upstream (fake's record), journal (export), clients (their log)
grep -o 'FMK-[0-9]*-[0-9]*' "$(ww_fake_records up)" | sort >"$WW_TMP/up.txt"
wwj export --format jsonl >"$WW_TMP/export.jsonl"
jq -r 'select(.kind == "REQUEST") |
	[(.texts[0].text | capture("(?<m>FMK-[0-9]+-[0-9]+)").m),
	 (.verdict.action // "none"),
	 (if .outcome == null then "unknown"
	  elif .outcome.forwarded then "forwarded" else "refused" end)] |
	join(" ")' "$WW_TMP/export.jsonl" | sort >"$WW_TMP/journal.txt"
cut -d' ' -f1 "$WW_TMP/journal.txt" >"$WW_TMP/journal-m.txt"
awk '$2 == "ok" { print $1 }' "$clients" | sort >"$WW_TMP/ok.txt"

n_up=$(wc -l <"$WW_TMP/up.txt")
n_j=$(wc -l <"$WW_TMP/journal.txt")
n_ok=$(wc -l <"$WW_TMP/ok.txt")
n_att=$(wc -l <"$clients")
n_unknown=$(grep -c ' unknown$' "$WW_TMP/journal.txt")
n_err=$(awk '$2 == "error"' "$clients" | wc -l)

missing_up=$(comm -23 "$WW_TMP/up.txt" "$WW_TMP/journal-m.txt")
ww_is "$(wc -w <<<"$missing_up")" 0 "(a) every message upstream saw is journaled"
[ -n "$missing_up" ] && ww_diag "not journaled: $(head -n 5 <<<"$missing_up")"
bad=$(join "$WW_TMP/up.txt" "$WW_TMP/journal.txt" | awk '$2 != "allow"')
ww_is "$(wc -w <<<"$bad")" 0 "(a) with the verdict that let it through"
[ -n "$bad" ] && ww_diag "$(head -n 5 <<<"$bad")"
missing_ok=$(comm -23 "$WW_TMP/ok.txt" "$WW_TMP/journal-m.txt")
ww_is "$(wc -w <<<"$missing_ok")" 0 "(b) every success answer is journaled"
[ -n "$missing_ok" ] && ww_diag "not journaled: $(head -n 5 <<<"$missing_ok")"
ww_is "$verify_fail" 0 "(c) verify passed after all $trials kills"
dup=$(uniq -d "$WW_TMP/journal-m.txt"; uniq -d "$WW_TMP/up.txt")
ww_is "$(wc -w <<<"$dup")" 0 "no marker journaled or forwarded twice"
# (d) a forwarded-without-outcome request is "unknown", never missing or
# claimed refused
bad=$(join "$WW_TMP/up.txt" "$WW_TMP/journal.txt" | awk '$3 == "refused"')
ww_is "$(wc -w <<<"$bad")" 0 "(d) nothing upstream saw has an outcome 'not forwarded'"
lie=$(awk '$3 == "forwarded" { print $1 }' "$WW_TMP/journal.txt" |
	comm -23 - "$WW_TMP/up.txt")
ww_is "$(wc -w <<<"$lie")" 0 "every OUTCOME 'forwarded' was seen upstream"
ww_ok "(d) outcome unknown is a null outcome in the export" \
	test "$(jq -c 'select(.kind == "REQUEST" and .outcome == null)' \
		"$WW_TMP/export.jsonl" | wc -l)" = "$n_unknown"
ww_ok "load reached the gateway between kills" test "$n_ok" -gt "$trials"

ww_diag "crash: $trials kills, $n_att client attempts, $n_ok answered ok," \
	"$n_err failed (no answer: in flight at a kill or refused connection)," \
	"$n_j requests journaled, $n_up reached upstream," \
	"$n_unknown with outcome unknown"
ww_done
