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
build=${AUTHFLOW_BENCH_BUILD:-$root/build/bench}
work=$(mktemp -d)
target=${BENCH_SOAK_STEPS:-1000000}
warmup=${BENCH_WARMUP_STEPS:-100000}
round=${BENCH_ROUND_SECONDS:-15}
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
  command -v "$tool" >/dev/null || { echo "soak: needs $tool" >&2; exit 2; }
done
echo "== building Release in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAUTHFLOW_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target authflow authflow-demo-crm >/dev/null

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_http() {
  for _ in $(seq 1 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "soak: $1 did not come up" >&2; exit 1
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" >"$work/redis.log" 2>&1 &
pids+=("$!")
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
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done

af_port=$(free_port)
cat >"$work/authflow.json" <<JSON
{"apiKeys":["$key"],
 "redis":{"keyPrefix":"soak:","sessionTtlSeconds":600},
 "log":{"level":"warn"},
 "serviceLines":{"bench":{"aniLookup":true,"verification":true,
   "identifierType":"customer_id"}}}
JSON
AUTHFLOW_CONFIG=$work/authflow.json AUTHFLOW_PORT=$af_port \
AUTHFLOW_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
AUTHFLOW_CRM_URL="http://127.0.0.1:$crm_port" \
  "$build/service/authflow" 2>>"$work/authflow.log" &
af_pid=$!
pids+=("$af_pid")
wait_http "http://127.0.0.1:$af_port/readyz"

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
