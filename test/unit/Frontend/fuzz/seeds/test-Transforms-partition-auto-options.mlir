func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %b = math.exp %a : tensor<4xf32>
  %c = math.exp %b : tensor<4xf32>
  %d = math.exp %c : tensor<4xf32>
  return %d : tensor<4xf32>
}
