func.func @v(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %b = math.exp %a1 : tensor<4xf32>
  %b1 = dualpipe.stage_boundary %b : tensor<4xf32>
  %c = math.exp %b1 : tensor<4xf32>
  %c1 = dualpipe.stage_boundary %c : tensor<4xf32>
  %d = math.exp %c1 : tensor<4xf32>
  return %d : tensor<4xf32>
}
