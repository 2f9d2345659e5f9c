#!/usr/bin/env bash
# The test command: installs what the tests need (Debian packages), builds
# authflow with -Werror and AddressSanitizer + UndefinedBehaviorSanitizer,
# starts a redis-server on a free loopback port, and runs every test with
# ctest: lint, unit (cmocka), integration (real binary + real Redis + CRM
# stub), fuzz (libFuzzer, 15 s a target) and the Genesys contract tests.
#
#   tests/run.sh                 everything
#   tests/run.sh -L unit         only the unit tests (any ctest arguments)
#   AUTHFLOW_SKIP_INSTALL=1      skip apt-get (packages already there)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${AUTHFLOW_BUILD_DIR:-$root/build/test}

packages=(build-essential cmake pkg-config libmicrohttpd-dev libcurl4-openssl-dev
          libjansson-dev libhiredis-dev libcmocka-dev redis-server python3
          libxlsxwriter-dev libhpdf-dev zlib1g-dev tzdata python3-openpyxl poppler-utils
          clang clang-format clang-tidy cppcheck valgrind curl ca-certificates openssl prometheus
          yamllint chromium
          python3-aiosmtpd)
if [ "${AUTHFLOW_SKIP_INSTALL:-0}" != 1 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "== installing packages" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null
  # Node.js runs the Genesys data-action and OpenAPI contract tests; a
  # machine that already has node (any recent version) keeps it.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm >/dev/null
  fi
fi

# clang builds everything, so the libFuzzer targets are part of the same
# build and ctest run.
echo "== building with clang (ASan + UBSan, -Werror, fuzz targets) in $build" >&2
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug \
  -DAUTHFLOW_SANITIZE=ON -DAUTHFLOW_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

# The demo and the container build with gcc at -O3, where gcc sees more
# (e.g. -Wformat-truncation): that build must be warning-free too.
echo "== building with gcc, Release (-Werror) in $build-gcc-release" >&2
CC=gcc cmake -S "$root" -B "$build-gcc-release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build-gcc-release" -j"$(nproc)" >/dev/null

# A Redis for the tests that only need one; tests that kill or restart
# Redis start their own.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
redis_dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$redis_dir" --daemonize no >"$redis_dir/redis.log" 2>&1 &
redis_pid=$!
cleanup() { kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; rm -rf "$redis_dir"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -p "$port" ping >/dev/null
export AUTHFLOW_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
echo "== redis-server on 127.0.0.1:$port" >&2

# The deploy test builds and serves the container image with buildah when
# it can be installed (set AUTHFLOW_CONTAINER_CHECK=0 to skip that part).
export AUTHFLOW_CONTAINER_CHECK=${AUTHFLOW_CONTAINER_CHECK:-1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure --timeout 600 "$@"
