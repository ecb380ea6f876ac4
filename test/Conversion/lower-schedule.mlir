// RUN: dualpipe-opt %S/../Transforms/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-autodiff="loss=mse microbatches=8" --dualpipe-schedule="schedule=dualpipe microbatches=8" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s
// RUN: dualpipe-opt %S/../Transforms/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-autodiff="loss=mse microbatches=8" --dualpipe-schedule="schedule=dualpipe microbatches=8" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s --check-prefix=PAIR
// RUN: dualpipe-opt %S/../Transforms/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-autodiff="loss=mse microbatches=8" --dualpipe-schedule="schedule=dualpipe microbatches=8" --dualpipe-insert-comm --dualpipe-lower-schedule="post-receives=false" | FileCheck %s --check-prefix=BLOCKING
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
// Receives are posted where the schedule posts them (rank 0's first group
// posts the activations of micro-batches 0 and 1 from rank 1), into
// buffers nothing reads before the wait.
// CHECK: %[[BUF:.*]] = memref.alloc() : memref<2x8xf32>
// CHECK: %[[T:.*]] = dualpipe.recv async %[[BUF]] from 1 tag {{[0-9]+}} : tensor<2x8xf32> into memref<2x8xf32>
// Micro-batch 0 is rows 0..1 of the batched input.
// CHECK: tensor.extract_slice %[[X]][0, 0] [2, 8] [1, 1]
// CHECK: call @mlp_stage0_fwd(
// Each message tensor has its own tag; sends go through the runtime ops.
// CHECK: dualpipe.send %{{.*}} to 1 : memref<2x8xf32>
// The wait comes at the first use of the message, and only then is the
// buffer a tensor.
// CHECK-NOT: %[[BUF]]{{[ ,)]}}
// CHECK: gpu.wait [%[[T]]]
// CHECK-NEXT: %[[IN:.*]] = bufferization.to_tensor %[[BUF]] restrict writable
// CHECK: call @mlp_stage3_fwd(%[[IN]],
// The mirror ranks sum their copies' gradients: stage 7's copy (@mlp_stage3)
// as soon as its last B is done, while stage 0's I and W still run, tagged
// by the parameter's model index; both are waited for at the end.
// CHECK: %[[R3:.*]] = dualpipe.all_reduce %{{.*}} ranks [0, 3] tag 4 : memref<8x4xf32> -> !gpu.async.token
// CHECK-NOT: call @mlp_stage3_
// CHECK: call @mlp_stage0_bwd_w(
// CHECK-NOT: call @mlp_stage3_
// CHECK: %[[R0:.*]] = dualpipe.all_reduce %{{.*}} ranks [0, 3] tag 1 : memref<8x8xf32> -> !gpu.async.token
// CHECK-NEXT: gpu.wait [%[[R3]], %[[R0]]]
// The losses of the micro-batches whose last stage runs here, and the
// gradients, go to the output buffers.
// CHECK: bufferization.materialize_in_destination %{{.*}} in restrict writable %[[LOSSES]]
// CHECK-LABEL: func.func @dualpipe_rank3(
// The schedule is gone once lowered.
// CHECK-NOT: dualpipe.schedule

// In an F&B pair the F's activation (micro-batch 3 of stage 0: tag 192)
// leaves before the B computes: the send comes before the pair's end.
// PAIR-LABEL: func.func @dualpipe_rank0(
// PAIR: tensor.extract_slice %{{.*}}[6, 0] [2, 8]
// PAIR: call @mlp_stage0_fwd(
// PAIR-NEXT: call @dualpipe_rt_end_action()
// PAIR-NEXT: bufferization.to_buffer
// PAIR-NEXT: dualpipe.send %{{.*}} to 1 tag 192 :
// PAIR-NOT: dualpipe_rt_end_action
// PAIR: call @mlp_stage3_bwd(
// PAIR-NEXT: call @dualpipe_rt_end_action()
// PAIR-NEXT: arith.addf
// PAIR-NEXT: call @dualpipe_rt_end_action()
// It is not sent again at its group.
// PAIR-NOT: tag 192 :
// PAIR-LABEL: func.func @dualpipe_rank1(

// Without post-receives a receive blocks at its wait (the cuda target's form).
// BLOCKING-LABEL: func.func @dualpipe_rank0(
// BLOCKING-NOT: async
// BLOCKING: call @mlp_stage0_fwd(
// BLOCKING: dualpipe.recv %{{.*}} from 1 tag {{[0-9]+}} : tensor<2x8xf32> into memref<2x8xf32>
// BLOCKING-NOT: gpu.wait
// BLOCKING: dualpipe.all_reduce %{{.*}} ranks [0, 3] : memref<8x8xf32>{{$}}
// BLOCKING-LABEL: func.func @dualpipe_rank1(

// NOAD: error: has no forward function; run --dualpipe-autodiff first
// NOSCHED: error: no dualpipe.schedule and dualpipe.pipeline to lower
