// RUN: dualpipe-opt %s --dualpipe-build-optimizer="kind=adamw lr=0.001 weight-decay=0.01" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=ADAMW
// RUN: dualpipe-opt %s --dualpipe-build-optimizer="kind=momentum momentum=0.5" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=MOM
// RUN: dualpipe-opt %s --dualpipe-build-optimizer="kind=sgd" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=SGD
// RUN: not dualpipe-opt %s --dualpipe-build-optimizer="kind=lamb" -split-input-file -o /dev/null 2>&1 | FileCheck %s --check-prefix=KIND
// RUN: dualpipe-opt %S/../Transforms/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-autodiff="loss=mse microbatches=8" --dualpipe-schedule="schedule=dualpipe microbatches=8" --dualpipe-insert-comm --dualpipe-lower-schedule --dualpipe-build-optimizer=kind=adamw | FileCheck %s --check-prefix=CHAIN

// One function updates every parameter in place: parameters, gradients,
// state (two tensors per parameter for AdamW), then [lr, t].
// ADAMW-LABEL: func.func @dualpipe_optimizer(
// ADAMW-SAME: %[[W:.*]]: memref<4x8xf32> {dualpipe.param = "w"}
// ADAMW-SAME: %[[B:.*]]: memref<8xf32> {dualpipe.param = "b"}
// ADAMW-SAME: %[[GW:.*]]: memref<4x8xf32> {dualpipe.grad_of = "w"}
// ADAMW-SAME: memref<8xf32> {dualpipe.grad_of = "b"}
// ADAMW-SAME: %[[M:.*]]: memref<4x8xf32> {dualpipe.state = "w.exp_avg"}
// ADAMW-SAME: %[[V:.*]]: memref<4x8xf32> {dualpipe.state = "w.exp_avg_sq"}
// ADAMW-SAME: memref<8xf32> {dualpipe.state = "b.exp_avg"}
// ADAMW-SAME: memref<8xf32> {dualpipe.state = "b.exp_avg_sq"}
// ADAMW-SAME: %[[S:.*]]: memref<2xf32> {dualpipe.scalars = "lr,t"}
// ADAMW-SAME: attributes {dualpipe.optimizer = "adamw", llvm.emit_c_interface}
// Bias corrections once per step, in f64.
// ADAMW: %[[LR:.*]] = memref.load %[[S]][%{{.*}}]
// ADAMW: math.powf %{{.*}}, %{{.*}} : f64
// ADAMW: math.powf %{{.*}}, %{{.*}} : f64
// ADAMW: linalg.generic {{.*}} ins(%[[GW]] : memref<4x8xf32>) outs(%[[W]], %[[M]], %[[V]] : memref<4x8xf32>, memref<4x8xf32>, memref<4x8xf32>)
// ADAMW: math.sqrt
// ADAMW: linalg.yield
// ADAMW: linalg.generic
// ADAMW: return

// MOM-LABEL: func.func @dualpipe_optimizer(
// MOM-SAME: {dualpipe.state = "w.momentum_buffer"}
// MOM-SAME: {dualpipe.state = "b.momentum_buffer"}
// MOM-SAME: attributes {dualpipe.optimizer = "momentum"
// MOM: linalg.generic
// MOM: arith.constant 5.000000e-01 : f32

// Plain SGD keeps no state.
// SGD-LABEL: func.func @dualpipe_optimizer(
// SGD-NOT: dualpipe.state
// SGD-SAME: attributes {dualpipe.optimizer = "sgd"

// KIND: error: unknown optimizer 'lamb'; use sgd, momentum or adamw

// The whole chain: the parameters of the model, in the step's order.
// CHAIN-LABEL: func.func @dualpipe_optimizer(
// CHAIN-SAME: {dualpipe.param = "w0"}
// CHAIN-SAME: {dualpipe.param = "w3"}
// CHAIN-SAME: {dualpipe.grad_of = "w0"}
// CHAIN-SAME: {dualpipe.state = "w0.exp_avg"}
module {
  func.func private @dualpipe_rank0(tensor<2x4xf32> {dualpipe.input = "x"},
      tensor<4x8xf32> {dualpipe.param = "w"}, tensor<8xf32> {dualpipe.param = "b"},
      memref<2xf32>) attributes {dualpipe.rank = 0 : i64}
}

// -----

// expected-error @below {{no rank entry point @dualpipe_rank0 to read the parameters from; run --dualpipe-lower-schedule first}}
module {
  func.func private @other(tensor<4xf32>)
}

// -----

module {
  // expected-error @below {{parameter 'table' has type 'tensor<4x8xf16>'; the compiled optimizer updates static-shaped f32 parameters only}}
  func.func private @dualpipe_rank0(tensor<4x8xf16> {dualpipe.param = "table"})
}

// -----

module {
  // expected-error @below {{@dualpipe_rank0 has no dualpipe.param arguments: nothing for an optimizer to update}}
  func.func private @dualpipe_rank0(tensor<4x8xf32> {dualpipe.input = "x"})
}
