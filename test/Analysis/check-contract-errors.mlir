// Every violation of the input contract, with what to do about it.
// RUN: dualpipe-opt %s --dualpipe-check-contract -split-input-file -verify-diagnostics

// expected-error @+1 {{no func.func is marked dualpipe.model}}
module {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> { return %x : tensor<4xf32> }
}

// -----

func.func @a(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }
// expected-error @+1 {{a second function is marked dualpipe.model; mark exactly one per module}}
func.func @b(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }

// -----

// Dynamic shapes, on an argument and on an op.
// expected-error @+1 {{argument #0 of @dyn has type 'tensor<?x4xf32>'; the contract needs ranked tensors of static shape}}
func.func @dyn(%x: tensor<?x4xf32> {dualpipe.input = "x"}, %y: tensor<4x4xf32> {dualpipe.input = "y"}) -> tensor<4x4xf32> attributes {dualpipe.model} {
  // expected-error @+1 {{'tensor.cast' produces 'tensor<?x4xf32>'; the contract needs static shapes}}
  %c = tensor.cast %y : tensor<4x4xf32> to tensor<?x4xf32>
  %d = tensor.cast %c : tensor<?x4xf32> to tensor<4x4xf32>
  return %d : tensor<4x4xf32>
}
func.func @loss(%y: tensor<4x4xf32>) -> tensor<f32> attributes {dualpipe.loss} {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}

// -----

// Unsupported ops: TOSA before import, calls, control flow.
func.func private @helper(tensor<4xf32>) -> tensor<4xf32>
func.func @ops(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  // expected-error @+1 {{'tosa.tanh' is TOSA; convert it to linalg first with --dualpipe-import}}
  %t = tosa.tanh %x : (tensor<4xf32>) -> tensor<4xf32>
  // expected-error @+1 {{'func.call' calls @helper, which has no body in this module; a model may call only block functions defined in the module (linalg, arith, math and tensor ops on static tensors): define it or inline it before import}}
  %h = func.call @helper(%t) : (tensor<4xf32>) -> tensor<4xf32>
  return %h : tensor<4xf32>
}
func.func @loss(%y: tensor<4xf32>) -> tensor<f32> attributes {dualpipe.loss} {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}

// -----

// Unnamed, doubly named and duplicate-named arguments.
func.func @names(
    // expected-error @+1 {{argument #0 of @names has no name; mark it {dualpipe.input = "..."} or {dualpipe.param = "..."}}}
    %x: tensor<4xf32>,
    // expected-error @+1 {{argument #1 of @names is marked both dualpipe.input and dualpipe.param; keep one}}
    %y: tensor<4xf32> {dualpipe.input = "y", dualpipe.param = "y"},
    %w: tensor<4xf32> {dualpipe.param = "w"},
    // expected-error @+1 {{argument #3 of @names (dualpipe.param) is named 'w', which argument #2 of @names (dualpipe.param) already uses; names are the keys of the safetensors files and must be unique}}
    %w2: tensor<4xf32> {dualpipe.param = "w"},
    // expected-error @+1 {{argument #4 of @names: dualpipe.input must be a non-empty string name}}
    %z: tensor<4xf32> {dualpipe.input = ""}) -> tensor<4xf32> attributes {dualpipe.model} {
  return %x : tensor<4xf32>
}
func.func @loss(%y: tensor<4xf32>,
    // expected-error @+1 {{argument #1 of @loss (dualpipe.label) is named 'w', which argument #2 of @names (dualpipe.param) already uses}}
    %l: tensor<4xf32> {dualpipe.label = "w"}) -> tensor<f32> attributes {dualpipe.loss} {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}

// -----

// A loss that is not a scalar.
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  return %x : tensor<4xf32>
}
// expected-error @+1 {{the loss @loss returns ('tensor<4xf32>'); it must return one scalar tensor<f32> (the micro-batch's loss)}}
func.func @loss(%y: tensor<4xf32>, %l: tensor<4xf32> {dualpipe.label = "y"}) -> tensor<4xf32> attributes {dualpipe.loss} {
  return %y : tensor<4xf32>
}

// -----

// A loss that does not take the model's results first.
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  return %x : tensor<4xf32>
}
// expected-error @+1 {{argument #0 of the loss @loss has type 'tensor<8xf32>' but model result #0 is 'tensor<4xf32>'}}
func.func @loss(%y: tensor<8xf32>) -> tensor<f32> attributes {dualpipe.loss} {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}

// -----

// No loss at all.
// expected-error @+1 {{no function is marked dualpipe.loss; add one (model results and dualpipe.label arguments in, scalar tensor<f32> out) or choose a built-in loss with loss=mse|cross_entropy}}
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  return %x : tensor<4xf32>
}

// -----

// A block function is held to the contract too.
// expected-error @+1 {{argument #0 of the block @block has type 'tensor<?xf32>'; block functions take ranked tensors of static shape}}
func.func private @block(%x: tensor<?xf32>) -> tensor<?xf32> {
  return %x : tensor<?xf32>
}
func.func @calls(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  // expected-error @+1 {{'tensor.cast' produces 'tensor<?xf32>'; the contract needs static shapes}}
  %c = tensor.cast %x : tensor<4xf32> to tensor<?xf32>
  // expected-error @+1 {{'func.call' produces 'tensor<?xf32>'; the contract needs static shapes}}
  %y = func.call @block(%c) : (tensor<?xf32>) -> tensor<?xf32>
  %d = tensor.cast %y : tensor<?xf32> to tensor<4xf32>
  return %d : tensor<4xf32>
}
func.func @loss(%y: tensor<4xf32>) -> tensor<f32> attributes {dualpipe.loss} {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}
