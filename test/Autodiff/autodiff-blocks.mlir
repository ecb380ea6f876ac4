// RUN: dualpipe-opt %s --dualpipe-autodiff="loss=mse microbatches=2" | FileCheck %s

// A block called by two stages is differentiated once per calling
// convention: stage 0 passes a model input (no gradient) and a weight,
// stage 1 an activation and a weight. A stage's forward calls the block's
// forward; its backward-input calls the block's backward-input, and the
// block's backward-weight (what only the weight gradient needs) lands in
// the stage's backward-weight.

func.func private @layer(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %t = math.tanh %y : tensor<2x4xf32>
  return %t : tensor<2x4xf32>
}
func.func @m_stage0(%x: tensor<2x4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"},
                    %w: tensor<4x4xf32> {dualpipe.arg_index = 1 : i64, dualpipe.param = "l0.w"}) -> tensor<2x4xf32> attributes {dualpipe.stage = 0 : i64} {
  %h = func.call @layer(%x, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %h : tensor<2x4xf32>
}
func.func @m_stage1(%a: tensor<2x4xf32> {dualpipe.from_stage = 0 : i64},
                    %w: tensor<4x4xf32> {dualpipe.arg_index = 2 : i64, dualpipe.param = "l1.w"}) -> tensor<2x4xf32> attributes {dualpipe.stage = 1 : i64} {
  %h = func.call @layer(%a, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %h : tensor<2x4xf32>
}
dualpipe.pipeline "linear" ranks 2 stages [@m_stage0, @m_stage1] on [0, 1]

// Stage 0's convention: x carries no gradient, w is a weight; the forward
// saves the pre-activation, the backward takes x from the call site.
// CHECK-LABEL: func.func @layer_fwd(
// CHECK-SAME: -> (tensor<2x4xf32>, tensor<2x4xf32> {dualpipe.saved})
// CHECK-LABEL: func.func @layer_bwd_i(
// CHECK-LABEL: func.func @layer_bwd_w(
// CHECK-SAME: -> tensor<4x4xf32>
// CHECK-NOT: func.func @layer_bwd(

// CHECK-LABEL: func.func @m_stage0_fwd(
// CHECK: %[[F:.*]]:2 = call @layer_fwd(%arg0, %arg1)
// CHECK: return %[[F]]#0, %arg0, %[[F]]#1
// All of stage 0's backward is weight work: its I only hands on what W needs.
// CHECK-LABEL: func.func @m_stage0_bwd_w(
// CHECK: %[[I:.*]]:{{[0-9]+}} = call @layer_bwd_i(
// CHECK: call @layer_bwd_w(%[[I]]#

// Stage 1's convention: both arguments carry gradients (a second variant).
// CHECK-LABEL: func.func @m_stage1_fwd(
// CHECK: call @layer_v2_fwd(%arg0, %arg1)
// CHECK-LABEL: func.func @m_stage1_bwd_i(
// CHECK: %[[I1:.*]]:3 = call @layer_v2_bwd_i(
// CHECK-NOT: call @layer_v2_bwd_w
// CHECK: return %[[I1]]#0, %[[I1]]#1, %[[I1]]#2
// CHECK-LABEL: func.func @m_stage1_bwd_w(
// CHECK: call @layer_v2_bwd_w(%arg0, %arg1)
