#!/usr/bin/env bash
# The demo: installs the Debian packages, builds authflow, checks the config,
# starts Redis, the demo CRM and authflow on :8080, then prints curl commands
# that walk calls through the ID&V flow and the dashboard's address. Everything
# runs on loopback.
#
#   deploy/local/demo.sh                   run until Ctrl-C, then stop everything
#   deploy/local/demo.sh --detach          leave it running; stop with --stop
#   deploy/local/demo.sh --stop            stop a detached demo
#   deploy/local/demo.sh --reset           stop it and delete its Redis data
#   deploy/local/demo.sh --config my.json  use another config file (copy
#                                          deploy/local/authflow.demo.json)
#
# Redis keeps its data in <state>/data (append-only file), so sessions and
# reports survive a restart of the demo; --reset deletes them.
#
# Environment:
#   AUTHFLOW_DEMO_CONFIG   config file (same as --config; --config wins)
#   AUTHFLOW_DEMO_PORT     authflow's port (default 8080)
#   AUTHFLOW_DEMO_DIR      state directory: logs, pid files, Redis data
#                          (default build/demo)
#   AUTHFLOW_SKIP_INSTALL=1  skip apt-get
#   AUTHFLOW_DEMO_BIN, AUTHFLOW_DEMO_CRM_BIN  use these binaries, do not build
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=$root/build/demo
state=${AUTHFLOW_DEMO_DIR:-$build}
run=$state/run
data=$state/data
port=${AUTHFLOW_DEMO_PORT:-8080}
config=${AUTHFLOW_DEMO_CONFIG:-$root/deploy/local/authflow.demo.json}
key=demo-key-not-secret                 # the Genesys (API) key
report_key=demo-supervisor-key-not-secret  # reportKeys in authflow.demo.json
handoff_key=demo-handoff-key-not-secret    # handoffKeys in authflow.demo.json
mode=run

usage() {
  echo "usage: $0 [--config FILE] [--detach | --stop | --reset]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --stop) mode=stop ;;
    --reset) mode=reset ;;
    --detach) mode=detach ;;
    --config) [ $# -ge 2 ] || usage; config=$2; shift ;;
    --config=*) config=${1#--config=} ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
  esac
  shift
done

stop_all() {
  local name pid
  for name in authflow sms crm redis; do
    if [ -f "$run/$name.pid" ]; then
      pid=$(cat "$run/$name.pid")
      kill "$pid" 2>/dev/null || true
      # Wait for it (Redis writes its append-only file on the way out).
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$run/$name.pid"
    fi
  done
}

case "$mode" in
  stop) stop_all; echo "demo stopped (data kept in $data; --reset deletes it)"; exit 0 ;;
  reset) stop_all; rm -rf "$data"; echo "demo stopped and its Redis data deleted"; exit 0 ;;
esac

[ -f "$config" ] || { echo "demo: config file $config not found" >&2; exit 1; }
config=$(realpath "$config")

if [ -n "${AUTHFLOW_DEMO_BIN:-}" ] && [ -n "${AUTHFLOW_DEMO_CRM_BIN:-}" ]; then
  bin=$AUTHFLOW_DEMO_BIN
  crm_bin=$AUTHFLOW_DEMO_CRM_BIN
else
  if [ "${AUTHFLOW_SKIP_INSTALL:-0}" != 1 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "== installing packages" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev \
      libjansson-dev libhiredis-dev libxlsxwriter-dev libhpdf-dev zlib1g-dev tzdata \
      redis-server python3 curl ca-certificates >/dev/null
  fi
  echo "== building in $build" >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAUTHFLOW_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" >/dev/null
  bin=$build/service/authflow
  crm_bin=$build/service/demo-crm/authflow-demo-crm
fi

stop_all
mkdir -p "$run" "$data"
# A conversation ID works once, and Redis keeps the calls of earlier runs
# (and a deleted ID cannot start again for a while), so every run after the
# first gives its walk's calls IDs of their own: demo-call-1, then
# demo-call-1-run2, ... (--reset starts again from demo-call-1).
runs=$(cat "$data/demo-runs" 2>/dev/null || echo 0)
case "$runs" in '' | *[!0-9]*) runs=0 ;; esac
# Data from before this counter existed: that was a run too.
[ "$runs" != 0 ] || [ ! -d "$data/appendonlydir" ] || runs=1
runs=$((runs + 1))
echo "$runs" >"$data/demo-runs"
sfx=""
[ "$runs" = 1 ] || sfx="-run$runs"
c1=demo-call-1$sfx c2=demo-call-2$sfx c3=demo-call-3$sfx c4=demo-call-4$sfx c5=demo-call-5$sfx
c6=demo-call-6$sfx
run_note=""
[ -z "$sfx" ] || run_note="Redis kept the calls of earlier runs, so this run's are demo-call-N$sfx ($0 --reset clears them).

"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
redis_port=$(free_port)
crm_port=$(free_port)
sms_port=$(free_port)
sms=http://127.0.0.1:$sms_port
# The demo's SMS gateway (deploy/local/sms_sink.py): one-time codes of the
# "secure" line go there (otp.send.url reads AUTHFLOW_DEMO_SMS_URL).
authflow_env=(AUTHFLOW_CONFIG="$config" AUTHFLOW_PORT="$port"
  AUTHFLOW_REDIS_URL="redis://127.0.0.1:$redis_port/0"
  AUTHFLOW_CRM_URL="http://127.0.0.1:$crm_port" AUTHFLOW_API_KEYS="$key"
  AUTHFLOW_DEMO_SMS_URL="$sms")

# The config first: a bad one is reported in authflow's own words, before
# anything is started.
echo "== checking $config" >&2
if ! env "${authflow_env[@]}" "$bin" --check-config >"$run/check-config.log" 2>&1; then
  echo "demo: authflow refused the configuration:" >&2
  sed 's/^/  /' "$run/check-config.log" >&2
  echo "Fix it and run $0 again (or check it alone: $bin --check-config --config $config)." >&2
  exit 1
fi

# From here on, a failure stops whatever was started.
trap 'stop_all' EXIT
trap 'exit 130' INT TERM
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data" --save "" \
  --appendonly yes --appendfsync always >"$run/redis.log" 2>&1 &
echo $! >"$run/redis.pid"
"$crm_bin" --port "$crm_port" --customers "$root/deploy/local/customers.json" \
  >"$run/crm.log" 2>&1 &
echo $! >"$run/crm.pid"
python3 "$root/deploy/local/sms_sink.py" --port "$sms_port" >"$run/sms.log" 2>&1 &
echo $! >"$run/sms.pid"

for _ in $(seq 1 100); do
  redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
  sleep 0.05
done
env "${authflow_env[@]}" "$bin" >/dev/null 2>"$run/authflow.log" &
echo $! >"$run/authflow.pid"

up=0
for _ in $(seq 1 100); do
  if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then up=1; break; fi
  kill -0 "$(cat "$run/authflow.pid")" 2>/dev/null || break
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "demo: authflow did not come up on port $port. Its last log lines:" >&2
  tail -n 5 "$run/authflow.log" | sed 's/^/  /' >&2
  echo "Redis and the demo CRM were stopped again. All logs: $run/" >&2
  exit 1
fi

base="http://127.0.0.1:$port"
if grep -q "$report_key" "$config"; then
  report_note="sign in with the report key $report_key (reportKeys: reads reports, nothing else)"
else
  report_note="sign in with a key from reportKeys in $config (or the API key)"
fi
h="-H 'Authorization: Bearer $key' -H 'Content-Type: application/json'"
cat <<EOF

authflow is running on $base (Redis 127.0.0.1:$redis_port, demo CRM 127.0.0.1:$crm_port)
Config:    $config
Binary:    $bin   (e.g. $bin --check-config --config my.json)
CRM check: AUTHFLOW_CRM_URL=http://127.0.0.1:$crm_port AUTHFLOW_DEMO_SMS_URL=$sms $bin --check-crm --config $config
Logs:      $run/authflow.log
SMS sink:  $sms/messages   (the text messages one-time codes went out as; also $run/sms.log)
Redis data: $data (kept across restarts; $0 --reset deletes it)
API key (what Genesys uses): $key

Dashboard for supervisors: $base/dashboard
  $report_note
Handoff key (the app back end's; creates handoff codes, nothing else): $handoff_key
  (the handoff secret in deploy/local/authflow.demo.json is a dev-only value)

${run_note}1. A caller whose number is on file: ANI match -> security answer -> verified
   curl -s $h -d '{"conversationId":"$c1","ani":"tel:+13175550116","serviceLine":"banking"}' $base/v1/sessions
   curl -s $h -d '{"answer":"1234"}' $base/v1/sessions/$c1/security
   curl -s -H 'Authorization: Bearer $key' $base/v1/sessions/$c1

2. A withheld number: wrong identifiers until the call goes to an agent
   curl -s $h -d '{"conversationId":"$c2","ani":"anonymous","serviceLine":"banking"}' $base/v1/sessions
   curl -s $h -d '{"identifier":"999999"}' $base/v1/sessions/$c2/identifier
   curl -s $h -d '{"identifier":"12ab"}' $base/v1/sessions/$c2/identifier
   curl -s $h -d '{"identifier":"888888"}' $base/v1/sessions/$c2/identifier

3. No ANI, Spanish prompts: the caller keys a right customer number, then opts out of the PIN
   curl -s $h -d '{"conversationId":"$c3","serviceLine":"banking","language":"es-ES"}' $base/v1/sessions
   curl -s $h -d '{"identifier":"100234"}' $base/v1/sessions/$c3/identifier
   curl -s $h -X POST $base/v1/sessions/$c3/opt-out

4. Reports with the supervisors' key
   curl -s -H 'Authorization: Bearer $report_key' $base/v1/reports/summary
   curl -s -H 'Authorization: Bearer $report_key' '$base/v1/reports/interactions?format=csv'

5. A callback linked to call 1 (verified minutes ago) from the same number: verified again with no CRM call and no PIN (from another number it would ask the PIN)
   curl -s $h -d '{"conversationId":"$c4","ani":"tel:+13175550116","serviceLine":"banking","channel":"callback","linkedConversationId":"$c1"}' $base/v1/sessions

6. An app handoff: the back end (handoff key) gets a one-time code, the caller keys it in the IVR
   code=\$(curl -s -H 'Authorization: Bearer $handoff_key' -H 'Content-Type: application/json' -d '{"customerId":"100234","customerName":"Ana García","verified":true,"channel":"app"}' $base/v1/handoffs | sed 's/.*"code":"\([0-9]*\)".*/\1/'); echo "code: \$code"
   curl -s $h -d '{"conversationId":"$c5","ani":"anonymous","serviceLine":"banking"}' $base/v1/sessions
   curl -s $h -d "{\"code\":\"\$code\"}" $base/v1/sessions/$c5/handoff
   curl -s $h -d "{\"code\":\"\$code\"}" $base/v1/sessions/$c5/handoff   # 409: completed; a code works once

7. A one-time code (the "secure" line, verificationMethod otp): ANI match -> a code by SMS to the
   phone on file -> the caller keys it -> verified. The demo's SMS sink shows the message.
   curl -s $h -d '{"conversationId":"$c6","ani":"tel:+13175550116","serviceLine":"secure"}' $base/v1/sessions
   curl -s $sms/messages   # what the phone on file received
   code=\$(curl -s $sms/messages | sed 's/.*"code": "\([0-9]*\)".*/\1/'); echo "code: \$code"
   curl -s $h -d "{\"code\":\"\$code\"}" $base/v1/sessions/$c6/otp

   curl -s $base/healthz ; curl -s $base/readyz
   curl -s -H 'Authorization: Bearer $key' $base/metrics
   curl -s -X DELETE -H 'Authorization: Bearer $key' -o /dev/null -w '%{http_code}\n' $base/v1/sessions/$c1

EOF

if [ "$mode" = detach ]; then
  trap - EXIT
  echo "Running in the background; stop with: $0 --stop"
  exit 0
fi
trap 'stop_all; echo; echo "demo stopped (data kept in $data)"' EXIT
echo "Press Ctrl-C to stop."
wait "$(cat "$run/authflow.pid")" || true
