// A residual connection crossing cuts the cost model chose: the skipped
// stages receive it and hand it on.
// RUN: dualpipe-opt %s --dualpipe-partition="stages=4" | FileCheck %s

// Eight equal ops, two per stage; %r (op 0) is added back by op 7, so it
// crosses all three cuts beside the chain's activation.
// CHECK-LABEL: func.func @res_stage0(
// CHECK-SAME: -> (tensor<256xf32>, tensor<256xf32>)
// CHECK: %[[R:.*]] = math.exp
// CHECK: %[[A:.*]] = math.tanh %[[R]]
// CHECK: return %[[R]], %[[A]]
// CHECK-LABEL: func.func @res_stage1(
// CHECK-SAME: %[[R1:.*]]: tensor<256xf32> {dualpipe.from_stage = 0 : i64}, %[[A1:.*]]: tensor<256xf32> {dualpipe.from_stage = 0 : i64}
// CHECK: return %[[R1]],
// CHECK-LABEL: func.func @res_stage2(
// CHECK-SAME: %[[R2:.*]]: tensor<256xf32> {dualpipe.from_stage = 1 : i64}, %{{.*}}: tensor<256xf32> {dualpipe.from_stage = 1 : i64}
// CHECK: return %[[R2]],
// CHECK-LABEL: func.func @res_stage3(
// CHECK-SAME: %[[R3:.*]]: tensor<256xf32> {dualpipe.from_stage = 2 : i64}, %[[H:.*]]: tensor<256xf32> {dualpipe.from_stage = 2 : i64}
// CHECK: math.tanh
// CHECK: arith.addf %{{.*}}, %[[R3]]
// CHECK: dualpipe.pipeline "linear" ranks 4 {{.*}} cuts {{\[}}[tensor<256xf32>, tensor<256xf32>], [tensor<256xf32>, tensor<256xf32>], [tensor<256xf32>, tensor<256xf32>]]
func.func @res(%x: tensor<256xf32> {dualpipe.input = "x"}) -> tensor<256xf32> attributes {dualpipe.model} {
  %r = math.exp %x : tensor<256xf32>
  %a = math.tanh %r : tensor<256xf32>
  %b = math.tanh %a : tensor<256xf32>
  %c = math.tanh %b : tensor<256xf32>
  %d = math.tanh %c : tensor<256xf32>
  %e = math.tanh %d : tensor<256xf32>
  %f = math.tanh %e : tensor<256xf32>
  %y = arith.addf %f, %r : tensor<256xf32>
  return %y : tensor<256xf32>
}
