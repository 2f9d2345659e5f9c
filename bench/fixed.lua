-- wrk script for the ceiling server: the same POST every time.
wrk.method = "POST"
wrk.body = '{"conversationId":"bench","serviceLine":"bench"}'
wrk.headers["Content-Type"] = "application/json"

-- BENCH_RATE (requests/s over all connections) paces each connection, as
-- in calls.lua; BENCH_CONNECTIONS must then match wrk's -c.
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local conns = tonumber(os.getenv("BENCH_CONNECTIONS") or "1")
if rate > 0 then
  function delay()
    return conns * 1000 / rate
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT steps=%d steps_per_s=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
    "non200=%d socket_errors=%d calls_completed=0\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout, 0))
end
