#!/usr/bin/env bash
# Style gate, run by ctest: clang-format must have nothing to change,
# cppcheck must find nothing in service/ and tests/unit/, and clang-tidy
# (.clang-tidy) must find nothing in the service's .c files (every layer).
set -euo pipefail
cd "$(dirname "$0")/.."
sources=$(find service -name '*.c' ! -path 'service/demo-crm/*' | sort)
files=$(ls $sources service/*.h service/*/*.h service/demo-crm/*.c tests/unit/*.c tests/fuzz/*.c 2>/dev/null || true)
fail=0
if ! clang-format --dry-run --Werror $files; then
  echo "lint: clang-format would change the files above (run clang-format -i)" >&2
  fail=1
fi
if ! cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
     --enable=warning,performance,portability \
     --suppress=missingIncludeSystem -D_GNU_SOURCE -DAUTHFLOW_VERSION=\"lint\" \
     -I service -I service/config -I service/core -I service/crm -I service/store -I service/http -I service/report service; then
  echo "lint: cppcheck found problems" >&2
  fail=1
fi
# clang-tidy (checks in .clang-tidy) on the service's .c files, with the build's
# compile_commands.json (ctest sets AUTHFLOW_BUILD_DIR). Runs in parallel.
build_dir=${AUTHFLOW_BUILD_DIR:-}
if ! command -v clang-tidy >/dev/null; then
  echo "lint: clang-tidy not installed (apt-get install clang-tidy); skipped" >&2
elif [ -z "$build_dir" ] || [ ! -f "$build_dir/compile_commands.json" ]; then
  echo "lint: no compile_commands.json (set AUTHFLOW_BUILD_DIR to a build dir)" >&2
  fail=1
elif ! printf '%s\n' $sources | xargs -P "$(nproc)" -n 2 \
       clang-tidy -p "$build_dir" --quiet 2>/dev/null; then
  echo "lint: clang-tidy found problems" >&2
  fail=1
fi
[ "$fail" = 0 ] && echo "lint: clean"
exit "$fail"
