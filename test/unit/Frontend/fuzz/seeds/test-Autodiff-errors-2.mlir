#id = affine_map<(d0) -> (d0)>
#all = affine_map<(d0) -> ()>
func.func @m(%w: tensor<4xf32> {dualpipe.param = "w"}) -> tensor<f32> attributes {dualpipe.model} {
  %one = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<f32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %p = linalg.generic {indexing_maps = [#id, #all], iterator_types = ["reduction"]} ins(%w : tensor<4xf32>) outs(%f : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %o, %a : f32
    linalg.yield %m : f32
  } -> tensor<f32>
  return %p : tensor<f32>
}
