func.func @net(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "w"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %c = arith.constant dense<2.0> : tensor<4xf32>
  %r = math.exp %x : tensor<4xf32>
  %r1 = dualpipe.stage_boundary %r : tensor<4xf32>
  %m = arith.mulf %r1, %w : tensor<4xf32>
  %a = arith.addf %m, %c : tensor<4xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<4xf32>
  %s = arith.addf %a1, %r : tensor<4xf32>
  %t = arith.mulf %s, %c : tensor<4xf32>
  return %t : tensor<4xf32>
}
