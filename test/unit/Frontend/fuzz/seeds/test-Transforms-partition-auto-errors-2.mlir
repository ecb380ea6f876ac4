func.func @late(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %b = math.exp %a : tensor<4xf32>
  %c = math.exp %b : tensor<4xf32>
  %c1 = dualpipe.stage_boundary %c : tensor<4xf32>
  return %c1 : tensor<4xf32>
}
