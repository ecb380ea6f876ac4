#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
module {
  func.func @mlp(%x: tensor<2x8xf32> {dualpipe.input = "x"},
                 %w0: tensor<8x8xf32> {dualpipe.param = "w0"},
                 %w1: tensor<8x8xf32> {dualpipe.param = "w1"},
                 %w2: tensor<8x8xf32> {dualpipe.param = "w2"},
                 %w3: tensor<8x4xf32> {dualpipe.param = "w3"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e = tensor.empty() : tensor<2x8xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %m0 = linalg.matmul ins(%x, %w0 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
    %h0 = math.tanh %m0 : tensor<2x8xf32>
    %c0 = dualpipe.stage_boundary %h0 : tensor<2x8xf32>
    %f1 = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %m1 = linalg.matmul ins(%c0, %w1 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f1 : tensor<2x8xf32>) -> tensor<2x8xf32>
    %h1 = math.tanh %m1 : tensor<2x8xf32>
    %c1 = dualpipe.stage_boundary %h1 : tensor<2x8xf32>
    %f2 = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
    %m2 = linalg.matmul ins(%c1, %w2 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f2 : tensor<2x8xf32>) -> tensor<2x8xf32>
    %h2 = math.tanh %m2 : tensor<2x8xf32>
    %c2 = dualpipe.stage_boundary %h2 : tensor<2x8xf32>
    %e3 = tensor.empty() : tensor<2x4xf32>
    %f3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<2x4xf32>) -> tensor<2x4xf32>
    %m3 = linalg.matmul ins(%c2, %w3 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%f3 : tensor<2x4xf32>) -> tensor<2x4xf32>
    return %m3 : tensor<2x4xf32>
  }
}
