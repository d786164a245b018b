-- load.lua: the wrk script of the serving benchmark. One fixed request, set up from the
-- environment, so that wrk builds it once and sends the same bytes on every connection.
--   BENCH_METHOD     GET or POST (default POST)
--   BENCH_BODY       file holding the JSON body (POST); sent with Content-Type: application/json
--   BENCH_BODIES     instead: a file of JSON bodies, one per line, sent in turn
--   BENCH_AUTHORIZATION  optional: the Authorization header of every request
--   BENCH_THREAD_RATE  optional pacing: requests per second that each wrk thread sends. Every
--                    request takes the next slot of a per-thread schedule (one slot every
--                    1000/rate ms) through wrk's delay() hook, which wrk calls before each
--                    request, so the rate holds whatever the latency is, as long as some
--                    connection is free when a slot comes. A schedule more than 10 ms behind
--                    is restarted at the current time (no burst to catch up): a server that
--                    cannot keep up gets a lower rate, which bench.py reports. wrk's timer
--                    counts whole milliseconds, so a request leaves up to 1 ms before its
--                    slot; the average rate is unaffected. wrk starts a request's latency
--                    clock when it writes the request, so the wait is not counted as latency.
-- wrk cannot hold an open-loop rate by itself (that is wrk2, which Debian does not package);
-- this is close to it, minus wrk2's correction for coordinated omission: a connection waiting
-- on a slow answer sends nothing, so the p99 is a lower bound of what an open-loop client sees.
local method = os.getenv("BENCH_METHOD") or "POST"
wrk.method = method
-- BENCH_AUTHORIZATION: an Authorization value every request carries (a bearer token)
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization then
  wrk.headers["Authorization"] = authorization
end
local bodies = os.getenv("BENCH_BODIES")
if method == "POST" and bodies then
  -- one body per line, each request the next (wrk calls request() per request, which costs
  -- wrk some CPU: compare this row with the fixed-body rows knowing that)
  local reqs, n = {}, 0
  function init(args)
    for line in io.lines(bodies) do
      if #line > 0 then
        reqs[#reqs + 1] = wrk.format("POST", nil, {["Content-Type"] = "application/json",
                                                   ["Authorization"] = authorization}, line)
      end
    end
  end
  function request()
    n = n % #reqs + 1
    return reqs[n]
  end
elseif method == "POST" then
  local path = assert(os.getenv("BENCH_BODY"), "BENCH_BODY not set")
  local f = assert(io.open(path, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end

local rate = tonumber(os.getenv("BENCH_THREAD_RATE") or "")
if rate and rate > 0 then
  local ffi = require("ffi")  -- wrk embeds LuaJIT: a monotonic clock through the FFI
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk, bench_timespec *ts);
  ]]
  local ts = ffi.new("bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 / rate
  local next_slot = nil

  function delay()
    local t = now_ms()
    if next_slot == nil or next_slot < t - 10 then
      next_slot = t
    end
    local d = next_slot - t
    next_slot = next_slot + interval
    if d < 1 then
      return 0
    end
    return math.floor(d)
  end
end
