#!/usr/bin/env python3
"""load.py: a steady load of distinct messages for the fault tests.

  load.py --port P --ca CA --prefix PFX --out FILE --stop FILE
          [--threads T] [--max-seconds S] [--block-every K] [--pause-ms MS]

T threads (4) each send message/send requests over keep-alive TLS
connections until FILE --stop exists or S seconds (60) passed.  Every
message carries a unique marker PFX-<thread>-<n> in its text; every K-th
one (0: none) also carries the word "falcon", which the fault tests'
policy blocks.  A marker is never sent twice: after an error the thread
reconnects and moves on to a new marker.

Each attempt appends one line to --out, written after its answer (or its
failure), flushed at once so a kill of the gateway loses nothing:
  MARKER RESULT ERRCODE LATENCY_MS
RESULT is ok (HTTP 200, errcode 0), refused (a WeCom-shaped answer with
another errcode or status) or error (no complete answer: the connection
failed, was reset or timed out).  ERRCODE is - for error.

  load.py summary FILE      prints "attempts ok refused error rate p50 p99"
                            (rate = ok / attempts, latencies of ok answers)
"""
import argparse
import json
import os
import socket
import ssl
import sys
import threading
import time

TIMEOUT = 10


def connect(args):
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", args.port), timeout=TIMEOUT)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = ctx.wrap_socket(raw, server_hostname="qyapi.weixin.qq.com")
    s.settimeout(TIMEOUT)
    return s


def read_answer(s, buf):
    """(status, body, rest) of one answer; raises on EOF or timeout."""
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        if not data:
            raise EOFError("closed")
        buf += data
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    n = 0
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            n = int(v.strip())
    while len(buf) < n:
        data = s.recv(65536)
        if not data:
            raise EOFError("closed in body")
        buf += data
    return status, buf[:n], buf[n:]


def request(marker, blocked):
    text = "fault load %s%s" % (marker, " falcon" if blocked else "")
    body = json.dumps({"touser": "zhangsan", "msgtype": "text",
                       "agentid": 1000002,
                       "text": {"content": text}}).encode()
    return (b"POST /cgi-bin/message/send?access_token=TOKEN-fault HTTP/1.1\r\n"
            b"Host: qyapi.weixin.qq.com\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


class Out:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def line(self, *fields):
        with self.lock:
            self.f.write(" ".join(str(x) for x in fields) + "\n")
            self.f.flush()


def worker(args, tid, out, deadline):
    s, buf, n = None, b"", 0
    while time.monotonic() < deadline and not os.path.exists(args.stop):
        n += 1
        marker = "%s-%d-%d" % (args.prefix, tid, n)
        blocked = args.block_every > 0 and n % args.block_every == 0
        t0 = time.monotonic()
        try:
            if s is None:
                s, buf = connect(args), b""
            s.sendall(request(marker, blocked))
            status, body, buf = read_answer(s, buf)
        except (OSError, EOFError, ValueError, IndexError):
            out.line(marker, "error", "-", "%.3f" % ((time.monotonic() - t0) * 1000))
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
            s = None
            time.sleep(0.02)
            continue
        ms = (time.monotonic() - t0) * 1000
        try:
            errcode = json.loads(body).get("errcode", "?")
        except ValueError:
            errcode = "?"
        res = "ok" if status == 200 and errcode == 0 else "refused"
        out.line(marker, res, errcode, "%.3f" % ms)
        if args.pause_ms:
            time.sleep(args.pause_ms / 1000.0)
    if s is not None:
        s.close()


def run(args):
    out = Out(args.out)
    deadline = time.monotonic() + args.max_seconds
    ts = [threading.Thread(target=worker, args=(args, i, out, deadline))
          for i in range(args.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def summary(path):
    lat, counts = [], {"ok": 0, "refused": 0, "error": 0}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) != 4:
                continue
            counts[p[1]] = counts.get(p[1], 0) + 1
            if p[1] == "ok":
                lat.append(float(p[3]))
    total = sum(counts.values())
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0.0
    print(total, counts["ok"], counts["refused"], counts["error"],
          "%.4f" % (counts["ok"] / total if total else 0.0),
          "%.1f" % pct(0.50), "%.1f" % pct(0.99))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "summary":
        summary(sys.argv[2])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--block-every", type=int, default=0)
    ap.add_argument("--pause-ms", type=float, default=0)
    run(ap.parse_args())


if __name__ == "__main__":
    main()
