func.func @tied(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "emb"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %a = arith.mulf %x, %w : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %b = math.exp %a1 : tensor<4xf32>
  %b1 = dualpipe.stage_boundary %b : tensor<4xf32>
  %c = arith.mulf %b1, %w : tensor<4xf32>
  return %c : tensor<4xf32>
}
