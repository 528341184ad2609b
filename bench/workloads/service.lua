-- wrk script for bench/workloads/service.js: POST /render with a JSON order, then one JSON line
-- with the run's totals and latency percentiles (microseconds) on stdout.
-- NHS_ITEMS: records per order (the allocation per request); each connection varies its seed.
local items = tonumber(os.getenv("NHS_ITEMS") or "20")
local note = string.rep("gift wrap, leave at the door; ", 4)
local seed = 0

request = function()
  seed = seed + 1
  local body = string.format(
    '{"customer":{"id":%d,"name":"customer %d","tier":"gold"},"seed":%d,"count":%d,"note":"%s"}',
    seed % 5000, seed % 5000, seed, items, note)
  return wrk.format("POST", "/render", { ["Content-Type"] = "application/json" }, body)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p99_9":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
