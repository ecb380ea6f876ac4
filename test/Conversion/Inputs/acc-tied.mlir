// A stage whose block is called twice with one weight (w1 tied), so w1's
// gradient is the sum of two calls' results (see
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
                 %w1: tensor<8x8xf32> {dualpipe.param = "w1"},
                 %w2: tensor<8x8xf32> {dualpipe.param = "w2"}) -> tensor<2x8xf32> attributes {dualpipe.model} {
    %h0 = func.call @layer(%x, %w0) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %h1 = func.call @layer(%h0, %w1) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %h2 = func.call @layer(%h1, %w1) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    %h3 = func.call @layer(%h2, %w2) : (tensor<2x8xf32>, tensor<8x8xf32>) -> tensor<2x8xf32>
    return %h3 : tensor<2x8xf32>
  }
}
