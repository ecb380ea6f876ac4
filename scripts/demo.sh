#!/usr/bin/env bash
# The main job on the embedded default (CPU, ranks as threads): compile the
# example MLP cut into two pipeline stages and run it on two ranks, checked
# against the uncut model on one rank; then draw the DualPipe schedule.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
mkdir -p out
echo "== dualpipe-compile examples/mlp.mlir -o out/mlp"
build/bin/dualpipe-compile examples/mlp.mlir -o out/mlp
echo "== dualpipe-run out/mlp --backend=local --trace=out/mlp/trace.json"
build/bin/dualpipe-run out/mlp --backend=local --trace=out/mlp/trace.json
if [[ -x build/bin/dualpipe-sched ]]; then
  echo "== dualpipe-sched --schedule=dualpipe --ranks=8 --microbatches=20"
  build/bin/dualpipe-sched --schedule=dualpipe --ranks=8 --microbatches=20 --emit=svg > out/dualpipe-n8-m20.svg
  build/bin/dualpipe-sched --schedule=dualpipe --ranks=8 --microbatches=20 --emit=summary
  echo "schedule picture written to out/dualpipe-n8-m20.svg"
fi
