func.func @m(%x: tensor<4x8xf32> {dualpipe.input = "x"}, %w: tensor<4x8xf32> {dualpipe.param = "w"}) -> tensor<4x8xf32> attributes {dualpipe.model} {
  %p = arith.mulf %x, %w : tensor<4x8xf32>
  %e = tensor.empty() : tensor<4x8xf32>
  %s = linalg.softmax dimension(1) ins(%p : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}
