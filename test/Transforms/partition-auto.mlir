// Cuts chosen by the cost model (no markers): the optimal partition by
// dynamic programming over the ops in body order.
// RUN: dualpipe-opt %s -split-input-file --dualpipe-partition="stages=3" | FileCheck %s
// RUN: dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=dualpipe" | FileCheck %s --check-prefix=DUAL
// RUN: dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=linear" | FileCheck %s --check-prefix=LIN4
// RUN: rm -rf %t && mkdir -p %t
// RUN: dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=dualpipe" --dualpipe-partition-report=%t/dual.json -o /dev/null
// RUN: %python -c "import json; r = json.load(open('%t/dual.json')); p = r['max_rank_load_per_microbatch_s']; l = r['best_linear_same_ranks']['max_rank_load_s']; print('paired', 'lower' if p < l else 'NOT lower', 'than linear;', r['model'])" | FileCheck %s --check-prefix=CMP

// Six equal ops in three stages: two each. The chain's only activation
// crosses each cut.
// CHECK-LABEL: func.func @chain_stage0(
// CHECK-SAME: %[[X:.*]]: tensor<32x32xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}
// CHECK-SAME: -> tensor<32x32xf32>
// CHECK-COUNT-2: math.exp
// CHECK-NOT: math.exp
// CHECK: return
// CHECK-LABEL: func.func @chain_stage1(
// CHECK-SAME: %{{.*}}: tensor<32x32xf32> {dualpipe.from_stage = 0 : i64}
// CHECK-COUNT-2: math.exp
// CHECK-NOT: math.exp
// CHECK: return
// CHECK-LABEL: func.func @chain_stage2(
// CHECK-COUNT-2: math.exp
// CHECK-NOT: math.exp
// CHECK: return
// CHECK: dualpipe.pipeline "linear" ranks 3 stages [@chain_stage0, @chain_stage1, @chain_stage2] on [0, 1, 2] model @chain cuts {{\[}}[tensor<32x32xf32>], [tensor<32x32xf32>]]
func.func @chain(%x: tensor<32x32xf32> {dualpipe.input = "x"}) -> tensor<32x32xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<32x32xf32>
  %b = math.exp %a : tensor<32x32xf32>
  %c = math.exp %b : tensor<32x32xf32>
  %d = math.exp %c : tensor<32x32xf32>
  %e = math.exp %d : tensor<32x32xf32>
  %f = math.exp %e : tensor<32x32xf32>
  return %f : tensor<32x32xf32>
}

// -----

// Seven light ops and a heavy "head" (a 32x32x32 matmul, about 2.7 light
// ops on the cpu profile). Linear on 4 ranks cannot beat 3 light ops per
// stage. DualPipe pairs S_0 with S_3: the head's stage takes a light first
// stage as its partner, and S_1 + S_2 share the rest; each rank runs its
// two stages for half the micro-batches, so per micro-batch its load is
// below linear's (the report's best linear partition on the same ranks).
// CMP: paired lower than linear; head
// DUAL-LABEL: func.func @head_stage0(
// DUAL: math.exp
// DUAL-LABEL: func.func @head_stage3(
// DUAL: linalg.matmul
// DUAL: dualpipe.pipeline "dualpipe" ranks 4 stages [@head_stage0, @head_stage1, @head_stage2, @head_stage3, @head_stage0, @head_stage1, @head_stage2, @head_stage3] on [0, 1, 2, 3, 3, 2, 1, 0] model @head

// LIN4-LABEL: func.func @head_stage3(
// LIN4-NOT: math.exp
// LIN4: linalg.matmul
// LIN4: dualpipe.pipeline "linear" ranks 4
func.func @head(%x: tensor<32x32xf32> {dualpipe.input = "x"}, %w: tensor<32x32xf32> {dualpipe.param = "head"}) -> tensor<32x32xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<32x32xf32>
  %b = math.exp %a : tensor<32x32xf32>
  %c = math.exp %b : tensor<32x32xf32>
  %d = math.exp %c : tensor<32x32xf32>
  %e = math.exp %d : tensor<32x32xf32>
  %f = math.exp %e : tensor<32x32xf32>
  %g = math.exp %f : tensor<32x32xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<32x32xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<32x32xf32>) -> tensor<32x32xf32>
  %y = linalg.matmul ins(%g, %w : tensor<32x32xf32>, tensor<32x32xf32>) outs(%acc : tensor<32x32xf32>) -> tensor<32x32xf32>
  return %y : tensor<32x32xf32>
}
