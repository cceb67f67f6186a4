#!/bin/bash
# wwjournal.sh: the auditors' tool over real journals written by
# tests/journal-fill through store/journal.h: list and its filters, show,
# export (JSONL and CSV), search, stats, verify (intact, tampered, against
# an external checkpoint copy), replay, replay --policy, blob, tail -f, usage errors, and a
# 100k-request export that must stream in flat memory.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

WWJ=$top_builddir/wwjournal
FILL=$top_builddir/tests/journal-fill
J=$WW_TMP/journal
CP=$WW_TMP/checkpoints
for b in "$WWJ" "$FILL"; do
	[ -x "$b" ] || ww_skip_all "$b not built"
done
command -v jq >/dev/null || ww_skip_all "jq not installed (scripts/deps)"

wj() { "$WWJ" -j "$J" "$@"; }
# The sequence numbers of JSON lines on stdin, space-separated.
seqs() { jq -r '.seq' | tr '\n' ' ' | sed 's/ $//'; }

ww_ok "journal-fill writes the scenario" "$FILL" -j "$J" -s day -c "$CP"

# ---- list and filters
n=$(wj list --json | jq -s length)
ww_is "$n" 17 "list shows every record"
ww_like "$(wj list)" "6 +2026-11-20 09:03:00Z +REQUEST +appchat/send text +bob -> chat chat-ops +block \[dlp.card\]" \
	"list line: time, kind, endpoint, who, verdict"
ww_is "$(wj list --sender alice --json | seqs)" "2 4 14" "--sender"
ww_is "$(wj list --recipient dave --json | seqs)" "9" "--recipient"
ww_is "$(wj list --chat chat-ops --json | seqs)" "4 6" "--chat"
ww_is "$(wj list --action block --json | seqs)" "6" "--action block"
ww_is "$(wj list --kind outcome --json | seqs)" "3 5 7 10 12" "--kind outcome"
ww_is "$(wj list --since 2026-11-21 --until 2026-11-22 --kind request --json | seqs)" \
	"9 11" "--since/--until with ISO dates"
ww_is "$(wj list --since 2026-11-22T09:00:30+00:00 --json | seqs)" \
	"15 16 17" "--since with a time and zone"
ww_is "$(wj list --since 1h --json | seqs)" "" "--since 1h (all records are older)"
ww_is "$(wj list --limit 2 --json | seqs)" "16 17" "list --limit: the newest N"

# ---- show
out=$(wj show 9)
ww_like "$out" "forwarded +\[text.content\]" "show: forwarded (redacted) text"
ww_like "$out" "my phone is \*{11}" "show: the redacted form"
ww_like "$out" "outcome #10 " "show: request and outcome together"
ww_like "$(wj show 12 | tr '\n' ' ')" "record #11 .*q3-figures.pdf" "show OUTCOME: its request with attachment"
ww_like "$(wj show 14)" "outcome unknown" "show: a request without outcome"
ww_is "$(wj show 11 --json | jq -r '.attachments[0].name')" "q3-figures.pdf" "show --json: attachments"
wj show 999 >/dev/null 2>"$WW_TMP/err"
ww_is "$?" 1 "show of a missing record exits 1"
ww_like "$(cat "$WW_TMP/err")" "no record 999" "and says so"

# ---- export JSONL
wj export --format jsonl >"$WW_TMP/x.jsonl"
ww_is "$?" 0 "export jsonl exits 0"
ww_is "$(seqs <"$WW_TMP/x.jsonl")" "2 4 6 9 11 14 15" "one object per REQUEST and CALLBACK"
ww_is "$(head -1 "$WW_TMP/x.jsonl" | jq -c 'keys_unsorted')" \
	'["seq","time","gateway_id","kind","direction","endpoint","msgtype","sender","recipients","chat_id","texts","verdict","forwarded_texts","outcome","client","hash"]' \
	"the documented fields, in order"
ww_ok "every line is a JSON object" jq -e 'type == "object"' "$WW_TMP/x.jsonl"
ww_like "$(jq -r 'select(.seq == 2) | .time' "$WW_TMP/x.jsonl")" \
	'^2026-11-20T09:01:00\.000Z$' "time: RFC 3339 UTC with ms"
ww_is "$(jq -c 'select(.seq == 2) | [.outcome.forwarded, .outcome.http_status, .outcome.msgid, .outcome.latency_ms]' "$WW_TMP/x.jsonl")" \
	'[true,200,"msg-1",23.456]' "outcome joined"
ww_is "$(jq -c 'select(.seq == 14) | .outcome' "$WW_TMP/x.jsonl")" null "unknown outcome is null"
ww_is "$(jq -r 'select(.seq == 9) | .forwarded_texts[0].text' "$WW_TMP/x.jsonl")" \
	"my phone is ***********" "forwarded_texts when redacted"
ww_is "$(jq -c 'select(.seq == 6) | [.verdict.action, .verdict.rules[0], .chat_id]' "$WW_TMP/x.jsonl")" \
	'["block","dlp.card","chat-ops"]' "verdict and chat"
ww_is "$(wj export --format jsonl --sender bob | seqs)" "6" "export honours filters"

# ---- export CSV (parsed with python's RFC 4180 reader)
wj export --format csv -o "$WW_TMP/x.csv"
ww_is "$(stat -c %a "$WW_TMP/x.csv")" 600 "export -o creates a private file"
csv=$(python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
print(len(rows), len(set(len(r) for r in rows)), len(rows[0]))
r9 = [r for r in rows if r[0] == "9"][0]
h = rows[0]
print(r9[h.index("forwarded_texts")], "|", r9[h.index("recipients")], "|",
      [r for r in rows if r[0] == "14"][0][h.index("forwarded")])
' "$WW_TMP/x.csv")
ww_is "$(echo "$csv" | head -1)" "8 1 23" "CSV: header + 7 rows of 23 columns"
ww_is "$(echo "$csv" | tail -1)" "text.content: my phone is *********** | user:dave | unknown" \
	"CSV: flattened columns"

# ---- search
ww_is "$(wj search contract --json | seqs)" "14 15" "search is case- and width-insensitive"
ww_is "$(wj search CONTRACT --json | jq -c 'select(.seq == 15) | .hits')" \
	'[{"path":"Content","start":25,"end":33}]' "search --json: hit spans"
ww_like "$(wj search contract)" "about the >>contract<<" "search highlights the hit"
ww_is "$(wj search 'no such words' | wc -l)" 0 "search without hits prints nothing"

# ---- stats
st=$(wj stats --json)
ww_is "$(echo "$st" | jq -c '[.records, .by_kind.REQUEST, .by_action.block, .by_sender.alice]')" \
	"[17,6,1,3]" "stats: counts by kind, action, sender"
ww_is "$(echo "$st" | jq -c '.by_day')" \
	'{"2026-11-20":7,"2026-11-21":5,"2026-11-22":5}' "stats: per day"
ww_like "$(wj stats)" "by endpoint:" "stats: human form"

# ---- verify
out=$(wj verify)
ww_is "$?" 0 "verify: an intact journal exits 0"
ww_like "$out" "intact: 17 records, 3 checkpoints" "verify prints the record count"
ww_like "$out" "head: #17 [0-9a-f]{64}" "verify prints the head hash"
ww_ok "verify --checkpoints against the external copy" wj verify --checkpoints "$CP"
ww_is "$(wj verify --json | jq -c '[.ok, .records, .outcome_unknown]')" "[true,17,1]" "verify --json"

# Tamper with a copy: change one record's text in the raw LMDB file.
cp -a "$J" "$WW_TMP/bad"
python3 - "$WW_TMP/bad" <<'EOF'
import glob, sys
n = 0
for f in glob.glob(sys.argv[1] + "/*/data.mdb"):
    b = open(f, "rb").read()
    if b"deploy tonight" in b:
        open(f, "wb").write(b.replace(b"deploy tonight", b"deploy at 3 am"))
        n += 1
sys.exit(0 if n == 1 else 1)
EOF
ww_is "$?" 0 "tampered copy made"
"$WWJ" -j "$WW_TMP/bad" verify >/dev/null 2>"$WW_TMP/err"
ww_is "$?" 1 "verify: a modified record exits 1"
ww_like "$(cat "$WW_TMP/err")" "FAILED at record 4" "and names its sequence number"

# Malformed values (garbage, a future schema) written with lmdb-utils:
# every reader names the record and exits 1, none crashes.
mangle() { # DIR SEQ PYTHON-EXPR-ON-hex-value
	local seg
	seg=$(ls -d "$1"/0*-2026-11-20)
	mdb_dump -s records "$seg" >"$WW_TMP/dump" &&
		python3 - "$WW_TMP/dump" "$2" "$3" <<'EOF2' &&
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index(" %016x" % int(sys.argv[2]))
v = lines[i + 1][1:]
lines[i + 1] = " " + eval(sys.argv[3])
open(sys.argv[1], "w").write("\n".join(lines))
EOF2
		mdb_load -s records -f "$WW_TMP/dump" "$seg" 2>/dev/null
}
if command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null; then
	cp -a "$J" "$WW_TMP/garbage"
	mangle "$WW_TMP/garbage" 4 '"ffffffff0102676172626167650a"'
	mangle "$WW_TMP/garbage" 2 '"0802" + v[4:]'
	for cmd in list "show 4" export "search deploy" stats replay verify; do
		# shellcheck disable=SC2086
		"$WWJ" -j "$WW_TMP/garbage" $cmd >/dev/null 2>"$WW_TMP/err"
		ww_is "$?" 1 "garbage record: $cmd exits 1"
		ww_like "$(cat "$WW_TMP/err")" "record [24]" "garbage record: $cmd names it"
	done
	ww_like "$("$WWJ" -j "$WW_TMP/garbage" show 2 2>&1)" \
		"record 2: schema version 2" "a future schema is named as such"
	ww_is "$("$WWJ" -j "$WW_TMP/garbage" list --json 2>/dev/null | wc -l)" 15 \
		"list goes on past unreadable records"

	# Swap two records: the chain breaks at the first of them.
	cp -a "$J" "$WW_TMP/swapped"
	seg=$(ls -d "$WW_TMP/swapped"/0*-2026-11-20)
	mdb_dump -s records "$seg" >"$WW_TMP/dump"
	python3 - "$WW_TMP/dump" <<'EOF2'
import sys
lines = open(sys.argv[1]).read().split("\n")
a, b = lines.index(" %016x" % 4), lines.index(" %016x" % 5)
lines[a + 1], lines[b + 1] = lines[b + 1], lines[a + 1]
open(sys.argv[1], "w").write("\n".join(lines))
EOF2
	mdb_load -s records -f "$WW_TMP/dump" "$seg" 2>/dev/null
	"$WWJ" -j "$WW_TMP/swapped" verify >/dev/null 2>"$WW_TMP/err"
	ww_is "$?" 1 "verify: swapped records exit 1"
	ww_like "$(cat "$WW_TMP/err")" "FAILED at record 4" "and name the first"

	# Delete a record: rebuild the segment's environment without it.
	cp -a "$J" "$WW_TMP/deleted"
	seg=$(ls -d "$WW_TMP/deleted"/0*-2026-11-20)
	mdb_dump -a "$seg" >"$WW_TMP/dump"
	python3 - "$WW_TMP/dump" <<'EOF2'
import sys
out, db, skip = [], None, 0
for l in open(sys.argv[1]).read().split("\n"):
    if skip:
        skip -= 1
        continue
    if l.startswith("database="):
        db = l[9:]
    if db == "records" and l == " %016x" % 5:
        skip = 1
        continue
    out.append(l)
open(sys.argv[1], "w").write("\n".join(out))
EOF2
	rm -f "$seg"/data.mdb "$seg"/lock.mdb
	mdb_load -f "$WW_TMP/dump" "$seg" 2>/dev/null
	"$WWJ" -j "$WW_TMP/deleted" verify >/dev/null 2>"$WW_TMP/err"
	ww_is "$?" 1 "verify: a deleted record exits 1"
	ww_like "$(cat "$WW_TMP/err")" "FAILED at record 5" "and names it"
else
	ww_skip 20 "lmdb-utils not installed"
fi

# ---- replay
out=$(wj replay)
ww_like "$out" "== chat:chat-ops  \(2 messages\) ==" "replay groups a chat"
ww_like "$(echo "$out" | grep -A7 'chat:chat-ops' | tr '\n' ' ')" \
	"#4 alice.*deploy tonight.*#6 bob.*card 4111" "replay: in time order"
ww_like "$out" "\+ file q3-figures.pdf \(27 bytes" "replay shows attachments"
ww_like "$out" "redact \[dlp.phone\] +result 200/0" "replay marks verdict and outcome"
ww_is "$(wj replay --json | jq -s -c '[(map(select(.event == "conversation")) | length), (map(select(.event == "message")) | length)]')" \
	"[6,7]" "replay --json: conversation and message events"

# ---- replay --policy: the retro-hunt with a candidate policy.  The
# scenario's rule ids have dots, which the policy language refuses, so the
# candidate's renamed rules show up as added and the old ones as removed.
cat >"$WW_TMP/candidate.yaml" <<'YAML'
version: 1
rules:
  - id: phone
    action: redact
    match: {detector: cn_mobile}
  - id: contract
    action: block
    scope: {direction: outbound}
    match: {keywords: [contract]}
  - id: deploy
    action: alert
    mode: monitor
    match: {keywords: [deploy]}
YAML
before=$(wj list --json | md5sum)
wj replay --policy "$WW_TMP/candidate.yaml" --json >"$WW_TMP/retro.json"
ww_is "$?" 0 "replay --policy exits 0"
ww_is "$(jq -r 'select(.event == "differs") | .seq' "$WW_TMP/retro.json" | tr '\n' ' ')" \
	"4 6 9 14 " "retro-hunt lists exactly the messages whose verdict would change"
ww_is "$(jq -c 'select(.seq == 14) | [.recorded.action, .new.action, .new.rules]' "$WW_TMP/retro.json")" \
	'["alert","block",["contract"]]' "recorded vs new action and rules (full-width text normalized)"
ww_is "$(jq -c 'select(.seq == 6) | [.recorded.rules, .new.action, .new.rules]' "$WW_TMP/retro.json")" \
	'[["dlp.card"],"allow",[]]' "a rule the candidate drops"
ww_is "$(jq -c 'select(.seq == 4) | [.new.action, .new.monitor_rules]' "$WW_TMP/retro.json")" \
	'["allow",["deploy"]]' "a new monitor rule changes the verdict but not the action"
ww_is "$(jq -c 'select(.event == "summary") | [.messages, .differ, .actions["alert->block"], .actions["allow->allow"], .actions["redact->redact"]]' "$WW_TMP/retro.json")" \
	'[6,4,1,3,1]' "summary: messages judged, differing, action moves"
ww_is "$(jq -c 'select(.event == "summary") | .rules | [.deploy.added, .contract.matched, .contract.added, .["kw.contract"].removed, .["dlp.card"].removed, .phone.matched, .["dlp.phone"].matched]' "$WW_TMP/retro.json")" \
	'[1,1,1,1,1,1,0]' "summary: totals per rule (matched, added, removed)"
ww_is "$(wj replay --policy "$WW_TMP/candidate.yaml" --sender alice --json | jq -c 'select(.event == "summary") | [.messages, .differ]')" \
	'[3,2]' "replay --policy honours the filters"
out=$(wj replay --policy "$WW_TMP/candidate.yaml")
ww_like "$out" "#14 .*alice.*message/send" "human form names the message"
ww_like "$out" "new +block +rules contract" "human form: the new verdict"
ww_like "$out" "alert +-> block +1" "human form: action moves"
ww_like "$out" "0 +0 +1 +dlp.card" "human form: per-rule totals"
ww_is "$(wj list --json | md5sum)" "$before" "the journal is unchanged"
ww_ok "and still verifies" wj verify
printf 'version: 1\nrules:\n  - id: bad\n    action: block\n    match: {regex: "(unclosed"}\n' >"$WW_TMP/bad.yaml"
wj replay --policy "$WW_TMP/bad.yaml" >/dev/null 2>"$WW_TMP/err"
ww_is "$?" 2 "a candidate that does not compile exits 2"
ww_like "$(cat "$WW_TMP/err")" "bad.yaml:5" "and says where"
wj list --policy "$WW_TMP/candidate.yaml" >/dev/null 2>&1
ww_is "$?" 2 "--policy belongs to replay only"

# ---- blob
sha=$(wj show 11 --json | jq -r '.attachments[0].sha256')
ww_ok "blob writes a stored attachment" wj blob "$sha" -o "$WW_TMP/blob"
ww_is "$(sha256sum <"$WW_TMP/blob" | cut -c1-64)" "$sha" "blob content matches its hash"
wj blob "$(printf '0%.0s' {1..64})" -o "$WW_TMP/none" 2>/dev/null
ww_is "$?" 1 "blob: unknown hash exits 1"

# ---- usage
wj frobnicate 2>/dev/null
ww_is "$?" 2 "unknown command exits 2"
wj list --since yesterday 2>/dev/null
ww_is "$?" 2 "bad time exits 2"
ww_like "$("$WWJ" --help)" "examples:" "--help teaches with examples"
ww_like "$("$WWJ" --version)" "^wwjournal" "--version"
"$WWJ" -j "$WW_TMP/nothing-here" list 2>/dev/null
ww_like "$?" "^[13]$" "a missing journal is an error"

# ---- tail and tail -f while a writer appends
T=$WW_TMP/live
"$FILL" -j "$T" -n 5 2>/dev/null
ww_is "$("$WWJ" -j "$T" tail -n 3 --json | seqs)" "9 10 11" "tail: the newest records"
"$WWJ" -j "$T" tail -f -n 1 --json >"$WW_TMP/follow" 2>"$WW_TMP/follow.err" &
tpid=$!
ww_sleep_ms 300
"$FILL" -j "$T" -n 5 2>/dev/null
for _ in $(seq 50); do
	[ "$(wc -l <"$WW_TMP/follow")" -ge 12 ] && break
	ww_sleep_ms 100
done
kill -TERM "$tpid"
wait "$tpid"
ww_is "$?" 0 "tail -f stops cleanly on SIGTERM"
ww_is "$(jq -r .seq "$WW_TMP/follow" | sed -n '1p;$p' | tr '\n' ' ')" "11 22 " \
	"tail -f printed the records appended while it ran"

# ---- 100k requests (200k records): export streams in flat memory
B=$WW_TMP/big
"$FILL" -j "$B" -n 100000 2>/dev/null
ww_is "$?" 0 "journal-fill -n 100000"
# Peak anonymous memory, sampled from /proc while the export runs (LMDB's
# file-backed map is not the tool's memory).
# Under ASan, freed memory waits in a quarantine: keep it small here.
peak_anon() {
	local pid peak=0 v
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1 "$@" &
	pid=$!
	for _ in $(seq 6000); do
		v=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null) || break
		[ -z "$v" ] && break
		[ "$v" -gt "$peak" ] && peak=$v
		ww_sleep_ms 10 2>/dev/null || sleep 0.01
	done
	wait "$pid"
	echo "$peak"
}
small=$(peak_anon "$WWJ" -j "$B" export --format jsonl --limit 1000 -o "$WW_TMP/small.jsonl")
t0=$(date +%s%N)
big=$(peak_anon "$WWJ" -j "$B" export --format jsonl -o "$WW_TMP/big.jsonl")
t1=$(date +%s%N)
ww_is "$(wc -l <"$WW_TMP/big.jsonl")" 100000 "export of 100k requests"
ww_diag "export: 200000 records scanned in $(((t1 - t0) / 1000000)) ms;" \
	"peak anon RSS: 1k requests ${small} kB, 100k requests ${big} kB"
ww_ok "memory stays flat (100k within 2x + 4 MB of 1k)" \
	test "$big" -le $((2 * small + 4096))
ww_is "$(tail -1 "$WW_TMP/big.jsonl" | jq -c '[.seq > 0, .outcome.forwarded]')" \
	"[true,true]" "the last exported request has its outcome"

# ---- --since seeks through the time index: the same records as a scan
# big.jsonl holds every request; the ones at or after T are the answer.
# Near the head (few records that recent) the scan starts late; in the
# middle it starts at 1.  Either way the output must not change.
for T in 2026-11-20T09:03:19.500Z 2026-11-20T09:03:10.000Z \
	2026-11-20T09:01:40.000Z; do
	jq -c --arg t "$T" 'select(.time >= $t)' "$WW_TMP/big.jsonl" >"$WW_TMP/want.jsonl"
	"$WWJ" -j "$B" export --since "$T" -o "$WW_TMP/got.jsonl"
	ww_ok "export --since $T: the requests a full scan selects" \
		cmp -s "$WW_TMP/want.jsonl" "$WW_TMP/got.jsonl"
done
n=$(wc -l <"$WW_TMP/got.jsonl")
ww_ok "(the middle: some of them, not all)" test "$n" -gt 0 -a "$n" -lt 100000
T=2026-11-20T09:03:20.000Z
ww_is "$("$WWJ" -j "$B" list --since "$T" --kind request --json | seqs)" \
	"$(jq -r --arg t "$T" 'select(.time >= $t) | .seq' "$WW_TMP/big.jsonl" |
		tr '\n' ' ' | sed 's/ $//')" "list --since near the head"
ww_is "$("$WWJ" -j "$B" stats --since "$T" --json | jq .records)" \
	"$("$WWJ" -j "$B" list --json | jq -s --arg t "$T" \
		'map(select(.time >= $t)) | length')" "stats --since near the head"
ww_is "$("$WWJ" -j "$B" list --since 2026-11-21 --json | wc -l)" 0 \
	"--since after the last record: nothing"

# ---- terminal niceties: a progress bar on a terminal's stderr, colours
if command -v script >/dev/null; then
	out=$(script -qec "'$WWJ' -j '$B' export -o '$WW_TMP/tty.jsonl'" /dev/null)
	ww_like "$out" "export +\[#*\.*\] +[0-9]+% [0-9]+/[0-9]+" \
		"export draws a progress bar on a terminal"
	ww_is "$(wc -l <"$WW_TMP/tty.jsonl")" 100000 "and still writes the file"
	out=$(script -qec "'$WWJ' -j '$B' verify" /dev/null)
	ww_like "$out" "verify +\[" "verify draws one too"
	ww_like "$out" "intact: 2000[0-9]+ records" "and then its result"
else
	ww_skip 4 "script(1) not installed"
fi
ww_like "$(wj list --color always | head -1)" $'\033\\[' "--color always"
ww_is "$(wj list | grep -c $'\033')" 0 "no escape codes when not a terminal"

ww_done
