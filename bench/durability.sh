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
build=${AUTHFLOW_BENCH_BUILD:-$root/build/bench}
work=$(mktemp -d "$root/build/durability.XXXXXX")
secs=${BENCH_SECONDS:-20}
rounds=${BENCH_ROUNDS:-1}
key=bench-key-0000
customers=1000
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for tool in wrk redis-server redis-cli cmake curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 2; }
done
echo "== building Release in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAUTHFLOW_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target authflow authflow-demo-crm >/dev/null

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_http() {
  for _ in $(seq 1 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "bench: $1 did not come up" >&2; exit 1
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

python3 - "$customers" >"$work/customers.json" <<'PY'
import json, sys
n = int(sys.argv[1])
rows = [{"id": str(600000 + i), "name": "Bench %d" % i, "phones": ["+1317%07d" % (6000000 + i)],
         "customerId": str(600000 + i), "answer": "1234"} for i in range(n)]
print(json.dumps({"customers": rows}))
PY
crm_port=$(free_port)
"$build/service/demo-crm/authflow-demo-crm" --port "$crm_port" \
  --customers "$work/customers.json" >"$work/crm.log" 2>&1 &
pids+=("$!")
wait_http "http://127.0.0.1:$crm_port/_control/stats"

# run MODE: a fresh Redis (AOF, appendfsync MODE) and authflow at its
# defaults; prints "MODE flat <RESULT>" and "MODE paced <RESULT>".
run() {
  local mode=$1 dir="$work/redis-$1"
  mkdir -p "$dir"
  local redis_port af_port
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes \
    --appendfsync "$mode" --dir "$dir" >"$dir/redis.log" 2>&1 &
  local redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  af_port=$(free_port)
  cat >"$work/authflow.json" <<JSON
{"apiKeys":["$key"],
 "redis":{"keyPrefix":"bench:","sessionTtlSeconds":3600},
 "log":{"level":"warn"},
 "serviceLines":{"bench":{"aniLookup":true,"verification":true,
   "identifierType":"customer_id"}}}
JSON
  AUTHFLOW_CONFIG=$work/authflow.json AUTHFLOW_PORT=$af_port \
  AUTHFLOW_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
  AUTHFLOW_CRM_URL="http://127.0.0.1:$crm_port" \
    "$build/service/authflow" 2>>"$work/authflow.log" &
  local af_pid=$!
  pids+=("$af_pid")
  wait_http "http://127.0.0.1:$af_port/readyz"
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
