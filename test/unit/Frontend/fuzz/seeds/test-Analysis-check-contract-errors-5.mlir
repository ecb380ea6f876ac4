func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  return %x : tensor<4xf32>
}
func.func @loss(%y: tensor<4xf32>, %l: tensor<4xf32> {dualpipe.label = "y"}) -> tensor<4xf32> attributes {dualpipe.loss} {
  return %y : tensor<4xf32>
}
