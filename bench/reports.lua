-- wrk script: report readers. By default every request pulls a filtered
-- interactions report whose filter matches nothing the bench records
-- (outcome opted_out), so each one reads as far as one request may (20,000
-- stream entries, service/report/report_make.c). BENCH_REPORT_PATH: another
-- report path and query (bench/report_isolation.sh: a long summary).
local key = os.getenv("BENCH_KEY") or "bench-key-0000"
wrk.method = "GET"
wrk.path = os.getenv("BENCH_REPORT_PATH") or
           "/v1/reports/interactions?outcome=opted_out&limit=50"
wrk.headers["Authorization"] = "Bearer " .. key

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT steps=%d steps_per_s=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f " ..
    "non200=%d socket_errors=%d calls_completed=0\n",
    summary.requests, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write +
      summary.errors.timeout))
end
