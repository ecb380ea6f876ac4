// RUN: dualpipe-opt %s --dualpipe-inline-wide-calls=min-values=3 | FileCheck %s

// The stage's forward and backward are each called once, from the rank
// program, with more than 3 operands and results: both are inlined and
// erased, with the stage's record of them. The block function they call
// stays a call; so does a wide function with two calls, and a narrow one.

// CHECK-LABEL: func.func private @block(
func.func private @block(%x: tensor<4xf32>, %w: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %y = arith.mulf %x, %w : tensor<4xf32>
  return %y, %x : tensor<4xf32>, tensor<4xf32>
}

// CHECK-LABEL: func.func private @stage(
// CHECK-NOT: dualpipe.autodiff
// CHECK-SAME: {
func.func private @stage(%x: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32>
    attributes {dualpipe.autodiff = #dualpipe.autodiff<forward = @stage_fwd, backward = @stage_bwd, backward_input = @stage_bwd_i, backward_weight = @stage_bwd_w>} {
  %y:2 = call @block(%x, %w) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return %y#0 : tensor<4xf32>
}

// CHECK-NOT: func.func private @stage_fwd(
func.func private @stage_fwd(%x: tensor<4xf32>, %w: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %y:2 = call @block(%x, %w) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  return %y#0, %y#1, %w : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}
// CHECK-NOT: func.func private @stage_bwd(
func.func private @stage_bwd(%g: tensor<4xf32>, %s: tensor<4xf32>, %w: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %gx = arith.mulf %g, %w : tensor<4xf32>
  %gw = arith.mulf %g, %s : tensor<4xf32>
  return %gx, %gw : tensor<4xf32>, tensor<4xf32>
}
// Two callers (the rank program and @other): stays.
// CHECK: func.func private @stage_bwd_i(
func.func private @stage_bwd_i(%g: tensor<4xf32>, %s: tensor<4xf32>, %w: tensor<4xf32>) -> tensor<4xf32> {
  %gx = arith.mulf %g, %w : tensor<4xf32>
  return %gx : tensor<4xf32>
}
// Narrow: stays.
// CHECK: func.func private @stage_bwd_w(
func.func private @stage_bwd_w(%g: tensor<4xf32>) -> tensor<4xf32> {
  return %g : tensor<4xf32>
}

// CHECK-LABEL: func.func @dualpipe_rank0(
func.func @dualpipe_rank0(%x: tensor<4xf32>, %w: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) attributes {dualpipe.rank = 0 : i64} {
  // CHECK: %[[Y:.*]]:2 = call @block(%{{.*}}, %{{.*}})
  // CHECK-NOT: call @stage_fwd
  // CHECK-NOT: call @stage_bwd(
  // CHECK: %[[GW:.*]] = arith.mulf %[[Y]]#0, %[[Y]]#1
  // CHECK: call @stage_bwd_i(
  // CHECK: call @stage_bwd_w(
  %f:3 = call @stage_fwd(%x, %w) : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  %b:2 = call @stage_bwd(%f#0, %f#1, %f#2) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  %i = call @stage_bwd_i(%f#0, %f#1, %f#2) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %v = call @stage_bwd_w(%i) : (tensor<4xf32>) -> tensor<4xf32>
  return %b#1, %v : tensor<4xf32>, tensor<4xf32>
}

// Not a rank program: its calls are left alone.
// CHECK-LABEL: func.func @other(
// CHECK: call @stage_bwd_i(
func.func @other(%g: tensor<4xf32>) -> tensor<4xf32> {
  %i = call @stage_bwd_i(%g, %g, %g) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %i : tensor<4xf32>
}
