#id = affine_map<(d0, d1) -> (d0, d1)>
#all = affine_map<(d0, d1) -> ()>
func.func @m(%x: tensor<2x4xf32> {dualpipe.input = "x"}, %w: tensor<4x4xf32> {dualpipe.param = "w"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x4xf32>, tensor<4x4xf32>) outs(%f : tensor<2x4xf32>) -> tensor<2x4xf32>
  %a = dualpipe.stage_boundary %y : tensor<2x4xf32>
  %t = math.tanh %a : tensor<2x4xf32>
  return %t : tensor<2x4xf32>
}
func.func @loss(%y: tensor<2x4xf32>, %l: tensor<2x4xf32> {dualpipe.label = "y"}) -> tensor<f32> attributes {dualpipe.loss} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %s = linalg.generic {indexing_maps = [#id, #id, #all], iterator_types = ["reduction", "reduction"]} ins(%y, %l : tensor<2x4xf32>, tensor<2x4xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    %r = arith.addf %o, %d : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %s : tensor<f32>
}
