// RUN: dualpipe-opt %s --dualpipe-partition="placement=dualpipev" -split-input-file -verify-diagnostics
// RUN: not dualpipe-opt %s --dualpipe-partition="placement=spiral" 2>&1 | FileCheck %s --check-prefix=RULE

// RULE: unknown placement 'spiral'; use linear, interleaved, dualpipe or dualpipev

// expected-error @+1 {{cannot place 3 stages on 1 ranks with placement 'dualpipev' (it needs 2 stages per rank)}}
func.func @m(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %b = math.exp %a1 : tensor<4xf32>
  %b1 = dualpipe.stage_boundary %b : tensor<4xf32>
  %c = math.exp %b1 : tensor<4xf32>
  return %c : tensor<4xf32>
}
