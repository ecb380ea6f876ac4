// RUN: dualpipe-opt %s --dualpipe-partition="stages=3" -split-input-file -verify-diagnostics

// expected-error @+1 {{stages=3 was asked for, but the model has 1 dualpipe.stage_boundary markers (2 stages)}}
func.func @m(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %b = math.exp %a1 : tensor<4xf32>
  return %b : tensor<4xf32>
}
