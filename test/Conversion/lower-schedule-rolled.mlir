// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=4" --dualpipe-schedule="schedule=1f1b microbatches=4" --dualpipe-insert-comm --dualpipe-lower-schedule="roll-microbatches=true" | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=4" --dualpipe-schedule="schedule=1f1b microbatches=4" --dualpipe-insert-comm --dualpipe-lower-schedule | FileCheck %s --check-prefix=UNROLLED
// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=4" --dualpipe-schedule="schedule=gpipe microbatches=4" --dualpipe-insert-comm --dualpipe-lower-schedule="roll-microbatches=true" | FileCheck %s --check-prefix=GPIPE
// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=4" --dualpipe-schedule="schedule=zb1p microbatches=4" --dualpipe-insert-comm --dualpipe-lower-schedule="roll-microbatches=true" | FileCheck %s --check-prefix=SPLIT
// RUN: dualpipe-opt %s --dualpipe-partition="stages=1 ranks=1" --dualpipe-autodiff="loss=mse microbatches=4" --dualpipe-schedule="schedule=1f1b microbatches=4" --dualpipe-insert-comm --dualpipe-lower-schedule="roll-microbatches=true flat-loop-sums-from=2" | FileCheck %s --check-prefix=FLAT

// A two-layer net, one stage on one rank, 4 micro-batches of 2 rows.
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

// 1F1B on one stage is F0 B0 F1 B1 F2 B2 F3 B3: one loop over the
// micro-batches whose body is one F and one B. The losses and both
// gradient sums start at 0 and are carried; micro-batch m is rows 2m..2m+1
// of the input and the labels; the sums are added in place.
// CHECK-LABEL: func.func @dualpipe_rank0(
// CHECK-SAME: %[[X:[^:]*]]: tensor<8x8xf32> {dualpipe.input = "x"}
// CHECK-SAME: %[[Y:[^:]*]]: tensor<8x4xf32> {dualpipe.label = "y"}
// CHECK-SAME: %[[LOSSES:[^:]*]]: memref<4xf32> {dualpipe.output = "losses"}
// CHECK-SAME: %[[G0:[^:]*]]: memref<8x8xf32> {dualpipe.grad_of = "w0"}
// CHECK: %[[L0:.*]] = linalg.fill {{.*}} -> tensor<4xf32>
// CHECK: %[[Z0:.*]] = linalg.fill {{.*}} -> tensor<8x8xf32>
// CHECK: %[[Z1:.*]] = linalg.fill {{.*}} -> tensor<8x4xf32>
// CHECK: %[[C4:.*]] = arith.constant 4 : index
// CHECK: %[[R:.*]]:3 = scf.for %[[M:.*]] = %{{.*}} to %[[C4]] step %{{.*}} iter_args(%[[L:.*]] = %[[L0]], %[[S0:.*]] = %[[Z0]], %[[S1:.*]] = %[[Z1]])
// CHECK: %[[OFF:.*]] = arith.muli %[[M]], %{{.*}} : index
// CHECK: tensor.extract_slice %[[X]][%[[OFF]], 0] [2, 8] [1, 1]
// CHECK: tensor.extract_slice %[[Y]][%{{.*}}, 0] [2, 4] [1, 1]
// CHECK: %[[MB:.*]] = arith.index_cast %[[M]] : index to i32
// CHECK: call @dualpipe_rt_begin_action(%{{.*}}, %{{.*}}, %[[MB]])
// CHECK: %[[F:.*]]:7 = func.call @net_stage0_fwd(
// CHECK: %[[LOSS:.*]] = tensor.extract %[[F]]#0[]
// CHECK: %[[NL:.*]] = tensor.insert %[[LOSS]] into %[[L]][%[[M]]]
// CHECK: %[[B:.*]]:2 = func.call @net_stage0_bwd(%[[F]]#1,
// CHECK: %[[N0:.*]] = linalg.add ins(%[[S0]], %[[B]]#0 : {{.*}}) outs(%[[S0]] :
// CHECK: %[[N1:.*]] = linalg.add ins(%[[S1]], %[[B]]#1 : {{.*}}) outs(%[[S1]] :
// CHECK: scf.yield %[[NL]], %[[N0]], %[[N1]]
// CHECK-NOT: call @net_stage0_fwd
// CHECK: bufferization.materialize_in_destination %[[R]]#0 in restrict writable %[[LOSSES]]
// CHECK: bufferization.materialize_in_destination %[[R]]#1 in restrict writable %[[G0]]

// With many parameters (here from 2 on) the loop carries one flat sum of
// the stage's gradients (w0's 64 elements, then w1's 32) instead of one per
// parameter, added into in place in the loop body; each parameter's
// gradient is sliced out of it after the loop.
// FLAT-LABEL: func.func @dualpipe_rank0(
// FLAT-SAME: %[[G0:[^:]*]]: memref<8x8xf32> {dualpipe.grad_of = "w0"}
// FLAT: %[[L0:.*]] = linalg.fill {{.*}} -> tensor<4xf32>
// FLAT: %[[Z:.*]] = linalg.fill {{.*}} -> tensor<96xf32>
// FLAT: %[[R:.*]]:2 = scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[L0]], %[[S:.*]] = %[[Z]])
// FLAT: %[[B:.*]]:2 = func.call @net_stage0_bwd(
// FLAT: %[[B0:.*]] = tensor.collapse_shape %[[B]]#0 {{\[\[}}0, 1]] : tensor<8x8xf32> into tensor<64xf32>
// FLAT: %[[B1:.*]] = tensor.collapse_shape %[[B]]#1 {{\[\[}}0, 1]] : tensor<8x4xf32> into tensor<32xf32>
// FLAT: %[[CAT:.*]] = tensor.concat dim(0) %[[B0]], %[[B1]]
// FLAT: %[[N:.*]] = linalg.add ins(%[[S]], %[[CAT]] : {{.*}}) outs(%[[S]] :
// FLAT: scf.yield %{{.*}}, %[[N]]
// FLAT: %[[W0:.*]] = tensor.extract_slice %[[R]]#1[0] [64] [1]
// FLAT: %[[G0T:.*]] = tensor.expand_shape %[[W0]]
// FLAT: bufferization.materialize_in_destination %[[G0T]] in restrict writable %[[G0]]

// Without the option: straight-line, one F per micro-batch.
// UNROLLED-LABEL: func.func @dualpipe_rank0(
// UNROLLED-NOT: scf.for
// UNROLLED-COUNT-4: call @net_stage0_fwd(
// UNROLLED-NOT: scf.for

// GPipe's F0 F1 F2 F3 B3 B2 B1 B0 is not one F and one B per micro-batch
// in order: it stays straight-line.
// GPIPE-LABEL: func.func @dualpipe_rank0(
// GPIPE-NOT: scf.for
// GPIPE-COUNT-4: call @net_stage0_fwd(
// GPIPE-NOT: scf.for

// ZB-H1's split backward (F, I, W) is not rolled either (each W adds into
// the stage's flat gradient accumulator).
// SPLIT-LABEL: func.func @dualpipe_rank0(
// SPLIT-NOT: scf.for
// SPLIT-COUNT-4: call @net_stage0_bwd_w_acc(
// SPLIT-NOT: scf.for
