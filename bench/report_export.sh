#!/usr/bin/env bash
# The 1,000,000-row export benchmark, run by hand (never in CI): what one
# export of BENCH_ROWS interactions costs authflow in time, memory and disk,
# for each file format.
#
#   bench/report_export.sh                    1,000,000 rows, csv and xlsx
#   BENCH_ROWS=100000 bench/report_export.sh  fewer
#   AUTHFLOW_BIN=build/rel/service/authflow   use that binary (default:
#                                             a Release build in build/bench)
#
# It starts a redis-server and authflow on loopback, writes BENCH_ROWS events
# into the report stream in the store's format (a Lua loop, 50,000 per
# call), then downloads /v1/reports/interactions?format=<f> once per format
# and prints: wall time, bytes, authflow's peak RSS (VmHWM) before and
# after, and the largest the spool directory ($TMPDIR of authflow) grew.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. bench/lib.sh
rows=${BENCH_ROWS:-1000000}
formats=${BENCH_FORMATS:-csv xlsx}
bench_work
key=bench-key-0000-0000

need_tools redis-server redis-cli curl python3
bin=${AUTHFLOW_BIN:-}
if [ -z "$bin" ]; then
  bench_build "$root/build/bench" authflow
  bin=$root/build/bench/service/authflow
fi

start_redis "$work"
rport=$redis_port

echo "== writing $rows events" >&2
base=1714521600 # 2024-05-01T00:00Z; one event every 2 s
left=$rows at=0
while [ "$left" -gt 0 ]; do
  n=$(( left < 50000 ? left : 50000 ))
  redis-cli -p "$rport" EVAL "
    for i = 0, tonumber(ARGV[2]) - 1 do
      local k = tonumber(ARGV[1]) + i
      local t = $base + k * 2
      redis.call('XADD', KEYS[1], (t * 1000) .. '-0',
        'conversationId', 'bench-' .. string.format('%08d', k) .. '-6f1c2a9e-44d1-4b7e-9a55',
        'serviceLine', 'retail_banking', 'outcome', (k % 7 == 0) and 'opted_out' or 'verified',
        'authStatus', 'identified_verified', 'identificationMethod', 'ani',
        'identifyAttempts', '1', 'verifyAttempts', '1', 'attempts', '2',
        'durationMs', '41250', 'timeMs', tostring(t * 1000),
        'aniMasked', '*******0116', 'channel', 'voice')
    end
    return 1" 1 authflow:report:events "$at" "$n" >/dev/null
  at=$((at + n)) left=$((left - n))
done
echo "   stream: $(redis-cli -p "$rport" XLEN authflow:report:events) entries," \
  "redis used_memory $(redis-cli -p "$rport" INFO memory | awk -F: '/^used_memory_human/{print $2}' | tr -d '\r')" >&2

port=$(free_port)
mkdir -p "$work/spool"
cat >"$work/cfg.json" <<EOF
{"server": {"port": $port}, "apiKeys": ["$key"],
 "redis": {"url": "redis://127.0.0.1:$rport/0"},
 "crm": {"baseUrl": "http://127.0.0.1:9"},
 "reporting": {"exportMaxRows": $((rows + 1000)), "streamMaxLen": $((rows + 1000)),
               "streamMaxAgeSeconds": 31622400},
 "serviceLines": {"retail_banking": {}}}
EOF
TMPDIR=$work/spool "$bin" --config "$work/cfg.json" >"$work/authflow.log" 2>&1 &
apid=$!
pids+=($apid)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

to=$((base + rows * 2 + 10))
printf '%-6s %10s %12s %14s %14s %12s\n' format seconds bytes "rss_before_kb" "peak_rss_kb" "spool_max_kb"
for f in $formats; do
  before=$(hwm_kb "$apid")
  # The spool's size while the export runs (the file is unlinked once
  # made, so du sees it only while it is written).
  ( max=0; while kill -0 "$apid" 2>/dev/null && [ ! -f "$work/done" ]; do
      s=$(du -sk "$work/spool" | cut -f1); [ "$s" -gt "$max" ] && max=$s
      echo "$max" >"$work/spoolmax"; sleep 0.05; done ) &
  watcher=$!
  start=$(date +%s.%N)
  code=$(curl -s -o "$work/out.$f" -w '%{http_code}' -H "Authorization: Bearer $key" \
    "http://127.0.0.1:$port/v1/reports/interactions?from=$base&to=$to&format=$f")
  end=$(date +%s.%N)
  touch "$work/done"; wait "$watcher" 2>/dev/null || true; rm -f "$work/done"
  [ "$code" = 200 ] || { echo "bench: $f answered $code: $(head -c 300 "$work/out.$f")" >&2; exit 1; }
  printf '%-6s %10.1f %12d %14d %14d %12d\n' "$f" "$(echo "$end - $start" | bc)" \
    "$(stat -c %s "$work/out.$f")" "$before" "$(hwm_kb "$apid")" "$(cat "$work/spoolmax" 2>/dev/null || echo 0)"
  rm -f "$work/out.$f"
done
