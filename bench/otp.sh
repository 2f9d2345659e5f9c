#!/usr/bin/env bash
# One-time codes (SPEC §9): what the OTP path costs per step against the
# answer path, by hand (never in CI). Builds a Release authflow and the
# demo CRM (build/bench), starts them and a redis-server on loopback, and
# drives complete calls with wrk (bench/otp.lua) on two service lines of
# the same instance, in alternating rounds:
#   answer: start (ANI lookup) -> security answer (CRM verify)
#   otp:    start (ANI lookup, send-limit script, SMS send) -> the code
# Both paths make two HTTP calls to the CRM stub per call: the SMS
# operation is pointed at the stub's verify endpoint (a fast loopback HTTP
# answer standing in for the gateway). Prints, per round, steps/s,
# p50/p99 latency, and CPU per step of authflow, redis-server and the stub.
#
#   bench/otp.sh                                  3 rounds of 10 s per path
#   BENCH_SECONDS=5 BENCH_ROUNDS=2 bench/otp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. bench/lib.sh
build=$root/build/bench
bench_work
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNS:-50}
key=bench-key-0000-0000
customers=1000
need_tools wrk redis-server redis-cli cmake curl python3

bench_build "$build"

start_redis "$work"
start_crm "$build/service/demo-crm/authflow-demo-crm" "$customers"

# No send limits and no budget (the send-limit script still runs on every
# send); the lockout at its highest, and Redis flushed before every run, so
# the wrong codes of one run (a few per customer) never lock anyone out.
af_port=$(free_port)
cat >"$work/authflow.json" <<JSON
{"apiKeys":["$key"],
 "redis":{"keyPrefix":"bench:","sessionTtlSeconds":3600},
 "log":{"level":"warn"},
 "lockout":{"maxFailures":100,"callerMaxFailures":0,"globalMaxFailuresPerMinute":0},
 "otp":{"secret":"bench-otp-secret-0123456789abcdef","maxSendsPerCustomerPerDay":0,
        "maxSendsPerPhonePerHour":0,"maxSendsPerMinute":0,
        "send":{"method":"POST","url":"http://127.0.0.1:$crm_port/customers/600000/verify",
                "headers":["Content-Type: application/json"],
                "body":"{\"answer\":\"{code}\",\"to\":\"{phone}\"}","status":{"ok":[200]}}},
 "serviceLines":{
   "bench":{"aniLookup":true,"verification":true,"identifierType":"customer_id"},
   "benchotp":{"aniLookup":true,"verification":true,"identifierType":"customer_id",
               "verificationMethod":"otp"}}}
JSON
launch_authflow "$build/service/authflow"
hz=$(getconf CLK_TCK)

# run LINE -> "steps_per_s p50 p99 af_us redis_us crm_us calls unexpected errors"
run() {
  local a0 r0 c0 a1 r1 c1 out res steps
  redis-cli -p "$redis_port" flushall >/dev/null
  a0=$(cpu_ticks "$af_pid"); r0=$(cpu_ticks "$redis_pid"); c0=$(cpu_ticks "$crm_pid")
  out=$(env BENCH_LINE="$1" BENCH_KEY=$key BENCH_ANI_COUNT=$customers \
    wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s -s bench/otp.lua "http://127.0.0.1:$af_port" 2>&1)
  a1=$(cpu_ticks "$af_pid"); r1=$(cpu_ticks "$redis_pid"); c1=$(cpu_ticks "$crm_pid")
  res=$(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')
  [ -n "$res" ] || { echo "$out" >&2; exit 1; }
  f() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$res"; }
  steps=$(f steps)
  us() { python3 -c "print(round(($2-$1)/$hz*1e6/max($steps,1),1))"; }
  echo "$(f steps_per_s) $(f p50_ms) $(f p99_ms) $(us "$a0" "$a1") $(us "$r0" "$r1") $(us "$c0" "$c1") $(f calls_completed) $(f unexpected) $(( $(f non200) + $(f socket_errors) ))"
}

echo "== warm-up" >&2
secs_save=$secs; secs=2; run bench >/dev/null; run benchotp >/dev/null; secs=$secs_save
rows=()
for r in $(seq 1 "$rounds"); do
  for line in bench benchotp; do
    echo "== round $r: $line" >&2
    rows+=("$r $line $(run "$line")")
  done
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
cat <<EOF

one-time codes vs the security answer — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $conns connections, ${secs}s per run, load average at the end $load
(wrk, redis-server, the CRM stub and authflow share these cores)

| round | path | steps/s | p50 ms | p99 ms | authflow µs/step | redis µs/step | CRM stub µs/step | calls | unexpected | errors |
|---|---|---|---|---|---|---|---|---|---|---|
EOF
for row in "${rows[@]}"; do
  set -- $row
  path=answer; [ "$2" = benchotp ] && path=otp
  echo "| $1 | $path | $3 | $4 | $5 | $6 | $7 | $8 | $9 | ${10} | ${11} |"
done
