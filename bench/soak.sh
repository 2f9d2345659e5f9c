#!/usr/bin/env bash
# Soak (issue 24), run by hand (never in CI): at least BENCH_SOAK_STEPS
# complete-call steps (ANI path: start -> security -> done, 50 connections)
# against one Release authflow at its defaults, in wrk rounds of
# BENCH_ROUND_SECONDS, printing authflow's RSS after each round. After the
# warm-up (the first BENCH_WARMUP_STEPS steps) RSS must stay within 1 MB
# (1024 kB) of its first post-warm-up sample: the script exits 1 if not.
#
#   bench/soak.sh                                1,000,000 steps
#   BENCH_SOAK_STEPS=200000 bench/soak.sh        a shorter one
#
# Everything runs on 127.0.0.1 (Redis without persistence).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench_name=soak
. bench/lib.sh
build=${AUTHFLOW_BENCH_BUILD:-$root/build/bench}
bench_work
target=${BENCH_SOAK_STEPS:-1000000}
warmup=${BENCH_WARMUP_STEPS:-100000}
round=${BENCH_ROUND_SECONDS:-15}
key=bench-key-0000-0000
customers=1000

need_tools wrk redis-server redis-cli cmake curl python3
bench_build "$build" authflow authflow-demo-crm

start_redis "$work"
start_crm "$build/service/demo-crm/authflow-demo-crm" "$customers"

af_port=$(free_port)
cat >"$work/authflow.json" <<JSON
{"apiKeys":["$key"],
 "redis":{"keyPrefix":"soak:","sessionTtlSeconds":600},
 "log":{"level":"warn"},
 "serviceLines":{"bench":{"aniLookup":true,"verification":true,
   "identifierType":"customer_id"}}}
JSON
launch_authflow "$build/service/authflow"

total=0 errors=0 base=""
max_drift=0
printf '%-10s %-12s %-10s %-10s %s\n' round steps steps/s rss_kb drift_kb
echo "start 0 - $(rss_kb "$af_pid") -"
n=0
while [ "$total" -lt "$target" ]; do
  n=$((n + 1))
  out=$(env BENCH_ANI_COUNT=$customers BENCH_KEY=$key BENCH_PATH=ani BENCH_CONNECTIONS=50 \
    wrk -t2 -c50 -d"${round}s" --timeout 10s -s bench/calls.lua "http://127.0.0.1:$af_port" 2>&1)
  result=$(grep '^RESULT' <<<"$out")
  steps=$(sed -n 's/.*\bsteps=\([0-9]*\).*/\1/p' <<<"$result")
  rate=$(sed -n 's/.*\bsteps_per_s=\([0-9]*\).*/\1/p' <<<"$result")
  bad=$(sed -n 's/.*\bnon200=\([0-9]*\).*/\1/p' <<<"$result")
  total=$((total + steps))
  errors=$((errors + bad))
  rss=$(rss_kb "$af_pid")
  drift=-
  if [ "$total" -ge "$warmup" ]; then
    [ -z "$base" ] && base=$rss
    drift=$((rss - base))
    [ "${drift#-}" -gt "$max_drift" ] && max_drift=${drift#-}
  fi
  echo "$n $total $rate $rss $drift"
done
echo "SOAK steps=$total non200=$errors rss_after_warmup_kb=$base rss_end_kb=$rss max_drift_kb=$max_drift"
[ "$max_drift" -le 1024 ] || { echo "soak: RSS moved $max_drift kB after the warm-up" >&2; exit 1; }
