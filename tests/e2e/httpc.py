#!/usr/bin/env python3
"""httpc.py: a raw HTTP/1.1-over-TLS client for the gateway's e2e tests.

curl cannot send malformed, pipelined or hand-framed requests, so the
tests that need them use this.  Every socket operation has a timeout.

  httpc.py CMD --port P --ca CA [options]
    keepalive -n N          N requests on one connection; prints
                            "<answers with status 200> <connections>"
    pipeline -n N           N requests written at once; prints the msgid of
                            each answer, in the order they arrived
    raw                     sends stdin as is; prints the answer(s) until
                            the server closes ("CLOSED" at the end)
    records                 TLS records packed into single TCP writes: the
                            first request with the handshake's last flight,
                            one split over three records, two in two
                            records; prints the msgid of each answer
    reload --pid PID --log LOG --policy FILE --new FILE
                            one request, SIGHUP with FILE replaced by NEW,
                            the same request on the same connection; prints
                            the two errcodes and whether it was the same
                            connection
"""
import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import time

TIMEOUT = 10


def connect(args):
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    s = ctx.wrap_socket(raw, server_hostname="qyapi.weixin.qq.com")
    s.settimeout(TIMEOUT)
    return s


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def response(self):
        """One answer: (status, headers dict, body bytes)."""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self.fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body


def kf_request(msgid, text="hello"):
    body = json.dumps({"touser": "wm-ext-1", "open_kfid": "wk-1",
                       "msgid": msgid, "msgtype": "text",
                       "text": {"content": text}}).encode()
    return (b"POST /cgi-bin/kf/send_msg?access_token=TOKEN HTTP/1.1\r\n"
            b"Host: qyapi.weixin.qq.com\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def cmd_keepalive(args):
    s = connect(args)
    r = Reader(s)
    ok = 0
    req = (b"GET /cgi-bin/user/get?access_token=T&userid=lisi HTTP/1.1\r\n"
           b"Host: qyapi.weixin.qq.com\r\n\r\n")
    for _ in range(args.n):
        s.sendall(req)
        status, _, _ = r.response()
        ok += status == 200
    s.close()
    print(ok, 1)


def cmd_pipeline(args):
    s = connect(args)
    r = Reader(s)
    s.sendall(b"".join(kf_request("req-%d" % i) for i in range(args.n)))
    ids = []
    for _ in range(args.n):
        _, _, body = r.response()
        ids.append(json.loads(body).get("msgid", "?"))
    s.close()
    print(" ".join(ids))


def cmd_raw(args):
    s = connect(args)
    s.sendall(sys.stdin.buffer.read())
    out = b""
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            out += data
    except (ConnectionResetError, ssl.SSLError) as e:
        out += b"\nRESET %s" % str(e).encode()
    sys.stdout.write(out.decode("utf-8", "replace"))
    print("\nCLOSED")


def memory_tls(ctx, args):
    """A TLS client over memory BIOs, handshaken, with the client's last
    flight (its Finished) still unsent: (socket, incoming, outgoing, tls)."""
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_hostname="qyapi.weixin.qq.com")
    while True:
        try:
            tls.do_handshake()
            return raw, inc, out, tls
        except ssl.SSLWantReadError:
            raw.sendall(out.read())
            data = raw.recv(65536)
            if not data:
                raise EOFError
            inc.write(data)


def cmd_records(args):
    """Hand-framed TLS over memory BIOs, so that several records (and the
    client's Finished) leave in one send(): a server must not wait for a
    socket event to read records it already holds."""
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False
    raw, inc, out, tls = memory_tls(ctx, args)

    def pump():
        data = raw.recv(65536)
        if not data:
            raise EOFError
        inc.write(data)

    tls.write(kf_request("with-finished"))
    raw.sendall(out.read())  # Finished + the request, one segment
    split = kf_request("split", "x" * 3000)
    for part in (split[:40], split[40:2000], split[2000:]):
        tls.write(part)
    tls.write(kf_request("two-a"))
    tls.write(kf_request("two-b"))
    raw.sendall(out.read())
    ids, buf = [], b""
    while len(ids) < 4:
        try:
            buf += tls.read(65536)
        except ssl.SSLWantReadError:
            pump()
            continue
        while b"\r\n\r\n" in buf:
            head, rest = buf.split(b"\r\n\r\n", 1)
            n = int([l.split(b":")[1] for l in head.split(b"\r\n")
                     if l.lower().startswith(b"content-length:")][0])
            if len(rest) < n:
                break
            ids.append(json.loads(rest[:n]).get("msgid", "?"))
            buf = rest[n:]
    raw.close()
    print(" ".join(ids), records_close_notify(ctx, args))


def records_close_notify(ctx, args):
    """A request and the client's close_notify in one segment: the answer
    comes, then the server closes (not at its keep-alive timeout)."""
    raw, inc, out, tls = memory_tls(ctx, args)
    tls.write(kf_request("with-close"))
    try:
        tls.unwrap()
    except ssl.SSLWantReadError:
        pass  # our close_notify is written; the server's is to come
    raw.sendall(out.read())
    # the gateway's keep-alive timeout is 5 s in gateway-http.sh: a close
    # that only comes with it leaves a 4 s silence after the answer
    raw.settimeout(4)
    got = b""
    try:
        while True:
            data = raw.recv(65536)
            if not data:
                break
            inc.write(data)
            try:
                got += tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
    except socket.timeout:
        return "open"
    raw.close()
    return "answered-closed" if b"with-close" in got else "closed"


def cmd_trickle(args):
    """Send a body a byte every 100 ms for at most -n seconds: print the
    answer's status line (or "no answer") once the gateway stops it."""
    s = connect(args)
    s.sendall(b"POST /cgi-bin/message/send HTTP/1.1\r\nHost: h\r\n"
              b"Content-Length: 100000\r\n\r\n")
    s.setblocking(False)
    out = b""
    deadline = time.monotonic() + args.n
    while time.monotonic() < deadline and b"\r\n" not in out:
        try:
            s.sendall(b"x")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            break
        time.sleep(0.1)
        try:
            out += s.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
        except (ConnectionResetError, ssl.SSLError):
            break
    print(out.split(b"\r\n")[0].decode("utf-8", "replace")
          if out else "no answer")


def cmd_concurrent(args):
    """N connections open at once, each with one request in flight."""
    import threading
    socks, ok, lock = [], [0], threading.Lock()
    for _ in range(args.n):
        socks.append(connect(args))
    req = (b"GET /cgi-bin/user/get?access_token=T&userid=c HTTP/1.1\r\n"
           b"Host: qyapi.weixin.qq.com\r\n\r\n")
    for s in socks:
        s.sendall(req)

    def read(s):
        try:
            status, _, _ = Reader(s).response()
        except (OSError, EOFError):
            return
        with lock:
            ok[0] += status == 200

    threads = [threading.Thread(target=read, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 3)
    for s in socks:
        s.close()
    print(ok[0])


def cmd_limit(args):
    """Hold N connections (handshaken), then try one more."""
    held = [connect(args) for _ in range(args.n)]
    req = (b"GET /cgi-bin/user/get?userid=l HTTP/1.1\r\n"
           b"Host: qyapi.weixin.qq.com\r\n\r\n")
    for s in held:  # each is served: the gateway counted it
        s.sendall(req)
        Reader(s).response()
    try:
        extra = connect(args)
        extra.sendall(req)
        status, _, _ = Reader(extra).response()
        over = "served %d" % status
    except (OSError, EOFError, ssl.SSLError):
        over = "refused"
    for s in held:
        s.close()
    time.sleep(0.5)  # the gateway sees the closes
    s = connect(args)
    s.sendall(req)
    status, _, _ = Reader(s).response()
    print(over, "then", status)


def cmd_http10(args):
    """HTTP/1.0 with keep-alive: two requests on one connection."""
    s = connect(args)
    r = Reader(s)
    req = (b"GET /cgi-bin/user/get?userid=h HTTP/1.0\r\n"
           b"Connection: keep-alive\r\n\r\n")
    s.sendall(req)
    st1, h1, _ = r.response()
    s.sendall(req)
    st2, _, _ = r.response()
    print(st1, h1.get("connection", "-"), st2)


def cmd_silent(args):
    """TCP only, no ClientHello: seconds until the gateway hangs up."""
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    t = time.time()
    try:
        data = raw.recv(100)
    except socket.timeout:
        print("still open")
        return
    except ConnectionResetError:
        data = b""
    print("closed" if not data else "data", round(time.time() - t))


def cmd_hold(args):
    """Open N plain TCP connections, keep them 2 s, close them."""
    socks = []
    for _ in range(args.n):
        try:
            socks.append(socket.create_connection(("127.0.0.1", args.port),
                                                  timeout=2))
        except OSError:
            break
    time.sleep(2)
    for s in socks:
        s.close()
    print(len(socks))


def wait_log(path, needle, count, limit=10.0):
    end = time.time() + limit
    while time.time() < end:
        with open(path, errors="replace") as f:
            if f.read().count(needle) >= count:
                return True
        time.sleep(0.05)
    return False


def cmd_reload(args):
    s = connect(args)
    r = Reader(s)
    s.sendall(kf_request("m1", "project falcon"))
    _, _, body1 = r.response()
    with open(args.log, errors="replace") as f:
        before = f.read().count("in force")
    shutil.copyfile(args.new, args.policy)
    os.kill(args.pid, signal.SIGHUP)
    if not wait_log(args.log, "in force", before + 1):
        print("no reload seen")
        return
    time.sleep(0.2)  # workers take the snapshot from their own loops
    s.sendall(kf_request("m2", "project falcon"))
    _, _, body2 = r.response()
    s.close()
    print(json.loads(body1)["errcode"], json.loads(body2)["errcode"],
          "same-connection")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("-n", type=int, default=10)
    p.add_argument("--pid", type=int)
    p.add_argument("--log")
    p.add_argument("--policy")
    p.add_argument("--new")
    args = p.parse_args()
    {"keepalive": cmd_keepalive, "pipeline": cmd_pipeline, "raw": cmd_raw,
     "records": cmd_records,
     "reload": cmd_reload, "concurrent": cmd_concurrent, "limit": cmd_limit,
     "http10": cmd_http10, "silent": cmd_silent,
     "hold": cmd_hold, "trickle": cmd_trickle}[args.cmd](args)


if __name__ == "__main__":
    main()
