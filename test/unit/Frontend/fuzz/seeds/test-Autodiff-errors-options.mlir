func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "w"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %p = arith.mulf %x, %w : tensor<4xf32>
  return %p : tensor<4xf32>
}
