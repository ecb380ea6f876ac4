// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=2" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=2" --dualpipe-schedule="schedule=1f1b microbatches=2" --dualpipe-insert-comm --dualpipe-lower-schedule --convert-elementwise-to-linalg --dualpipe-bufferize-callees-first --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --cse --canonicalize | FileCheck %s --check-prefix=BUF

// `<stage>_bwd_acc` is the backward's body adding each parameter gradient
// into its slice of the flat accumulator (w0 64 at 0, b0 8 at 64, s0 16 at
// 72, w1 64 at 88, w2 64 at 152), in the order the backward computes them:
// - a gradient a contraction computes from zeros (w0's X^T dY) takes its
//   slice as the matmul's init, so the GEMM accumulates;
// - a sum from zeros (b0's column sum of dY) takes its slice as its init;
// - any other gradient (s0's elementwise dY * y0, or a result of a block's
//   call: w1, w2) is added to its slice.
module {
  func.func private @layer(%h: tensor<2x8xf32>, %w: tensor<8x8xf32>) -> tensor<2x8xf32> {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<2x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %m = linalg.matmul ins(%h, %w : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
    %t = math.tanh %m : tensor<2x8xf32>
    return %t : tensor<2x8xf32>
  }
  func.func @net(%x: tensor<2x8xf32> {dualpipe.input = "x"},
                 %w0: tensor<8x8xf32> {dualpipe.param = "w0"},
                 %b0: tensor<8xf32> {dualpipe.param = "b0"},
                 %s0: tensor<2x8xf32> {dualpipe.param = "s0"},
                 %w1: tensor<8x8xf32> {dualpipe.param = "w1"},
                 %w2: tensor<8x8xf32> {dualpipe.param = "w2"}) -> tensor<2x8xf32> attributes {dualpipe.model} {
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
    %h1 = func.call @layer(%z0, %w1) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %h2 = func.call @layer(%h1, %w2) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    return %h2 : tensor<2x8xf32>
  }
}

// CHECK-LABEL: func.func private @net_stage0_bwd_acc(
// CHECK-SAME: %[[ACC:[^:]*]]: tensor<216xf32> {bufferization.writable = true, llvm.noalias}
// CHECK-SAME: -> tensor<216xf32>
// CHECK-NOT: call @net_stage0_bwd(
// CHECK: %[[W2:.*]] = call @layer_bwd_w(
// CHECK: %[[S2:.*]] = tensor.extract_slice %[[ACC]][152] [64] [1]
// CHECK: %[[E2:.*]] = tensor.expand_shape %[[S2]]
// CHECK: %[[P2:.*]] = linalg.add ins(%[[E2]], %[[W2]] : {{.*}}) outs(%[[E2]] :
// CHECK: %[[C2:.*]] = tensor.collapse_shape %[[P2]]
// CHECK: %[[A2:.*]] = tensor.insert_slice %[[C2]] into %[[ACC]][152] [64] [1]
// CHECK: call @layer_bwd_w(
// CHECK: %[[A1:.*]] = tensor.insert_slice %{{.*}} into %[[A2]][88] [64] [1]
// CHECK: %[[G:.*]]:2 = linalg.generic
// CHECK: %[[SS:.*]] = tensor.extract_slice %[[A1]][72] [16] [1]
// CHECK: %[[ES:.*]] = tensor.expand_shape %[[SS]]
// CHECK: linalg.add ins(%[[ES]], %[[G]]#1 : {{.*}}) outs(%[[ES]] :
// CHECK: %[[AS:.*]] = tensor.insert_slice %{{.*}} into %[[A1]][72] [16] [1]
// CHECK: %[[SB:.*]] = tensor.extract_slice %[[AS]][64] [8] [1]
// CHECK: %[[DB:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%[[G]]#0 : tensor<2x8xf32>) outs(%[[SB]] : tensor<8xf32>)
// CHECK: %[[AB:.*]] = tensor.insert_slice %[[DB]] into %[[AS]][64] [8] [1]
// CHECK: %[[SW:.*]] = tensor.extract_slice %[[AB]][0] [64] [1]
// CHECK: %[[EW:.*]] = tensor.expand_shape %[[SW]]
// CHECK: %[[DW:.*]] = linalg.matmul ins(%{{.*}}, %[[G]]#0 : tensor<8x2xf32>, tensor<2x8xf32>) outs(%[[EW]] : tensor<8x8xf32>)
// CHECK: %[[CW:.*]] = tensor.collapse_shape %[[DW]]
// CHECK: %[[AW:.*]] = tensor.insert_slice %[[CW]] into %[[AB]][0] [64] [1]
// CHECK: return %[[AW]] : tensor<216xf32>

// The rank program hands the accumulator from micro-batch to micro-batch.
// CHECK-LABEL: func.func @dualpipe_rank0(
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<216xf32>)
// CHECK: %[[R1:.*]] = call @net_stage0_bwd_acc(%[[Z]],
// CHECK: call @net_stage0_bwd_acc(%[[R1]],

// Bufferized, every update is in place in the caller's accumulator: the
// matmul and the sum write their slices of it, nothing is copied.
// BUF-LABEL: func.func private @net_stage0_bwd_acc(
// BUF-SAME: %[[ACC:[^:]*]]: memref<216xf32> {llvm.noalias}
// BUF-NOT: memref.copy
// BUF: %[[SB:.*]] = memref.subview %[[ACC]][64] [8] [1]
// BUF: linalg.generic {{.*}} outs(%[[SB]] :
// BUF-NOT: memref.copy
// BUF: %[[SW:.*]] = memref.subview %[[ACC]][0] [64] [1]
// BUF: %[[EW:.*]] = memref.expand_shape %[[SW]]
// BUF: linalg.matmul ins(%{{.*}}, %{{.*}} : memref<8x2xf32>, memref<2x8xf32>) outs(%[[EW]] :
// BUF-NOT: memref.copy
// BUF: return
