-- wrk script: the same request every time. By default the ceiling
-- server's POST; BENCH_METHOD=GET sends a GET with the bench's API key
-- instead, for the latency of one hop at a time: /healthz (authflow
-- alone), GET /v1/sessions/{id} (one Redis round trip), the CRM stub's
-- lookup (the CRM hop alone).
wrk.method = os.getenv("BENCH_METHOD") or "POST"
if wrk.method == "POST" then
  wrk.body = '{"conversationId":"bench","serviceLine":"bench"}'
  wrk.headers["Content-Type"] = "application/json"
else
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "bench-key-0000-0000")
end

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
