// RUN: dualpipe-opt %S/../Transforms/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-autodiff="loss=mse microbatches=8" --dualpipe-schedule="schedule=dualpipe microbatches=8" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s
// RUN: not dualpipe-opt %S/../Transforms/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=4" --dualpipe-insert-comm --dualpipe-lower-schedule -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOAD
// RUN: not dualpipe-opt %S/../Transforms/Inputs/mlp4.mlir --dualpipe-lower-schedule -o /dev/null 2>&1 | FileCheck %s --check-prefix=NOSCHED

// Every rank gets one step function: the model's arguments with inputs and
// labels batched over the 8 micro-batches, then the losses and one gradient
// buffer per parameter.
// CHECK-LABEL: func.func @dualpipe_rank0(
// CHECK-SAME: %[[X:.*]]: tensor<16x8xf32> {dualpipe.input = "x"}
// CHECK-SAME: tensor<8x8xf32> {dualpipe.param = "w0"}
// CHECK-SAME: tensor<16x4xf32> {dualpipe.label = "y"}
// CHECK-SAME: %[[LOSSES:.*]]: memref<8xf32> {dualpipe.output = "losses"}
// CHECK-SAME: memref<8x8xf32> {dualpipe.grad_of = "w0"}
// CHECK-SAME: attributes {dualpipe.rank = 0 : i64, llvm.emit_c_interface}
// Micro-batch 0 is rows 0..1 of the batched input.
// CHECK: tensor.extract_slice %[[X]][0, 0] [2, 8] [1, 1]
// CHECK: call @mlp_stage0_fwd(
// Each message tensor has its own tag; sends go through the runtime ops.
// CHECK: dualpipe.send %{{.*}} to 1 : memref<2x8xf32>
// Receives block at their wait.
// CHECK: dualpipe.recv %{{.*}} from 1 tag {{[0-9]+}} : tensor<2x8xf32> into memref<2x8xf32>
// The mirror ranks sum their copies' gradients.
// CHECK: dualpipe.all_reduce %{{.*}} ranks [0, 3] : memref<8x8xf32>
// The losses of the micro-batches whose last stage runs here, and the
// gradients, go to the output buffers.
// CHECK: bufferization.materialize_in_destination %{{.*}} in restrict writable %[[LOSSES]]
// CHECK-LABEL: func.func @dualpipe_rank3(
// The schedule is gone once lowered.
// CHECK-NOT: dualpipe.schedule

// NOAD: error: has no forward function; run --dualpipe-autodiff first
// NOSCHED: error: no dualpipe.schedule and dualpipe.pipeline to lower
