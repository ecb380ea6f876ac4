// RUN: dualpipe-opt %s --dualpipe-partition -split-input-file | FileCheck %s

// Three stages; %r (stage 0) is used again in stage 2, so it crosses both
// cuts: stage 1 receives it and hands it on. The constant is recreated in
// every stage that uses it rather than transferred.

// CHECK-LABEL: func.func @net(
// CHECK-NOT: dualpipe.stage_boundary
// CHECK: return

// CHECK-LABEL: func.func @net_stage0(
// CHECK-SAME: %[[X:.*]]: tensor<4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}
// CHECK-SAME: -> tensor<4xf32>
// CHECK-SAME: attributes {dualpipe.stage = 0 : i64}
// CHECK: %[[R:.*]] = math.exp %[[X]]
// CHECK: return %[[R]]

// CHECK-LABEL: func.func @net_stage1(
// CHECK-SAME: %[[R1:.*]]: tensor<4xf32> {dualpipe.from_stage = 0 : i64}
// CHECK-SAME: %[[W:.*]]: tensor<4xf32> {dualpipe.arg_index = 1 : i64, dualpipe.param = "w"}
// CHECK-SAME: -> (tensor<4xf32>, tensor<4xf32>)
// CHECK: %[[C:.*]] = arith.constant dense<2.0
// CHECK: %[[M:.*]] = arith.mulf %[[R1]], %[[W]]
// CHECK: %[[A:.*]] = arith.addf %[[M]], %[[C]]
// CHECK: return %[[R1]], %[[A]]

// CHECK-LABEL: func.func @net_stage2(
// CHECK-SAME: %[[R2:.*]]: tensor<4xf32> {dualpipe.from_stage = 1 : i64}, %[[A2:.*]]: tensor<4xf32> {dualpipe.from_stage = 1 : i64}
// CHECK-SAME: -> tensor<4xf32>
// CHECK: %[[C2:.*]] = arith.constant dense<2.0
// CHECK: %[[S:.*]] = arith.addf %[[A2]], %[[R2]]
// CHECK: %[[T:.*]] = arith.mulf %[[S]], %[[C2]]
// CHECK: return %[[T]]

// CHECK: dualpipe.pipeline "linear" ranks 3 stages [@net_stage0, @net_stage1, @net_stage2] on [0, 1, 2] model @net
func.func @net(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "w"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %c = arith.constant dense<2.0> : tensor<4xf32>
  %r = math.exp %x : tensor<4xf32>
  %r1 = dualpipe.stage_boundary %r : tensor<4xf32>
  %m = arith.mulf %r1, %w : tensor<4xf32>
  %a = arith.addf %m, %c : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %s = arith.addf %a1, %r : tensor<4xf32>
  %t = arith.mulf %s, %c : tensor<4xf32>
  return %t : tensor<4xf32>
}

// -----

// A value used inside a region (a linalg.generic body) counts as a use.
// CHECK-LABEL: func.func @region_stage1(
// CHECK-SAME: %{{.*}}: tensor<4xf32> {dualpipe.from_stage = 0 : i64}
// CHECK: arith.constant 3.0
// CHECK: linalg.generic
#id = affine_map<(d0) -> (d0)>
func.func @region(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %k = arith.constant 3.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %y = math.tanh %x : tensor<4xf32>
  %y1 = dualpipe.stage_boundary %y : tensor<4xf32>
  %z = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%y1 : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %p = arith.mulf %a, %k : f32
    linalg.yield %p : f32
  } -> tensor<4xf32>
  return %z : tensor<4xf32>
}

