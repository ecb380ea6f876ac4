// DualPipe keeps two copies of the stages: pipeline A on ranks 0..N-1 and
// pipeline B on N-1..0, so the pipeline op lists every stage twice.
// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipe" | FileCheck %s

// CHECK: dualpipe.pipeline "dualpipe" ranks 2 stages [@m_stage0, @m_stage1, @m_stage0, @m_stage1] on [0, 1, 1, 0] model @m
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %b = math.exp %a1 : tensor<4xf32>
  return %b : tensor<4xf32>
}
