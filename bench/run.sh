#!/usr/bin/env bash
# bench/run.sh - every benchmark that can run on this machine, then
# bench/REPORT.md and bench/plots/*.svg. About 90 minutes on 2 idle cores
# (the 96-layer compile alone takes 20-40 minutes).
# Not part of the test suite.
#
#   bench/run.sh                 build (build-bench, -j1), run, report
#   bench/run.sh --only=schedule,runtime     some sections (see bench/bench.py)
#   bench/run.sh --only=compile --layers=12,24 [--opt-level=1]   some depths
#   bench/run.sh --report        only rewrite REPORT.md from bench/results
#
# The GPU measurement is bench/gpu.sh (needs a GPU and the CUDA target).
# PyTorch (Debian's python3-torch, looked for in the running python3 and in
# /usr/bin/python3) is used when installed; the comparison is skipped with a
# message otherwise (this script does not install anything).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD="${BENCH_BUILD:-build-bench}"
export DUALPIPE_BIN="$ROOT/$BUILD/bin"
if [ "${1:-}" != "--report" ]; then
  export CCACHE_BASEDIR="$ROOT"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD" -j1 dualpipe-gen dualpipe-opt dualpipe-compile dualpipe-run \
    dualpipe-sched bench-schedule bench-cost-ratio
  start=$SECONDS
  python3 bench/bench.py "$@"
  echo "bench/run.sh: benchmarks took $((SECONDS - start)) s"
fi
python3 bench/report.py
