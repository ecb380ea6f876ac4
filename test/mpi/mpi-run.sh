#!/usr/bin/env bash
# dualpipe-run's mpi backend, data parallelism and failure handling, end to
# end on test/data/mlp-residual (DualPipe, N=4, M=8).
#
#   mpi-run.sh CASE BINDIR TESTDATA WORKDIR
#
# CASE is one of: compile, mpi-equals-local, dp-local, dp-mpi, kill-resume,
# hang-timeout, wrong-size, errors. `compile` writes WORKDIR/step, which the others
# use (a CTest fixture). Each case prints what it ran and fails with a reason.
set -euo pipefail

case_name=$1 bin=$2 data=$3 work=$4
step=$work/step
params=$data/mlp-residual/params.safetensors
inputs=$data/mlp-residual/data.safetensors
mpirun=(mpirun --allow-run-as-root --oversubscribe)
run=("$bin/dualpipe-run" "$step" --params="$params")

fail() { echo "FAIL: $*" >&2; exit 1; }
show() { echo "+ $*" >&2; }
# The step lines without their times: "step 0 loss 1.401222".
losses() { sed -n 's/^\(step [0-9]* loss [-0-9.e]*\) time .*/\1/p' "$1"; }

mkdir -p "$work/$case_name"
out=$work/$case_name

case $case_name in
compile)
  [ -f "$params" ] || fail "no test data at $data/mlp-residual"
  rm -rf "$step"
  show dualpipe-compile mlp-residual --schedule=dualpipe --ranks=4 --microbatches=8
  "$bin/dualpipe-compile" "$data/mlp-residual/model.mlir" --schedule=dualpipe \
    --ranks=4 --microbatches=8 -o "$step" >/dev/null 2>"$out/compile.err" ||
    { cat "$out/compile.err" >&2; fail "dualpipe-compile failed"; }
  ;;

mpi-equals-local)
  # 4 processes print the same step and check lines, bit for bit the same
  # gradients and checkpoint, as 4 threads.
  show dualpipe-run --backend=local --check --steps=3
  "${run[@]}" --data="$inputs" --check --steps=3 --dump-grads="$out/local.grads" \
    --save="$out/local.ckpt" >"$out/local.log"
  show mpirun -np 4 dualpipe-run --backend=mpi --check --steps=3
  "${mpirun[@]}" -np 4 "${run[@]}" --backend=mpi --data="$inputs" --check \
    --steps=3 --dump-grads="$out/mpi.grads" --save="$out/mpi.ckpt" >"$out/mpi.log"
  cat "$out/mpi.log"
  grep -Eq '^dualpipe-run: dualpipe on 4 ranks, .*, backend mpi, [0-9]+ BLAS threads? per rank \((cores / ranks|--threads|[A-Z_]+)\)$' "$out/mpi.log" ||
    fail "no header line for backend mpi"
  grep -q '^check: 4-rank pipeline vs 1-rank reference: .*: PASS$' "$out/mpi.log" ||
    fail "the mpi run's check did not pass"
  [ "$(losses "$out/mpi.log" | wc -l)" = 3 ] || fail "expected 3 step lines"
  diff <(losses "$out/local.log") <(losses "$out/mpi.log") ||
    fail "the losses differ between local and mpi"
  diff <(grep '^check:' "$out/local.log") <(grep '^check:' "$out/mpi.log") ||
    fail "the check lines differ"
  cmp "$out/local.grads" "$out/mpi.grads" || fail "the gradients differ"
  cmp "$out/local.ckpt" "$out/mpi.ckpt" || fail "the checkpoints differ"
  grep -q '^gradients written to .*mpi.grads$' "$out/mpi.log" || fail "no dump line"
  grep -q '^checkpoint written to .*mpi.ckpt (step 3)$' "$out/mpi.log" || fail "no save line"
  echo "mpi equals local: losses, check line, gradients and checkpoint"
  ;;

dp-local|dp-mpi)
  # --dp=2: two replicas of the 4-rank pipeline on 2 x 8 micro-batches
  # (synthetic data: data.safetensors holds 8), against the reference run on
  # the same 16 micro-batches.
  if [ "$case_name" = dp-local ]; then
    show dualpipe-run --dp=2 --check --steps=2
    "${run[@]}" --dp=2 --check --steps=2 --dump-grads="$out/grads" >"$out/log"
  else
    show mpirun -np 8 dualpipe-run --backend=mpi --dp=2 --check --steps=2
    "${mpirun[@]}" -np 8 "${run[@]}" --backend=mpi --dp=2 --check --steps=2 \
      --dump-grads="$out/grads" >"$out/log"
  fi
  cat "$out/log"
  grep -Eq ', 2 data-parallel replicas \(8 ranks in all\), [0-9]+ BLAS threads? per rank \([^)]*\)$' "$out/log" ||
    fail "no data-parallel header"
  grep -q '^check: 2 x 4-rank pipeline (data-parallel) vs 1-rank reference over 16 micro-batches: .*: PASS$' \
    "$out/log" || fail "the data-parallel check did not pass"
  [ "$(losses "$out/log" | wc -l)" = 2 ] || fail "expected 2 step lines"
  if [ "$case_name" = dp-mpi ]; then
    local_log=$work/dp-local/log
    if [ -f "$local_log" ]; then
      diff <(losses "$local_log") <(losses "$out/log") || fail "losses differ from dp-local"
      cmp "$work/dp-local/grads" "$out/grads" || fail "gradients differ from dp-local"
      echo "dp under mpi equals dp on threads"
    fi
  fi
  ;;

kill-resume)
  # Every run saves. Rank 2 is killed at the start of step 2: the job ends
  # non-zero within the timeout, the checkpoint of step 2 is intact, and
  # --resume carries on with step 2.
  ckpt=$out/ckpt.safetensors
  rm -f "$ckpt"
  mrun=("${mpirun[@]}" -np 4 "${run[@]}" --backend=mpi --data="$inputs" --timeout=5)
  show mpirun -np 4 dualpipe-run --steps=2 --save=ckpt
  "${mrun[@]}" --steps=2 --save="$ckpt" >"$out/first.log"
  grep -q '^checkpoint written to .* (step 2)$' "$out/first.log" || fail "no first checkpoint"
  before=$(md5sum <"$ckpt")
  show DUALPIPE_FAULT=2:2 mpirun -np 4 dualpipe-run --resume=ckpt --steps=2 --save=ckpt
  start=$(date +%s)
  set +e
  DUALPIPE_FAULT=2:2 timeout 60 "${mrun[@]}" --resume="$ckpt" --steps=2 \
    --save="$ckpt" >"$out/killed.log" 2>&1
  status=$?
  set -e
  elapsed=$(($(date +%s) - start))
  cat "$out/killed.log"
  [ "$status" != 0 ] || fail "the job with a killed rank exited 0"
  [ "$status" != 124 ] || fail "the job with a killed rank hung (timeout 60 s)"
  [ "$elapsed" -le 15 ] || fail "the job took ${elapsed} s to end (timeout 5 s)"
  grep -q 'DUALPIPE_FAULT: rank 2 kills itself (SIGKILL) at the start of step 2' \
    "$out/killed.log" || fail "the fault hook did not fire"
  grep -Eq 'rank 2 .*exited on signal 9|step 2 failed' "$out/killed.log" ||
    fail "no clear error naming the killed rank"
  ! grep -q '^step 2 loss' "$out/killed.log" || fail "step 2 completed"
  [ "$(md5sum <"$ckpt")" = "$before" ] || fail "the checkpoint changed"
  show mpirun -np 4 dualpipe-run --resume=ckpt --steps=2 --save=ckpt
  "${mrun[@]}" --resume="$ckpt" --steps=2 --save="$ckpt" >"$out/resumed.log"
  cat "$out/resumed.log"
  [ "$(losses "$out/resumed.log" | cut -d' ' -f2 | tr '\n' ' ')" = "2 3 " ] ||
    fail "the resumed run did not print steps 2 and 3"
  grep -q '^checkpoint written to .* (step 4)$' "$out/resumed.log" || fail "no step-4 checkpoint"
  # The same losses as four uninterrupted steps.
  "${run[@]}" --data="$inputs" --steps=4 >"$out/straight.log"
  diff <(losses "$out/straight.log" | tail -2) <(losses "$out/resumed.log") ||
    fail "the resumed losses differ from an uninterrupted run"
  echo "killed in ${elapsed} s; checkpoint intact; resumed at step 2"
  ;;

hang-timeout)
  # Rank 2 stops answering in step 1: another rank's receive times out
  # (--timeout=3) with a message naming rank, peer and tag, and the job ends.
  # The first receive to time out may be one waiting on a rank that waits on
  # rank 2 ("... or it is blocked itself").
  show DUALPIPE_FAULT=2:1:hang mpirun -np 4 dualpipe-run --timeout=3 --steps=3
  start=$(date +%s)
  set +e
  DUALPIPE_FAULT=2:1:hang timeout 60 "${mpirun[@]}" -np 4 "${run[@]}" --backend=mpi \
    --data="$inputs" --timeout=3 --steps=3 >"$out/log" 2>&1
  status=$?
  set -e
  elapsed=$(($(date +%s) - start))
  cat "$out/log"
  [ "$status" != 0 ] && [ "$status" != 124 ] || fail "exit status $status"
  [ "$elapsed" -le 15 ] || fail "the job took ${elapsed} s to end (timeout 3 s)"
  grep -Eq '^dualpipe-run: error: step 1 failed: rank [0-9]: receive from rank [0-9] \(tag [0-9]+\).* timed out after 3.0 s' \
    "$out/log" || fail "no timeout message naming the silent rank"
  echo "a silent rank: the others timed out in ${elapsed} s with a clear message"
  ;;

wrong-size)
  show mpirun -np 3 dualpipe-run --backend=mpi '(a 4-rank step)'
  set +e
  "${mpirun[@]}" -np 3 "${run[@]}" --backend=mpi >"$out/log" 2>&1
  status=$?
  set -e
  cat "$out/log"
  [ "$status" != 0 ] || fail "a 3-process job ran a 4-rank step"
  grep -q 'error: the MPI job has 3 processes, but .* is a pipeline of 4 ranks and --dp=1 asks for 4 x 1 = 4; run mpirun -np 4' \
    "$out/log" || fail "no clear message"
  ;;

errors)
  # What the runner refuses, with one clear line each (no mpirun needed).
  set +e
  "${run[@]}" --dp=0 >"$out/dp0.log" 2>&1
  s1=$?
  "${run[@]}" --dp=2 --data="$inputs" >"$out/dprows.log" 2>&1
  s2=$?
  DUALPIPE_FAULT=two:1 "${run[@]}" >"$out/badfault.log" 2>&1
  s3=$?
  DUALPIPE_FAULT=1:0 "${run[@]}" >"$out/localkill.log" 2>&1
  s4=$?
  set -e
  cat "$out"/*.log
  [ $s1 = 2 ] && grep -q "error: --dp needs a positive integer, got '0'" "$out/dp0.log" ||
    fail "--dp=0"
  [ $s2 = 1 ] && grep -q "data.safetensors: tensor 'x' has shape 16x24, but --dp=2 needs 2 x 8 micro-batches: shape 32x24"     "$out/dprows.log" || fail "--dp=2 with 8 micro-batches of data"
  [ $s3 = 2 ] && grep -q "DUALPIPE_FAULT must be RANK:STEP or RANK:STEP:hang" "$out/badfault.log" ||
    fail "a bad DUALPIPE_FAULT"
  # On threads the rank's SIGKILL takes the whole process with it.
  [ $s4 = 137 ] && grep -q "DUALPIPE_FAULT: rank 1 kills itself (SIGKILL) at the start of step 0"     "$out/localkill.log" || fail "DUALPIPE_FAULT on the local backend (status $s4)"
  ;;

*)
  fail "unknown case '$case_name'"
  ;;
esac
