// The memory plan of DualPipe on N=4 ranks with M=10 micro-batches: every
// rank holds at most N+1 = 5 micro-batches of activations
// (docs/schedules/contract.md), as the schedule engine predicts; the byte
// figures come from the stage signatures (saved values counted as each
// stage's inputs until autodiff has run).
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-schedule="schedule=dualpipe microbatches=10" --dualpipe-insert-comm --dualpipe-plan-memory="report=%t.json" 2>&1 -o /dev/null | FileCheck %s
// CHECK: remark: rank 0: peak 5 micro-batches of activations (the schedule engine predicts 5), [[#]] bytes live at peak, arena [[#]] bytes
// CHECK: remark: rank 1: peak 5 micro-batches of activations (the schedule engine predicts 5)
// CHECK: remark: rank 2: peak 5 micro-batches of activations (the schedule engine predicts 5)
// CHECK: remark: rank 3: peak 5 micro-batches of activations (the schedule engine predicts 5)
// RUN: FileCheck %s --check-prefix=JSON < %t.json
// JSON: "arena_bytes":
// JSON: "peak_microbatches": 5
// JSON: "predicted_microbatches": 5

// Offsets are recorded on the ops that create buffers, and the plan on each
// program.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=4" --dualpipe-insert-comm --dualpipe-plan-memory 2>/dev/null | FileCheck %s --check-prefix=IR
// IR: dualpipe.program rank 0 attributes {dualpipe.arena_bytes = [[#]] : i64, dualpipe.peak_bytes = [[#]] : i64, dualpipe.peak_microbatches = 4 : i64}
// IR: dualpipe.compute "F" stage 0 microbatch 0 {dualpipe.offsets = array<i64:

// 1F1B: rank r holds N - r micro-batches.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=8" --dualpipe-insert-comm --dualpipe-plan-memory -o /dev/null 2>&1 | FileCheck %s --check-prefix=ONEF
// ONEF: rank 0: peak 4 micro-batches
// ONEF: rank 1: peak 3 micro-batches
// ONEF: rank 2: peak 2 micro-batches
// ONEF: rank 3: peak 1 micro-batches

// With autodiff the saved values are the forward functions' real saved
// results (exact bytes); DualPipe N=4, M=10 still peaks at N+1 = 5.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-autodiff="loss=mse microbatches=10" --dualpipe-schedule="schedule=dualpipe microbatches=10" --dualpipe-insert-comm --dualpipe-verify --dualpipe-plan-memory -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXACT
// EXACT: rank 0: peak 5 micro-batches of activations (the schedule engine predicts 5), 1024 bytes live at peak, arena 1184 bytes{{$}}
// EXACT: rank 1: peak 5 micro-batches of activations (the schedule engine predicts 5), 1152 bytes live at peak, arena 1152 bytes{{$}}
// EXACT: rank 2: peak 5 micro-batches
// EXACT: rank 3: peak 5 micro-batches
