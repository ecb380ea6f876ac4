// DualPipe cuts minimize the simulated step time of the DualPipe schedule
// under the stages' costs (issue #18), not only the largest pair load.
// RUN: dualpipe-opt %s -split-input-file --dualpipe-partition="stages=2 placement=dualpipe" | FileCheck %s --check-prefix=TWO
// RUN: dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=dualpipe microbatches=8" | FileCheck %s --check-prefix=FOUR
// RUN: rm -rf %t && mkdir -p %t
// RUN: dualpipe-opt %s -split-input-file --dualpipe-partition="stages=4 placement=dualpipe microbatches=8" --dualpipe-partition-report=%t/four.json -o /dev/null
// RUN: %python -c "import json; r = json.load(open('%t/four.json')); s = r['simulated']; o = s['least_max_rank_load_cut']; print(r['model'], r['objective'], s['schedule'], s['microbatches'], s['search'], 'ratio', round(r['max_stage_over_best_contiguous'], 3), 'old max stage', round(max(o['stage_time_s']) / r['best_contiguous']['max_stage_s'], 3), 'sim', 'not worse' if s['step_time_s'] <= o['step_time_s'] * (1 + 1e-9) else 'WORSE', 'peaks', len(s['rank_peak_bytes']), 'busy', len(s['rank_busy_s']))" | FileCheck %s --check-prefix=REPORT

// Six equal ops on two DualPipe ranks. Every cut has the same pair load
// (the whole model), and the pair objective took the cheapest bytes,
// leaving one op in stage 0 (1 | 5). The simulated step time ties, and the
// tie goes to the smaller largest stage: 3 | 3.
// TWO-LABEL: func.func @chain_stage0(
// TWO-COUNT-3: math.exp
// TWO-NOT: math.exp
// TWO: return
// TWO-LABEL: func.func @chain_stage1(
// TWO-COUNT-3: math.exp
// TWO-NOT: math.exp
// TWO: return
// TWO: dualpipe.pipeline "dualpipe" ranks 2 stages [@chain_stage0, @chain_stage1, @chain_stage0, @chain_stage1] on [0, 1, 1, 0] model @chain
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

// Unbalanced: a light "embedding" (a 4-row slice), eight equal layers and a
// heavy head (one 32x32x32 matmul, about 2.4 layers on the cpu profile).
// The pair objective balanced S0+S3 against S1+S2 with S1 one layer and S2
// four layers plus the fill (stages 0.92 / 0.27 / 1.23 / 0.66 us, largest
// 1.5x the best contiguous cut). The step-time cut: embedding and three
// layers | three layers | two layers and the fill | the head
// (0.92 / 0.82 / 0.68 / 0.66 us, 1.125x).
// REPORT: unbal simulated_step_time dualpipe 8 exhaustive ratio 1.125 old max stage 1.5 sim not worse peaks 4 busy 4
// FOUR-LABEL: func.func @unbal_stage0(
// FOUR: tensor.insert_slice
// FOUR-COUNT-3: math.exp %{{.*}} : tensor<32x32xf32>
// FOUR-NOT: math.exp
// FOUR: return
// FOUR-LABEL: func.func @unbal_stage1(
// FOUR-COUNT-3: math.exp
// FOUR-NOT: math.exp
// FOUR: return
// FOUR-LABEL: func.func @unbal_stage2(
// FOUR-COUNT-2: math.exp
// FOUR-NOT: math.exp
// FOUR: linalg.fill
// FOUR: return
// FOUR-LABEL: func.func @unbal_stage3(
// FOUR-NOT: math.exp
// FOUR: linalg.matmul
// FOUR: dualpipe.pipeline "dualpipe" ranks 4
func.func @unbal(%x: tensor<32x32xf32> {dualpipe.input = "x"}, %w: tensor<32x32xf32> {dualpipe.param = "head"}) -> tensor<32x32xf32> attributes {dualpipe.model} {
  %s = tensor.extract_slice %x[0, 0] [4, 32] [1, 1] : tensor<32x32xf32> to tensor<4x32xf32>
  %t = math.exp %s : tensor<4x32xf32>
  %u = tensor.insert_slice %t into %x[0, 0] [4, 32] [1, 1] : tensor<4x32xf32> into tensor<32x32xf32>
  %a = math.exp %u : tensor<32x32xf32>
  %b = math.exp %a : tensor<32x32xf32>
  %c = math.exp %b : tensor<32x32xf32>
  %d = math.exp %c : tensor<32x32xf32>
  %e = math.exp %d : tensor<32x32xf32>
  %f = math.exp %e : tensor<32x32xf32>
  %g = math.exp %f : tensor<32x32xf32>
  %h = math.exp %g : tensor<32x32xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<32x32xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<32x32xf32>) -> tensor<32x32xf32>
  %y = linalg.matmul ins(%h, %w : tensor<32x32xf32>, tensor<32x32xf32>) outs(%acc : tensor<32x32xf32>) -> tensor<32x32xf32>
  return %y : tensor<32x32xf32>
}
