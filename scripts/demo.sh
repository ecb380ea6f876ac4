#!/usr/bin/env bash
# The main job on the embedded default (CPU, ranks as threads):
#  1. a training step compiled for DualPipe on 4 ranks: dualpipe-gen's MLP is
#     cut into stages, differentiated, scheduled, lowered to CPU code and
#     trained for 20 steps with the compiled AdamW step, checked against the
#     same model on one rank;
#  2. the schedule's picture and the ranks' timeline (Chrome trace);
#  3. the walking skeleton: a forward pass on 2 ranks equal to 1 rank.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
bin=build/bin
mkdir -p out

echo "== dualpipe-gen mlp --layers=8 --width=64 --batch=8 -o out/mlp.mlir"
$bin/dualpipe-gen mlp --layers=8 --width=64 --batch=8 -o out/mlp.mlir
echo "== dualpipe-compile out/mlp.mlir --schedule=dualpipe --ranks=4 --microbatches=8 --optimizer=adamw:lr=0.003 -o out/mlp-dualpipe"
$bin/dualpipe-compile out/mlp.mlir --schedule=dualpipe --ranks=4 --microbatches=8 \
  --optimizer=adamw:lr=0.003 -o out/mlp-dualpipe 2> out/mlp-dualpipe.compile.log
echo "== dualpipe-run out/mlp-dualpipe --backend=local --steps=20 --check --trace=out/mlp-dualpipe/trace.json"
$bin/dualpipe-run out/mlp-dualpipe --backend=local --steps=20 --check \
  --trace=out/mlp-dualpipe/trace.json
$bin/dualpipe-sched --schedule=dualpipe --ranks=4 --microbatches=8 --emit=svg > out/mlp-dualpipe/schedule.svg
echo "schedule picture written to out/mlp-dualpipe/schedule.svg"
echo "compiled schedule: out/mlp-dualpipe/schedule.csv; memory plan: out/mlp-dualpipe/memory.json"
echo
echo "== walking skeleton: dualpipe-compile examples/mlp.mlir -o out/mlp-forward && dualpipe-run out/mlp-forward"
$bin/dualpipe-compile examples/mlp.mlir -o out/mlp-forward
$bin/dualpipe-run out/mlp-forward --backend=local
