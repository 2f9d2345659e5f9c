# shellcheck shell=bash
# The set-up the bench scripts share (sourced, never run): a work
# directory removed on exit with every process the script started, free
# loopback ports, a Release build, redis-server, the demo CRM with bench
# customers, authflow, readiness waits, wrk runs and /proc readings.
#
# A script sets `root` (the repository, its working directory) before
# sourcing it; bench_name (default "bench") prefixes error messages.
# Everything listens on 127.0.0.1 only.

bench_name=${bench_name:-bench}
pids=()

# bench_work [mktemp ARGS...]: a fresh $work, removed on exit after the
# processes in pids are stopped.
bench_work() {
  work=$(mktemp -d "$@")
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# need_tools TOOL...: exit 2 when one is not on PATH.
need_tools() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$bench_name: needs $tool" >&2; exit 2; }
  done
}

# bench_build DIR [TARGET...]: a Release build (no tests) in DIR.
bench_build() {
  local dir=$1
  shift
  echo "== building Release in $dir" >&2
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DAUTHFLOW_TESTS=OFF >/dev/null
  cmake --build "$dir" -j"$(nproc)" ${1:+--target "$@"} >/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# wait_http URL: until URL answers 2xx (10 s), else exit 1.
wait_http() {
  for _ in $(seq 1 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "$bench_name: $1 did not come up" >&2; exit 1
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# start_redis DIR [ARGS...]: a redis-server with its files in DIR (ARGS
# default: no persistence); sets redis_port and redis_pid, waits for PING.
start_redis() {
  local dir=$1
  shift
  [ $# -gt 0 ] || set -- --appendonly no
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" "$@" \
    --dir "$dir" >"$dir/redis.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
}

# start_crm BIN N: the demo CRM with N customers every call can match
# (ANIs +13176000000.., answer 1234); sets crm_port and crm_pid.
start_crm() {
  python3 - "$2" >"$work/customers.json" <<'PY'
import json, sys
n = int(sys.argv[1])
rows = [{"id": str(600000 + i), "name": "Bench %d" % i, "phones": ["+1317%07d" % (6000000 + i)],
         "customerId": str(600000 + i), "answer": "1234"} for i in range(n)]
print(json.dumps({"customers": rows}))
PY
  crm_port=$(free_port)
  "$1" --port "$crm_port" --customers "$work/customers.json" >"$work/crm.log" 2>&1 &
  crm_pid=$!
  pids+=("$crm_pid")
  wait_http "http://127.0.0.1:$crm_port/_control/stats"
}

# launch_authflow BIN: authflow with $work/authflow.json on af_port (set
# it first: a configuration may name it), the Redis at redis_port and the
# CRM at crm_port; sets af_pid and waits for /readyz.
launch_authflow() {
  AUTHFLOW_CONFIG=$work/authflow.json AUTHFLOW_PORT=$af_port \
  AUTHFLOW_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
  AUTHFLOW_CRM_URL="http://127.0.0.1:$crm_port" \
    "$1" 2>>"$work/authflow.log" &
  af_pid=$!
  pids+=("$af_pid")
  wait_http "http://127.0.0.1:$af_port/readyz"
}

# run_wrk LABEL URL CONNECTIONS SCRIPT [ENV...] -> "LABEL <RESULT fields>"
# (bench/SCRIPT for $secs seconds, requests time out after $wrk_timeout;
# BENCH_KEY=$key, BENCH_ANI_COUNT=$customers).
run_wrk() {
  local label=$1 url=$2 conns=$3 script=$4
  shift 4
  local threads=2
  [ "$conns" -lt 4 ] && threads=1
  local out
  out=$(env BENCH_ANI_COUNT=$customers "$@" BENCH_KEY=$key BENCH_CONNECTIONS="$conns" \
    wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout "${wrk_timeout:-10s}" -s "bench/$script" "$url" 2>&1)
  local result
  result=$(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')
  [ -n "$result" ] || { echo "$out" >&2; echo "$bench_name: wrk printed no result" >&2; exit 1; }
  echo "$label $result"
}
# field RESULT NAME: NAME's value in a RESULT line.
field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }
