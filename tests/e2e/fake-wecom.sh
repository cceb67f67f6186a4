#!/bin/bash
# The harness proves itself: tests/fake-wecom over real TLS with a test CA
# from tests/mkcerts, driven by curl, checked on both ends (curl's answer
# and the fake's record), in every behaviour mode.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

for t in curl jq openssl; do
	command -v $t >/dev/null || ww_skip_all "$t not installed (scripts/deps)"
done
[ -x "$top_builddir/tests/fake-wecom" ] ||
	ww_bail "no $top_builddir/tests/fake-wecom: build it first"

WW_CERT_HOSTS=qyapi.weixin.qq.com
ww_start_fake up || ww_bail "fake-wecom did not start"
port=$(ww_fake_port up)
host=qyapi.weixin.qq.com
base=https://$host:$port
# The real host name, resolved to the fake: SNI and Host as in production.
resolve=(--resolve "$host:$port:127.0.0.1")
out=$WW_TMP/out

# --- a message through real TLS, recorded byte for byte
body=$WW_TMP/send.json
printf '%s' '{"touser":"zhangsan|lisi","msgtype":"text","agentid":1000002,"text":{"content":"季度报表 draft \"v2\"\\n✓"},"safe":0}' >"$body"
code=$(ww_curl "${resolve[@]}" -o "$out" -w '%{http_code}' \
	-H 'Content-Type: application/json' --data-binary @"$body" \
	"$base/cgi-bin/message/send?access_token=TOKEN-1&debug=1")
ww_is "$code" 200 "message/send answers HTTP 200 over TLS"
ww_is "$(jq -r .errcode "$out")" 0 "errcode is 0"
ww_like "$(jq -r .msgid "$out")" '^fake-msgid-' "a msgid is returned"
ww_is "$(jq -r .invaliduser "$out")" "" "invaliduser is the empty string"
ww_is "$(ww_fake_count up)" 1 "one request recorded"
ww_is "$(ww_fake_get up 1 .method)" POST "recorded method"
ww_is "$(ww_fake_get up 1 .path)" \
	"/cgi-bin/message/send?access_token=TOKEN-1&debug=1" \
	"recorded path keeps its query"
ww_is "$(ww_fake_header up 1 content-type)" application/json \
	"recorded headers"
ww_is "$(ww_fake_header up 1 host)" "$host:$port" "recorded Host header"
ww_is "$(ww_fake_get up 1 '[.tls, .sni, .body_base64] | @csv')" \
	'true,"qyapi.weixin.qq.com",false' "recorded TLS, SNI, text body"
ww_fake_body up 1 "$WW_TMP/got.json"
ww_ok "recorded body is byte-identical" cmp "$body" "$WW_TMP/got.json"

# --- a body that is not UTF-8 is recorded in base64
head -c 300 /dev/urandom >"$WW_TMP/bin"
printf '\377\376' >>"$WW_TMP/bin"
ww_curl "${resolve[@]}" -o /dev/null --data-binary @"$WW_TMP/bin" \
	"$base/cgi-bin/webhook/send?key=K"
ww_is "$(ww_fake_get up -1 .body_base64)" true "binary body flagged base64"
ww_fake_body up -1 "$WW_TMP/got.bin"
ww_ok "binary body is byte-identical" cmp "$WW_TMP/bin" "$WW_TMP/got.bin"

# --- keep-alive: two requests, one connection
conns=$(ww_curl "${resolve[@]}" -o /dev/null -o /dev/null \
	-w '%{num_connects} ' "$base/cgi-bin/gettoken?corpid=C&corpsecret=S" \
	"$base/cgi-bin/gettoken?corpid=C&corpsecret=S")
ww_is "$conns" "1 0 " "the second request reuses the connection"
ww_curl "${resolve[@]}" -o "$out" "$base/cgi-bin/gettoken?corpid=C&corpsecret=S"
ww_is "$(jq -r '[.errcode, .expires_in, (.access_token | length > 0)] | @csv' "$out")" \
	'0,7200,true' "gettoken answers a token"
ww_curl "${resolve[@]}" -o "$out" -F "media=@$body;filename=a.json" \
	"$base/cgi-bin/media/upload?access_token=T&type=file"
ww_is "$(jq -r '[.errcode, .type, (.media_id | length > 0)] | @csv' "$out")" \
	'0,"file",true' "media/upload answers a media_id"

# --- error mode, for one request only (times)
n=$(ww_fake_count up)
ww_ok "switch to error mode" ww_fake_mode up error \
	'"errcode":60020,"errmsg":"not allow to access from your ip","times":1'
code=$(ww_curl "${resolve[@]}" -o "$out" -w '%{http_code}' -d '{}' \
	"$base/cgi-bin/appchat/send?access_token=T")
ww_is "$code,$(jq -r .errcode "$out")" 200,60020 \
	"error mode: HTTP 200 with the errcode"
ww_curl "${resolve[@]}" -o "$out" -d '{}' "$base/cgi-bin/appchat/send?access_token=T"
ww_is "$(jq -r .errcode "$out")" 0 "back to ok after times=1"
ww_is "$(ww_fake_count up)" $((n + 2)) "control requests are not recorded"

# --- http500 and garbage
ww_fake_mode up http500
code=$(ww_curl "${resolve[@]}" -o /dev/null -w '%{http_code}' -d '{}' \
	"$base/cgi-bin/message/send?access_token=T")
ww_is "$code" 500 "http500 mode"
ww_fake_mode up garbage
ww_curl "${resolve[@]}" -o "$out" -d '{}' "$base/cgi-bin/message/send?access_token=T"
ww_nok "garbage mode: the body is not JSON" jq -e . "$out"

# --- stall: never answers (the client times out) / answers late
ww_fake_mode up stall
n=$(ww_fake_count up)
WW_CURL_TIMEOUT=1 ww_curl "${resolve[@]}" -o /dev/null -d '{}' \
	"$base/cgi-bin/message/send?access_token=T" 2>/dev/null
ww_is "$?" 28 "stall mode: the client times out"
ww_is "$(ww_fake_count up)" $((n + 1)) "the stalled request was recorded"
ww_fake_mode up stall '"delay_ms":300'
ww_curl "${resolve[@]}" -o "$out" -d '{}' "$base/cgi-bin/message/send?access_token=T"
ww_is "$(jq -r .errcode "$out")" 0 "stall with delay_ms answers ok later"

# --- close and reset: no answer at all
ww_fake_mode up close
ww_curl "${resolve[@]}" -o /dev/null -d '{}' \
	"$base/cgi-bin/message/send?access_token=T" 2>"$WW_TMP/err"
rc=$?
ww_like "$rc" '^52$' "close mode: the client gets no answer"
ww_diag "curl said: $(cat "$WW_TMP/err")"
ww_fake_mode up reset
ww_curl "${resolve[@]}" -o /dev/null -d '{}' \
	"$base/cgi-bin/message/send?access_token=T" 2>"$WW_TMP/err"
rc=$?
ww_like "$rc" '^56$' "reset mode: the connection is reset"
ww_diag "curl said: $(cat "$WW_TMP/err")"
ww_ok "fake still alive after aborted connections" ww_alive up
ww_fake_mode up ok
ww_curl "${resolve[@]}" -o "$out" -d '{}' "$base/cgi-bin/kf/send_msg?access_token=T"
ww_like "$(jq -r .msgid "$out")" . "ok again after switching back"

# --- modes set on the command line; plain HTTP; the body limit
ww_start_fake rx --plain --max-body 1024 --mode error --errcode 85002 ||
	ww_bail "plain fake-wecom did not start"
rx=$(ww_fake_url rx)
ww_is "$(curl -sS --max-time 10 -d '<xml/>' "$rx/callback?msg_signature=x")" \
	success "plain listener answers a callback POST with success"
ww_is "$(curl -sS --max-time 10 "$rx/callback?echostr=abc%2Bd")" abc+d \
	"plain listener echoes echostr"
ww_is "$(curl -sS --max-time 10 -d '{}' "$rx/cgi-bin/message/send" |
	jq -r .errcode)" 85002 "--mode error --errcode on the command line"
curl -sS --max-time 10 -o /dev/null -X POST -d '{"mode":"http500","times":1}' \
	"$rx/__fake/mode"
ww_is "$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -d '<xml/>' \
	"$rx/callback")" 500 "http500 applies to the callback receiver too"
ww_is "$(curl -sS --max-time 10 -d '<xml/>' "$rx/callback")" success \
	"and times=1 counts receiver requests"
head -c 2048 /dev/zero | tr '\0' a >"$WW_TMP/big"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
	--data-binary @"$WW_TMP/big" "$rx/cgi-bin/message/send")
ww_is "$code" 413 "a body over --max-body is refused"
ww_is "$(ww_fake_get rx 1 .tls)" false "plain records tls=false"

ww_fake_clear up
ww_curl "${resolve[@]}" -o /dev/null -d '{}' "$base/cgi-bin/appchat/send?access_token=T"
ww_is "$(ww_fake_count up),$(ww_fake_get up 1 .path)" \
	"1,/cgi-bin/appchat/send?access_token=T" "ww_fake_clear starts the record afresh"

# --- clean shutdown (exit status 0: also no sanitizer report)
pidfile=$WW_TMP/up/pid
ww_stop up 5
ww_is "$?" 0 "SIGTERM stops fake-wecom with status 0"
ww_nok "the pid file is removed" test -e "$pidfile"
ww_stop rx 5
rc=$?
ww_is "$rc" 0 "the plain one too"
[ $rc -eq 0 ] || ww_diag "$(tail -n 30 "$WW_TMP/rx.log")"
ww_done
