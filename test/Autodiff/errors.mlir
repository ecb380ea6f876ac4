// RUN: dualpipe-opt %s --split-input-file --dualpipe-partition --dualpipe-autodiff=loss=mse -verify-diagnostics

// An op without a rule on the differentiated path is an error that names
// it and lists what is supported.
func.func @m(%x: tensor<4x8xf32> {dualpipe.input = "x"}, %w: tensor<4x8xf32> {dualpipe.param = "w"}) -> tensor<4x8xf32> attributes {dualpipe.model} {
  %p = arith.mulf %x, %w : tensor<4x8xf32>
  %e = tensor.empty() : tensor<4x8xf32>
  // expected-error @below {{no gradient rule for 'linalg.softmax', which is on the path from a parameter or activation to the loss; supported: linalg.generic}}
  %s = linalg.softmax dimension(1) ins(%p : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}

// -----

// A scalar op without a rule inside a linalg body.
#id = affine_map<(d0) -> (d0)>
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "w"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %e = tensor.empty() : tensor<4xf32>
  // expected-error @below {{no gradient rule for 'math.atan2' in the body of 'linalg.generic'; supported scalar ops: arith.addf}}
  %y = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%x, %w : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %t = math.atan2 %a, %b : f32
    linalg.yield %t : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// A reduction that is neither a sum nor a max/min.
#id = affine_map<(d0) -> (d0)>
#all = affine_map<(d0) -> ()>
func.func @m(%w: tensor<4xf32> {dualpipe.param = "w"}) -> tensor<f32> attributes {dualpipe.model} {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<f32>) -> tensor<f32>
  // expected-error @below {{no gradient rule for this reduction: output #0 of a linalg.generic with reduction iterators must be a sum-reduction}}
  %p = linalg.generic {indexing_maps = [#id, #all], iterator_types = ["reduction"]} ins(%w : tensor<4xf32>) outs(%f : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %o, %a : f32
    linalg.yield %m : f32
  } -> tensor<f32>
  return %p : tensor<f32>
}

