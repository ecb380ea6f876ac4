#!/usr/bin/env bash
# Runs the schedule CSV reader's fuzz target for a bounded time on the
# seeds here; fails on any crash, leak, sanitizer report or broken
# invariant, and prints the number of executions.
#
#   run-fuzz.sh FUZZER SEEDS WORK SECONDS
set -euo pipefail
fuzzer=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
log=$work/fuzz.log
if ! (cd "$work" && "$fuzzer" -max_total_time="$seconds" -seed=1 -timeout=10 \
      -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
      -dict="$seeds/../csv.dict" -artifact_prefix="$work/" "$work/corpus") >"$log" 2>&1; then
  tail -60 "$log"
  echo "FUZZ FAILED: a crash, leak, sanitizer report or broken invariant (input saved in $work/)"
  exit 1
fi
runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
grep -E '^Done|stat::number_of_executed_units|stat::peak_rss_mb|seeded mutation|cov:' "$log" | tail -4 || true
echo "fuzz: $runs executions in $seconds s, 0 crashes"
