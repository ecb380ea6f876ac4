func.func private @layer(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %t = math.tanh %y : tensor<2x4xf32>
  return %t : tensor<2x4xf32>
}
func.func @m(%x: tensor<2x4xf32> {dualpipe.input = "x"},
             %w0: tensor<4x4xf32> {dualpipe.param = "l0.w"},
             %w1: tensor<4x4xf32> {dualpipe.param = "l1.w"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  %h0 = func.call @layer(%x, %w0) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %h1 = func.call @layer(%h0, %w1) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  return %h1 : tensor<2x4xf32>
}
