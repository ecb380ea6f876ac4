#!/usr/bin/env bash
# Runs the front half's fuzz target for a bounded time on the seeds here;
# fails on any crash, abort, sanitizer report, timeout or broken invariant,
# and prints the executions and how far the inputs got.
#
#   run-fuzz.sh FUZZER SEEDS WORK SECONDS
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work"
log=$work/fuzz.log
# Leaks are not looked for: MLIR keeps uniqued storage for the process.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:hard_rss_limit_mb=4096:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if ! (cd "$work" && "$fuzzer" -max_total_time="$seconds" -seed=1 -timeout=30 \
      -artifact_prefix="$work/" "$seeds") >"$log" 2>&1; then
  tail -60 "$log"
  echo "FUZZ FAILED: a crash, abort, sanitizer report, timeout or broken invariant (input saved in $work/)"
  exit 1
fi
cat "$log"
runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
echo "fuzz: $runs executions in $seconds s, 0 crashes"
