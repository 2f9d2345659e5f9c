#!/usr/bin/env bash
# Memcheck gate: builds authflow WITHOUT sanitizers (its own build dir), then
# runs an integration flow file with every authflow process under
#   valgrind --leak-check=full --errors-for-leak-kinds=definite
#            --error-exitcode=99 --track-fds=no
# and fails on any valgrind error (invalid read/write, use of uninitialised
# memory, definite leak). The harness starts authflow as
# `$AUTHFLOW_BIN --config FILE` in its own process group; the wrapper below
# execs valgrind, so the harness's pid, signals and exit status are
# valgrind's (99 on an error, which the harness reports as a failed exit).
#
#   tests/valgrind.sh                      # runs test_flow_paths.py
#   tests/valgrind.sh test_bad_input.py    # another file (or several)
#   AUTHFLOW_VALGRIND_BUILD_DIR=/tmp/b     # build dir (default build-valgrind)
#
# Run by ctest (label valgrind) with AUTHFLOW_VALGRIND_BUILD_DIR set.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${AUTHFLOW_VALGRIND_BUILD_DIR:-$root/build-valgrind}
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test_flow_paths.py)

command -v valgrind >/dev/null || { echo "valgrind: not installed" >&2; exit 1; }

echo "== building without sanitizers in $build" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DAUTHFLOW_SANITIZE=OFF \
  -DAUTHFLOW_FUZZ=OFF -DAUTHFLOW_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target authflow authflow-demo-crm >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wrapper=$work/authflow-under-valgrind
cat >"$wrapper" <<EOF
#!/bin/sh
exec valgrind --quiet --leak-check=full --show-leak-kinds=definite \\
  --errors-for-leak-kinds=definite \\
  --error-exitcode=99 --track-fds=no --num-callers=30 \\
  --log-file="$work/valgrind.%p.log" "$build/service/authflow" "\$@"
EOF
chmod +x "$wrapper"

status=0
for f in "${files[@]}"; do
  echo "== $f with authflow under valgrind" >&2
  if ! AUTHFLOW_BIN=$wrapper \
       AUTHFLOW_DEMO_CRM_BIN=$build/service/demo-crm/authflow-demo-crm \
       AUTHFLOW_SOURCE_DIR=$root \
       timeout 900 python3 "$root/tests/integration/$f" -v; then
    status=1
  fi
done

# The exit status catches errors in processes that exited by SIGTERM; the
# logs also catch any that the harness had to SIGKILL.
logs=("$work"/valgrind.*.log)
if [ ! -e "${logs[0]}" ]; then
  echo "valgrind: no logs written: authflow never ran under valgrind" >&2
  exit 1
fi
for log in "${logs[@]}"; do
  if [ -s "$log" ]; then
    echo "== valgrind report $log:" >&2
    cat "$log" >&2
    status=1
  fi
done
echo "valgrind: ${#logs[@]} authflow processes checked" >&2
[ "$status" = 0 ] && echo "valgrind: clean"
exit "$status"
