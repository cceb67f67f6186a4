#!/bin/bash
# gateway-pipeline.sh: the exchange end to end (issue 5 "Done when"):
# curl -> wwgate (TLS) -> tests/fake-wecom (TLS), then the fake's record
# and the journal read back with wwjournal.  Allowed messages arrive
# byte-identical, blocked ones never, redacted ones masked; foreign hosts
# are never contacted; uploads come back out of the journal byte-identical;
# upstream failures are clean refusals with an OUTCOME; no secret appears
# in the journal files, the log or the metrics.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake up || ww_bail "fake-wecom did not start"
port=$(ww_port)
admin=$(ww_port)
cat >"$WW_TMP/policy.yaml" <<'POLICY'
version: 1
rules:
  - id: no-project-falcon
    match: {keywords: [falcon]}
    action: block
    message: project names may not leave the company
  - id: mask-codeword
    match: {keywords: [bluebird]}
    action: redact
POLICY
journal=$WW_TMP/journal
conf=$WW_TMP/wwgate.yaml
cat >"$conf" <<CONF
gateway_id: gw-pipeline
workers: 2
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream:
  url: $(ww_fake_url up)
  ca_file: $certs/ca.crt
  timeout_ms: 1500
journal: { path: $journal, sync: full }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: 127.0.0.1:$admin }
log: { level: info, access_log: $WW_TMP/access.log }
CONF
ww_start_gateway "$conf" || ww_bail "wwgate did not start"
url=https://127.0.0.1:$port
token=TOKEN-e2e-7c1d9a0b3f
secret=CORPSECRET-e2e-55aa66bb
fakes() { ww_fake_count up; }
wwj() { "$top_builddir/wwjournal" -j "$journal" "$@"; }
post() { # post PATH BODYFILE [curl args...]
	local p=$1 f=$2
	shift 2
	ww_curl -H 'Content-Type: application/json' --data-binary "@$f" "$@" \
		"$url$p?access_token=$token"
}

# 1. allowed: byte-identical upstream, upstream's answer back
printf '{"touser":"zhangsan","msgtype":"text","agentid":1000002,"text":{"content":"lunch at noon \xe5\x8d\x88\xe9\xa4\x90"},"safe":0}' \
	>"$WW_TMP/allowed.json"
n=$(fakes)
out=$(post /cgi-bin/message/send "$WW_TMP/allowed.json")
ww_like "$out" '"errcode":0.*"msgid":"' "an allowed message gets upstream's answer"
ww_is "$(fakes)" $((n + 1)) "and reached upstream once"
ww_fake_body up -1 "$WW_TMP/got.json"
ww_ok "byte-identical upstream" cmp "$WW_TMP/allowed.json" "$WW_TMP/got.json"

# 2. blocked: never upstream; refusal with the rule's message and a hint
n=$(fakes)
printf '{"touser":"zhangsan","msgtype":"text","agentid":1,"text":{"content":"the Falcon roadmap"}}' \
	>"$WW_TMP/blocked.json"
out=$(post /cgi-bin/message/send "$WW_TMP/blocked.json" -w ' %{http_code}')
ww_like "$out" '^\{"errcode":985001,"errmsg":"project names may not leave the company, hint: \[[0-9]+\]"\} 200$' \
	"a blocked message gets the WeCom-shaped refusal"
ww_is "$(fakes)" "$n" "and never reached upstream"
ww_nok "the refusal does not echo the matched text" grep -qi falcon <<<"$out"
seq=$(sed -n 's/.*hint: \[\([0-9]*\)\].*/\1/p' <<<"$out")
show=$(wwj show "$seq" 2>&1)
ww_like "$show" 'block' "wwjournal show finds the hint's record"
ww_like "$show" 'no-project-falcon' "and names the rule"

# 3. redacted: masked upstream, valid JSON, both versions journaled
printf '{"touser":"zhangsan","msgtype":"text","agentid":1,"text":{"content":"meet at bluebird gate"}}' \
	>"$WW_TMP/redact.json"
n=$(fakes)
out=$(post /cgi-bin/message/send "$WW_TMP/redact.json")
ww_like "$out" '"errcode":0' "a redacted message is answered by upstream"
ww_fake_body up -1 "$WW_TMP/redacted-got.json"
ww_nok "upstream never sees the redacted word" grep -q bluebird "$WW_TMP/redacted-got.json"
ww_ok "the forwarded body is valid JSON" jq -e . "$WW_TMP/redacted-got.json"
ww_like "$(jq -r .text.content "$WW_TMP/redacted-got.json")" '^meet at .+ gate$' \
	"only the matched span is masked"
ww_like "$(wwj export --format jsonl --action redact)" 'bluebird' \
	"the journal keeps the original"

# 4. foreign hosts are never contacted
n=$(fakes)
out=$(post /cgi-bin/message/send "$WW_TMP/allowed.json" -H 'Host: evil.example' \
	-H 'X-Forwarded-Host: evil.example')
ww_like "$out" '"errcode":0' "a foreign Host header is still answered"
ww_is "$(fakes)" $((n + 1)) "by the configured upstream"
ww_is "$(ww_fake_header up -1 host)" "127.0.0.1:$(ww_fake_port up)" \
	"with the upstream's own Host"
out=$(ww_curl --request-target "https://evil.example/cgi-bin/message/send?access_token=$token" \
	-H 'Content-Type: application/json' --data-binary "@$WW_TMP/allowed.json" "$url/")
ww_is "$(fakes):$(ww_fake_get up -1 .path)" \
	"$((n + 2)):/cgi-bin/message/send?access_token=$token" \
	"an absolute-form URI goes to the configured upstream only"

# 5. identity from gettoken, then an upload sent by media_id
out=$(ww_curl "$url/cgi-bin/gettoken?corpid=ww0123456789abcdef&corpsecret=$secret")
ww_like "$out" '"access_token":"' "gettoken passes through"
minted=$(jq -r .access_token <<<"$out")
head -c 3000 /dev/urandom >"$WW_TMP/file.bin"
out=$(ww_curl -F "media=@$WW_TMP/file.bin;filename=report.bin" \
	"$url/cgi-bin/media/upload?access_token=$minted&type=file")
media=$(jq -r .media_id <<<"$out")
ww_like "$media" '.+' "an upload gets a media_id"
printf '{"touser":"zhangsan","msgtype":"file","agentid":1,"file":{"media_id":"%s"}}' "$media" \
	>"$WW_TMP/file.json"
out=$(ww_curl -H 'Content-Type: application/json' --data-binary "@$WW_TMP/file.json" \
	"$url/cgi-bin/message/send?access_token=$minted")
ww_like "$out" '"errcode":0' "the file is sent by media_id"
sha=$(sha256sum "$WW_TMP/file.bin" | cut -c1-64)
ww_ok "wwjournal blob writes the file out" wwj blob "$sha" -o "$WW_TMP/blob.bin"
ww_ok "byte-identical" cmp "$WW_TMP/file.bin" "$WW_TMP/blob.bin"
fseq=$(wwj list | awk '/REQUEST +message\/send file/ { n = $1 } END { print n }')
fshow=$(wwj show "$fseq" 2>&1)
ww_like "$fshow" "media_id $media" "wwjournal show has the sent media_id"
ww_like "$fshow" "sha256 $sha" "linked to the stored file"
ww_like "$fshow" 'corp/agent +ww0123456789abcdef' \
	"later records name the corp learned from gettoken"

# 6. upstream failures: clean refusals within the timeout, OUTCOME kept
ww_fake_mode up stall >/dev/null
out=$(post /cgi-bin/message/send "$WW_TMP/allowed.json")
ww_like "$out" '^\{"errcode":-1,"errmsg":"system busy, hint: \[[0-9]+\]"\}$' \
	"a stalling upstream gives system busy"
seq=$(sed -n 's/.*hint: \[\([0-9]*\)\].*/\1/p' <<<"$out")
ww_like "$(wwj show "$seq" 2>&1)" '[Tt]ime' "with an OUTCOME saying it timed out"
ww_fake_mode up reset >/dev/null
out=$(post /cgi-bin/message/send "$WW_TMP/allowed.json")
ww_like "$out" '"errcode":-1' "a resetting upstream gives system busy"
ww_fake_mode up http500 >/dev/null
out=$(post /cgi-bin/message/send "$WW_TMP/allowed.json" -w ' %{http_code}')
ww_like "$out" '"errcode":-1.* 500$' "an upstream HTTP 500 is passed back as it came"
ww_fake_mode up garbage >/dev/null
post /cgi-bin/message/send "$WW_TMP/allowed.json" -o "$WW_TMP/garbage.out"
ww_like "$(cat "$WW_TMP/garbage.out")" '^<html>fake-wecom garbage' \
	"a non-JSON answer is passed back unchanged"
ww_fake_mode up ok >/dev/null

# 7. the journal joins requests with outcomes; no secret anywhere
exp=$(wwj export --format jsonl)
ww_is "$(jq -s '[.[] | select(.outcome == null)] | length' <<<"$exp")" 0 \
	"every exported request has its outcome"
metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$admin/metrics")
ww_like "$metrics" 'wwgate_requests_total\{endpoint="message/send",action="block",status="200"\} 1' \
	"metrics count the block"
leaks=0
for s in "$token" "$secret" "$minted"; do
	grep -rqaF -- "$s" "$journal" "$(ww_gateway_log)" "$WW_TMP/access.log" &&
		leaks=$((leaks + 1))
	grep -qF -- "$s" <<<"$metrics" && leaks=$((leaks + 1))
	grep -qF -- "$s" <<<"$exp" && leaks=$((leaks + 1))
done
ww_is "$leaks" 0 "no token or secret in the journal, logs, exports or metrics"

# 8. access lines: buffered per worker, written within a tick (1 s)
blocked_lines() {
	jq -s '[.[] | select(.action == "block" and .errcode == 985001
		and .forwarded == false and .seq > 0)] | length' \
		"$WW_TMP/access.log" 2>&1
}
for ((i = 0; i < 50; i++)); do
	[ "$(blocked_lines)" = 1 ] && break
	ww_sleep_ms 100
done
ww_is "$(blocked_lines)" 1 "the access log has the blocked request's line, as JSON"

ww_ok "wwgate stops cleanly" ww_stop_gateway
ww_ok "the journal verifies" wwj verify
ww_done
