#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @m(%w: tensor<3x5xf64> {dualpipe.param = "w"}) -> tensor<3xf64> attributes {dualpipe.model} {
  %ninf = arith.constant 0xFFF0000000000000 : f64
  %e = tensor.empty() : tensor<3xf64>
  %f = linalg.fill ins(%ninf : f64) outs(%e : tensor<3xf64>) -> tensor<3xf64>
  %m = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%w : tensor<3x5xf64>) outs(%f : tensor<3xf64>) {
  ^bb0(%a: f64, %o: f64):
    %r = arith.maximumf %o, %a : f64
    linalg.yield %r : f64
  } -> tensor<3xf64>
  return %m : tensor<3xf64>
}
