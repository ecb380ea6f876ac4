#!/usr/bin/env bash
# dualpipe-run --backend=nccl end to end on test/data/mlp-residual
# (--target=cuda). Needs GPUs: a case that has too few exits 77 (CTest
# reports it skipped), so this runs everywhere and tests only where it can.
#
#   nccl-run.sh CASE BINDIR TESTDATA WORKDIR
#
# CASE: one-rank   (1 GPU: 1 process, gpipe, --check against the reference)
#       two-ranks  (2 GPUs: DualPipe on 2 processes, --check; the losses
#                   agree with --backend=local on one GPU to 1e-5)
#       hang       (2 GPUs: rank 1 stops answering at step 1; rank 0's
#                   watchdog fails the job with the rank/peer/tag message
#                   well before mpirun's own limits)
set -euo pipefail

case_name=$1 bin=$2 data=$3 work=$4
model=$data/mlp-residual/model.mlir
mpirun=(mpirun --allow-run-as-root --oversubscribe)
out=$work/nccl-$case_name
mkdir -p "$out"

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
show() { echo "+ $*" >&2; }
losses() { sed -n 's/^step \([0-9]*\) loss \([-0-9.e]*\) time .*/\1 \2/p' "$1"; }

gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
need() { [ "${gpus:-0}" -ge "$1" ] || skip "needs $1 GPU(s), found ${gpus:-0}"; }
[ -f "$model" ] || fail "no test data at $data/mlp-residual"

compile() { # NAME ARGS...
  local name=$1; shift
  show dualpipe-compile --target=cuda "$@"
  "$bin/dualpipe-compile" "$model" --target=cuda "$@" -o "$out/$name" \
    >/dev/null 2>"$out/$name.err" || { cat "$out/$name.err" >&2; fail "compile failed"; }
}

case $case_name in
one-rank)
  need 1
  compile step --schedule=gpipe --ranks=1 --microbatches=4
  show mpirun -np 1 dualpipe-run --backend=nccl --check --steps=3
  "${mpirun[@]}" -np 1 "$bin/dualpipe-run" "$out/step" --backend=nccl --check \
    --steps=3 >"$out/run.log" 2>&1 || { cat "$out/run.log"; fail "the run failed"; }
  cat "$out/run.log"
  grep -q 'backend nccl' "$out/run.log" || fail "no header line for backend nccl"
  grep -q '^check: .*: PASS$' "$out/run.log" || fail "the check did not pass"
  ;;

two-ranks)
  need 2
  compile step --schedule=dualpipe --ranks=2 --microbatches=4
  show dualpipe-run --backend=local --device=0 --steps=3
  "$bin/dualpipe-run" "$out/step" --steps=3 >"$out/local.log"
  show mpirun -np 2 dualpipe-run --backend=nccl --check --steps=3
  "${mpirun[@]}" -np 2 "$bin/dualpipe-run" "$out/step" --backend=nccl --check \
    --steps=3 >"$out/nccl.log" 2>&1 || { cat "$out/nccl.log"; fail "the run failed"; }
  cat "$out/nccl.log"
  grep -q '^check: .*: PASS$' "$out/nccl.log" || fail "the check did not pass"
  # NCCL sums in its own order: equal to 1e-5, not bit for bit.
  paste <(losses "$out/local.log") <(losses "$out/nccl.log") | awk '
    { d = $2 - $4; if (d < 0) d = -d; s = ($2 < 0 ? -$2 : $2); if (d > 1e-5 * (s > 1 ? s : 1)) bad = 1; n++ }
    END { exit (bad || n != 3) }' || fail "the losses of local and nccl differ"
  echo "nccl agrees with local on 2 ranks"
  ;;

hang)
  need 2
  compile step --schedule=dualpipe --ranks=2 --microbatches=4
  show DUALPIPE_FAULT=1:1:hang mpirun -np 2 dualpipe-run --backend=nccl --timeout=5
  start=$SECONDS
  if DUALPIPE_FAULT=1:1:hang timeout 120 "${mpirun[@]}" -np 2 "$bin/dualpipe-run" \
      "$out/step" --backend=nccl --steps=3 --timeout=5 >"$out/run.log" 2>&1; then
    cat "$out/run.log"; fail "the run succeeded although rank 1 hung"
  fi
  cat "$out/run.log"
  [ $((SECONDS - start)) -lt 100 ] || fail "the job took $((SECONDS - start)) s to fail"
  grep -q 'rank 0: .*rank 1 (tag [0-9]*).* timed out after 5.0 s' "$out/run.log" ||
    fail "no timeout message naming rank 0, peer 1 and the tag"
  ;;

*) fail "unknown case $case_name" ;;
esac
