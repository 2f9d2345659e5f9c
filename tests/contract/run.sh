#!/usr/bin/env bash
# Contract tests for api-spec/: lint openapi.yaml, then check the live service
# against it and run the Genesys data actions the way Genesys does.
#
#   AUTHFLOW_BIN=<build>/service/authflow \
#   AUTHFLOW_DEMO_CRM_BIN=<build>/service/demo-crm/authflow-demo-crm \
#   tests/contract/run.sh
#
# CONTRACT_TEST_FILES (space-separated paths, relative to this folder) runs
# other test files against the same stack instead of ./*.test.mjs, e.g. the
# Genesys blueprint's flow tests (tests/genesys/run.sh); CONTRACT_SKIP_LINT=1
# skips the OpenAPI lint then.
#
# Starts its own redis-server, demo CRM and authflow on loopback ports chosen
# at run time and stops them on exit. Exits non-zero on any failure.
set -euo pipefail

: "${AUTHFLOW_BIN:?set AUTHFLOW_BIN to the authflow binary}"
: "${AUTHFLOW_DEMO_CRM_BIN:?set AUTHFLOW_DEMO_CRM_BIN to the authflow-demo-crm binary}"
# Resolve relative paths against the caller's directory, before the cd.
AUTHFLOW_BIN=$(realpath "$AUTHFLOW_BIN")
AUTHFLOW_DEMO_CRM_BIN=$(realpath "$AUTHFLOW_DEMO_CRM_BIN")
cd "$(dirname "$0")"
HERE=$(pwd)
REDIS_SERVER_BIN=${REDIS_SERVER_BIN:-$(command -v redis-server || true)}
[ -x "$AUTHFLOW_BIN" ] || { echo "run.sh: $AUTHFLOW_BIN is not executable" >&2; exit 2; }
[ -x "$AUTHFLOW_DEMO_CRM_BIN" ] || { echo "run.sh: $AUTHFLOW_DEMO_CRM_BIN is not executable" >&2; exit 2; }
[ -n "$REDIS_SERVER_BIN" ] || { echo "run.sh: redis-server not found" >&2; exit 2; }
command -v node >/dev/null || { echo "run.sh: node not found" >&2; exit 2; }

export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

echo "== npm ci"
if [ -f package-lock.json ]; then
  timeout 120 npm ci --no-audit --no-fund --loglevel=error
else
  timeout 120 npm install --no-audit --no-fund --loglevel=error
fi

if [ "${CONTRACT_SKIP_LINT:-0}" != 1 ]; then
  echo "== lint api-spec/openapi.yaml (redocly, recommended-strict)"
  timeout 120 ./node_modules/.bin/redocly lint --config redocly.yaml ../../api-spec/openapi.yaml
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/authflow-contract.XXXXXX")
CRM_PID=""
AF_PID=""
cleanup() {
  local rc=$?
  [ -n "$AF_PID" ] && kill "$AF_PID" 2>/dev/null || true
  [ -n "$CRM_PID" ] && kill "$CRM_PID" 2>/dev/null || true
  # The tests may restart Redis (the 503 test); whichever instance runs
  # wrote its pid here.
  if [ -s "$WORK/redis.pid" ]; then kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true; fi
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    if { [ -z "$AF_PID" ] || ! kill -0 "$AF_PID" 2>/dev/null; } &&
       { [ -z "$CRM_PID" ] || ! kill -0 "$CRM_PID" 2>/dev/null; }; then break; fi
    sleep 0.2
  done
  [ -n "$AF_PID" ] && kill -9 "$AF_PID" 2>/dev/null || true
  [ -n "$CRM_PID" ] && kill -9 "$CRM_PID" 2>/dev/null || true
  if [ "$rc" != 0 ] && [ -f "$WORK/authflow.log" ]; then
    echo "== last authflow log lines" >&2
    tail -n 20 "$WORK/authflow.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

wait_for() { # wait_for <seconds> <command...>
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

echo "== start redis-server, demo CRM, authflow"
REDIS_PORT=$(free_port)
REDIS_ARGS=(--port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no
            --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
            --dir "$WORK")
"$REDIS_SERVER_BIN" "${REDIS_ARGS[@]}"
wait_for 10 node -e '
  const s=require("net").connect('"$REDIS_PORT"',"127.0.0.1");
  s.on("connect",()=>s.write("PING\r\n"));
  s.on("data",d=>process.exit(String(d).startsWith("+PONG")?0:1));
  s.on("error",()=>process.exit(1));' || { echo "redis did not start" >&2; exit 1; }

"$AUTHFLOW_DEMO_CRM_BIN" --port 0 --bind 127.0.0.1 --customers "$HERE/fixtures/customers.json" \
  >"$WORK/crm.out" 2>"$WORK/crm.log" &
CRM_PID=$!
wait_for 10 grep -q '^listening on ' "$WORK/crm.out" || { echo "demo CRM did not start" >&2; cat "$WORK/crm.log" >&2; exit 1; }
CRM_PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$WORK/crm.out" | head -n1)

API_KEY="contract-api-key-$RANDOM$RANDOM"
HANDOFF_KEY="contract-handoff-key-$RANDOM$RANDOM"
# A throw-away handoff secret per run (the fixture reads it with ${env:...}).
CONTRACT_HANDOFF_SECRET="contract-handoff-secret-for-tests-only-$RANDOM$RANDOM$RANDOM$RANDOM$RANDOM"
export CONTRACT_HANDOFF_SECRET
AUTHFLOW_CONFIG="$HERE/fixtures/authflow.contract.json" \
AUTHFLOW_PORT=0 \
AUTHFLOW_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" \
AUTHFLOW_CRM_URL="http://127.0.0.1:$CRM_PORT" \
AUTHFLOW_API_KEYS="$API_KEY,contract-second-key" \
AUTHFLOW_HANDOFF_KEYS="$HANDOFF_KEY" \
  "$AUTHFLOW_BIN" --config "$HERE/fixtures/authflow.contract.json" 2>"$WORK/authflow.log" &
AF_PID=$!
wait_for 10 grep -q '"msg":"listening"' "$WORK/authflow.log" || { echo "authflow did not start" >&2; cat "$WORK/authflow.log" >&2; exit 1; }
AF_PORT=$(grep -m1 '"msg":"listening"' "$WORK/authflow.log" | sed -n 's/.*"port":\([0-9][0-9]*\).*/\1/p')
echo "redis :$REDIS_PORT  demo CRM :$CRM_PORT  authflow :$AF_PORT"

export CONTRACT_AUTHFLOW_URL="http://127.0.0.1:$AF_PORT"
export CONTRACT_CRM_URL="http://127.0.0.1:$CRM_PORT"
export CONTRACT_API_KEY="$API_KEY"
export CONTRACT_HANDOFF_KEY="$HANDOFF_KEY"
export CONTRACT_REPORT_KEY="contract-report-key-0001"
export CONTRACT_REDIS_PORT="$REDIS_PORT"
export CONTRACT_REDIS_PIDFILE="$WORK/redis.pid"
export CONTRACT_REDIS_SERVER="$REDIS_SERVER_BIN"
export CONTRACT_REDIS_DIR="$WORK"

echo "== node --test"
# One file at a time, in this order: the tests share one service and toggle
# CRM faults; outage.test.mjs stops and restarts Redis, so it runs last.
# Each test has its own timeout; the whole run is bounded too.
files=()
if [ -n "${CONTRACT_TEST_FILES:-}" ]; then
  read -r -a files <<<"$CONTRACT_TEST_FILES"
else
  for f in ./*.test.mjs; do [ "$f" = ./outage.test.mjs ] || files+=("$f"); done
  files+=(./outage.test.mjs)
fi
timeout 420 node --test --test-concurrency=1 --test-timeout=60000 \
  --test-reporter=spec "${files[@]}"
