// By hand: four elementwise stages on a vector, one parameter each, a
// value (%x) used by the first and the last stage (it crosses two cuts).
func.func @chain(%x: tensor<16xf32> {dualpipe.input = "x"},
                 %p0: tensor<16xf32> {dualpipe.param = "p0"},
                 %p1: tensor<16xf32> {dualpipe.param = "p1"},
                 %p2: tensor<16xf32> {dualpipe.param = "p2"},
                 %p3: tensor<16xf32> {dualpipe.param = "p3"}) -> tensor<16xf32> attributes {dualpipe.model} {
  %a = arith.mulf %x, %p0 : tensor<16xf32>
  %a1 = dualpipe.stage_boundary %a : tensor<16xf32>
  %b = arith.addf %a1, %p1 : tensor<16xf32>
  %bt = math.tanh %b : tensor<16xf32>
  %b1 = dualpipe.stage_boundary %bt : tensor<16xf32>
  %c = arith.mulf %b1, %p2 : tensor<16xf32>
  %ce = math.exp %c : tensor<16xf32>
  %c1 = dualpipe.stage_boundary %ce : tensor<16xf32>
  %d = arith.subf %c1, %p3 : tensor<16xf32>
  %r = arith.addf %d, %x : tensor<16xf32>
  return %r : tensor<16xf32>
}
