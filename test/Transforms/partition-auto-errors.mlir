// RUN: dualpipe-opt %s --dualpipe-partition="stages=3" -split-input-file -verify-diagnostics

// A parameter read in two stages (tied weights) is rejected.
func.func @tied(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "emb"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = arith.mulf %x, %w : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %b = math.exp %a1 : tensor<4xf32>
  %b1 = dualpipe.stage_boundary %b : tensor<4xf32>
  // expected-error @+1 {{parameter 'emb' (argument #1) is used by stage 0 and stage 2; tied weights across stages are not supported}}
  %c = arith.mulf %b1, %w : tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

// With cuts to choose, a marker with nothing before it would leave stage 0
// empty.
func.func @empty(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %c = arith.constant dense<1.0> : tensor<4xf32>
  // expected-error @+1 {{this marker leaves a stage without ops (nothing costs anything before it)}}
  %x1 = dualpipe.stage_boundary %x : tensor<4xf32>
  %a = arith.addf %x1, %c : tensor<4xf32>
  %b = math.exp %a : tensor<4xf32>
  %d = math.exp %b : tensor<4xf32>
  return %d : tensor<4xf32>
}

// -----

// A marker after the last op would leave the last stage empty.
func.func @late(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %b = math.exp %a : tensor<4xf32>
  %c = math.exp %b : tensor<4xf32>
  // expected-error @+1 {{this marker leaves a stage without ops (nothing costs anything after it)}}
  %c1 = dualpipe.stage_boundary %c : tensor<4xf32>
  return %c1 : tensor<4xf32>
}

// -----

// Fewer ops than stages.
// expected-error @+1 {{stages=3 was asked for, but the model has 0 dualpipe.stage_boundary markers (1 stages) and the cost model cannot cut the rest: 3 stages need at least 3 ops to cut between, but there are 2; ask for fewer stages}}
func.func @short(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %b = math.exp %a : tensor<4xf32>
  return %b : tensor<4xf32>
}

// -----

// More markers than stages.
// expected-error @+1 {{stages=3 was asked for, but the model has 3 dualpipe.stage_boundary markers (4 stages); remove markers or ask for more stages}}
func.func @many(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %b = math.exp %a1 : tensor<4xf32>
  %b1 = dualpipe.stage_boundary %b : tensor<4xf32>
  %c = math.exp %b1 : tensor<4xf32>
  %c1 = dualpipe.stage_boundary %c : tensor<4xf32>
  %d = math.exp %c1 : tensor<4xf32>
  return %d : tensor<4xf32>
}
