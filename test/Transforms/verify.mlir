// Every schedule on a 4-stage MLP, with its communication inserted, passes
// --dualpipe-verify (FIFO links, waits, data flow, no deadlock, all-reduce
// order), so the grouping of --dualpipe-insert-comm is deadlock-free.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=8" --dualpipe-insert-comm --dualpipe-verify -o /dev/null
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=zb1p microbatches=8" --dualpipe-insert-comm --dualpipe-verify -o /dev/null
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=gpipe microbatches=8" --dualpipe-insert-comm --dualpipe-verify -o /dev/null
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-schedule="schedule=dualpipe microbatches=10" --dualpipe-insert-comm --dualpipe-verify -o /dev/null
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-schedule="schedule=dualpipe microbatches=20" --dualpipe-insert-comm --dualpipe-verify -o /dev/null
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipev" --dualpipe-schedule="schedule=dualpipev microbatches=5" --dualpipe-insert-comm --dualpipe-verify -o /dev/null
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipev" --dualpipe-schedule="schedule=zbv microbatches=8" --dualpipe-insert-comm --dualpipe-verify -o /dev/null
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=interleaved ranks=2" --dualpipe-schedule="schedule=interleaved microbatches=6" --dualpipe-insert-comm --dualpipe-verify -o /dev/null
// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=4" --dualpipe-verify -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOCOMM
// A schedule without its messages fails: rank 0's first backward has no gradient.
// NOCOMM: error: B of stage 0, micro-batch 0 on rank 0 needs the gradient of stage 1, micro-batch 0, but no wait_recv for it comes before
