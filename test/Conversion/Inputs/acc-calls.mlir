// A stage whose w1 and w2 gradients come from a block's calls (see
// lower-schedule-acc-into.mlir).
module {
  func.func private @layer(%h: tensor<2x8xf32>, %w: tensor<8x8xf32>) -> tensor<2x8xf32> {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<2x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %m = linalg.matmul ins(%h, %w : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
    %t = math.tanh %m : tensor<2x8xf32>
    return %t : tensor<2x8xf32>
  }
  func.func @net(%x: tensor<2x8xf32> {dualpipe.input = "x"},
                 %w0: tensor<8x8xf32> {dualpipe.param = "w0"},
                 %b0: tensor<8xf32> {dualpipe.param = "b0"},
                 %s0: tensor<2x8xf32> {dualpipe.param = "s0"},
                 %w1: tensor<8x8xf32> {dualpipe.param = "w1"},
                 %w2: tensor<8x8xf32> {dualpipe.param = "w2"}) -> tensor<2x8xf32> attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<2x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %m0 = linalg.matmul ins(%x, %w0 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
    %e1 = tensor.empty() : tensor<2x8xf32>
    %y0 = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%m0, %b0 : tensor<2x8xf32>, tensor<8xf32>) outs(%e1 : tensor<2x8xf32>) {
    ^bb0(%a: f32, %c: f32, %o: f32):
      %s = arith.addf %a, %c : f32
      linalg.yield %s : f32
    } -> tensor<2x8xf32>
    %z0 = arith.mulf %y0, %s0 : tensor<2x8xf32>
    %h1 = func.call @layer(%z0, %w1) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %h2 = func.call @layer(%h1, %w2) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    return %h2 : tensor<2x8xf32>
  }
}
