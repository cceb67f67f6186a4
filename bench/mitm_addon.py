"""bench/mitm_addon.py: mitmproxy's share of the work wwgate does, for bench/run.

For every request: parse the JSON body, look for the keywords of
contrib/policy/default.yaml's lists in its lower-cased text, answer a
WeCom-shaped refusal when one matches (never forwarded), and append one
JSON line per request to the file named by BENCH_MITM_LOG (no fsync: this
is the cheap end of "a journal").  Run as
    mitmdump --mode reverse:https://UPSTREAM -s bench/mitm_addon.py
"""

import json
import os
import time

from mitmproxy import http

# the keywords of contrib/policy/default.yaml's lists (lower case)
KEYWORDS = (
    "天穹计划", "凤凰项目", "project falcon", "project aurora", "未公开财报",
    "内部资料", "绝密", "内幕消息", "内幕信息", "未公开信息", "重组方案",
    "停牌前", "老鼠仓", "坐庄", "对倒", "拉升", "inside information",
    "保本保收益", "稳赚不赔", "保证收益", "承诺收益", "零风险",
    "guaranteed return", "加我微信", "加个微信", "私聊", "删除聊天记录",
    "删掉聊天记录", "whatsapp me", "call my cell", "signal me",
)

REFUSAL = json.dumps({"errcode": 985001, "errmsg": "blocked by policy"})


def _strings(node, out):
    """Collect every string value of a parsed JSON document."""
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for value in node.values():
            _strings(value, out)
    elif isinstance(node, list):
        for value in node:
            _strings(value, out)


class BenchJournal:
    def __init__(self):
        path = os.environ.get("BENCH_MITM_LOG", "mitm-journal.jsonl")
        self.out = open(path, "a", encoding="utf-8")
        self.seq = 0

    def request(self, flow: http.HTTPFlow) -> None:
        self.seq += 1
        texts = []
        try:
            _strings(json.loads(flow.request.get_content() or b"{}"), texts)
            parsed = True
        except ValueError:
            parsed = False
        text = "\n".join(texts).lower()
        hits = [k for k in KEYWORDS if k in text]
        if hits:
            flow.response = http.Response.make(
                200, REFUSAL, {"Content-Type": "application/json"})
        line = {"seq": self.seq, "time": time.time(),
                "path": flow.request.path.split("?", 1)[0],
                "parsed": parsed, "hits": hits,
                "verdict": "block" if hits else "allow",
                "bytes": len(flow.request.raw_content or b"")}
        self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.out.flush()

    def done(self):
        self.out.close()


addons = [BenchJournal()]
