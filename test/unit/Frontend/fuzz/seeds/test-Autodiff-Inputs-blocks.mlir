#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func private @gate(%h: tensor<2x4xf64>, %g: tensor<4xf64>) -> tensor<2x4xf64> {
  %e = tensor.empty() : tensor<2x4xf64>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%h, %g : tensor<2x4xf64>, tensor<4xf64>) outs(%e : tensor<2x4xf64>) {
  ^bb0(%a: f64, %b: f64, %o: f64):
    %s = arith.mulf %a, %b : f64
    %t = math.tanh %s : f64
    linalg.yield %t : f64
  } -> tensor<2x4xf64>
  return %y : tensor<2x4xf64>
}
func.func private @block(%x: tensor<2x4xf64>, %w: tensor<4x4xf64>, %b: tensor<4xf64>, %g: tensor<4xf64>) -> tensor<2x4xf64> {
  %zero = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<2x4xf64>
  %f = linalg.fill ins(%zero : f64) outs(%e : tensor<2x4xf64>) -> tensor<2x4xf64>
  %m = linalg.matmul ins(%x, %w : tensor<2x4xf64>, tensor<4x4xf64>) outs(%f : tensor<2x4xf64>) -> tensor<2x4xf64>
  %a = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<2x4xf64>, tensor<4xf64>) outs(%e : tensor<2x4xf64>) {
  ^bb0(%p: f64, %q: f64, %o: f64):
    %s = arith.addf %p, %q : f64
    linalg.yield %s : f64
  } -> tensor<2x4xf64>
  %h = func.call @gate(%a, %g) : (tensor<2x4xf64>, tensor<4xf64>) -> tensor<2x4xf64>
  %r = arith.addf %h, %x : tensor<2x4xf64>
  return %r : tensor<2x4xf64>
}
func.func @net(%x: tensor<2x4xf64> {dualpipe.input = "x"},
               %w0: tensor<4x4xf64> {dualpipe.param = "b0.w"}, %b0: tensor<4xf64> {dualpipe.param = "b0.b"}, %g0: tensor<4xf64> {dualpipe.param = "b0.g"},
               %w1: tensor<4x4xf64> {dualpipe.param = "b1.w"}, %b1: tensor<4xf64> {dualpipe.param = "b1.b"}, %g1: tensor<4xf64> {dualpipe.param = "b1.g"},
               %w2: tensor<4x4xf64> {dualpipe.param = "b2.w"}, %b2: tensor<4xf64> {dualpipe.param = "b2.b"}, %g2: tensor<4xf64> {dualpipe.param = "b2.g"})
    -> tensor<2x4xf64> attributes {dualpipe.model} {
  %t = math.tanh %x : tensor<2x4xf64>
  %h0 = func.call @block(%t, %w0, %b0, %g0) : (tensor<2x4xf64>, tensor<4x4xf64>, tensor<4xf64>, tensor<4xf64>) -> tensor<2x4xf64>
  %h1 = func.call @block(%h0, %w1, %b1, %g1) : (tensor<2x4xf64>, tensor<4x4xf64>, tensor<4xf64>, tensor<4xf64>) -> tensor<2x4xf64>
  %h2 = func.call @block(%h1, %w2, %b2, %g2) : (tensor<2x4xf64>, tensor<4x4xf64>, tensor<4xf64>, tensor<4xf64>) -> tensor<2x4xf64>
  %z = math.exp %h2 : tensor<2x4xf64>
  return %z : tensor<2x4xf64>
}
