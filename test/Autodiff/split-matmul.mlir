// RUN: dualpipe-opt %s --dualpipe-partition --dualpipe-autodiff=loss=mse | FileCheck %s

// The I/W split of a linear layer y = x·W + b in the middle stage:
// backward-input computes dx = dy·Wᵀ and hands x and dy to
// backward-weight, which computes dW = xᵀ·dy and db = Σ_rows dy.

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @net(%x: tensor<2x3xf64> {dualpipe.input = "x"},
               %w: tensor<3x4xf64> {dualpipe.param = "w"},
               %b: tensor<4xf64> {dualpipe.param = "b"}) -> tensor<2x4xf64>
    attributes {dualpipe.model} {
  %zero = arith.constant 0.0 : f64
  %t = math.tanh %x : tensor<2x3xf64>
  %t1 = dualpipe.stage_boundary %t : tensor<2x3xf64>
  %e = tensor.empty() : tensor<2x4xf64>
  %f = linalg.fill ins(%zero : f64) outs(%e : tensor<2x4xf64>) -> tensor<2x4xf64>
  %m = linalg.matmul ins(%t1, %w : tensor<2x3xf64>, tensor<3x4xf64>) outs(%f : tensor<2x4xf64>) -> tensor<2x4xf64>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<2x4xf64>, tensor<4xf64>) outs(%e : tensor<2x4xf64>) {
  ^bb0(%a: f64, %c: f64, %o: f64):
    %s = arith.addf %a, %c : f64
    linalg.yield %s : f64
  } -> tensor<2x4xf64>
  %y1 = dualpipe.stage_boundary %y : tensor<2x4xf64>
  %z = math.exp %y1 : tensor<2x4xf64>
  return %z : tensor<2x4xf64>
}

// The first stage has no activation arguments and no parameters: its I
// only hands on what W needs, and W returns nothing.
// CHECK-LABEL: func.func @net_stage0_bwd_w()
// CHECK-SAME: attributes {dualpipe.role = "backward_weight", dualpipe.stage = 0 : i64}

// CHECK-LABEL: func.func @net_stage1(
// CHECK-SAME: attributes {dualpipe.autodiff = #dualpipe.autodiff<forward = @net_stage1_fwd, backward = @net_stage1_bwd, backward_input = @net_stage1_bwd_i, backward_weight = @net_stage1_bwd_w>, dualpipe.stage = 1 : i64}

// The forward keeps x (an activation) and W (a parameter, not counted in
// saved_bytes: 2x3 f64 = 48 bytes).
// CHECK-LABEL: func.func @net_stage1_fwd(
// CHECK-SAME: %[[X:.*]]: tensor<2x3xf64> {dualpipe.from_stage = 0 : i64}, %[[W:.*]]: tensor<3x4xf64> {dualpipe.arg_index = 1 : i64, dualpipe.param = "w"}, %[[B:.*]]: tensor<4xf64> {dualpipe.arg_index = 2 : i64, dualpipe.param = "b"})
// CHECK-SAME: -> (tensor<2x4xf64>, tensor<2x3xf64> {dualpipe.saved}, tensor<3x4xf64> {dualpipe.saved})
// CHECK-SAME: dualpipe.role = "forward", dualpipe.saved_bytes = 48 : i64, dualpipe.stage = 1 : i64
// CHECK: %[[M:.*]] = linalg.matmul ins(%[[X]], %[[W]]
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK: return %[[Y]], %[[X]], %[[W]]

// I: dx = dy·Wᵀ; hands dy and x to W.
// CHECK-LABEL: func.func @net_stage1_bwd_i(
// CHECK-SAME: %[[DY:.*]]: tensor<2x4xf64>, %[[SX:.*]]: tensor<2x3xf64> {dualpipe.saved}, %[[SW:.*]]: tensor<3x4xf64> {dualpipe.saved})
// CHECK-SAME: -> (tensor<2x3xf64> {dualpipe.grad_of_arg = 0 : i64}, tensor<2x4xf64> {dualpipe.wsaved}, tensor<2x3xf64> {dualpipe.wsaved})
// CHECK-SAME: dualpipe.role = "backward_input"
// CHECK-NOT: linalg.generic
// CHECK: %[[WT:.*]] = linalg.transpose ins(%[[SW]] : tensor<3x4xf64>) outs(%{{.*}} : tensor<4x3xf64>) permutation = [1, 0]
// CHECK: %[[DX:.*]] = linalg.matmul ins(%[[DY]], %[[WT]] : tensor<2x4xf64>, tensor<4x3xf64>)
// CHECK: return %[[DX]], %[[DY]], %[[SX]]

// W: dW = xᵀ·dy, db = Σ_rows dy (a reduction over the broadcast dimension).
// CHECK-LABEL: func.func @net_stage1_bwd_w(
// CHECK-SAME: %[[WDY:.*]]: tensor<2x4xf64> {dualpipe.wsaved}, %[[WX:.*]]: tensor<2x3xf64> {dualpipe.wsaved})
// CHECK-SAME: -> (tensor<3x4xf64> {dualpipe.grad_of = "w"}, tensor<4xf64> {dualpipe.grad_of = "b"})
// CHECK-SAME: dualpipe.role = "backward_weight"
// CHECK: %[[DB:.*]] = linalg.generic {{{.*}}iterator_types = ["reduction", "parallel"]} ins(%[[WDY]] : tensor<2x4xf64>)
// CHECK: %[[XT:.*]] = linalg.transpose ins(%[[WX]] : tensor<2x3xf64>)
// CHECK: %[[DW:.*]] = linalg.matmul ins(%[[XT]], %[[WDY]] : tensor<3x2xf64>, tensor<2x4xf64>)
// CHECK: return %[[DW]], %[[DB]]

// The full backward returns dx then the parameter gradients.
// CHECK-LABEL: func.func @net_stage1_bwd(
// CHECK-SAME: -> (tensor<2x3xf64> {dualpipe.grad_of_arg = 0 : i64}, tensor<3x4xf64> {dualpipe.grad_of = "w"}, tensor<4xf64> {dualpipe.grad_of = "b"})
// CHECK-SAME: dualpipe.role = "backward"

// The last stage takes no output gradient and adds the label argument.
// CHECK-LABEL: func.func @net_stage2_fwd(
// CHECK-SAME: %{{.*}}: tensor<2x4xf64> {dualpipe.label = "y"})
// CHECK-SAME: -> (tensor<f64>,
// CHECK-LABEL: func.func @net_stage2_bwd_i(
// CHECK-SAME: %{{.*}}: tensor<2x4xf64> {dualpipe.saved}
