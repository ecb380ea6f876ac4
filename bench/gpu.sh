#!/usr/bin/env bash
# bench/gpu.sh - DualPipe on several ranks of one GPU (H200) against a 1-rank
# reference: step time, achieved TFLOP/s and the fraction of communication
# hidden under compute, read from the trace. Meant to finish within five
# minutes on one H200.
#
#   bench/gpu.sh            (from the repository root or anywhere)
#   bench/gpu.sh --dry-run  everything short of running on the GPU: checks the
#                           toolkit, builds, generates the GPT, counts its
#                           FLOPs and compiles both steps for --target=cuda,
#                           then prints the runs it would make (no GPU needed)
#
# Exit status: 0 measured (or dry run done); 2 not runnable here (no GPU, no
# CUDA toolkit, no CUDA target in the compiler, or a runner that cannot run
# a cuda step) - said plainly, nothing is pretended; 1 a step failed.
#
# Environment: DUALPIPE_CUDA_ROOT (default /usr/local/cuda), GPU_BUILD
# (default build-gpu), GPU_LAYERS/GPU_HIDDEN/GPU_HEADS/GPU_SEQ/GPU_VOCAB/
# GPU_BATCH (the GPT), GPU_RANKS (default 4), GPU_MICROBATCHES (default 16),
# GPU_STEPS (default 10).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CUDA_ROOT="${DUALPIPE_CUDA_ROOT:-/usr/local/cuda}"
BUILD="${GPU_BUILD:-build-gpu}"
L="${GPU_LAYERS:-4}" H="${GPU_HIDDEN:-1024}" NH="${GPU_HEADS:-16}"
S="${GPU_SEQ:-1024}" V="${GPU_VOCAB:-32000}" BATCH="${GPU_BATCH:-4}"
N="${GPU_RANKS:-4}" M="${GPU_MICROBATCHES:-16}" STEPS="${GPU_STEPS:-10}"
WORK="${GPU_WORK:-/tmp/dualpipe-gpu-bench}"
DRY=0
for arg in "$@"; do
  case $arg in
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench/gpu.sh: unknown argument '$arg' (try --dry-run)" >&2; exit 2 ;;
  esac
done
START=$SECONDS

unavailable() { echo "bench/gpu.sh: NOT RUN: $*" >&2; exit 2; }
left() { echo $((300 - (SECONDS - START))); }

# 1. A GPU (not for a dry run) and a CUDA toolkit.
if [ "$DRY" = 1 ]; then
  echo "bench/gpu.sh: dry run: builds and compiles, runs nothing on a GPU"
else
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU ||
    unavailable "no NVIDIA GPU visible (nvidia-smi lists none; bench/gpu.sh --dry-run builds and compiles without one)"
  nvidia-smi -L
fi
[ -f "$CUDA_ROOT/include/cuda_runtime.h" ] ||
  unavailable "no CUDA toolkit at $CUDA_ROOT (set DUALPIPE_CUDA_ROOT)"

# 2. Build with CUDA (the configure step detects it; -j all cores).
export CCACHE_BASEDIR="$ROOT"
config=$(cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDUALPIPE_CUDA_ROOT="$CUDA_ROOT" 2>&1) || { echo "$config"; exit 1; }
echo "$config" | grep "dualpipe:" || true
echo "$config" | grep -q "dualpipe: CUDA ON" ||
  unavailable "CMake did not find CUDA under $CUDA_ROOT"
timeout "$(left)" ninja -C "$BUILD" dualpipe-gen dualpipe-compile dualpipe-run \
  dualpipe-opt bench-cost-ratio dualpipe_runtime_cuda
BIN="$BUILD/bin"
mkdir -p "$WORK"

# 3. The runner must run a cuda step (allocate managed memory, bind each
#    rank thread to the device), and the compiler must have a CUDA target.
"$BIN/dualpipe-run" --help 2>&1 | grep -qi cuda ||
  unavailable "dualpipe-run cannot run a --target=cuda step yet (it has no cuda backend: it would pass host memory to the kernels; see docs/cuda.md, 'Not done')"
"$BIN/dualpipe-gen" mlp --layers=2 --width=8 --batch=2 -o "$WORK/probe.mlir"
if ! probe=$(timeout "$(left)" "$BIN/dualpipe-compile" "$WORK/probe.mlir" --target=cuda \
      --schedule=1f1b --ranks=1 --microbatches=1 -o "$WORK/probe" 2>&1); then
  unavailable "dualpipe-compile --target=cuda failed: $probe"
fi

# 4. The GPT, its FLOPs per step (forward + backward, every micro-batch).
"$BIN/dualpipe-gen" gpt --layers="$L" --hidden="$H" --heads="$NH" --seq="$S" \
  --vocab="$V" --batch="$BATCH" -o "$WORK/gpt.mlir"
"$BIN/dualpipe-opt" "$WORK/gpt.mlir" --dualpipe-partition=stages=1 \
  --dualpipe-autodiff=microbatches=1 -o "$WORK/gpt-ad.mlir"
FLOPS=$("$BIN/bench-cost-ratio" "$WORK/gpt-ad.mlir" device=h200 | M="$M" python3 -c "
import json, os, sys
f = {x['name']: x['flops'] for x in json.load(sys.stdin)['functions']}
print(int(os.environ['M']) * (f['gpt_stage0_fwd'] + f['gpt_stage0_bwd']))")
echo "GPT L=$L hidden=$H heads=$NH seq=$S vocab=$V batch=$BATCH: $FLOPS FLOP per step (M=$M)"

# 5. Compile: DualPipe on N ranks of one GPU, and the 1-rank reference.
#    Host code at -O0 (it only launches kernels and calls the runtime;
#    compile time matters in a five-minute visit); the 1-rank step is 1F1B
#    (one micro-batch of activations alive) without a second reference.
#    Measured on the 2-core build machine: the 4-layer DualPipe compile
#    takes 58 s at -O0 (144 s at -O1).
timeout "$(left)" "$BIN/dualpipe-compile" "$WORK/gpt.mlir" --target=cuda \
  --schedule=dualpipe --ranks="$N" --microbatches="$M" --opt-level=0 \
  --time-phases -o "$WORK/dualpipe"
timeout "$(left)" "$BIN/dualpipe-compile" "$WORK/gpt.mlir" --target=cuda \
  --schedule=1f1b --ranks=1 --microbatches="$M" --opt-level=0 \
  --reference=false --time-phases -o "$WORK/one"

if [ "$DRY" = 1 ]; then
  ls -l "$WORK/dualpipe/step.so" "$WORK/one/step.so"
  grep -q '"target": "cuda"' "$WORK/dualpipe/manifest.json" ||
    { echo "bench/gpu.sh: $WORK/dualpipe is not a cuda step" >&2; exit 1; }
  echo "would run: $BIN/dualpipe-run $WORK/dualpipe --backend=local --device=0 --steps=$STEPS --check --trace=$WORK/dualpipe-trace.json"
  echo "would run: $BIN/dualpipe-run $WORK/one --backend=local --device=0 --steps=$STEPS --trace=$WORK/one-trace.json"
  echo "bench/gpu.sh: dry run done in $((SECONDS - START)) s (nothing ran on a GPU)"
  exit 0
fi

# 6. Run (ranks as threads sharing the GPU) and read the traces.
median() { grep -o 'time [0-9.]* ms' | awk 'NR>1{print $2}' | sort -n |
           awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for run in dualpipe one; do
  check=--check; [ "$run" = one ] && check=
  out=$(timeout "$(left)" "$BIN/dualpipe-run" "$WORK/$run" --backend=local \
        --device=0 --steps="$STEPS" $check --trace="$WORK/$run-trace.json")
  echo "$out" | grep -E '^(step|check)'
  ms=$(echo "$out" | median)
  echo "== $run: median step $ms ms"
  python3 bench/gpu_trace.py "$WORK/$run-trace.json" --flops="$FLOPS" --step-ms="$ms" || true
done
echo "bench/gpu.sh: done in $((SECONDS - START)) s"
