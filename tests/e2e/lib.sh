# lib.sh: the shared harness of the end-to-end tests (bash).
#
#   #!/bin/bash
#   . "${top_srcdir:-$(dirname "$0")/../..}/tests/e2e/lib.sh"
#   ww_plan 3
#   ww_start_fake up                 # TLS fake WeCom on a port of its own
#   ww_ok "send" ww_curl -o "$WW_TMP/out" "$(ww_fake_url up)/cgi-bin/..."
#   ww_is "$(ww_fake_get up -1 .method)" POST "recorded as a POST"
#
# make check exports top_srcdir and top_builddir (absolute); by hand:
#   top_builddir=$PWD/build/NAME tests/e2e/foo.sh
#
# Everything a test starts is recorded and stopped by the EXIT trap (TERM,
# then KILL after a bounded wait); $WW_TMP is removed unless WW_KEEP=1.
# Every wait is bounded in time.  Functions that start processes or change
# state (ww_spawn, ww_start_*) must be called in the test's own shell, not
# inside $( ); the getters (ww_fake_port, ww_port, ...) are made for $( ).
#
# Needs: bash, curl, openssl, jq, coreutils (scripts/deps installs them).

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

WW_TAP_N=0
WW_TAP_FAILED=0
WW_TAP_PLANNED=
WW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/wwgate-e2e.XXXXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
WW_PORT_LOCKS=${TMPDIR:-/tmp}/wwgate-test-ports
export WW_TMP

# ---------------------------------------------------------------- TAP

# ww_plan N: announce N tests (or call ww_done at the end instead).
ww_plan() {
	WW_TAP_PLANNED=$1
	echo "1..$1"
}

# ww_skip_all REASON: skip the whole script (a clear SKIP, not a pass).
ww_skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

ww_pass() {
	WW_TAP_N=$((WW_TAP_N + 1))
	echo "ok $WW_TAP_N - $*"
}

ww_fail() {
	WW_TAP_N=$((WW_TAP_N + 1))
	WW_TAP_FAILED=$((WW_TAP_FAILED + 1))
	echo "not ok $WW_TAP_N - $*"
}

# ww_diag MSG...: a TAP comment (each line prefixed with "# ").
ww_diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

# ww_ok DESC CMD...: passes when CMD exits 0; its output goes to diag on
# failure.  ww_nok DESC CMD...: passes when CMD fails.
ww_ok() {
	local desc=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if [ $rc -eq 0 ]; then
		ww_pass "$desc"
	else
		ww_fail "$desc"
		ww_diag "command failed ($rc): $*"
		[ -n "$out" ] && ww_diag "$(printf '%s\n' "$out" | tail -n 20)"
	fi
	return 0
}

ww_nok() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		ww_fail "$desc"
		ww_diag "command unexpectedly succeeded: $*"
		[ -n "$out" ] && ww_diag "$(printf '%s\n' "$out" | tail -n 20)"
	else
		ww_pass "$desc"
	fi
	return 0
}

# ww_is GOT WANT DESC: string equality.
ww_is() {
	if [ "$1" = "$2" ]; then
		ww_pass "$3"
	else
		ww_fail "$3"
		ww_diag "got:  '$1'" "want: '$2'"
	fi
}

# ww_like GOT ERE DESC: GOT matches the extended regular expression.
ww_like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		ww_pass "$3"
	else
		ww_fail "$3"
		ww_diag "got:  '$1'" "want match: $2"
	fi
}

# ww_skip N REASON: skip the next N tests.
ww_skip() {
	local i
	for ((i = 0; i < $1; i++)); do
		WW_TAP_N=$((WW_TAP_N + 1))
		echo "ok $WW_TAP_N # SKIP $2"
	done
}

# ww_bail REASON: stop the whole run.
ww_bail() {
	echo "Bail out! $*"
	exit 1
}

# ww_done: print the plan if none was given; exit non-zero on failures.
ww_done() {
	[ -z "$WW_TAP_PLANNED" ] && echo "1..$WW_TAP_N"
	[ "$WW_TAP_FAILED" -eq 0 ]
	exit $?
}

# ---------------------------------------------------------- temp files

# ww_tmpdir [NAME]: a fresh directory under $WW_TMP (removed at exit).
ww_tmpdir() {
	mktemp -d "$WW_TMP/${1:-d}.XXXXXX"
}

# ------------------------------------------------------------ waiting

# ww_sleep_ms N
ww_sleep_ms() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# ww_wait_file FILE [SECONDS]: until FILE exists and is not empty.
ww_wait_file() {
	local i n=$((${2:-10} * 20))
	for ((i = 0; i < n; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# ww_port_open HOST PORT: something accepts TCP connections there.
ww_port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# ww_wait_port HOST PORT [SECONDS] [PID]: until the port accepts; gives up
# early when PID (the process that should listen) has died.
ww_wait_port() {
	local i n=$((${3:-10} * 20))
	for ((i = 0; i < n; i++)); do
		ww_port_open "$1" "$2" && return 0
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.05
	done
	return 1
}

# ------------------------------------------------------- free ports

# ww_port: print a loopback TCP port nobody listens on, reserved for this
# test script until it exits.  Ports come from outside the kernel's
# ephemeral range (where bind(0) servers and client sockets live): below
# it (from 10000) or, when it starts low, above it; an atomic mkdir under
# $WW_PORT_LOCKS keeps parallel scripts apart, and a lock whose owner died
# is taken over.
ww_port() {
	local i p owner lo=32768 hi=60999 base span
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	if [ "${lo:-32768}" -ge 12000 ]; then
		base=10000 span=$((lo - 10000))
	else
		base=$((hi + 1)) span=$((65535 - hi))
	fi
	[ "$span" -ge 100 ] || base=20000 span=10000
	mkdir -p "$WW_PORT_LOCKS" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		p=$((base + (RANDOM * 32768 + RANDOM) % span))
		if ! mkdir "$WW_PORT_LOCKS/$p" 2>/dev/null; then
			owner=$(cat "$WW_PORT_LOCKS/$p/owner" 2>/dev/null)
			# an empty owner is a lock being taken right now
			[ -z "$owner" ] && continue
			kill -0 "$owner" 2>/dev/null && continue
			rm -rf "$WW_PORT_LOCKS/$p"
			mkdir "$WW_PORT_LOCKS/$p" 2>/dev/null || continue
		fi
		echo $$ >"$WW_PORT_LOCKS/$p/owner"
		if ww_port_open 127.0.0.1 "$p"; then
			continue # in use by someone else: keep it locked
		fi
		echo "$p"
		return 0
	done
	echo "ww_port: no free port found" >&2
	return 1
}

ww_release_ports() {
	local d
	for d in "$WW_PORT_LOCKS"/*/; do
		[ "$(cat "$d/owner" 2>/dev/null)" = "$$" ] && rm -rf "$d"
	done
	return 0
}

# ---------------------------------------------------------- processes

# ww_spawn NAME CMD...: start CMD in the background, output in
# $WW_TMP/NAME.log, its pid in $WW_TMP/NAME.pid (the program's own pid:
# signals sent to it reach the program); stopped at exit.  A watcher
# subshell waits for it and writes its exit status to $WW_TMP/NAME.status,
# so ww_exit_status and ww_stop work from any subshell ($( ) included).
ww_spawn() {
	local name=$1 i
	shift
	rm -f "$WW_TMP/$name.pid" "$WW_TMP/$name.status"
	(
		"$@" >"$WW_TMP/$name.log" 2>&1 </dev/null &
		cpid=$!
		echo $cpid >"$WW_TMP/$name.pid.tmp"
		mv "$WW_TMP/$name.pid.tmp" "$WW_TMP/$name.pid"
		wait $cpid
		echo $? >"$WW_TMP/$name.status.tmp" &&
			mv "$WW_TMP/$name.status.tmp" "$WW_TMP/$name.status"
	) >/dev/null 2>&1 &
	for ((i = 0; i < 500; i++)); do
		[ -s "$WW_TMP/$name.pid" ] && break
		sleep 0.01
	done
	cat "$WW_TMP/$name.pid" >>"$WW_TMP/.pids"
}

ww_pid() {
	cat "$WW_TMP/$1.pid" 2>/dev/null
}

ww_alive() {
	local pid
	pid=$(ww_pid "$1") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# ww_stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (5).
# Returns 0 when it ended on TERM (or had already ended), 1 when it had to
# be killed.
ww_stop_pid() {
	local pid=$1 i n=$((${2:-5} * 20))
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < n; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	for ((i = 0; i < 40; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# ww_exit_status NAME [SECONDS]: wait (at most SECONDS, default 10) for
# what ww_spawn NAME started to end, and print its exit status (128+N when
# signal N ended it).  Fails if it is still running.
ww_exit_status() {
	local i n=$((${2:-10} * 20))
	for ((i = 0; i < n; i++)); do
		[ -s "$WW_TMP/$1.status" ] && break
		sleep 0.05
	done
	cat "$WW_TMP/$1.status" 2>/dev/null
}

# ww_stop NAME [SECONDS]: stop what ww_spawn NAME started: SIGTERM, SIGKILL
# after SECONDS (5).  Returns its exit status (a sanitizer's report at exit
# makes it non-zero; 143 for a program that lets TERM kill it), 1 when it
# had to be killed.
ww_stop() {
	local pid st
	pid=$(ww_pid "$1") || return 0
	ww_stop_pid "$pid" "${2:-5}" || return 1
	st=$(ww_exit_status "$1" 2) || return 1
	return "${st:-1}"
}

ww_cleanup() {
	local pid
	trap - EXIT INT TERM
	if [ -f "$WW_TMP/.pids" ]; then
		while read -r pid; do
			ww_stop_pid "$pid" 3
		done <"$WW_TMP/.pids"
	fi
	ww_release_ports
	if [ "${WW_KEEP:-0}" = 1 ]; then
		echo "# kept $WW_TMP"
	else
		# a watcher may still be writing a status file: retry once
		rm -rf "$WW_TMP" 2>/dev/null || { sleep 0.2; rm -rf "$WW_TMP"; }
	fi
}
trap ww_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ TLS

# ww_mkcerts DIR [HOST...]: a throwaway CA and certificates (tests/mkcerts).
ww_mkcerts() {
	"$top_srcdir/tests/mkcerts" "$@"
}

# ww_certs_dir: the script's default test CA and certificates (made once;
# their server certificate is valid for localhost, 127.0.0.1 and ::1 and
# the names in $WW_CERT_HOSTS).
ww_certs_dir() {
	local d=$WW_TMP/certs
	# shellcheck disable=SC2086
	[ -s "$d/server.crt" ] || ww_mkcerts "$d" ${WW_CERT_HOSTS:-} >&2 ||
		return 1
	echo "$d"
}

# ww_curl ARGS...: curl with a bounded time, trusting $WW_CACERT (default:
# the test CA).  Prints the body; exit status is curl's.
ww_curl() {
	local ca=${WW_CACERT:-}
	[ -n "$ca" ] || ca=$(ww_certs_dir)/ca.crt
	curl -sS --max-time "${WW_CURL_TIMEOUT:-10}" --cacert "$ca" "$@"
}

# ---------------------------------------------------------- fake WeCom

# ww_start_fake [NAME] [fake-wecom options...]: start tests/fake-wecom on a
# port the kernel picks, over TLS with the test certificates unless
# --plain is given; records into $(ww_fake_records NAME).
ww_start_fake() {
	local name=${1:-fake} d tls=1 a
	[ $# -gt 0 ] && shift
	d=$WW_TMP/$name
	mkdir -p "$d"
	for a in "$@"; do [ "$a" = --plain ] && tls=0; done
	set -- --listen 127.0.0.1:0 --port-file "$d/port" --record \
		"$d/records.jsonl" --pid-file "$d/pid" "$@"
	if [ $tls = 1 ]; then
		local c
		c=$(ww_certs_dir) || return 1
		set -- --cert "$c/server.crt" --key "$c/server.key" "$@"
		echo https >"$d/scheme"
	else
		echo http >"$d/scheme"
	fi
	: >"$d/records.jsonl"
	ww_spawn "$name" "$top_builddir/tests/fake-wecom" "$@"
	if ! ww_wait_file "$d/port" 10; then
		ww_diag "fake-wecom $name did not start:" \
			"$(tail -n 20 "$WW_TMP/$name.log")"
		return 1
	fi
}

ww_fake_port() {
	cat "$WW_TMP/${1:-fake}/port"
}

# ww_fake_url [NAME]: https://127.0.0.1:PORT (http:// with --plain).
ww_fake_url() {
	echo "$(cat "$WW_TMP/${1:-fake}/scheme")://127.0.0.1:$(ww_fake_port "${1:-fake}")"
}

# ww_fake_records [NAME]: the path of NAME's record file (JSON lines:
# seq, time, method, path (with query), headers ([[name, value], ...]),
# body, body_base64, tls, sni, mode).
ww_fake_records() {
	echo "$WW_TMP/${1:-fake}/records.jsonl"
}

# ww_fake_count [NAME]: how many requests NAME recorded.
ww_fake_count() {
	local n
	n=$(wc -l <"$(ww_fake_records "${1:-fake}")") || return 1
	echo $((n))
}

# ww_fake_get NAME INDEX JQFILTER: jq -r FILTER on record INDEX (1 is the
# first, -1 the last).  E.g. ww_fake_get up -1 .path
ww_fake_get() {
	local f
	f=$(ww_fake_records "$1")
	jq -rs --argjson i "$2" \
		"if \$i < 0 then .[\$i] else .[\$i - 1] end | $3" "$f"
}

# ww_fake_header NAME INDEX HEADER: a header of a record (case-insensitive).
ww_fake_header() {
	ww_fake_get "$1" "$2" \
		".headers[] | select(.[0] | ascii_downcase == \"$(echo "$3" |
			tr 'A-Z' 'a-z')\") | .[1]"
}

# ww_fake_body NAME INDEX FILE: write record INDEX's body bytes to FILE.
ww_fake_body() {
	if [ "$(ww_fake_get "$1" "$2" .body_base64)" = true ]; then
		ww_fake_get "$1" "$2" .body | base64 -d >"$3"
	else
		ww_fake_get "$1" "$2" .body | head -c -1 >"$3"
	fi
}

# ww_fake_clear [NAME]: forget what NAME recorded so far (the fake appends
# to the emptied file).
ww_fake_clear() {
	: >"$(ww_fake_records "${1:-fake}")"
}

# ww_fake_wait_count NAME N [SECONDS]: until NAME recorded N requests.
ww_fake_wait_count() {
	local i n=$((${3:-10} * 20))
	for ((i = 0; i < n; i++)); do
		[ "$(ww_fake_count "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

# ww_fake_mode NAME MODE [JSON-FIELDS]: switch NAME's behaviour, e.g.
#   ww_fake_mode up error '"errcode":60020,"errmsg":"not allow"'
#   ww_fake_mode up stall '"delay_ms":2000'
ww_fake_mode() {
	local body="{\"mode\":\"$2\"${3:+,$3}}"
	ww_curl -o /dev/null -f -X POST -H 'Content-Type: application/json' \
		--data-binary "$body" "$(ww_fake_url "$1")/__fake/mode"
}

ww_stop_fake() {
	ww_stop "${1:-fake}"
}

# ------------------------------------------------------------ wwgate

# ww_start_gateway CONFIG [HOST:PORT]: run "$top_builddir/wwgate -c CONFIG"
# in the background (log: $WW_TMP/wwgate.log) and wait (bounded) until
# HOST:PORT accepts: by default the first "address:" in CONFIG.  Fails,
# with the log's tail as TAP diagnostics, if it exits or never listens.
ww_start_gateway() {
	local conf=$1 addr=${2:-} host port
	if [ -z "$addr" ]; then
		addr=$(sed -n 's/^[[:space:]-]*address:[[:space:]]*"\{0,1\}\([^"[:space:]#]*\).*/\1/p' \
			"$conf" | head -n 1)
	fi
	host=${addr%:*}
	port=${addr##*:}
	host=${host#[}
	host=${host%]}
	if [ -z "$host" ] || [ -z "$port" ]; then
		ww_diag "ww_start_gateway: no listen address in $conf"
		return 1
	fi
	ww_spawn wwgate "$top_builddir/wwgate" -c "$conf"
	if ! ww_wait_port "$host" "$port" "${WW_START_TIMEOUT:-15}" \
		"$(ww_pid wwgate)"; then
		ww_diag "wwgate did not start on $addr:" \
			"$(tail -n 30 "$WW_TMP/wwgate.log")"
		return 1
	fi
}

# ww_stop_gateway [SECONDS]: SIGTERM, SIGKILL after SECONDS (default 10).
ww_stop_gateway() {
	ww_stop wwgate "${1:-10}"
}

ww_gateway_log() {
	echo "$WW_TMP/wwgate.log"
}

# ------------------------------------------------------ privileges

# ww_have_netns: can this test create network namespaces (root, ip, and
# a kernel and container that allow it)?  Use it to skip, with a clear
# reason, tests that need a namespace of their own:
#   ww_have_netns || ww_skip_all "needs root and ip netns"
ww_have_netns() {
	local ns=wwtest$$
	[ "$(id -u)" -eq 0 ] || return 1
	command -v ip >/dev/null || return 1
	ip netns add "$ns" 2>/dev/null || return 1
	ip netns del "$ns" 2>/dev/null
	return 0
}
