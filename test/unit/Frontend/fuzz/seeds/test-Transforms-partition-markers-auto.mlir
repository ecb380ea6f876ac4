func.func @m(%x: tensor<64xf32> {dualpipe.input = "x"}) -> tensor<64xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<64xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<64xf32>
  %b = math.exp %a1 : tensor<64xf32>
  %c = math.exp %b : tensor<64xf32>
  %d = math.exp %c : tensor<64xf32>
  %e = math.exp %d : tensor<64xf32>
  %f = math.exp %e : tensor<64xf32>
  %g = math.exp %f : tensor<64xf32>
  return %g : tensor<64xf32>
}
