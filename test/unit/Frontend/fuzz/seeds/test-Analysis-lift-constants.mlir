#row = affine_map<(d0) -> (d0)>
func.func @m(%x: tensor<4x4xf32> {dualpipe.input = "x"}) -> tensor<4x8xf32> attributes {dualpipe.model} {
  %w = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]> : tensor<4x4xf32> loc("fc.weight")
  %c = arith.constant dense<0.5> : tensor<4x8xf32>
  %small = arith.constant dense<1.0> : tensor<4xf32>
  %ints = arith.constant dense<3> : tensor<4x4xi32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %h = linalg.matmul ins(%x, %w : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f : tensor<4x4xf32>) -> tensor<4x4xf32>
  %b = tensor.empty() : tensor<4x4xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%h, %small, %ints : tensor<4x4xf32>, tensor<4xf32>, tensor<4x4xi32>) outs(%b : tensor<4x4xf32>) {
  ^bb0(%a: f32, %v: f32, %i: i32, %o: f32):
    %fi = arith.sitofp %i : i32 to f32
    %t = arith.addf %a, %v : f32
    %u = arith.addf %t, %fi : f32
    linalg.yield %u : f32
  } -> tensor<4x4xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %y = linalg.matmul ins(%s, %c : tensor<4x4xf32>, tensor<4x8xf32>) outs(%f2 : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
func.func @loss(%y: tensor<4x8xf32>) -> tensor<f32> attributes {dualpipe.loss} {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}
