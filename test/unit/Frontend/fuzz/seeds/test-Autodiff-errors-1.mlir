#id = affine_map<(d0) -> (d0)>
func.func @m(%x: tensor<4xf32> {dualpipe.input = "x"}, %w: tensor<4xf32> {dualpipe.param = "w"}) -> tensor<4xf32> attributes {dualpipe.model} {
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]} ins(%x, %w : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %t = math.atan2 %a, %b : f32
    linalg.yield %t : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}
