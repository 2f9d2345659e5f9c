#!/usr/bin/env bash
# What Redis's appendfsync costs authflow (issue 24), run by hand (never in
# CI): the same complete calls (ANI path: start -> security -> done) against
# a Redis with an append-only file, fsync'd `everysec` and then `always`,
# the AOF on this machine's disk (not tmpfs). Prints steps/s and p50/p99 for
# each: once flat out (50 connections) and once paced (20 connections at
# 1,000 steps/s, the latency a caller sees at a steady load).
#
#   bench/durability.sh                  both modes, 20 s phases
#   BENCH_SECONDS=5 bench/durability.sh  shorter phases
#   BENCH_ROUNDS=2                       alternate the modes N times
#
# Everything runs on 127.0.0.1; wrk, Redis, the CRM stub and authflow
# share this machine's cores and disk, so the numbers are this machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. bench/lib.sh
build=${AUTHFLOW_BENCH_BUILD:-$root/build/bench}
bench_work "$root/build/durability.XXXXXX"
secs=${BENCH_SECONDS:-20}
rounds=${BENCH_ROUNDS:-1}
key=bench-key-0000-0000
customers=1000

need_tools wrk redis-server redis-cli cmake curl python3
bench_build "$build" authflow authflow-demo-crm
start_crm "$build/service/demo-crm/authflow-demo-crm" "$customers"

# run MODE: a fresh Redis (AOF, appendfsync MODE) and authflow at its
# defaults; prints "MODE flat <RESULT>" and "MODE paced <RESULT>".
run() {
  local mode=$1 dir="$work/redis-$1"
  mkdir -p "$dir"
  local redis_port redis_pid af_port af_pid
  start_redis "$dir" --appendonly yes --appendfsync "$mode"
  af_port=$(free_port)
  cat >"$work/authflow.json" <<JSON
{"apiKeys":["$key"],
 "redis":{"keyPrefix":"bench:","sessionTtlSeconds":3600},
 "log":{"level":"warn"},
 "serviceLines":{"bench":{"aniLookup":true,"verification":true,
   "identifierType":"customer_id"}}}
JSON
  launch_authflow "$build/service/authflow"
  local out
  for phase in "flat 50" "paced 20 1000"; do
    set -- $phase
    out=$(env BENCH_ANI_COUNT=$customers BENCH_KEY=$key BENCH_PATH=ani \
      ${3:+BENCH_RATE=$3} BENCH_CONNECTIONS="$2" \
      wrk -t2 -c"$2" -d"${secs}s" --timeout 10s -s bench/calls.lua "http://127.0.0.1:$af_port" 2>&1)
    echo "$mode $1 $(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')"
  done
  stop_pid "$af_pid"
  stop_pid "$redis_pid"
}

for _ in $(seq 1 "$rounds"); do
  run everysec
  run always
done
