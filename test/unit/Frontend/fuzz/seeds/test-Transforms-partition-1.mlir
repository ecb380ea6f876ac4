#id = affine_map<(d0) -> (d0)>
func.func @region(%x: tensor<4xf32> {dualpipe.input = "x"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %k = arith.constant 3.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %y = math.tanh %x : tensor<4xf32>
  %y1 = dualpipe.stage_boundary %y : tensor<4xf32>
  %z = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]} ins(%y1 : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %p = arith.mulf %a, %k : f32
    linalg.yield %p : f32
  } -> tensor<4xf32>
  return %z : tensor<4xf32>
}
