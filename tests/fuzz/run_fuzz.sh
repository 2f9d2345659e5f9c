#!/usr/bin/env bash
# run_fuzz.sh TARGET SEED_DIR SECONDS
# Runs a libFuzzer target for a bounded time over its seed corpus. New
# inputs go to a scratch directory, so the corpus in git is not modified;
# a crash leaves crash-* in the working directory and fails the test.
set -euo pipefail
target=$1 seeds=$2 seconds=$3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
exec "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=8192 -print_final_stats=1 "$scratch" "$seeds"
