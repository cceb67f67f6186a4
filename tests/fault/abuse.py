#!/usr/bin/env python3
"""abuse.py: hostile clients for tests/fault/abuse.sh.  Every socket
operation has a timeout and every loop a bound.

  abuse.py CMD --port P --ca CA [options]
    idle -n N --hold S --pid PID
        open N TLS connections (handshake done, nothing sent), keep them
        S seconds; prints "opened RSS_BEFORE RSS_WITH HWM" of PID (bytes,
        /proc/PID/status) then "alive" = how many were still open at the end
    slowloris -n N --seconds S
        N connections each send a request's headers one byte every 100 ms;
        prints "closed408 closed other" after S seconds
    slowbody -n N --seconds S
        N connections send complete headers, then the body one byte every
        100 ms; prints "closed open" after S seconds
    flood -n N
        N connections opened and dropped at once (half right after the TCP
        connect, half after the handshake); prints the count done
    attacks
        one connection per malformed request; prints "NAME STATUS" lines
        (STATUS: the HTTP status answered, or CLOSED / RESET / TIMEOUT)
"""
import argparse
import os
import select
import socket
import ssl
import sys
import time

TIMEOUT = 10


def rss(pid):
    """(VmRSS, VmHWM) of pid in bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def ctx_for(args):
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False
    return ctx


def tls(args, ctx=None):
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    s = (ctx or ctx_for(args)).wrap_socket(
        raw, server_hostname="qyapi.weixin.qq.com")
    s.settimeout(TIMEOUT)
    return s


def closed(s):
    """(closed?, data) without blocking."""
    try:
        # poll, not select: descriptors go far past FD_SETSIZE here
        p = select.poll()
        p.register(s, select.POLLIN)
        r = p.poll(0)
        if not r and not (hasattr(s, "pending") and s.pending()):
            return False, b""
        s.setblocking(False)
        try:
            data = s.recv(4096)
        finally:
            s.setblocking(True)
        return data == b"", data
    except ssl.SSLWantReadError:
        return False, b""
    except OSError:
        return True, b""


def cmd_idle(args):
    ctx = ctx_for(args)
    before = rss(args.pid)[0]
    socks = []
    for _ in range(args.n):
        try:
            socks.append(tls(args, ctx))
        except OSError as e:
            print("open failed after %d: %s" % (len(socks), e), file=sys.stderr)
            break
    time.sleep(min(args.hold, 2))
    with_conns, hwm = rss(args.pid)
    print(len(socks), before, with_conns, hwm)
    time.sleep(max(0, args.hold - 2))
    alive = sum(1 for s in socks if not closed(s)[0])
    print(alive)
    for s in socks:
        s.close()


def slow(args, head, body):
    ctx = ctx_for(args)
    socks = []
    for _ in range(args.n):
        try:
            s = tls(args, ctx)
            if head:
                s.sendall(head)
            socks.append([s, 0, None])
        except OSError:
            pass
    data = body if body is not None else head_bytes()
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and any(x[2] is None for x in socks):
        for x in socks:
            if x[2] is not None:
                continue
            done, got = closed(x[0])
            if got:
                x[2] = "408" if b" 408 " in got else "other"
                continue
            if done:
                x[2] = "closed"
                continue
            try:
                x[0].send(data[x[1] % len(data):x[1] % len(data) + 1])
                x[1] += 1
            except OSError:
                x[2] = "closed"
        time.sleep(0.1)
    res = [x[2] for x in socks]
    for x in socks:
        x[0].close()
    return res


def head_bytes():
    return (b"POST /cgi-bin/message/send?access_token=T HTTP/1.1\r\n"
            b"Host: qyapi.weixin.qq.com\r\nX-Pad: " + b"a" * 4000 + b"\r\n")


def cmd_slowloris(args):
    res = slow(args, None, None)
    print(res.count("408"), res.count("closed") + res.count("other"))


def cmd_slowbody(args):
    head = (b"POST /cgi-bin/message/send?access_token=T HTTP/1.1\r\n"
            b"Host: qyapi.weixin.qq.com\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n")
    res = slow(args, head, b'{"touser":"a","text":{"content":"' + b"x" * 1000)
    print(len(res) - res.count(None), res.count(None))


def cmd_flood(args):
    ctx = ctx_for(args)
    done = 0
    for i in range(args.n):
        try:
            if i % 2:
                s = tls(args, ctx)
            else:
                s = socket.create_connection(("127.0.0.1", args.port),
                                             timeout=TIMEOUT)
            s.close()
            done += 1
        except OSError:
            pass
    print(done)


def req(path, headers, body=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: qyapi.weixin.qq.com\r\n"
            + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


def json_req(body):
    return req(b"/cgi-bin/message/send?access_token=T",
               [b"Content-Type: application/json",
                b"Content-Length: %d" % len(body)], body)


SMUGGLED = (b"GET /cgi-bin/smuggled?access_token=T HTTP/1.1\r\n"
            b"Host: qyapi.weixin.qq.com\r\n\r\n")
MSG = b'{"touser":"a","msgtype":"text","agentid":1,"text":{"content":"hi"}}'


def attacks():
    big_head = req(b"/cgi-bin/message/send?access_token=T",
                   [b"X-Big: " + b"h" * 40000, b"Content-Length: 0"])
    many_heads = req(b"/cgi-bin/message/send?access_token=T",
                     [b"X-H%d: v" % i for i in range(5000)] +
                     [b"Content-Length: 0"])
    chunked_sm = b"0\r\n\r\n" + SMUGGLED
    return [
        ("oversized_header", big_head),
        ("many_headers", many_heads),
        ("oversized_body", req(b"/cgi-bin/message/send?access_token=T",
                               [b"Content-Type: application/json",
                                b"Content-Length: 5000000"],
                               b"{" + b" " * 200000)),
        ("oversized_chunked", req(b"/cgi-bin/message/send?access_token=T",
                                  [b"Content-Type: application/json",
                                   b"Transfer-Encoding: chunked"],
                                  b"".join(b"10000\r\n" + b" " * 65536 + b"\r\n"
                                           for _ in range(20)))),
        ("cl_te", req(b"/cgi-bin/message/send?access_token=T",
                      [b"Content-Length: %d" % len(chunked_sm),
                       b"Transfer-Encoding: chunked"], chunked_sm)),
        ("te_cl", req(b"/cgi-bin/message/send?access_token=T",
                      [b"Transfer-Encoding: chunked",
                       b"Content-Length: 4"], chunked_sm)),
        ("double_cl", req(b"/cgi-bin/message/send?access_token=T",
                          [b"Content-Length: 0",
                           b"Content-Length: %d" % len(SMUGGLED)], SMUGGLED)),
        ("cl_list", req(b"/cgi-bin/message/send?access_token=T",
                        [b"Content-Length: 0, %d" % len(SMUGGLED)], SMUGGLED)),
        ("te_obfuscated", req(b"/cgi-bin/message/send?access_token=T",
                              [b"Transfer-Encoding: xchunked",
                               b"Content-Length: %d" % len(chunked_sm)],
                              chunked_sm)),
        ("te_space", req(b"/cgi-bin/message/send?access_token=T",
                         [b"Transfer-Encoding : chunked"], chunked_sm)),
        ("chunk_overflow", req(b"/cgi-bin/message/send?access_token=T",
                               [b"Transfer-Encoding: chunked"],
                               b"FFFFFFFFFFFFFFFFFFFFFFFF1\r\nx\r\n0\r\n\r\n")),
        ("chunk_negative", req(b"/cgi-bin/message/send?access_token=T",
                               [b"Transfer-Encoding: chunked"],
                               b"-1\r\nx\r\n0\r\n\r\n")),
        ("chunk_ext_bomb", req(b"/cgi-bin/message/send?access_token=T",
                               [b"Transfer-Encoding: chunked"],
                               b"2;" + b"e" * 100000 + b"\r\nhi\r\n0\r\n\r\n")),
        ("cl_overflow", req(b"/cgi-bin/message/send?access_token=T",
                            [b"Content-Length: 99999999999999999999999"],
                            b"x")),
        # bare LF ends lines (RFC 9112 §2.2 allows it); the request after
        # it is an ordinary pipelined one, not smuggled
        ("bare_lf", b"POST /cgi-bin/message/send?access_token=T HTTP/1.1\n"
                    b"Host: q\nContent-Length: 0\n\n" +
                    SMUGGLED.replace(b"smuggled", b"pipelined")),
        ("obs_fold", req(b"/cgi-bin/message/send?access_token=T",
                         [b"X-A: 1", b" folded", b"Content-Length: 0"])),
        ("nul_in_header", req(b"/cgi-bin/message/send?access_token=T",
                              [b"X-A: a\x00b", b"Content-Length: 0"])),
        ("invalid_utf8", json_req(b'{"touser":"a","msgtype":"text","agentid":1,'
                                  b'"text":{"content":"bad \xff\xfe \xc0\xaf \xed\xa0\x80"}}')),
        ("nested_json", json_req(b'{"touser":"a","msgtype":"text","x":' +
                                 b"[" * 100000 + b"]" * 100000 + b"}")),
        ("nested_objects", json_req(b'{"msgtype":"text","text":' +
                                    b'{"a":' * 50000 + b"1" + b"}" * 50000 + b"}")),
        ("huge_string_escape", json_req(b'{"touser":"a","msgtype":"text",'
                                        b'"agentid":1,"text":{"content":"' +
                                        b"\\ud800" * 20000 + b'"}}')),
        ("nul_in_json", json_req(b'{"touser":"a","msgtype":"text","agentid":1,'
                                 b'"text":{"content":"a\\u0000falcon"}}')),
    ]


def send_and_read(args, data, ctx):
    try:
        s = tls(args, ctx)
    except OSError as e:
        return "CONNECT-FAILED"
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before it read it all
        got = b""
        s.settimeout(5)
        while len(got) < 65536:
            d = s.recv(65536)
            if not d:
                break
            got += d
            if b"\r\n\r\n" in got and b"Connection: close" not in got:
                break
        if not got:
            return "CLOSED"
        return got.split(b" ", 2)[1].decode() + (
            " +" if got.count(b"HTTP/1.1 ") > 1 else "")
    except socket.timeout:
        return "TIMEOUT"
    except (ConnectionResetError, ssl.SSLError, OSError):
        return "RESET"
    finally:
        s.close()


def tls_garbage(args):
    """Raw bytes to the TLS port: random, plaintext HTTP, a truncated
    ClientHello, and a handshake abandoned halfway."""
    out = []
    hello = bytes.fromhex("16030100c8010000c40303") + os.urandom(32)
    for name, data in [("tls_random", os.urandom(4096)),
                       ("tls_plain_http", SMUGGLED),
                       ("tls_truncated_hello", hello),
                       ("tls_huge_record", b"\x16\x03\x01\xff\xff" + b"\x01" * 100)]:
        s = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
        s.settimeout(args.handshake_wait)
        try:
            s.sendall(data)
            got = s.recv(4096)
            # a fatal TLS alert record (content type 21) then the close
            res = ("CLOSED" if not got else
                   "ALERT" if got[0] == 21 and len(got) == 7 else "ANSWERED")
            while got:
                got = s.recv(4096)
        except socket.timeout:
            res = "TIMEOUT"
        except OSError:
            res = "RESET"
        s.close()
        out.append((name, res))
    return out


def cmd_attacks(args):
    ctx = ctx_for(args)
    for name, data in attacks():
        print(name, send_and_read(args, data, ctx))
        sys.stdout.flush()
    for name, res in tls_garbage(args):
        print(name, res)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--handshake-wait", type=float, default=8)
    args = ap.parse_args()
    {"idle": cmd_idle, "slowloris": cmd_slowloris, "slowbody": cmd_slowbody,
     "flood": cmd_flood, "attacks": cmd_attacks}[args.cmd](args)


if __name__ == "__main__":
    main()
