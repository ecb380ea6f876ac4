// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=zb1p microbatches=2" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s
// RUN: dualpipe-opt %S/../Transforms/Inputs/mlp4.mlir --dualpipe-partition="stages=4 ranks=4" --dualpipe-autodiff="loss=mse microbatches=4" --dualpipe-schedule="schedule=1f1b microbatches=4" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s --check-prefix=HELD
// RUN: rm -rf %t && mkdir -p %t && dualpipe-gen mlp --layers=4 --width=8 --batch=2 -o %t/mlp.mlir
// RUN: dualpipe-compile %t/mlp.mlir --schedule=dualpipe --ranks=2 --microbatches=4 --emit=mlir --stop-after=dualpipe-lower-schedule 2>/dev/null | FileCheck %s --check-prefix=BUCKET

// A stage with two or more f32 parameters sums their gradients in one flat
// accumulator: W (and B) are called through `<callee>_acc`, which adds the
// gradients into their slices of the accumulator it is handed and returns
// it (through `<callee>_into`, their computation writing the slices); the rank program starts it at zero, passes it from micro-batch to
// micro-batch, and slices each parameter's gradient out of it for the
// output.
module {
  func.func @net(%x: tensor<2x8xf32> {dualpipe.input = "x"},
                 %w0: tensor<8x8xf32> {dualpipe.param = "w0"},
                 %w1: tensor<8x4xf32> {dualpipe.param = "w1"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<2x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %m0 = linalg.matmul ins(%x, %w0 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
    %h0 = math.tanh %m0 : tensor<2x8xf32>
    %e1 = tensor.empty() : tensor<2x4xf32>
    %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x4xf32>) -> tensor<2x4xf32>
    %m1 = linalg.matmul ins(%h0, %w1 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%f1 : tensor<2x4xf32>) -> tensor<2x4xf32>
    return %m1 : tensor<2x4xf32>
  }
}

// w0 (8x8 = 64 elements) at 0, w1 (8x4 = 32) at 64. W's body, each GEMM
// accumulating into its slice of the buffer (lower-schedule-acc-into.mlir
// has the other kinds of gradient), behind the one-tensor interface.
// CHECK-LABEL: func.func private @net_stage0_bwd_w_into(
// CHECK-SAME: %[[BUF:[^:]*]]: memref<96xf32> {llvm.noalias}
// CHECK: %[[V1:.*]] = memref.subview %[[BUF]][64] [32] [1]
// CHECK: %[[E1:.*]] = memref.expand_shape %[[V1]] {{\[\[}}0, 1]] output_shape [8, 4]
// CHECK: %[[T1:.*]] = bufferization.to_tensor %[[E1]] restrict writable
// CHECK: %[[V0:.*]] = memref.subview %[[BUF]][0] [64] [1]
// CHECK: %[[E0:.*]] = memref.expand_shape %[[V0]] {{\[\[}}0, 1]] output_shape [8, 8]
// CHECK: %[[T0:.*]] = bufferization.to_tensor %[[E0]] restrict writable
// CHECK: %[[M1:.*]] = linalg.matmul ins({{.*}}) outs(%[[T1]] : tensor<8x4xf32>)
// CHECK: %[[M0:.*]] = linalg.matmul ins({{.*}}) outs(%[[T0]] : tensor<8x8xf32>)
// CHECK: bufferization.materialize_in_destination %[[M0]] in restrict writable %[[E0]]
// CHECK: bufferization.materialize_in_destination %[[M1]] in restrict writable %[[E1]]
// CHECK: return
// CHECK-LABEL: func.func private @net_stage0_bwd_w_acc(
// CHECK-SAME: %[[ACC:[^:]*]]: tensor<96xf32> {bufferization.writable = true}
// CHECK-SAME: -> tensor<96xf32>
// CHECK-NOT: call @net_stage0_bwd_w(
// CHECK: %[[B:.*]] = bufferization.to_buffer %[[ACC]]
// CHECK: call @net_stage0_bwd_w_into(%[[B]],
// CHECK: %[[SUM:.*]] = bufferization.to_tensor %[[B]] restrict writable
// CHECK: return %[[SUM]] : tensor<96xf32>

// CHECK-LABEL: func.func @dualpipe_rank0(
// CHECK-SAME: %[[OUT0:[^:]*]]: memref<8x8xf32> {dualpipe.grad_of = "w0"
// CHECK-SAME: %[[OUT1:[^:]*]]: memref<8x4xf32> {dualpipe.grad_of = "w1"
// CHECK: %[[E:.*]] = tensor.empty() : tensor<96xf32>
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<96xf32>)
// CHECK: %[[A1:.*]] = call @net_stage0_bwd_w_acc(%[[Z]],
// CHECK: %[[A2:.*]] = call @net_stage0_bwd_w_acc(%[[A1]],
// CHECK-NOT: call @net_stage0_bwd_w(
// CHECK: %[[S0:.*]] = tensor.extract_slice %[[A2]][0] [64] [1] : tensor<96xf32> to tensor<64xf32>
// CHECK: %[[W0:.*]] = tensor.expand_shape %[[S0]] {{\[\[}}0, 1]] output_shape [8, 8] : tensor<64xf32> into tensor<8x8xf32>
// CHECK: bufferization.materialize_in_destination %[[W0]] in restrict writable %[[OUT0]]
// CHECK: %[[S1:.*]] = tensor.extract_slice %[[A2]][64] [32] [1] : tensor<96xf32> to tensor<32xf32>
// CHECK: %[[W1:.*]] = tensor.expand_shape %[[S1]] {{\[\[}}0, 1]] output_shape [8, 4] : tensor<32xf32> into tensor<8x4xf32>
// CHECK: bufferization.materialize_in_destination %[[W1]] in restrict writable %[[OUT1]]

// One weight per stage (mlp4 on 4 ranks): nothing to pack, the sum stays
// in the rank program; and a rank writes the gradient outputs of the
// parameters it holds only (the manifest's param_ranks), here w0 on rank 0
// and w3 on rank 3.
// HELD-LABEL: func.func @dualpipe_rank0(
// HELD-NOT: _acc(
// HELD: %[[SUM:.*]] = arith.addf
// HELD-COUNT-2: bufferization.materialize_in_destination
// HELD-NEXT: return
// HELD-LABEL: func.func @dualpipe_rank3(
// HELD-NOT: _acc(
// HELD-COUNT-2: bufferization.materialize_in_destination
// HELD-NEXT: return

// DualPipe's mirror all-reduce of a stage function whose gradients pack is
// one message of the flat accumulator (weight and bias of two layers: 144
// elements), tagged after the model's 9 arguments by the function's index,
// on both mirror ranks alike; no per-parameter all-reduce is left.
// BUCKET-LABEL: func.func @dualpipe_rank0(
// BUCKET-NOT: dualpipe.all_reduce {{.*}} memref<8x8xf32>
// BUCKET: dualpipe.all_reduce %{{.*}} ranks [0, 1] tag 10 : memref<144xf32> -> !gpu.async.token
// BUCKET-NOT: dualpipe.all_reduce {{.*}} memref<8x8xf32>
// BUCKET: dualpipe.all_reduce %{{.*}} ranks [0, 1] tag 9 : memref<144xf32> -> !gpu.async.token
// BUCKET-NOT: dualpipe.all_reduce {{.*}} memref<8x8xf32>
// BUCKET-LABEL: func.func @dualpipe_rank1(
// BUCKET: dualpipe.all_reduce %{{.*}} ranks [0, 1] tag 10 : memref<144xf32>
// BUCKET: dualpipe.all_reduce %{{.*}} ranks [0, 1] tag 9 : memref<144xf32>
