// RUN: dualpipe-opt %s --dualpipe-partition -split-input-file -verify-diagnostics

// expected-error @+1 {{no func.func is marked dualpipe.model}}
module {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> { return %x : tensor<4xf32> }
}

// -----

func.func @a(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }
// expected-error @+1 {{a second function is marked dualpipe.model}}
func.func @b(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }

// -----

func.func @m(%x: tensor<4xf32>, %c: i1) -> tensor<4xf32> attributes {dualpipe.model} {
  %r = scf.if %c -> tensor<4xf32> {
    // expected-error @+1 {{a stage boundary must be at the top level of the model function, not inside scf.if}}
    %y = dualpipe.stage_boundary %x : tensor<4xf32>
    scf.yield %y : tensor<4xf32>
  } else {
    scf.yield %x : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}

// -----

func.func @s() { return }
// expected-error @+1 {{the module is already partitioned}}
dualpipe.pipeline "linear" ranks 1 stages [@s] on [0]
func.func @m(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }

// -----

// Found by dualpipe-fuzz-frontend: a boundary on the model's argument left
// stage 0 without computation and nothing to send to stage 1, and
// insert-comm then built a dualpipe.irecv without tensors.
func.func @arg_boundary(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %c = arith.constant dense<1.0> : tensor<4xf32>
  // expected-error @+1 {{stage 1 receives nothing from stage 0: no value computed before this cut is used after it (a dualpipe.stage_boundary on a function argument, or on a value only later stages' arguments feed); put the boundary on a tensor computed by the model that the next stage uses}}
  %x1 = dualpipe.stage_boundary %x : tensor<4xf32>
  %a = arith.addf %x1, %c : tensor<4xf32>
  %b = math.exp %a : tensor<4xf32>
  return %b : tensor<4xf32>
}

// -----

// Found by dualpipe-fuzz-frontend: a loss function named like stage 1's
// function was defined twice after partitioning.
func.func @taken(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %b = dualpipe.stage_boundary %a : tensor<4xf32>
  %c = math.tanh %b : tensor<4xf32>
  return %c : tensor<4xf32>
}
// expected-error @+1 {{cannot create @taken_stage1 for stage 1 of @taken: the name is taken by this symbol; rename it}}
func.func @taken_stage1(%y: tensor<4xf32>) -> tensor<4xf32> { return %y : tensor<4xf32> }

// -----

// Found by dualpipe-fuzz-frontend: a scheduled module whose
// dualpipe.pipeline was deleted was partitioned again, and the new
// one-stage pipeline did not match the schedule's stages.
func.func @again(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  return %a : tensor<4xf32>
}
// expected-error @+1 {{the module is already partitioned (it holds a stage function but no dualpipe.pipeline); partition a module that holds the model and its loss only}}
func.func private @again_s0(tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.stage = 0 : i64}
