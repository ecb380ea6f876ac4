func.func @head(%x: tensor<32x32xf32> {dualpipe.input = "x"}, %w: tensor<32x32xf32> {dualpipe.param = "head"}) -> tensor<32x32xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<32x32xf32>
  %b = math.exp %a : tensor<32x32xf32>
  %c = math.exp %b : tensor<32x32xf32>
  %d = math.exp %c : tensor<32x32xf32>
  %e = math.exp %d : tensor<32x32xf32>
  %f = math.exp %e : tensor<32x32xf32>
  %g = math.exp %f : tensor<32x32xf32>
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<32x32xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<32x32xf32>) -> tensor<32x32xf32>
  %y = linalg.matmul ins(%g, %w : tensor<32x32xf32>, tensor<32x32xf32>) outs(%acc : tensor<32x32xf32>) -> tensor<32x32xf32>
  return %y : tensor<32x32xf32>
}
