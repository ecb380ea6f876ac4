#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @net(%x: tensor<2x3xf64> {dualpipe.input = "x"},
               %w: tensor<3x4xf64> {dualpipe.param = "w"},
               %b: tensor<4xf64> {dualpipe.param = "b"}) -> tensor<2x4xf64>
    attributes {dualpipe.model} {
  %zero = arith.constant 0.0 : f64
  %t = math.tanh %x : tensor<2x3xf64>
  %t1 = dualpipe.stage_boundary %t : tensor<2x3xf64>
  %e = tensor.empty() : tensor<2x4xf64>
  %f = linalg.fill ins(%zero : f64) outs(%e : tensor<2x4xf64>) -> tensor<2x4xf64>
  %m = linalg.matmul ins(%t1, %w : tensor<2x3xf64>, tensor<3x4xf64>) outs(%f : tensor<2x4xf64>) -> tensor<2x4xf64>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %b : tensor<2x4xf64>, tensor<4xf64>) outs(%e : tensor<2x4xf64>) {
  ^bb0(%a: f64, %c: f64, %o: f64):
    %s = arith.addf %a, %c : f64
    linalg.yield %s : f64
  } -> tensor<2x4xf64>
  %y1 = dualpipe.stage_boundary %y : tensor<2x4xf64>
  %z = math.exp %y1 : tensor<2x4xf64>
  return %z : tensor<2x4xf64>
}
