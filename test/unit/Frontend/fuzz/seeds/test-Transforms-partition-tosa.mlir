func.func @t(%x: tensor<1x4x8xf32> {dualpipe.input = "x"}, %w1: tensor<1x8x8xf32> {dualpipe.param = "fc1.weight"}, %b: tensor<1x1x8xf32> {dualpipe.param = "fc1.bias"}, %w2: tensor<1x8x8xf32> {dualpipe.param = "fc2.weight"}) -> tensor<1x4x8xf32> attributes {dualpipe.model} {
  %zp = "tosa.const"() <{values = dense<0.0> : tensor<1xf32>}> : () -> tensor<1xf32>
  %m = tosa.matmul %x, %w1, %zp, %zp : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  %a = tosa.add %m, %b : (tensor<1x4x8xf32>, tensor<1x1x8xf32>) -> tensor<1x4x8xf32>
  %t = tosa.tanh %a : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  %m2 = tosa.matmul %t, %w2, %zp, %zp : (tensor<1x4x8xf32>, tensor<1x8x8xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
  %s = tosa.sigmoid %m2 : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
  return %s : tensor<1x4x8xf32>
}
func.func @loss(%y: tensor<1x4x8xf32>, %l: tensor<1x4x8xf32> {dualpipe.label = "y"}) -> tensor<f32> attributes {dualpipe.loss} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %s = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> ()>], iterator_types = ["reduction", "reduction", "reduction"]} ins(%y, %l : tensor<1x4x8xf32>, tensor<1x4x8xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %d = arith.subf %a, %c : f32
    %q = arith.mulf %d, %d : f32
    %r = arith.addf %o, %q : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %s : tensor<f32>
}
