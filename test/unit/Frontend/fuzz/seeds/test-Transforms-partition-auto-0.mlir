func.func @chain(%x: tensor<32x32xf32> {dualpipe.input = "x"}) -> tensor<32x32xf32> attributes {dualpipe.model} {
  %a = math.exp %x : tensor<32x32xf32>
  %b = math.exp %a : tensor<32x32xf32>
  %c = math.exp %b : tensor<32x32xf32>
  %d = math.exp %c : tensor<32x32xf32>
  %e = math.exp %d : tensor<32x32xf32>
  %f = math.exp %e : tensor<32x32xf32>
  return %f : tensor<32x32xf32>
}
