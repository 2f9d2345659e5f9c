#!/usr/bin/env bash
# The demo: installs the Debian packages, builds authflow, starts Redis, the
# demo CRM and authflow on :8080, then prints curl commands that walk calls
# through the ID&V flow. Everything runs on loopback.
#
#   deploy/local/demo.sh            run until Ctrl-C, then stop everything
#   deploy/local/demo.sh --detach   leave it running; stop with --stop
#   deploy/local/demo.sh --stop
#
# Environment: AUTHFLOW_SKIP_INSTALL=1 skips apt-get; AUTHFLOW_DEMO_PORT
# changes the authflow port (default 8080).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=$root/build/demo
run=$build/run
port=${AUTHFLOW_DEMO_PORT:-8080}
key=demo-key-not-secret

stop_all() {
  for name in authflow crm redis; do
    if [ -f "$run/$name.pid" ]; then
      kill "$(cat "$run/$name.pid")" 2>/dev/null || true
      rm -f "$run/$name.pid"
    fi
  done
}

case "${1:-}" in
  --stop) stop_all; echo "demo stopped"; exit 0 ;;
  --detach | "") ;;
  *) echo "usage: $0 [--detach|--stop]" >&2; exit 2 ;;
esac

if [ "${AUTHFLOW_SKIP_INSTALL:-0}" != 1 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "== installing packages" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev \
    libjansson-dev libhiredis-dev redis-server python3 curl ca-certificates >/dev/null
fi

echo "== building in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAUTHFLOW_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

stop_all
mkdir -p "$run"
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_for() { # URL: wait until it answers
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: $1 did not come up; see $run/*.log" >&2
  return 1
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$run" >"$run/redis.log" 2>&1 &
echo $! >"$run/redis.pid"

crm_port=$(free_port)
"$build/service/demo-crm/authflow-demo-crm" --port "$crm_port" \
  --customers "$root/deploy/local/customers.json" >"$run/crm.log" 2>&1 &
echo $! >"$run/crm.pid"

for _ in $(seq 1 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
AUTHFLOW_CONFIG="$root/deploy/local/authflow.demo.json" \
AUTHFLOW_PORT="$port" \
AUTHFLOW_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
AUTHFLOW_CRM_URL="http://127.0.0.1:$crm_port" \
AUTHFLOW_API_KEYS="$key" \
  "$build/service/authflow" >/dev/null 2>"$run/authflow.log" &
echo $! >"$run/authflow.pid"
wait_for "http://127.0.0.1:$port/readyz"

base="http://127.0.0.1:$port"
h="-H 'Authorization: Bearer $key' -H 'Content-Type: application/json'"
cat <<EOF

authflow is running on $base (Redis 127.0.0.1:$redis_port, demo CRM 127.0.0.1:$crm_port)
Logs: $run/authflow.log   API key: $key

1. A caller whose number is on file: ANI match -> security answer -> verified
   curl -s $h -d '{"conversationId":"demo-call-1","ani":"tel:+13175550116","serviceLine":"banking"}' $base/v1/sessions
   curl -s $h -d '{"answer":"1234"}' $base/v1/sessions/demo-call-1/security
   curl -s -H 'Authorization: Bearer $key' $base/v1/sessions/demo-call-1

2. A withheld number: wrong identifiers until the call goes to an agent
   curl -s $h -d '{"conversationId":"demo-call-2","ani":"anonymous","serviceLine":"banking"}' $base/v1/sessions
   curl -s $h -d '{"identifier":"999999"}' $base/v1/sessions/demo-call-2/identifier
   curl -s $h -d '{"identifier":"12ab"}' $base/v1/sessions/demo-call-2/identifier
   curl -s $h -d '{"identifier":"888888"}' $base/v1/sessions/demo-call-2/identifier

3. No ANI, Spanish prompts: the caller keys a right customer number, then opts out of the PIN
   curl -s $h -d '{"conversationId":"demo-call-3","serviceLine":"banking","language":"es-ES"}' $base/v1/sessions
   curl -s $h -d '{"identifier":"100234"}' $base/v1/sessions/demo-call-3/identifier
   curl -s $h -X POST $base/v1/sessions/demo-call-3/opt-out

   curl -s $base/healthz ; curl -s $base/readyz
   curl -s -H 'Authorization: Bearer $key' $base/metrics
   curl -s -X DELETE -H 'Authorization: Bearer $key' -o /dev/null -w '%{http_code}\n' $base/v1/sessions/demo-call-1

EOF

if [ "${1:-}" = --detach ]; then
  echo "Running in the background; stop with: $0 --stop"
  exit 0
fi
trap 'stop_all; echo; echo "demo stopped"' EXIT INT TERM
echo "Press Ctrl-C to stop."
wait "$(cat "$run/authflow.pid")" || true
