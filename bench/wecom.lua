-- wrk script: POST realistic WeCom (WeChat Work) message/send bodies.
--
-- Bodies are read in init() from the files listed (space separated) in the
-- environment variable BENCH_BODY_FILES, so the same bodies can be replayed
-- with curl.  Every request is pre-formatted once; request() only rotates.
-- done() prints one machine-readable line (BENCH_RESULT ...) that bench/run
-- parses.  BENCH_DELAY_MS, when set, adds that think time (ms) between a
-- connection's answer and its next request (wrk's delay()): a fixed
-- connection count then offers a bounded rate, since wrk2 is not in Debian.
-- BENCH_PATH overrides the request path.

local path = os.getenv("BENCH_PATH")
    or "/cgi-bin/message/send?access_token=BENCHTOKEN"
local think_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
local reqs = {}
local idx = 0

function init(args)
    local list = os.getenv("BENCH_BODY_FILES") or ""
    local headers = {
        ["Host"] = "qyapi.weixin.qq.com",
        ["Content-Type"] = "application/json; charset=utf-8",
        ["User-Agent"] = "wecom-bench/1",
        ["Accept"] = "*/*",
    }
    for f in string.gmatch(list, "%S+") do
        local fh = assert(io.open(f, "rb"))
        local body = fh:read("*a")
        fh:close()
        -- strip the trailing newline the files end with
        body = string.gsub(body, "%s+$", "")
        reqs[#reqs + 1] = wrk.format("POST", path, headers, body)
    end
    if #reqs == 0 then
        error("BENCH_BODY_FILES is empty: no request bodies")
    end
    -- threads start at different bodies so the mix is even with -t > 1
    idx = (wrk.thread and tonumber(wrk.thread:get("id") or 0) or 0) % #reqs
end

function setup(thread)
    -- give each thread a small id for the rotation offset
    _G.__bench_tid = (_G.__bench_tid or 0) + 1
    thread:set("id", _G.__bench_tid)
end

function request()
    idx = idx % #reqs + 1
    return reqs[idx]
end

if think_ms and think_ms > 0 then
    function delay()
        return think_ms
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d bytes=%d " ..
        "p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f mean_us=%.1f " ..
        "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.max, latency.mean,
        e.connect, e.read, e.write, e.status, e.timeout))
end
