#!/bin/bash
# config.sh: wwgate's command line and configuration check (-t).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"

gw=$top_builddir/wwgate
ww_plan 18

out=$("$gw" --version 2>&1)
ww_like "$out" '^wwgate [0-9]+\.[0-9]+' "--version prints the version"
out=$("$gw" --help 2>&1)
ww_like "$out" 'SIGHUP' "--help explains the signals"
ww_like "$out" 'wwgate -c .* -t' "--help shows examples"
"$gw" --bogus >/dev/null 2>&1
ww_is "$?" 2 "an unknown option is a usage error (2)"

# The sample configuration, run from a directory laid out like the
# repository root with test certificates under var/certs.
root=$(ww_tmpdir root)
ln -s "$top_srcdir/contrib" "$root/contrib"
out=$(cd "$root" && "$gw" -c contrib/wwgate.yaml -t 2>&1)
ww_is "$?" 1 "-t fails on the sample when its certificates are missing"
ww_like "$out" 'contrib/wwgate.yaml:[0-9]+: listen\[0\]\.tls: .*var/certs/server\.crt' \
	"the missing certificate is named with file, line and key"
ww_mkcerts "$root/var/certs" >/dev/null 2>&1
out=$(cd "$root" && "$gw" -c contrib/wwgate.yaml -t 2>&1)
ww_is "$?:$out" "0:configuration ok" "-t accepts the sample configuration"

# Configurations with one mistake each.
certs=$(ww_certs_dir)
conf=$WW_TMP/bad.yaml
write_conf() { # $1: extra lines at the end, $2: the mode
	cat >"$conf" <<CONF
listen:
  - address: 127.0.0.1:$(ww_port)
    mode: ${2:-reverse}
    tls: { cert: $certs/server.crt, key: $certs/server.key }
upstream: { url: https://127.0.0.1:1 }
journal: { path: $WW_TMP/journal }
policy: { file: ${POLICY:-$top_srcdir/contrib/policy/default.yaml} }
$1
CONF
}
check() { "$gw" -c "$conf" -t 2>&1; }

write_conf "limits: { max_body_bytes: 1MiB, max_bodybytes: 3 }"
out=$(check)
ww_is "$?" 1 "an unknown key fails -t"
ww_like "$out" "bad\.yaml:8: limits\.max_bodybytes: unknown key" \
	"an unknown key is named with its line"
write_conf "" foo
ww_like "$(check)" "bad\.yaml:3: listen\[0\]\.mode: expected reverse\|explicit\|transparent, got 'foo'" \
	"a bad value names line, key, choices and value"
write_conf "workers: [1]"
ww_like "$(check)" "bad\.yaml:8: workers: expected a scalar, got a list" \
	"a wrong type is reported"
sed -i '/^journal:/d' "$conf"
ww_like "$(check)" "journal\.path: required key missing" \
	"a missing required key is reported"
out=$("$gw" -c "$WW_TMP/none.yaml" -t 2>&1)
ww_is "$?" 1 "a missing configuration file fails"

# The policy is compiled by -t.
printf 'version: 1\nrules:\n  - id: x\n    action: explode\n' >"$WW_TMP/broken.yaml"
POLICY=$WW_TMP/broken.yaml write_conf ""
out=$(check)
ww_is "$?" 1 "a policy that does not compile fails -t"
ww_like "$out" "broken\.yaml" "the policy's errors are printed"

write_conf "intercept: { hosts: [qyapi.weixin.qq.com] }" transparent
ww_like "$(check)" "intercept\.ca\.cert: required key missing" \
	"intercepting hosts without an interception CA fails -t"

# a key that would do nothing is said, not an error
write_conf "transparent: { tproxy: true }"
out=$(check)
ww_is "$?" 0 "transparent.tproxy without a transparent listener passes -t"
ww_like "$out" "transparent\.tproxy is set, but no listener has mode transparent" \
	"and is warned about"

ww_done
