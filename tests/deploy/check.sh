#!/usr/bin/env bash
# Validate what deploy/ and the Dockerfile promise, offline:
#
#   1. yamllint (tests/deploy/yamllint.yaml, strict) on deploy/compose.yaml and
#      deploy/k8s/*.yaml
#   2. Kubernetes schema validation of deploy/k8s (kubernetes-models: the
#      Kubernetes OpenAPI schemas compiled to ajv validators, shipped in the
#      npm package, so no network or cluster is needed) with unknown-field
#      detection and cross-reference checks; the kustomize-rendered output
#      too when kubectl is installed
#   3. deploy/compose.yaml against the Compose Specification JSON schema, plus
#      wiring checks
#   4. deploy/k8s/config.json with `authflow --check-config` when a binary is
#      at hand ($AUTHFLOW_BIN, or build/service/authflow)
#   5. static checks of the Dockerfile and .dockerignore
#   6. with AUTHFLOW_CONTAINER_CHECK=1 and buildah installable: build the image
#      with ../shared/tools/container-check, check what is (not) inside it and
#      serve it against a redis-server started here on a free loopback port
#
#   tests/deploy/check.sh            # steps 1-5, 6 prints SKIP
#   AUTHFLOW_CONTAINER_CHECK=1 tests/deploy/check.sh
#
# Needs: yamllint (Debian package; installed when missing and root), node >= 20
# and npm (npm ci fetches the pinned packages of tests/deploy/package-lock.json
# once). Exits non-zero when any step fails.
set -uo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/tests/deploy
CONTAINER_CHECK=${CONTAINER_CHECK:-$ROOT/../shared/tools/container-check}
failures=0

step() { echo; echo "== $*"; }
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
skip() { echo "SKIP $*"; }

as_root_install() { # PKG...: apt-get install when root; false otherwise
  [ "$(id -u)" = 0 ] || return 1
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

yaml_files=(deploy/compose.yaml deploy/k8s/*.yaml)

# ------------------------------------------------------------- 1. yamllint
step "yamllint (${#yaml_files[@]} files)"
if ! command -v yamllint >/dev/null; then
  as_root_install yamllint || true
fi
if command -v yamllint >/dev/null; then
  if yamllint -s -c "$HERE/yamllint.yaml" "${yaml_files[@]}"; then
    pass "yamllint $(yamllint --version | awk '{print $2}')"
  else
    fail "yamllint"
  fi
else
  fail "yamllint is not installed (apt-get install yamllint)"
fi

# ----------------------------------------------------- 2./3. schema checks
step "npm ci (tests/deploy)"
node_ok=0
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  fail "node and npm are needed for schema validation"
elif [ -f "$HERE/node_modules/.lock-sha256" ] &&
  [ "$(cat "$HERE/node_modules/.lock-sha256")" = "$(sha256sum <"$HERE/package-lock.json")" ]; then
  node_ok=1
  pass "node_modules match package-lock.json"
elif (cd "$HERE" && timeout 180 npm ci --no-audit --no-fund --loglevel=error); then
  sha256sum <"$HERE/package-lock.json" >"$HERE/node_modules/.lock-sha256"
  node_ok=1
  pass "npm ci"
else
  fail "npm ci in tests/deploy"
fi

if [ $node_ok = 1 ]; then
  step "Kubernetes schemas: deploy/k8s/*.yaml"
  if node "$HERE/validate-k8s.mjs" deploy/k8s/*.yaml; then pass "deploy/k8s"; else fail "deploy/k8s"; fi

  step "Kubernetes schemas: kustomize build deploy/k8s"
  if command -v kubectl >/dev/null; then
    rendered=$(mktemp "${TMPDIR:-/tmp}/authflow-k8s.XXXXXX.yaml")
    if kubectl kustomize deploy/k8s >"$rendered" &&
      node "$HERE/validate-k8s.mjs" "$rendered" deploy/k8s/secret.example.yaml; then
      pass "kubectl kustomize deploy/k8s ($(grep -c '^kind:' "$rendered") objects)"
    else
      fail "kustomize build of deploy/k8s"
    fi
    rm -f "$rendered"
  else
    skip "kubectl not installed: the rendered kustomization is not validated (the sources are)"
  fi

  step "Compose Specification schema: deploy/compose.yaml"
  if node "$HERE/validate-compose.mjs" deploy/compose.yaml; then pass "deploy/compose.yaml"; else fail "deploy/compose.yaml"; fi
fi

# ----------------------------------------------------- 4. config.json
step "authflow --check-config deploy/k8s/config.json"
bin=${AUTHFLOW_BIN:-}
[ -n "$bin" ] || for b in build/service/authflow build/*/service/authflow; do
  [ -x "$b" ] && { bin=$b; break; }
done
if [ -n "$bin" ] && [ -x "$bin" ]; then
  if env -u AUTHFLOW_CONFIG -u AUTHFLOW_PORT -u AUTHFLOW_REDIS_URL -u AUTHFLOW_CRM_URL \
    -u AUTHFLOW_API_KEYS -u AUTHFLOW_LOG_LEVEL "$bin" --check-config --config deploy/k8s/config.json; then
    pass "config.json ($bin)"
  else
    fail "deploy/k8s/config.json is rejected by $bin"
  fi
else
  skip "no authflow binary (set AUTHFLOW_BIN or build into build/)"
fi

# ----------------------------------------------------- 5. Dockerfile
step "Dockerfile and .dockerignore"
df_ok=1
dcheck() { # DESCRIPTION COMMAND...
  local what=$1; shift
  if ! "$@"; then echo "  Dockerfile: $what"; df_ok=0; fi
}
runtime=$(awk 'toupper($1)=="FROM"{n++} n==2' Dockerfile)
dcheck "two stages, both FROM debian:bookworm-slim" \
  test "$(grep -ciE '^FROM debian:bookworm-slim AS (build|runtime)$' Dockerfile)" = 2
dcheck "build is Release without tests" grep -q -- '-DCMAKE_BUILD_TYPE=Release -DAUTHFLOW_TESTS=OFF' Dockerfile
dcheck "runtime stage installs no compiler, -dev package or curl binary" \
  bash -c '! grep -E "apt-get install" -A3 <<<"$1" | grep -qE "(^|[[:space:]])(curl|gcc|cc|cmake|make|wget|[a-z0-9.+-]+-dev)([[:space:]]|$)"' _ "$runtime"
dcheck "runtime stage carries the zone database (tzdata) and the report libraries" \
  bash -c 'grep -qE "tzdata" <<<"$1" && grep -qE "libxlsxwriter[0-9]" <<<"$1" && grep -qE "libhpdf-" <<<"$1"' _ "$runtime"
dcheck "runtime stage USER is a numeric non-root uid" bash -c 'grep -qE "^USER [1-9][0-9]*(:[0-9]+)?$" <<<"$1"' _ "$runtime"
dcheck "EXPOSE 8080" grep -qx 'EXPOSE 8080' Dockerfile
dcheck "STOPSIGNAL SIGTERM" grep -qx 'STOPSIGNAL SIGTERM' Dockerfile
dcheck 'HEALTHCHECK CMD ["authflow", "--healthcheck"]' grep -qF 'CMD ["authflow", "--healthcheck"]' Dockerfile
dcheck 'ENTRYPOINT ["authflow"]' grep -qx 'ENTRYPOINT \["authflow"\]' Dockerfile
dcheck "customers.json baked in" grep -q 'COPY deploy/local/customers.json /usr/share/authflow/customers.json' Dockerfile
for p in .git node_modules build; do
  dcheck ".dockerignore excludes $p" grep -qE "^(\*\*/)?$p/?\*?$|^$p\*/$" .dockerignore
done
if [ $df_ok = 1 ]; then pass "Dockerfile"; else fail "Dockerfile"; fi

# ----------------------------------------------------- 6. the image
step "container image (container-check)"
if [ "${AUTHFLOW_CONTAINER_CHECK:-0}" != 1 ]; then
  skip "container build and serve: set AUTHFLOW_CONTAINER_CHECK=1 to run them"
elif [ ! -x "$CONTAINER_CHECK" ]; then
  skip "container build and serve: $CONTAINER_CHECK not found"
elif ! command -v buildah >/dev/null && ! as_root_install buildah debootstrap; then
  skip "container build and serve: buildah cannot be installed here"
elif ! command -v redis-server >/dev/null && ! as_root_install redis-server; then
  fail "redis-server is needed to serve the image"
else
  # BUILDAH_FORMAT=docker keeps the HEALTHCHECK (the OCI format has none).
  if BUILDAH_FORMAT=docker "$CONTAINER_CHECK" build >"${TMPDIR:-/tmp}/authflow-image-build.log" 2>&1; then
    size=$(buildah images --format '{{.Size}}' localhost/authflow:check 2>/dev/null | head -1)
    pass "image built: localhost/authflow:check, $size (log: ${TMPDIR:-/tmp}/authflow-image-build.log)"
    # shellcheck disable=SC2016
    if "$CONTAINER_CHECK" run -- bash -c '
        set -e
        test "$(id -u)" = 10001
        ! command -v curl && ! command -v gcc && ! command -v cc && ! command -v cmake
        test -s /usr/share/authflow/customers.json
        test -s /usr/share/zoneinfo/Asia/Kolkata
        authflow --version
        ! ldd /usr/local/bin/authflow /usr/local/bin/authflow-demo-crm | grep "not found"
        AUTHFLOW_API_KEYS=change-me-check-key authflow --check-config'; then
      pass "image contents: uid 10001, no curl/compilers, libraries resolved, customers.json present"
    else
      fail "image contents"
    fi
    redis_port=$(free_port)
    redis_dir=$(mktemp -d "${TMPDIR:-/tmp}/authflow-redis.XXXXXX")
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$redis_dir" >"$redis_dir/log" 2>&1 &
    redis_pid=$!
    trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$redis_dir"' EXIT
    for _ in $(seq 1 50); do
      redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    port=$(free_port)
    if body=$("$CONTAINER_CHECK" serve "$port" AUTHFLOW_PORT="$port" \
      AUTHFLOW_REDIS_URL="redis://127.0.0.1:$redis_port/0" \
      AUTHFLOW_API_KEYS=change-me-check-key) && [ -n "$body" ]; then
      pass "image serves /healthz on 127.0.0.1:$port: $body"
    else
      fail "container-check serve"
    fi
    kill "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
    rm -rf "$redis_dir"
    trap - EXIT
  else
    tail -n 30 "${TMPDIR:-/tmp}/authflow-image-build.log"
    fail "container-check build"
  fi
fi

echo
if [ $failures -gt 0 ]; then
  echo "tests/deploy/check.sh: $failures step(s) failed"
  exit 1
fi
echo "tests/deploy/check.sh: all checks passed"
