#!/bin/bash
# wwpolicy.sh: the officers' tool end to end: check (a good policy, a
# broken one with the line of each error, the examples), test (the
# starter policy with its own tests -- the "Done when" of issue 4 -- and a
# failing case that must print its diff and exit 1), explain (human and
# --json, a journal export line, unless), bench (a short run), usage.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

WP=$top_builddir/wwpolicy
POL=$top_srcdir/contrib/policy
[ -x "$WP" ] || ww_skip_all "$WP not built"
command -v jq >/dev/null || ww_skip_all "jq not installed (scripts/deps)"
D=$(ww_tmpdir wwpolicy)

# ---- usage
ww_ok "--version" "$WP" --version
ww_like "$("$WP" --help)" "wwpolicy test POLICY TESTFILE" "--help shows the commands"
ww_like "$("$WP" --help)" "cn_resident_id" "--help lists the detectors"
"$WP" frobnicate >/dev/null 2>&1
ww_is "$?" 2 "an unknown command is a usage error (exit 2)"

# ---- check
out=$("$WP" check "$POL/default.yaml")
ww_is "$?" 0 "check accepts the starter policy"
ww_like "$out" "OK: 11 rules, [0-9]+ patterns, database [0-9]+ KiB" "check prints a one-line summary with the database size"
for f in "$POL"/examples/*.yaml; do
	ww_ok "check accepts examples/$(basename "$f")" "$WP" check "$f"
done

cat >"$D/broken.yaml" <<'EOF'
version: 1
rules:
  - id: ok-rule
    match:
      keywords: [fine]
    action: alert
  - id: bad-detector
    match:
      detector: no_such_detector
    action: frobnicate
  - id: Bad_Id
    match:
      keywords: [x]
    action: block
EOF
out=$("$WP" check "$D/broken.yaml" 2>&1)
ww_is "$?" 1 "check refuses a broken policy (exit 1)"
ww_like "$out" "broken.yaml:9:.*no_such_detector" "an unknown detector is named with its line"
ww_like "$out" "broken.yaml:10:.*action" "a bad action is named with its line"
ww_like "$out" "broken.yaml:11:.*Bad_Id" "every error is reported, not only the first"

# Patterns are compiled once the file parses: a regex vectorscan rejects.
cat >"$D/badregex.yaml" <<'EOF'
version: 1
rules:
  - id: ok-rule
    match:
      keywords: [fine]
    action: alert
  - id: bad-regex
    match:
      regex: 'abc(?=def)'
    action: block
EOF
out=$("$WP" check "$D/badregex.yaml" 2>&1)
ww_is "$?" 1 "check refuses a regex vectorscan cannot compile"
ww_like "$out" "badregex.yaml:9:.*bad-regex" "the regex is named with its line and rule"

# ---- test: the starter policy passes its own tests
out=$("$WP" test "$POL/default.yaml" "$POL/default.tests.yaml" 2>&1)
rc=$?
ww_is "$rc" 0 "default.yaml passes default.tests.yaml"
[ "$rc" -eq 0 ] || ww_diag "$out"
ww_like "$out" "^[0-9]+ passed, 0 failed$" "test prints the totals"

# ---- test: failures print a diff and exit 1
cat >"$D/policy.yaml" <<'EOF'
version: 1
lists:
  secret_projects: [机密, "project falcon"]
rules:
  - id: no-secret-projects
    match:
      list: secret_projects
    unless:
      keywords: [公开版]
    action: block
    message: 此消息包含机密项目名称
  - id: mask-mobile
    match:
      detector: cn_mobile
    action: redact
  - id: watch-cards
    match:
      detector: credit_card
    action: alert
    mode: monitor
EOF
cat >"$D/export.jsonl" <<'EOF'
{"seq":7,"kind":"REQUEST","direction":"outbound","endpoint":"appchat/send","msgtype":"text","sender":"zhangsan","recipients":{"users":[],"parties":[],"tags":[],"external_users":[],"kf_ids":[],"chat_ids":[],"mentioned":[],"all":false},"chat_id":"deal-team","texts":[{"path":"text.content","text":"卡号 4111 1111 1111 1111，电话 13812345678"}]}
{"seq":9,"kind":"REQUEST","direction":"outbound","endpoint":"message/send","msgtype":"text","sender":"agent:1","recipients":null,"chat_id":null,"texts":[{"path":"text.content","text":"机密文件的公开版"}]}
EOF
cat >"$D/cases.yaml" <<'EOF'
tests:
  - name: passes
    endpoint: message/send
    body: {"touser": "lisi", "msgtype": "text", "agentid": 1, "text": {"content": "这是机密文件"}}
    expect: {action: block, rules: [no-secret-projects]}
  - name: a JSON string body and a wrong expectation
    endpoint: message/send
    body: '{"touser":"lisi","msgtype":"text","agentid":1,"text":{"content":"hello"}}'
    expect: {action: block, rules: [no-secret-projects]}
  - name: from a journal export line
    record: export.jsonl#1
    expect: {action: redact, rules: [mask-mobile], monitor_rules: [watch-cards]}
  - name: unless excludes the rule
    record: export.jsonl#2
    expect: {action: allow, rules: []}
  - name: an unexpected extra rule
    record: export.jsonl#1
    expect: {rules: []}
EOF
out=$("$WP" test "$D/policy.yaml" "$D/cases.yaml" 2>&1)
ww_is "$?" 1 "a failing case makes test exit 1"
ww_like "$out" "^3 passed, 2 failed$" "the totals count passes and failures"
ww_like "$out" "FAIL .*cases.yaml:6: a JSON string body and a wrong expectation" \
	"a failure names its file, line and case"
ww_like "$out" "action: +expected block, got allow" "the diff shows the action"
ww_like "$out" "- no-secret-projects \(expected, did not match\)" \
	"the diff shows a missing rule"
ww_like "$out" "\+ mask-mobile \(matched, not expected\)" \
	"the diff shows an unexpected rule"

cat >"$D/bad-cases.yaml" <<'EOF'
tests:
  - name: a typo in a key
    endpoint: message/send
    body: {"touser": "lisi", "msgtype": "text", "agentid": 1, "text": {"content": "x"}}
    expekt: {action: allow}
EOF
out=$("$WP" test "$D/policy.yaml" "$D/bad-cases.yaml" 2>&1)
ww_is "$?" 1 "a malformed case fails"
ww_like "$out" "unknown key \"expekt\"" "and says why"

# An alias bomb in a test body is refused quickly, not expanded.
{
	echo 'a: &a [x, x, x, x, x, x, x, x, x, x]'
	prev=a
	for n in b c d e f g h; do
		echo "$n: &$n [*$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev, *$prev]"
		prev=$n
	done
	echo 'tests:'
	echo '  - name: bomb'
	echo '    endpoint: message/send'
	echo '    body: {"touser": "a", "msgtype": "text", "text": {"content": "x"}, "x": *h}'
	echo '    expect: {action: allow}'
} >"$D/bomb.yaml"
out=$(timeout 20 "$WP" test "$D/policy.yaml" "$D/bomb.yaml" 2>&1)
ww_is "$?" 1 "a YAML alias bomb in a test body fails (bounded time)"
ww_like "$out" "more than [0-9]+ nodes" "and says why"

# ---- explain
out=$("$WP" explain "$D/policy.yaml" --record "$D/export.jsonl#1")
ww_is "$?" 0 "explain a journal record"
ww_like "$out" "^verdict: redact" "explain shows the verdict"
ww_like "$out" "text.content: .*\[\[13812345678\]\]" "explain marks the hit in the original text"
ww_like "$out" "13812345678 *$|\*\*\*\*\*\*\*\*\*\*\*" "explain shows the redacted text"

json=$("$WP" explain "$D/policy.yaml" --record "$D/export.jsonl#2" --json)
ww_is "$?" 0 "explain --json"
ww_is "$(jq -r .action <<<"$json")" allow "--json: action"
ww_is "$(jq -c .excluded_by_unless <<<"$json")" '["no-secret-projects"]' \
	"--json: the rule excluded by unless"
ww_is "$(jq -r '.matches[0].hits[0].text' <<<"$json")" 机密 "--json: the hit's text"
ww_is "$(jq -r '.matches[0].hits[0].marked' <<<"$json")" '[[机密]]文件的公开版' \
	"--json: the hit marked in its text part"
ww_is "$(jq -r '.matches[0].hits[0] | "\(.path) \(.start) \(.end)"' <<<"$json")" \
	"text.content 0 6" "--json: part path and byte offsets"

json=$("$WP" explain "$D/policy.yaml" --endpoint message/send --json \
	--body '{"touser":"lisi","msgtype":"text","agentid":1,"text":{"content":"ｐｒｏｊｅｃｔ Ｆａｌｃｏｎ 卡 4111111111111111"}}')
ww_is "$(jq -r .action <<<"$json")" block "explain a raw body: block"
ww_is "$(jq -r .refusal_message <<<"$json")" 此消息包含机密项目名称 "the refusal message"
ww_is "$(jq -c .monitor_rules <<<"$json")" '["watch-cards"]' "monitor rules are listed"
ww_is "$(jq -r '.matches[] | select(.rule=="no-secret-projects") | .hits[0].text' <<<"$json")" \
	"ｐｒｏｊｅｃｔ Ｆａｌｃｏｎ" "a full-width hit maps back to the original bytes"

printf '%s' '{"touser":"lisi","msgtype":"text","agentid":1,"text":{"content":"hi"}}' >"$D/body.json"
ww_like "$("$WP" explain "$D/policy.yaml" --endpoint message/send --body-file "$D/body.json")" \
	"^verdict: allow" "explain --body-file"
"$WP" explain "$D/policy.yaml" --endpoint message/send >/dev/null 2>&1
ww_is "$?" 2 "explain without a message is a usage error"

# ---- bench (a short run; timings are printed, never asserted)
out=$("$WP" bench "$D/policy.yaml" --seconds 0.3)
ww_is "$?" 0 "bench runs"
ww_like "$out" "throughput: [0-9.]+ MB/s, [0-9]+ messages/s" "bench reports throughput"
ww_like "$out" "p99 [0-9.]+" "bench reports latency percentiles"
printf '手机13812345678\nhello world\n' >"$D/corpus.txt"
ww_like "$("$WP" bench "$D/policy.yaml" --corpus "$D/corpus.txt" --seconds 0.2)" \
	"corpus: 2 messages" "bench --corpus"

ww_done
