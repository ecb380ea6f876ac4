func.func @logits(%x: tensor<2x8x16xf32> {dualpipe.input = "x"}) -> tensor<2x8x16xf32> attributes {dualpipe.model} {
  %t = math.tanh %x : tensor<2x8x16xf32>
  return %t : tensor<2x8x16xf32>
}
