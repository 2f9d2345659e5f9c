#!/usr/bin/env bash
# The benchmark, run by hand (never in CI): builds a Release authflow, the
# demo CRM and a minimal libmicrohttpd "ceiling" server, installs the
# Node.js peer (bench/node-peer: express + ioredis, one worker per core),
# starts them and a redis-server on loopback, drives them with wrk, and
# prints one table: issue 13's four rows as ratios against the peers the
# bench starts itself, then the other measurements.
#
#   bench/run.sh                   full run (about 5 minutes)
#   BENCH_SECONDS=5 bench/run.sh   shorter phases
#   BENCH_SESSIONS=N               live sessions for the RSS row (100000)
#
# Everything runs on this machine and on 127.0.0.1 only. Numbers depend on
# the machine: wrk, Redis, the CRM stub and the servers share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. bench/lib.sh
build=$root/build/bench
bench_work
secs=${BENCH_SECONDS:-10}
key=bench-key-0000-0000

need_tools wrk redis-server redis-cli cmake curl python3 node npm
# Customers every call can match: 1,000 of them, so concurrent calls rarely
# verify the same customer at once (a customer's lockout limits that).
customers=1000

bench_build "$build"
cc -O2 -o "$build/ceiling" bench/ceiling.c $(pkg-config --cflags --libs libmicrohttpd)
echo "== installing the Node.js peer (npm ci)" >&2
(cd bench/node-peer && npm ci --no-audit --no-fund --silent >/dev/null)

# Round trips authflow makes: every store operation is one EVALSHA (EVAL
# after a NOSCRIPT), so their call counts are the round trips.
redis_cmds() {
  redis-cli -p "$redis_port" info commandstats |
    awk -F'[:=,]' '/^cmdstat_(evalsha|eval|script|ping):/ {n += $3} END {print n+0}'
}

# Redis, and a demo CRM with the customers.
start_redis "$work"
start_crm "$build/service/demo-crm/authflow-demo-crm" "$customers"

# start_authflow [THREADS [EXTRA]] -> sets af_pid and af_port. Without
# THREADS the configuration has no server or crm section: every capacity
# setting (server.threads, server.maxConnections, crm.maxConnections,
# timeouts) is the default. EXTRA: more top-level members ("key":{...},).
start_authflow() {
  local server="${2:-}"
  [ -n "${1:-}" ] && server="$server\"server\":{\"threads\":$1},"
  af_port=$(free_port)
  cat >"$work/authflow.json" <<JSON
{$server
 "apiKeys":["$key"],
 "redis":{"keyPrefix":"bench:","sessionTtlSeconds":3600},
 "log":{"level":"warn"},
 "serviceLines":{"bench":{"aniLookup":true,"verification":true,
   "identifierType":"customer_id"}}}
JSON
  launch_authflow "$build/service/authflow"
}
# start_peer -> sets peer_pid and peer_port (the Node.js peer, one worker
# per core, on the same Redis and CRM stub).
start_peer() {
  peer_port=$(free_port)
  PORT=$peer_port REDIS_URL="redis://127.0.0.1:$redis_port/0" \
  CRM_URL="http://127.0.0.1:$crm_port" API_KEY=$key \
    node bench/node-peer/server.js 2>>"$work/peer.log" &
  peer_pid=$!
  pids+=("$peer_pid")
  for _ in $(seq 1 200); do
    curl -s -o /dev/null -X POST "http://127.0.0.1:$peer_port/v1/sessions" && break
    sleep 0.05
  done
}
crm_delay() {
  curl -fsS -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"delayMs\":$1,\"fault\":\"none\"}" "http://127.0.0.1:$crm_port/_control"
}

results=()
add() { results+=("$1"); echo "$1" >&2; }

echo "== 1. ceiling: minimal libmicrohttpd server, fixed JSON" >&2
ceil_port=$(free_port)
"$build/ceiling" "$ceil_port" 2 &
ceil_pid=$!
pids+=("$ceil_pid")
wait_http "http://127.0.0.1:$ceil_port/"
ceiling=$(run_wrk ceiling "http://127.0.0.1:$ceil_port/" 50 fixed.lua)
add "$ceiling"
# The same pacing as authflow's paced phase: the latency floor of one
# loopback HTTP round trip on this machine (idle cores wake slowly in VMs).
ceiling_paced=$(run_wrk ceiling_paced_1000 "http://127.0.0.1:$ceil_port/" 20 fixed.lua BENCH_RATE=1000)
add "$ceiling_paced"
stop_pid "$ceil_pid"

echo "== 1. authflow, default configuration: complete calls, ANI path and identifier path" >&2
start_authflow
idle_rss=$(rss_kb "$af_pid")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
cpu0=$(cpu_ticks "$af_pid"); cmd0=$(redis_cmds)
rcpu0=$(cpu_ticks "$redis_pid"); ccpu0=$(cpu_ticks "$crm_pid")
ani=$(run_wrk ani_path "http://127.0.0.1:$af_port" 50 calls.lua BENCH_PATH=ani)
cpu1=$(cpu_ticks "$af_pid"); cmd1=$(redis_cmds)
rcpu1=$(cpu_ticks "$redis_pid"); ccpu1=$(cpu_ticks "$crm_pid")
add "$ani"
steps=$(field "$ani" steps)
hz=$(getconf CLK_TCK)
cpu_us_per_step=$(python3 -c "print(round(($cpu1-$cpu0)/$hz*1e6/max($steps,1),1))")
per_step_us() { python3 -c "print(round(($2-$1)/$hz*1e6/max($steps,1),1))"; }
redis_cpu_us=$(per_step_us "$rcpu0" "$rcpu1")
crm_cpu_us=$(per_step_us "$ccpu0" "$ccpu1")
redis_per_step=$(python3 -c "print(round(($cmd1-$cmd0)/max($steps,1),2))")
ident=$(run_wrk identifier_path "http://127.0.0.1:$af_port" 50 calls.lua BENCH_PATH=identifier)
add "$ident"
# wrk's delay() runs after each answer, so the achieved rate is a little
# below BENCH_RATE (by the latency over the 20 ms spacing).
paced=$(run_wrk paced_1000 "http://127.0.0.1:$af_port" 20 calls.lua BENCH_PATH=ani BENCH_RATE=1000)
add "$paced"
# Where the paced p99 comes from: the same pacing over fewer dependent
# round trips. authflow alone (/healthz), one Redis round trip (GET a
# session), two (a start without ANI: create + commit scripts), and the
# CRM stub's lookup on its own (the CRM hop of an ANI step).
curl -fsS -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"conversationId":"bench-fixed","serviceLine":"bench"}' "http://127.0.0.1:$af_port/v1/sessions"
hop_healthz=$(run_wrk paced_healthz "http://127.0.0.1:$af_port/healthz" 20 fixed.lua BENCH_METHOD=GET BENCH_RATE=1000)
add "$hop_healthz"
hop_get=$(run_wrk paced_get_session "http://127.0.0.1:$af_port/v1/sessions/bench-fixed" 20 fixed.lua BENCH_METHOD=GET BENCH_RATE=1000)
add "$hop_get"
hop_start=$(run_wrk paced_start_no_ani "http://127.0.0.1:$af_port" 20 calls.lua BENCH_PATH=start BENCH_RATE=1000)
add "$hop_start"
hop_crm=$(run_wrk paced_crm_stub "http://127.0.0.1:$crm_port/customers?phone=%2B13176000001" 20 fixed.lua BENCH_METHOD=GET BENCH_RATE=1000)
add "$hop_crm"

echo "== 2. isolation: steps paced at 500/s, alone and while 3 clients pull a filtered report" >&2
# The phases above left tens of thousands of completed calls in the report
# stream; the filter matches none of them, so every report request scans
# as far as one request may.
stream_len=$(redis-cli -p "$redis_port" xlen bench:report:events)
iso_alone=$(run_wrk paced_500_alone "http://127.0.0.1:$af_port" 10 calls.lua BENCH_PATH=ani BENCH_RATE=500)
add "$iso_alone"
secs_save=$secs; secs=$((secs + 2))
run_wrk reports "http://127.0.0.1:$af_port" 3 reports.lua >"$work/reports" &
reports_wrk=$!
secs=$secs_save
sleep 1
iso_loaded=$(run_wrk paced_500_with_reports "http://127.0.0.1:$af_port" 10 calls.lua BENCH_PATH=ani BENCH_RATE=500)
wait "$reports_wrk"
add "$iso_loaded"
reports=$(cat "$work/reports")
add "$reports"

echo "== 3. 100,000 live sessions" >&2
redis-cli -p "$redis_port" flushall >/dev/null
target=${BENCH_SESSIONS:-100000}
while :; do
  n=$(redis-cli -p "$redis_port" dbsize)
  [ "$n" -ge "$target" ] && break
  secs_save=$secs; secs=5
  run_wrk fill "http://127.0.0.1:$af_port" 50 calls.lua BENCH_PATH=start >/dev/null
  secs=$secs_save
done
sessions=$(redis-cli -p "$redis_port" dbsize)
rss_100k=$(rss_kb "$af_pid")
# Every key is a session here (start-only calls leave no locks behind).
one_key=$(redis-cli -p "$redis_port" randomkey)
bytes_per_session=$(redis-cli -p "$redis_port" memory usage "$one_key")
redis_used=$(redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ {print $2+0}')
stop_pid "$af_pid"
redis-cli -p "$redis_port" flushall >/dev/null

echo "== 4. the Node.js peer: complete calls, ANI path, and paced at 1,000/s" >&2
start_peer
peer=$(run_wrk peer_ani_path "http://127.0.0.1:$peer_port" 50 calls.lua BENCH_PATH=ani)
add "$peer"
peer_paced=$(run_wrk peer_paced_1000 "http://127.0.0.1:$peer_port" 20 calls.lua BENCH_PATH=ani BENCH_RATE=1000)
add "$peer_paced"
stop_pid "$peer_pid"
redis-cli -p "$redis_port" flushall >/dev/null

echo "== 5. slow CRM: 300 ms per answer, 1,000 concurrent callers, default configuration" >&2
start_authflow
crm_delay 300
slow=$(run_wrk slow_crm_300ms "http://127.0.0.1:$af_port" 1000 calls.lua BENCH_PATH=ani)
slow_hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$af_pid/status")
slow_queued=$(curl -fsS -H "Authorization: Bearer $key" "http://127.0.0.1:$af_port/metrics" |
  awk '/^authflow_crm_queued_total / {print $2}')
add "$slow"
stop_pid "$af_pid"
redis-cli -p "$redis_port" flushall >/dev/null
# The same with the global limit on failed verifications off, as a check
# that the limit costs nothing here: it counts answered failures only (an
# earlier build also counted verifications waiting for the CRM, and 1,000
# callers on a slow CRM keep about 500 of them in flight).
start_authflow "" '"lockout":{"globalMaxFailuresPerMinute":0},'
slow_nolimit=$(run_wrk slow_crm_300ms_no_global_limit "http://127.0.0.1:$af_port" 1000 calls.lua BENCH_PATH=ani)
slow_nolimit_hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$af_pid/status")
add "$slow_nolimit"
crm_delay 0
stop_pid "$af_pid"
redis-cli -p "$redis_port" flushall >/dev/null

echo "== 6. scaling: event loops (server.threads), and two instances on one Redis" >&2
declare -A scale
for t in 1 2 4; do
  start_authflow "$t"
  r=$(run_wrk "threads_$t" "http://127.0.0.1:$af_port" 50 calls.lua BENCH_PATH=ani)
  add "$r"
  scale[$t]=$(field "$r" steps_per_s)
  stop_pid "$af_pid"
done
start_authflow 1; a_port=$af_port; a_pid=$af_pid
start_authflow 1; b_port=$af_port; b_pid=$af_pid
run_wrk two_a "http://127.0.0.1:$a_port" 25 calls.lua BENCH_PATH=ani >"$work/two_a" &
w1=$!
run_wrk two_b "http://127.0.0.1:$b_port" 25 calls.lua BENCH_PATH=ani >"$work/two_b" &
w2=$!
wait "$w1" "$w2"
two=$(python3 -c "print($(field "$(cat "$work/two_a")" steps_per_s) + $(field "$(cat "$work/two_b")" steps_per_s))")
stop_pid "$a_pid"; stop_pid "$b_pid"

ceil_sps=$(field "$ceiling" steps_per_s)
ani_sps=$(field "$ani" steps_per_s)
peer_sps=$(field "$peer" steps_per_s)
slow_sps=$(field "$slow" steps_per_s)
ratio() { python3 -c "print(round($1/max($2,1e-9),1))"; }
bad() { echo $(( $(field "$1" non200) + $(field "$1" socket_errors) + $(field "$1" fallbacks) + $(field "$1" unverified) )); }
slow_bad=$(bad "$slow")
slow_nolimit_sps=$(field "$slow_nolimit" steps_per_s)
cat <<EOF

authflow benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')
wrk, redis-server, the demo CRM, the peers and authflow all share this machine; ${secs}s per phase.
Load average before the ANI-path phase: $load_before (anything well above 0 means other work shared the cores).
authflow runs its default configuration (no server or crm section) in every phase but the scaling one.

Issue 13's rows:

| measure | result | target |
|---|---|---|
| complete calls (ANI → security), authflow ÷ the Node.js peer (express + ioredis, $(nproc) workers), 50 conns | **$(ratio "$ani_sps" "$peer_sps")×** ($ani_sps vs $peer_sps steps/s) | ≥ 3× |
| p99 of steps paced at 1,000/s, authflow ÷ minimal libmicrohttpd server paced the same way | **$(ratio "$(field "$paced" p99_ms)" "$(field "$ceiling_paced" p99_ms)")×** ($(field "$paced" p99_ms) vs $(field "$ceiling_paced" p99_ms) ms) | ≤ 3× |
| p99 of steps paced at 500/s with 3 clients pulling a filtered interactions report ($stream_len events in the stream), ÷ the same load without them | **$(ratio "$(field "$iso_loaded" p99_ms)" "$(field "$iso_alone" p99_ms)")×** ($(field "$iso_alone" p99_ms) → $(field "$iso_loaded" p99_ms) ms; $(field "$iso_alone" steps_per_s) → $(field "$iso_loaded" steps_per_s) steps/s; reports answered $(field "$reports" steps_per_s)/s, p50 $(field "$reports" p50_ms) ms) | ≤ 2× |
| CRM answering in 300 ms, 1,000 concurrent callers, default config | **$(python3 -c "print(round($slow_sps/3333*100,1))") %** of the 3,333 steps/s Little's-law bound ($slow_sps steps/s); errors and fallbacks $slow_bad (non-200 $(field "$slow" non200), socket $(field "$slow" socket_errors), CRM fallbacks $(field "$slow" fallbacks), calls ended otherwise than verified $(field "$slow" unverified) of $(field "$slow" calls_completed)); calls queued for a CRM connection ${slow_queued:-?}; peak RSS $((slow_hwm/1024)) MB | ≥ 90 %, 0 errors, ≤ 64 MB |
| the same, \`lockout.globalMaxFailuresPerMinute\` 0 (off) | $(python3 -c "print(round($slow_nolimit_sps/3333*100,1))") % ($slow_nolimit_sps steps/s); errors and fallbacks $(bad "$slow_nolimit") (not verified $(field "$slow_nolimit" unverified) of $(field "$slow_nolimit" calls_completed)); peak RSS $((slow_nolimit_hwm/1024)) MB | |

Other measurements:

| measurement | value |
|---|---|
| ceiling (minimal MHD, fixed JSON, 50 conns) | $ceil_sps req/s, p99 $(field "$ceiling" p99_ms) ms |
| complete calls, ANI path (50 conns) | $ani_sps steps/s, p50 $(field "$ani" p50_ms) / p99 $(field "$ani" p99_ms) / p99.9 $(field "$ani" p999_ms) ms, non-200 $(field "$ani" non200), not verified $(field "$ani" unverified) |
| the Node.js peer, ANI path (50 conns) | $peer_sps steps/s, p50 $(field "$peer" p50_ms) / p99 $(field "$peer" p99_ms) ms, non-200 $(field "$peer" non200) |
| authflow / ceiling | $(python3 -c "print(round($ani_sps/$ceil_sps*100,1))") % |
| complete calls, identifier path (50 conns) | $(field "$ident" steps_per_s) steps/s, p99 $(field "$ident" p99_ms) ms, non-200 $(field "$ident" non200) |
| paced at 1,000 steps/s (20 conns) | $(field "$paced" steps_per_s) steps/s, p50 $(field "$paced" p50_ms) / p99 $(field "$paced" p99_ms) / p99.9 $(field "$paced" p999_ms) ms |
| ceiling paced the same way (20 conns) | $(field "$ceiling_paced" steps_per_s) req/s, p50 $(field "$ceiling_paced" p50_ms) / p99 $(field "$ceiling_paced" p99_ms) ms |
| paced p99 by dependent round trips (1,000/s, 20 conns): authflow alone (\`/healthz\`) / + 1 Redis (GET session) / + 2 Redis (start without ANI) / + 2 Redis + CRM (ANI steps) | $(field "$hop_healthz" p99_ms) / $(field "$hop_get" p99_ms) / $(field "$hop_start" p99_ms) / $(field "$paced" p99_ms) ms |
| the CRM stub's lookup alone, paced the same way | p50 $(field "$hop_crm" p50_ms) / p99 $(field "$hop_crm" p99_ms) ms |
| the Node.js peer paced the same way (20 conns) | $(field "$peer_paced" steps_per_s) steps/s, p50 $(field "$peer_paced" p50_ms) / p99 $(field "$peer_paced" p99_ms) ms |
| CPU per step (ANI path): authflow / redis-server / CRM stub | $cpu_us_per_step / $redis_cpu_us / $crm_cpu_us µs |
| Redis round trips per step (ANI path) | $redis_per_step |
| idle RSS | $((idle_rss/1024)) MB |
| RSS with $sessions live sessions | $((rss_100k/1024)) MB |
| Redis bytes per session (MEMORY USAGE) | $bytes_per_session (used_memory/sessions: $((redis_used/sessions))) |
| scaling: 1 / 2 / 4 event loops (server.threads) | ${scale[1]} / ${scale[2]} / ${scale[4]} steps/s |
| scaling: two instances (1 loop each), one Redis | $two steps/s |
EOF
