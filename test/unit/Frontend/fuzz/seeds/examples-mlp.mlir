#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
module {
  func.func @mlp(%x: tensor<4x16xf32> {dualpipe.input = "x"},
                 %w0: tensor<16x32xf32> {dualpipe.param = "fc0.weight"},
                 %b0: tensor<32xf32> {dualpipe.param = "fc0.bias"},
                 %w1: tensor<32x8xf32> {dualpipe.param = "fc1.weight"},
                 %b1: tensor<8xf32> {dualpipe.param = "fc1.bias"})
      -> tensor<4x8xf32> attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e0 = tensor.empty() : tensor<4x32xf32>
    %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4x32xf32>) -> tensor<4x32xf32>
    %m0 = linalg.matmul ins(%x, %w0 : tensor<4x16xf32>, tensor<16x32xf32>)
                        outs(%f0 : tensor<4x32xf32>) -> tensor<4x32xf32>
    %h = linalg.generic {indexing_maps = [#id, #row, #id],
                         iterator_types = ["parallel", "parallel"]}
        ins(%m0, %b0 : tensor<4x32xf32>, tensor<32xf32>) outs(%e0 : tensor<4x32xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %s = arith.addf %a, %b : f32
      %t = math.tanh %s : f32
      linalg.yield %t : f32
    } -> tensor<4x32xf32>
    %hc = dualpipe.stage_boundary %h : tensor<4x32xf32>
    %e1 = tensor.empty() : tensor<4x8xf32>
    %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x8xf32>) -> tensor<4x8xf32>
    %m1 = linalg.matmul ins(%hc, %w1 : tensor<4x32xf32>, tensor<32x8xf32>)
                        outs(%f1 : tensor<4x8xf32>) -> tensor<4x8xf32>
    %y = linalg.generic {indexing_maps = [#id, #row, #id],
                         iterator_types = ["parallel", "parallel"]}
        ins(%m1, %b1 : tensor<4x8xf32>, tensor<8xf32>) outs(%e1 : tensor<4x8xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<4x8xf32>
    return %y : tensor<4x8xf32>
  }
}
