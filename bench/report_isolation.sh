#!/usr/bin/env bash
# Do reports slow a caller? Run by hand (never in CI): callers' steps paced
# at 500/s (calls.lua, ANI path, 10 connections) alone, then while
#   - 3 clients pull a filtered interactions report (a filter that matches
#     none of the stream's events: each request reads as far as one may),
#   - 8 clients pull a 400-day summary (BENCH_SUMMARY_QUERY),
#   - one 1,000,000-row CSV export runs (again and again),
# with BENCH_EVENTS events (default 1,000,000) in the report stream, written
# in the store's format before the run (as a release without the filter
# indexes wrote them: the worst case for a filtered read). Prints one row
# per phase: steps/s and p50/p99 of the paced steps, and the report
# clients' answers.
#
#   AUTHFLOW_BIN=build/rel/service/authflow \
#   AUTHFLOW_DEMO_CRM_BIN=build/rel/service/demo-crm/authflow-demo-crm \
#   bench/report_isolation.sh
#   BENCH_SECONDS=10 (per phase)
#   BENCH_SUMMARY_QUERY='bucket=day' (the 400-day summary's extra query;
#     a release before issue 22 took bucket=hour, which is now refused)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. bench/lib.sh
secs=${BENCH_SECONDS:-10}
wrk_timeout=30s
events=${BENCH_EVENTS:-1000000}
summary_query=${BENCH_SUMMARY_QUERY:-bucket=day}
bin=${AUTHFLOW_BIN:?set AUTHFLOW_BIN}
crm_bin=${AUTHFLOW_DEMO_CRM_BIN:?set AUTHFLOW_DEMO_CRM_BIN}
key=bench-key-0000-0000
customers=1000
bench_work

start_redis "$work"
start_crm "$crm_bin" "$customers"

# The stream: BENCH_EVENTS events over the last 10 days, verified or
# identify_failed (the filtered report asks for opted_out: none match).
now=$(date +%s)
first=$((now - 10 * 86400))
step_ms=$(( 10 * 86400 * 1000 / events ))
left=$events at=0
while [ "$left" -gt 0 ]; do
  n=$(( left < 50000 ? left : 50000 ))
  redis-cli -p "$redis_port" EVAL "
    for i = 0, tonumber(ARGV[2]) - 1 do
      local k = tonumber(ARGV[1]) + i
      local ms = $first * 1000 + k * $step_ms
      redis.call('XADD', KEYS[1], ms .. '-0',
        'conversationId', 'old-' .. k, 'serviceLine', 'bench',
        'outcome', (k % 5 == 0) and 'identify_failed' or 'verified',
        'authStatus', 'identified_verified', 'identificationMethod', 'ani',
        'identifyAttempts', '1', 'verifyAttempts', '1', 'attempts', '2',
        'durationMs', '41250', 'timeMs', tostring(ms),
        'aniMasked', '*******0116', 'channel', 'voice')
    end
    return 1" 1 bench:report:events "$at" "$n" >/dev/null
  at=$((at + n)) left=$((left - n))
done

af_port=$(free_port)
cat >"$work/authflow.json" <<JSON
{"apiKeys":["$key"],
 "redis":{"keyPrefix":"bench:","sessionTtlSeconds":3600},
 "log":{"level":"warn"},
 "reporting":{"streamMaxLen":$((events * 2)),"streamMaxAgeSeconds":31622400,
              "exportMaxRows":${BENCH_EXPORT_MAX_ROWS:-$((events * 2))}},
 "serviceLines":{"bench":{"aniLookup":true,"verification":true,
   "identifierType":"customer_id"}}}
JSON
launch_authflow "$bin"
url=http://127.0.0.1:$af_port

paced() { run_wrk "$1" "$url" 10 calls.lua BENCH_PATH=ani BENCH_RATE=500; }
row() { # LABEL PACED [READERS]
  printf '| %s | %s | %s / %s ms |' "$1" "$(field "$2" steps_per_s)" \
    "$(field "$2" p50_ms)" "$(field "$2" p99_ms)"
  if [ -n "${3:-}" ]; then
    printf ' %s answers/s (non-200 %s), p50 %s ms |\n' "$(field "$3" steps_per_s)" \
      "$(field "$3" non200)" "$(field "$3" p50_ms)"
  else
    printf ' - |\n'
  fi
}

paced warmup >/dev/null
alone=$(paced alone)
run_wrk filtered "$url" 3 reports.lua >"$work/filtered" &
r=$!
sleep 0.5
with_filtered=$(paced with_filtered)
wait "$r"
from400=$((now - 399 * 86400))
run_wrk summaries "$url" 8 reports.lua \
  BENCH_REPORT_PATH="/v1/reports/summary?from=$from400&$summary_query" >"$work/summaries" &
r=$!
sleep 0.5
with_summaries=$(paced with_summaries)
wait "$r"
( while [ ! -f "$work/stop" ]; do
    curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $key" \
      "$url/v1/reports/interactions?from=$first&format=csv" >>"$work/exports"
  done ) &
e=$!
sleep 0.5
with_export=$(paced with_export)
touch "$work/stop"
wait "$e" 2>/dev/null || true

echo "| $(basename "$(dirname "$(dirname "$(dirname "$bin")")")") with $events events | steps/s | paced p50 / p99 | report clients |"
echo "|---|---|---|---|"
row "alone" "$alone"
row "3 filtered interactions readers" "$with_filtered" "$(cat "$work/filtered")"
row "8 readers of a 400-day summary ($summary_query)" "$with_summaries" "$(cat "$work/summaries")"
row "one $events-row CSV export running" "$with_export"
echo "exports: $(cat "$work/exports" | tr '\n' ';')"
