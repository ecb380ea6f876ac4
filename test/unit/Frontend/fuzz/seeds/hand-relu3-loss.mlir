// By hand: three stages of matmul + bias + relu, with the module's own
// squared-error loss.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
#all = affine_map<(d0, d1) -> ()>
func.func @relu3(%x: tensor<2x8xf32> {dualpipe.input = "x"},
                 %w0: tensor<8x8xf32> {dualpipe.param = "l0.w"},
                 %b0: tensor<8xf32> {dualpipe.param = "l0.b"},
                 %w1: tensor<8x8xf32> {dualpipe.param = "l1.w"},
                 %w2: tensor<8x4xf32> {dualpipe.param = "l2.w"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
  %m0 = linalg.matmul ins(%x, %w0 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
  %h0 = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m0, %b0 : tensor<2x8xf32>, tensor<8xf32>) outs(%e : tensor<2x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %r = arith.maximumf %s, %zero : f32
    linalg.yield %r : f32
  } -> tensor<2x8xf32>
  %c0 = dualpipe.stage_boundary %h0 : tensor<2x8xf32>
  %m1 = linalg.matmul ins(%c0, %w1 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
  %h1 = math.tanh %m1 : tensor<2x8xf32>
  %c1 = dualpipe.stage_boundary %h1 : tensor<2x8xf32>
  %e2 = tensor.empty() : tensor<2x4xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%c1, %w2 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%f2 : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
func.func @loss(%y: tensor<2x4xf32>, %l: tensor<2x4xf32> {dualpipe.label = "y"}) -> tensor<f32> attributes {dualpipe.loss} {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %s = linalg.generic {indexing_maps = [#id, #id, #all], iterator_types = ["reduction", "reduction"]} ins(%y, %l : tensor<2x4xf32>, tensor<2x4xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    %q = arith.mulf %d, %d : f32
    %r = arith.addf %o, %q : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %s : tensor<f32>
}
