#!/usr/bin/env bash
# Style gate, run by ctest: clang-format must have nothing to change and
# cppcheck must find nothing in service/ and tests/unit/.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(ls service/*.c service/*.h service/demo-crm/*.c tests/unit/*.c tests/fuzz/*.c 2>/dev/null || true)
fail=0
if ! clang-format --dry-run --Werror $files; then
  echo "lint: clang-format would change the files above (run clang-format -i)" >&2
  fail=1
fi
if ! cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
     --enable=warning,performance,portability \
     --suppress=missingIncludeSystem -D_GNU_SOURCE -DAUTHFLOW_VERSION=\"lint\" \
     -I service service service/demo-crm; then
  echo "lint: cppcheck found problems" >&2
  fail=1
fi
[ "$fail" = 0 ] && echo "lint: clean"
exit "$fail"
