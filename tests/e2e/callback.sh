#!/bin/bash
# callback.sh: inbound WeCom callbacks end to end (issue 7 "Done when"):
# tests/wecom-callback encrypts and signs like WeCom, curl posts to wwgate
# (TLS, reverse mode), wwgate forwards to an internal receiver (fake-wecom
# --plain, or a small python receiver that answers a passive reply), and
# the journal is read back with wwjournal.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

command -v jq >/dev/null || ww_skip_all "jq is needed"
command -v python3 >/dev/null || ww_skip_all "python3 is needed"

TOKEN=cbTok3n9
KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
CORP=ww0123456789abcdef
cb() { "$top_builddir/tests/wecom-callback" -t "$TOKEN" -k "$KEY" -r "$CORP" "$@"; }

certs=$(ww_certs_dir) || ww_bail "mkcerts failed"
ww_start_fake recv --plain || ww_bail "fake receiver did not start"

# A receiver that answers every POST with a passive reply envelope.
rport=$(ww_port)
printf '<xml><ToUserName>lisi</ToUserName><FromUserName>%s</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>reply: on my way</Content></xml>' \
	"$CORP" | cb -T "$(date +%s)" -n 777 reply >"$WW_TMP/reply.xml" ||
	ww_bail "wecom-callback reply failed"
cat >"$WW_TMP/replier.py" <<'PY'
import http.server, sys
body = open(sys.argv[2], "rb").read()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
ww_spawn replier python3 "$WW_TMP/replier.py" "$rport" "$WW_TMP/reply.xml"
ww_wait_port 127.0.0.1 "$rport" 10 || ww_bail "replier did not start"

mkdir -p "$WW_TMP/keys"
printf '%s\n' "$TOKEN" >"$WW_TMP/keys/token"
printf '%s\n' "$KEY" >"$WW_TMP/keys/aeskey"
chmod 600 "$WW_TMP/keys/token" "$WW_TMP/keys/aeskey"
cat >"$WW_TMP/policy.yaml" <<'POLICY'
version: 1
rules:
  - id: inbound-falcon
    scope: { direction: inbound }
    match: {keywords: [falcon]}
    action: block
POLICY
port=$(ww_port)
admin=$(ww_port)
journal=$WW_TMP/journal
conf=$WW_TMP/wwgate.yaml
write_conf() { # write_conf AESKEYFILE
	cat >"$conf" <<CONF
gateway_id: gw-callback
workers: 2
listen:
  - address: 127.0.0.1:$port
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream:
  url: https://127.0.0.1:9
  ca_file: $certs/ca.crt
journal: { path: $journal, sync: full }
policy: { file: $WW_TMP/policy.yaml }
admin: { address: 127.0.0.1:$admin }
callbacks:
  - path: /wecom/callback
    forward_to: $(ww_fake_url recv)/internal/cb
    token_file: $WW_TMP/keys/token
    aes_key_file: $1
    receive_id: $CORP
  - path: /wecom/replying
    forward_to: http://127.0.0.1:$rport/cb
    token_file: $WW_TMP/keys/token
    aes_key_file: $1
    receive_id: $CORP
callback: { max_skew: 300 }
CONF
}

ww_plan 39

# 0. a key file others can read is refused at start
cp "$WW_TMP/keys/aeskey" "$WW_TMP/keys/open"
chmod 644 "$WW_TMP/keys/open"
write_conf "$WW_TMP/keys/open"
out=$(timeout 20 "$top_builddir/wwgate" -c "$conf" 2>&1)
ww_like "$out" 'others may read it' "a world-readable key file is refused"
ww_nok "and wwgate -t says so" "$top_builddir/wwgate" -t -c "$conf"

# configuration mistakes name the route and the key
write_conf "$WW_TMP/keys/aeskey"
sed -e 's|^    token_file: .*|    token_env: WW_NO_SUCH_VAR\n&|' \
	-e 's|path: /wecom/replying|path: /wecom/callback|' "$conf" >"$WW_TMP/bad.yaml"
out=$("$top_builddir/wwgate" -t -c "$WW_TMP/bad.yaml" 2>&1)
ww_like "$out" 'callbacks\[0\].*exactly one of token_file, token_env' \
	"a route with two Token sources is refused"
sed 's|forward_to: http://127.0.0.1:\([0-9]*\)/cb|forward_to: ftp://127.0.0.1:\1/cb|' \
	"$conf" >"$WW_TMP/bad2.yaml"
ww_like "$("$top_builddir/wwgate" -t -c "$WW_TMP/bad2.yaml" 2>&1)" \
	'forward_to: expected http://host' "a non-http receiver is refused"
ww_like "$out" 'path /wecom/callback is already a route' "a duplicate path is refused"

ww_start_gateway "$conf" || ww_bail "wwgate did not start"
url=https://127.0.0.1:$port
wwj() { "$top_builddir/wwjournal" -j "$journal" "$@"; }
callbacks() { wwj export --format jsonl 2>/dev/null | jq -c 'select(.kind == "CALLBACK")'; }
# journal_has REGEX: wwjournal list matches within 5 s (OUTCOME records are
# not waited for by the answer).
journal_has() {
	local i
	for ((i = 0; i < 50; i++)); do
		wwj list 2>/dev/null | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
last_callback() { wwj show "$(callbacks | tail -n 1 | jq -r .seq)" 2>&1; }
post() { # post PATH QUERY BODYFILE: prints "BODY STATUS"
	ww_curl -H 'Content-Type: text/xml' --data-binary "@$3" \
		-w ' %{http_code}' "$url$1?$2"
}
make_cb() { # make_cb NAME TIMESTAMP: plaintext on stdin -> NAME.q, NAME.xml
	cb -T "$2" -n "$RANDOM$RANDOM" post >"$WW_TMP/$1.out" || return 1
	head -n 1 "$WW_TMP/$1.out" >"$WW_TMP/$1.q"
	tail -n +2 "$WW_TMP/$1.out" >"$WW_TMP/$1.xml"
}
now=$(date +%s)

# 1. an encrypted text callback: byte-identical to the receiver, journaled
printf '<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[please send me the customer list]]></Content><MsgId>7302184419302312345</MsgId><AgentID>1000002</AgentID></xml>' \
	"$CORP" "$now" | make_cb text "$now" || ww_bail "wecom-callback failed"
out=$(post /wecom/callback "$(cat "$WW_TMP/text.q")" "$WW_TMP/text.xml")
ww_is "$out" "success 200" "a text callback gets the receiver's answer"
ww_is "$(ww_fake_count recv)" 1 "and reached the internal receiver once"
ww_fake_body recv -1 "$WW_TMP/got.xml"
ww_ok "byte-identical (still encrypted)" cmp "$WW_TMP/text.xml" "$WW_TMP/got.xml"
ww_is "$(ww_fake_get recv -1 .path)" "/internal/cb?$(cat "$WW_TMP/text.q")" \
	"on the route's path, with the original query"
rec=$(callbacks | jq -c 'select(.msgtype == "text")' | head -n 1)
ww_is "$(jq -r .direction <<<"$rec")" inbound "journaled as a CALLBACK, direction inbound"
ww_is "$(jq -r .sender <<<"$rec")" zhangsan "with the sender"
ww_like "$(jq -c . <<<"$rec")" 'please send me the customer list' "and the text"

# 2. WeCom retries the same callback: forwarded again, journaled once
n=$(callbacks | wc -l)
out=$(post /wecom/callback "$(cat "$WW_TMP/text.q")" "$WW_TMP/text.xml")
ww_is "$out" "success 200" "a retry is answered"
ww_is "$(ww_fake_count recv)" 2 "and forwarded again"
ww_is "$(callbacks | wc -l)" "$n" "but not journaled twice"

# 3. a replayed old callback is refused and recorded
printf '<xml><ToUserName>%s</ToUserName><FromUserName>zhangsan</FromUserName><MsgType>text</MsgType><Content>old news</Content></xml>' \
	"$CORP" | make_cb old $((now - 3600)) || ww_bail "wecom-callback failed"
out=$(post /wecom/callback "$(cat "$WW_TMP/old.q")" "$WW_TMP/old.xml")
ww_like "$out" ' 403$' "a callback outside the time window is refused"
ww_is "$(ww_fake_count recv)" 2 "and never reaches the receiver"
ww_ok "and is recorded as a replay" journal_has 'OUTCOME.*not forwarded \(replay'


# 4. a bad signature is refused and recorded
printf '<xml><ToUserName>%s</ToUserName><MsgType>text</MsgType><Content>x</Content></xml>' \
	"$CORP" | make_cb bad "$now" || ww_bail "wecom-callback failed"
q=$(sed 's/msg_signature=[0-9a-f]*/msg_signature=0000000000000000000000000000000000000000/' "$WW_TMP/bad.q")
out=$(post /wecom/callback "$q" "$WW_TMP/bad.xml")
ww_like "$out" ' 403$' "a bad signature is refused"
ww_is "$(ww_fake_count recv)" 2 "and never reaches the receiver"
ww_like "$(last_callback)" 'bad signature' "and is recorded"
ww_ok "with its refusal" journal_has 'OUTCOME.*not forwarded \(invalid signature'


# 4b. hostile content: an entity bomb inside a valid callback, bad base64
printf '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><xml><MsgType>text</MsgType><Content>&lol2;</Content></xml>' |
	make_cb bomb "$now" || ww_bail "wecom-callback failed"
out=$(post /wecom/callback "$(cat "$WW_TMP/bomb.q")" "$WW_TMP/bomb.xml")
ww_like "$out" ' 400$' "an entity bomb is refused"
ww_like "$(last_callback)" 'DOCTYPE refused' "and recorded with the reason"
sed 's|<Encrypt><!\[CDATA\[|&*|' "$WW_TMP/text.xml" >"$WW_TMP/b64.xml"
out=$(post /wecom/callback "$(cat "$WW_TMP/text.q")" "$WW_TMP/b64.xml")
ww_like "$out" ' 403$' "an altered Encrypt fails its signature"
enc='bm90*YmFzZTY0'
sig=$(printf '%s\n' "$TOKEN" "$now" 99 "$enc" | LC_ALL=C sort | tr -d '\n' |
	openssl dgst -sha1 -r | cut -c1-40)
printf '<xml><ToUserName>%s</ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>' \
	"$CORP" "$enc" >"$WW_TMP/b64s.xml"
out=$(post /wecom/callback "msg_signature=$sig&timestamp=$now&nonce=99" "$WW_TMP/b64s.xml")
ww_like "$out" ' 400$' "bad base64 under a good signature is refused"
ww_like "$(last_callback)" 'bad base64' "and recorded with the reason"
ww_is "$(ww_fake_count recv)" 2 "none of them reaches the receiver"

# 5. an inbound block rule: the receiver never sees it, WeCom gets success
printf '<xml><ToUserName>%s</ToUserName><FromUserName>wangwu</FromUserName><MsgType>text</MsgType><Content>the Falcon numbers</Content><AgentID>1000002</AgentID></xml>' \
	"$CORP" | make_cb blk "$now" || ww_bail "wecom-callback failed"
out=$(post /wecom/callback "$(cat "$WW_TMP/blk.q")" "$WW_TMP/blk.xml")
ww_is "$out" "success 200" "a blocked callback gets success"
ww_is "$(ww_fake_count recv)" 2 "and never reaches the receiver"
ww_like "$(callbacks | jq -c 'select(.sender == "wangwu")')" 'block' \
	"and is journaled with its verdict"

# 6. a passive reply is decrypted and journaled (direction outbound)
printf '<xml><ToUserName>%s</ToUserName><FromUserName>lisi</FromUserName><MsgType>text</MsgType><Content>where are you</Content></xml>' \
	"$CORP" | make_cb rep "$now" || ww_bail "wecom-callback failed"
out=$(post /wecom/replying "$(cat "$WW_TMP/rep.q")" "$WW_TMP/rep.xml")
ww_is "${out% *}" "$(cat "$WW_TMP/reply.xml")" "the passive reply goes back unchanged"
ww_like "$(callbacks | jq -c 'select(.direction == "outbound")')" \
	'reply: on my way' "and is journaled as an outbound message"

# 7. URL verification: signature checked, the receiver's answer back
q=$(cb -T "$now" -n 4242 get 1616140317555161061)
out=$(ww_curl -w ' %{http_code}' "$url/wecom/callback?$q")
ww_like "$out" ' 200$' "a URL verification is forwarded and answered"
q=$(sed 's/msg_signature=[0-9a-f]*/msg_signature=1111111111111111111111111111111111111111/' <<<"$q")
out=$(ww_curl -w ' %{http_code}' "$url/wecom/callback?$q")
ww_like "$out" ' 403$' "a verification with a bad signature is refused"

# 8. the JSON variant (wecom-api.md 5.7): same crypto, JSON envelope
printf '{"ToUserName":"%s","FromUserName":"zhaoliu","CreateTime":%s,"MsgType":"text","Content":"json hello","MsgId":"99","AgentID":1000002}' \
	"$CORP" "$now" | make_cb js "$now" || ww_bail "wecom-callback failed"
enc=$(sed 's/.*<Encrypt><!\[CDATA\[\([^]]*\)\]\].*/\1/' "$WW_TMP/js.xml")
printf '{"tousername":"%s","encrypt":"%s","agentid":"1000002"}' "$CORP" "$enc" \
	>"$WW_TMP/js.json"
n=$(ww_fake_count recv)
out=$(post /wecom/callback "$(cat "$WW_TMP/js.q")" "$WW_TMP/js.json")
ww_is "$out" "success 200" "a JSON-variant callback is answered"
ww_is "$(ww_fake_count recv)" $((n + 1)) "and forwarded"
ww_like "$(callbacks | jq -c 'select(.sender == "zhaoliu")')" 'json hello' \
	"and journaled with its sender and text"

# What the gateway itself added (WeCom allows 5 s; 1 s for verification).
ww_diag "gateway time per callback (us): $(grep -o 'gateway [0-9]* us' \
	"$(ww_gateway_log)" | awk '{print $2}' | sort -n | tr '\n' ' ')"
ww_stop_gateway
ww_ok "the journal with its callbacks verifies" wwj verify
