// Errors of the step-time partition (dualpipe, dualpipev).
// RUN: dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=dualpipe" -verify-diagnostics
// RUN: not dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=dualpipe allow-empty-stages=1" 2>&1 | FileCheck %s --check-prefix=ALLOW
// RUN: not dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=dualpipe memory-budget=1000" 2>&1 | FileCheck %s --check-prefix=BUDGET
// RUN: not dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=dualpipe microbatches=6" 2>&1 | FileCheck %s --check-prefix=MB

// BUDGET: error: placement=dualpipe on 4 ranks: no cut into 4 stages fits the memory budget of 1000 bytes per rank
// BUDGET-SAME: raise memory-budget or use more ranks{{$}}
// MB: DualPipe needs at least 2N micro-batches

// Three ops cannot make four stages.
// expected-error @+1 {{stages=4 was asked for, but the model has 0 dualpipe.stage_boundary markers (1 stages) and the cost model cannot cut the rest: 4 stages need at least 4 ops to cut between, but there are 3; ask for fewer stages}}
func.func @three(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %b = math.exp %a : tensor<4xf32>
  %c = math.exp %b : tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

// Four ops, but one is a free reshape: a stage of it alone would be empty,
// so the cut needs allow-empty-stages.
// ALLOW: dualpipe.pipeline "dualpipe" ranks 4 stages [@reshape_stage0, @reshape_stage1, @reshape_stage2, @reshape_stage3
// expected-error @+1 {{4 stages need at least 4 ops to cut between, but there are 3 that cost anything (and 1 free op, reshapes or casts, which make an empty stage on their own; pass allow-empty-stages to allow one); ask for fewer stages}}
func.func @reshape(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<2x2xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %r = tensor.expand_shape %a [[0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
  %b = math.exp %r : tensor<2x2xf32>
  %c = math.exp %b : tensor<2x2xf32>
  return %c : tensor<2x2xf32>
}

// -----

// Enough ops: fine without options, refused by a budget below one stage's
// parameters and gradients, and by an M the schedule does not run.
func.func @fits(%x: tensor<16x16xf32> {dualpipe.input = "x"}, %w: tensor<16x16xf32> {dualpipe.param = "w"}) -> tensor<16x16xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<16x16xf32>
  %b = math.exp %a : tensor<16x16xf32>
  %c = math.exp %b : tensor<16x16xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<16x16xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<16x16xf32>) -> tensor<16x16xf32>
  %y = linalg.matmul ins(%c, %w : tensor<16x16xf32>, tensor<16x16xf32>) outs(%acc : tensor<16x16xf32>) -> tensor<16x16xf32>
  return %y : tensor<16x16xf32>
}
