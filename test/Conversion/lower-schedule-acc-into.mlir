// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=2" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=2" --dualpipe-insert-comm --dualpipe-lower-schedule --convert-elementwise-to-linalg --dualpipe-bufferize-callees-first --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --cse --canonicalize | FileCheck %s --check-prefix=BUF
// RUN: dualpipe-opt %S/Inputs/acc-calls.mlir --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=2" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s --check-prefix=CALLS
// RUN: dualpipe-opt %S/Inputs/acc-calls.mlir --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=2" --dualpipe-insert-comm --dualpipe-lower-schedule --convert-elementwise-to-linalg --dualpipe-bufferize-callees-first --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --cse --canonicalize | FileCheck %s --check-prefix=CALLSBUF
// RUN: dualpipe-opt %S/Inputs/acc-tied.mlir --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=2" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s --check-prefix=TIED

// `<stage>_bwd_into` is the backward's body with each parameter gradient
// added into its slice of the flat accumulator buffer (w0 64 at 0, b0 8 at
// 64, s0 16 at 72, w1 32 at 88), each slice a tensor of its own
// (to_tensor restrict writable of a subview):
// - a gradient a contraction computes from zeros (w0's and w1's X^T dY)
//   takes its slice as the matmul's init, so the GEMM accumulates;
// - a sum from zeros (b0's column sum of dY) takes its slice as its init;
// - any other gradient (s0's elementwise dY * y0) is added to its slice;
// each result goes back with materialize_in_destination.
module {
  func.func @net(%x: tensor<2x8xf32> {dualpipe.input = "x"},
                 %w0: tensor<8x8xf32> {dualpipe.param = "w0"},
                 %b0: tensor<8xf32> {dualpipe.param = "b0"},
                 %s0: tensor<2x8xf32> {dualpipe.param = "s0"},
                 %w1: tensor<8x4xf32> {dualpipe.param = "w1"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<2x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %m0 = linalg.matmul ins(%x, %w0 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
    %e1 = tensor.empty() : tensor<2x8xf32>
    %y0 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%m0, %b0 : tensor<2x8xf32>, tensor<8xf32>) outs(%e1 : tensor<2x8xf32>) {
    ^bb0(%a: f32, %c: f32, %o: f32):
      %s = arith.addf %a, %c : f32
      linalg.yield %s : f32
    } -> tensor<2x8xf32>
    %z0 = arith.mulf %y0, %s0 : tensor<2x8xf32>
    %h0 = math.tanh %z0 : tensor<2x8xf32>
    %e2 = tensor.empty() : tensor<2x4xf32>
    %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x4xf32>) -> tensor<2x4xf32>
    %m1 = linalg.matmul ins(%h0, %w1 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%f2 : tensor<2x4xf32>) -> tensor<2x4xf32>
    return %m1 : tensor<2x4xf32>
  }
}

// CHECK-LABEL: func.func private @net_stage0_bwd_into(
// CHECK-SAME: %[[ACC:[^:]*]]: memref<120xf32> {llvm.noalias}
// CHECK-SAME: ) {
// CHECK: %[[V1:.*]] = memref.subview %[[ACC]][88] [32] [1]
// CHECK: %[[E1:.*]] = memref.expand_shape %[[V1]] {{\[\[}}0, 1]] output_shape [8, 4]
// CHECK: %[[T1:.*]] = bufferization.to_tensor %[[E1]] restrict writable
// CHECK: %[[VS:.*]] = memref.subview %[[ACC]][72] [16] [1]
// CHECK: %[[ES:.*]] = memref.expand_shape %[[VS]]
// CHECK: %[[TS:.*]] = bufferization.to_tensor %[[ES]] restrict writable
// CHECK: %[[VB:.*]] = memref.subview %[[ACC]][64] [8] [1]
// CHECK: %[[TB:.*]] = bufferization.to_tensor %[[VB]] restrict writable
// CHECK: %[[V0:.*]] = memref.subview %[[ACC]][0] [64] [1]
// CHECK: %[[E0:.*]] = memref.expand_shape %[[V0]]
// CHECK: %[[T0:.*]] = bufferization.to_tensor %[[E0]] restrict writable
// CHECK: %[[DW1:.*]] = linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<8x2xf32>, tensor<2x4xf32>) outs(%[[T1]] : tensor<8x4xf32>)
// CHECK: %[[G:.*]]:2 = linalg.generic
// CHECK: %[[DB:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]} ins(%[[G]]#0 : tensor<2x8xf32>) outs(%[[TB]] : tensor<8xf32>)
// CHECK: %[[DW0:.*]] = linalg.matmul ins(%{{.*}}, %[[G]]#0 : tensor<8x2xf32>, tensor<2x8xf32>) outs(%[[T0]] : tensor<8x8xf32>)
// CHECK-DAG: bufferization.materialize_in_destination %[[DW0]] in restrict writable %[[E0]]
// CHECK-DAG: bufferization.materialize_in_destination %[[DB]] in restrict writable %[[VB]]
// CHECK-DAG: %[[DS:.*]] = linalg.add ins(%[[TS]], %[[G]]#1 : tensor<2x8xf32>, tensor<2x8xf32>) outs(%[[TS]] : tensor<2x8xf32>)
// CHECK-DAG: bufferization.materialize_in_destination %[[DS]] in restrict writable %[[ES]]
// CHECK-DAG: bufferization.materialize_in_destination %[[DW1]] in restrict writable %[[E1]]
// CHECK: return
// CHECK-NEXT: }

// The rank program's interface: one flat tensor in, the same out.
// CHECK-LABEL: func.func private @net_stage0_bwd_acc(
// CHECK-SAME: %[[A:[^:]*]]: tensor<120xf32> {bufferization.writable = true}
// CHECK-SAME: -> tensor<120xf32>
// CHECK: %[[B:.*]] = bufferization.to_buffer %[[A]] : tensor<120xf32> to memref<120xf32>
// CHECK: call @net_stage0_bwd_into(%[[B]],
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[B]] restrict writable
// CHECK: return %[[T]]

// The rank program hands the accumulator from micro-batch to micro-batch.
// CHECK-LABEL: func.func @dualpipe_rank0(
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<120xf32>)
// CHECK: %[[R1:.*]] = call @net_stage0_bwd_acc(%[[Z]],
// CHECK: call @net_stage0_bwd_acc(%[[R1]],

// Bufferized, every update is in place in the caller's accumulator: the
// GEMMs and the sum write their slices of it, nothing is copied, no
// gradient has a buffer of its own, and the rank program passes one
// accumulator to both micro-batches' calls.
// BUF-LABEL: func.func private @net_stage0_bwd_into(
// BUF-SAME: %[[ACC:[^:]*]]: memref<120xf32> {llvm.noalias}
// BUF-DAG: %[[V1:.*]] = memref.subview %[[ACC]][88] [32] [1]
// BUF-DAG: %[[E1:.*]] = memref.expand_shape %[[V1]]
// BUF-DAG: %[[VB:.*]] = memref.subview %[[ACC]][64] [8] [1]
// BUF-DAG: %[[V0:.*]] = memref.subview %[[ACC]][0] [64] [1]
// BUF-DAG: %[[E0:.*]] = memref.expand_shape %[[V0]]
// BUF-NOT: memref.copy
// BUF-NOT: memref<8x8xf32>)
// BUF: linalg.matmul ins(%{{.*}}, %{{.*}} : memref<8x2xf32>, memref<2x4xf32>) outs(%[[E1]] :
// BUF-NOT: memref.copy
// BUF: linalg.generic {{.*}} outs(%[[VB]] :
// BUF-NOT: memref.copy
// BUF: linalg.matmul ins(%{{.*}}, %{{.*}} : memref<8x2xf32>, memref<2x8xf32>) outs(%[[E0]] :
// BUF-NOT: memref.copy
// BUF: return
// BUF-LABEL: func.func private @net_stage0_bwd_acc(
// BUF-SAME: %[[A:[^:]*]]: memref<120xf32>
// BUF-NEXT: call @net_stage0_bwd_into(%[[A]],
// BUF-NEXT: return %[[A]] : memref<120xf32>
// BUF-LABEL: func.func @dualpipe_rank0(
// BUF: %[[F:.*]] = memref.alloc() {{.*}} : memref<120xf32>
// BUF-NOT: memref.copy {{.*}}memref<120xf32>
// BUF: call @net_stage0_bwd_acc(%[[F]],
// BUF-NOT: memref.copy {{.*}}memref<120xf32>
// BUF: call @net_stage0_bwd_acc(%[[F]],

// A stage whose gradients come from calls of a block's functions (w1 at
// 88, w2 at 152, each from a call of @layer_bwd_w): the block's
// `_into_slice` form (its buffer of any offset) computes them into their
// slices of the stage's accumulator, its GEMM accumulating into the slice;
// the stage's `_into` passes each call its subview. No concatenation, no
// add of the flat gradients.
// CALLS-NOT: tensor.concat
// CALLS-LABEL: func.func private @layer_bwd_w_into_slice(
// CALLS-SAME: %[[S:[^:]*]]: memref<64xf32, strided<[1], offset: ?>> {llvm.noalias}
// CALLS: %[[V:.*]] = memref.subview %[[S]][0] [64] [1]
// CALLS: %[[E:.*]] = memref.expand_shape %[[V]]
// CALLS: %[[T:.*]] = bufferization.to_tensor %[[E]] restrict writable
// CALLS: %[[M:.*]] = linalg.matmul ins({{.*}}) outs(%[[T]] : tensor<8x8xf32>)
// CALLS: bufferization.materialize_in_destination %[[M]] in restrict writable %[[E]]
// CALLS-LABEL: func.func private @net_stage0_bwd_into(
// CALLS-SAME: %[[ACC:[^:]*]]: memref<216xf32> {llvm.noalias}
// CALLS: %[[I2:.*]]:3 = call @layer_bwd_i(
// CALLS: %[[V2:.*]] = memref.subview %[[ACC]][152] [64] [1]
// CALLS: %[[C2:.*]] = memref.cast %[[V2]] : memref<64xf32, strided<[1], offset: 152>> to memref<64xf32, strided<[1], offset: ?>>
// CALLS: call @layer_bwd_w_into_slice(%[[C2]], %[[I2]]#1, %[[I2]]#2)
// CALLS: %[[I1:.*]]:3 = call @layer_bwd_i(%[[I2]]#0,
// CALLS: %[[V1:.*]] = memref.subview %[[ACC]][88] [64] [1]
// CALLS: %[[C1:.*]] = memref.cast %[[V1]]
// CALLS: call @layer_bwd_w_into_slice(%[[C1]], %[[I1]]#1, %[[I1]]#2)
// CALLS-NOT: call @layer_bwd_w(
// CALLS: return
// CALLS-NOT: tensor.concat

// Bufferized: the block's GEMM writes the caller's slice, nothing copied.
// CALLSBUF-LABEL: func.func private @layer_bwd_w_into_slice(
// CALLSBUF-SAME: %[[S:[^:]*]]: memref<64xf32, strided<[1], offset: ?>> {llvm.noalias}
// CALLSBUF-NEXT: %[[E:.*]] = memref.expand_shape %[[S]]
// CALLSBUF-NOT: memref.copy
// CALLSBUF: linalg.matmul ins({{.*}}) outs(%[[E]] : memref<8x8xf32, strided<[8, 1], offset: ?>>)
// CALLSBUF-NOT: memref.copy
// CALLSBUF: return
// CALLSBUF-LABEL: func.func private @net_stage0_bwd_into(
// CALLSBUF-NOT: memref.copy {{.*}}memref<8x8xf32
// CALLSBUF: call @layer_bwd_w_into_slice(
// CALLSBUF-NOT: memref.copy {{.*}}memref<8x8xf32
// CALLSBUF: call @layer_bwd_w_into_slice(
// CALLSBUF: return

// A tied weight (w1 at 64, used by two calls of the block): its gradient
// is the sum of two calls' results, so those calls stay and the sum is
// added to its slice; w0's (at 0) and w2's (at 128) calls compute into
// their slices.
// TIED-LABEL: func.func private @net_stage0_bwd_into(
// TIED-SAME: %[[ACC:[^:]*]]: memref<192xf32> {llvm.noalias}
// TIED: %[[V1:.*]] = memref.subview %[[ACC]][64] [64] [1]
// TIED: %[[E1:.*]] = memref.expand_shape %[[V1]]
// TIED: %[[T1:.*]] = bufferization.to_tensor %[[E1]] restrict writable
// TIED: memref.subview %[[ACC]][128] [64] [1]
// TIED: call @layer_v2_bwd_w_into_slice(
// TIED: %[[A:.*]] = call @layer_v2_bwd_w(
// TIED: %[[B:.*]] = call @layer_v2_bwd_w(
// TIED: %[[S:.*]] = linalg.add ins(%[[A]], %[[B]] :
// TIED: memref.subview %[[ACC]][0] [64] [1]
// TIED: call @layer_bwd_w_into_slice(
// TIED: %[[D:.*]] = linalg.add ins(%[[T1]], %[[S]] : {{.*}}) outs(%[[T1]] :
// TIED: bufferization.materialize_in_destination %[[D]] in restrict writable %[[E1]]
// TIED-NOT: tensor.concat
