func.func @res(%x: tensor<256xf32> {dualpipe.input = "x"}) -> tensor<256xf32> attributes {dualpipe.model} {
  %r = math.exp %x : tensor<256xf32>
  %a = math.tanh %r : tensor<256xf32>
  %b = math.tanh %a : tensor<256xf32>
  %c = math.tanh %b : tensor<256xf32>
  %d = math.tanh %c : tensor<256xf32>
  %e = math.tanh %d : tensor<256xf32>
  %f = math.tanh %e : tensor<256xf32>
  %y = arith.addf %f, %r : tensor<256xf32>
  return %y : tensor<256xf32>
}
