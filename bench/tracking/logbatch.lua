-- wrk script: POST runs/log-batch with METRICS metrics per request.
--
-- Arguments (after `--`): <runs file> <wrk threads> <timestamp base> [metrics per request]
-- The runs file holds one run id per line (created beforehand by bench.py).
-- Thread i only writes to runs i, i+T, i+2T, ... and numbers its requests
-- 0, 1, 2, ...; request n uses timestamp base+n and step n, and its values
-- rotate through a table of pseudo-random numbers, so no two requests carry
-- the same metric point and every point must be stored.
-- done() prints one line "WRKJSON {...}" with the totals and the non-200
-- statuses (with one sample body) for bench.py to parse.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local runs = {}
n = 0          -- global: read back by done() through thread:get
local base = 0
local nmetrics = 100
local prefix = {}
local values = {}
local NV = 997
local bad = {}
sample = ""     -- global
status_str = "" -- global
local path = "/api/2.0/mlflow/runs/log-batch"
local headers = {["Content-Type"] = "application/json"}

function init(args)
   local file, nthreads = args[1], tonumber(args[2])
   base = tonumber(args[3])
   nmetrics = tonumber(args[4] or "100")
   local i = 0
   for line in io.lines(file) do
      if line ~= "" then
         if i % nthreads == id then table.insert(runs, line) end
         i = i + 1
      end
   end
   if #runs == 0 then error("thread " .. id .. " got no runs from " .. file) end
   for k = 0, nmetrics - 1 do
      prefix[k + 1] = string.format('{"key":"m%d","value":', k)
   end
   math.randomseed(12345 + id)
   for v = 1, NV do
      values[v] = string.format("%.6f", math.random())
   end
end

function request()
   local rid = runs[(n % #runs) + 1]
   local tail = ',"timestamp":' .. string.format("%d", base + n) .. ',"step":' .. n .. '}'
   local parts = {'{"run_id":"', rid, '","metrics":['}
   local off = n % NV
   for k = 1, nmetrics do
      if k > 1 then parts[#parts + 1] = "," end
      parts[#parts + 1] = prefix[k]
      parts[#parts + 1] = values[((off + k) % NV) + 1]
      parts[#parts + 1] = tail
   end
   parts[#parts + 1] = "]}"
   n = n + 1
   return wrk.format("POST", path, headers, table.concat(parts))
end

function response(status, hdrs, body)
   if status ~= 200 then
      bad[status] = (bad[status] or 0) + 1
      if sample == "" then sample = string.sub(body or "", 1, 300) end
      local str = ""
      for code, cnt in pairs(bad) do str = str .. code .. ":" .. cnt .. "," end
      status_str = str
   end
end

local function jstr(s)
   return '"' .. string.gsub(s, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end) .. '"'
end

function done(summary, latency, requests)
   local bad_all = {}
   local samples = {}
   local sent = 0
   for _, t in ipairs(threads) do
      local s = t:get("status_str") or ""
      for code, cnt in string.gmatch(s, "(%d+):(%d+)") do
         bad_all[code] = (bad_all[code] or 0) + tonumber(cnt)
      end
      local smp = t:get("sample")
      if smp and smp ~= "" then table.insert(samples, smp) end
      sent = sent + (t:get("n") or 0)
   end
   local parts = {}
   for code, cnt in pairs(bad_all) do
      table.insert(parts, string.format('"%s":%d', code, cnt))
   end
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"sent":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"non200":{%s},"sample":%s,' ..
      '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
      summary.requests, summary.duration, summary.bytes, sent,
      e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(parts, ","), jstr(samples[1] or ""),
      latency.mean, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
