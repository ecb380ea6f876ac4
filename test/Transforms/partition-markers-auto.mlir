// Markers are mandatory cuts; the cost model chooses the rest.
// RUN: dualpipe-opt %s --dualpipe-partition="stages=3" | FileCheck %s

// A marker after the first of seven equal ops: stage 0 keeps that op, and
// the other six are split evenly over stages 1 and 2.
// CHECK-LABEL: func.func @m(
// CHECK-NOT: dualpipe.stage_boundary
// CHECK-LABEL: func.func @m_stage0(
// CHECK: math.exp
// CHECK-NOT: math.exp
// CHECK: return
// CHECK-LABEL: func.func @m_stage1(
// CHECK-COUNT-3: math.exp
// CHECK-NOT: math.exp
// CHECK: return
// CHECK-LABEL: func.func @m_stage2(
// CHECK-COUNT-3: math.exp
// CHECK-NOT: math.exp
// CHECK: return
// CHECK: dualpipe.pipeline "linear" ranks 3 stages [@m_stage0, @m_stage1, @m_stage2] on [0, 1, 2] model @m
func.func @m(%x: tensor<64xf32> {dualpipe.input = "x"}) -> tensor<64xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<64xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<64xf32>
  %b = math.exp %a1 : tensor<64xf32>
  %c = math.exp %b : tensor<64xf32>
  %d = math.exp %c : tensor<64xf32>
  %e = math.exp %d : tensor<64xf32>
  %f = math.exp %e : tensor<64xf32>
  %g = math.exp %f : tensor<64xf32>
  return %g : tensor<64xf32>
}
