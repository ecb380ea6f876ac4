// --dualpipe-schedule="schedule=FILE.csv" (#18): a user-supplied schedule
// in PyTorch's action grammar becomes the step's programs, action for
// action, as a "custom" schedule; one that does not fit the pipeline is
// refused on it.

// The file (dualpipe-sched's 1F1B, N=4, M=8) on mlp4's four stages: the IR
// holds exactly its actions (read back by --dualpipe-emit-schedule).
// RUN: rm -rf %t && mkdir -p %t
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=%S/Inputs/schedule-file-1f1b-n4-m8.csv microbatches=8" --dualpipe-emit-schedule=%t/back.csv -o %t/ir.mlir
// RUN: diff %t/back.csv %S/Inputs/schedule-file-1f1b-n4-m8.csv
// RUN: FileCheck %s < %t/ir.mlir
// CHECK: dualpipe.schedule "custom" ranks 4 microbatches 8 {
// CHECK-NEXT: dualpipe.program rank 0 {
// CHECK-NEXT: dualpipe.compute "F" stage 0 microbatch 0
// CHECK-NEXT: dualpipe.compute "F" stage 0 microbatch 1
// CHECK: dualpipe.program rank 3 {
// CHECK-NEXT: dualpipe.compute "F" stage 3 microbatch 0
// CHECK-NEXT: dualpipe.compute "B" stage 3 microbatch 0

// The same with file:PATH, and through insert-comm and verify.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-autodiff="microbatches=8 loss=mse" --dualpipe-schedule="schedule=file:%S/Inputs/schedule-file-1f1b-n4-m8.csv microbatches=8" --dualpipe-insert-comm --dualpipe-verify -o /dev/null

// The registered training chain takes the file the same way, checked
// against its ranks before any pass runs.
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-train-cpu="schedule=%S/Inputs/schedule-file-1f1b-n4-m8.csv ranks=4 microbatches=8 loss=mse stop-after=schedule" | FileCheck %s --check-prefix=TRAIN
// TRAIN: dualpipe.schedule "custom" ranks 4 microbatches 8 {
// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-train-cpu="schedule=%S/Inputs/schedule-file-1f1b-n4-m8.csv ranks=2 microbatches=8 loss=mse" -o /dev/null 2>&1 | FileCheck %s --check-prefix=TRAIN-RANKS
// TRAIN-RANKS: error: dualpipe-train-cpu: {{.*}}schedule-file-1f1b-n4-m8.csv: the file has 4 lines (one per rank), but the step has 2 ranks (--ranks=2)

// A 2-rank file on the 2-stage pipeline below placed dualpipev (one rank,
// two stages in a V), and with more micro-batches than the file covers.
// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipev" --dualpipe-schedule="schedule=%S/Inputs/schedule-file-1f1b-n2-m2.csv microbatches=2" -verify-diagnostics -o /dev/null
// RUN: not dualpipe-opt %s --dualpipe-partition --dualpipe-schedule="schedule=%S/Inputs/schedule-file-1f1b-n2-m2.csv microbatches=4" -o /dev/null 2>&1 | FileCheck %s --check-prefix=MB
// MB: error: {{.*}}schedule-file-1f1b-n2-m2.csv: the file's actions name micro-batches 0..1 (2), but the step has 4 (--microbatches=4)

// expected-error @below {{schedule-file-1f1b-n2-m2.csv: the file has 2 lines (one per rank), but the step has 1 ranks}}
func.func @two(%x: tensor<2x4xf32> {dualpipe.input = "x"},
               %w: tensor<4x4xf32> {dualpipe.param = "w"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  %0 = math.tanh %x : tensor<2x4xf32>
  %1 = dualpipe.stage_boundary %0 : tensor<2x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %2 = linalg.matmul ins(%1, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %2 : tensor<2x4xf32>
}
