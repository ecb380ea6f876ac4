// Slices that bufferize to copies on strided views (test/Integration/
// strided-slices.test): a column slice with a step and one with a unit step
// of an activation, and a strided slice of a parameter. Their gradients are
// insert_slices into zeros, i.e. copies into strided subviews.
module {
  func.func @forward(%x: tensor<4x8xf32> {dualpipe.input = "x"},
                     %w0: tensor<8x8xf32> {dualpipe.param = "w0"},
                     %w1: tensor<3x8xf32> {dualpipe.param = "w1"}) -> tensor<4x4xf32> attributes {dualpipe.model} {
    %zero = arith.constant 0.0 : f32
    %e0 = tensor.empty() : tensor<4x8xf32>
    %f0 = linalg.fill ins(%zero : f32) outs(%e0 : tensor<4x8xf32>) -> tensor<4x8xf32>
    %h = linalg.matmul ins(%x, %w0 : tensor<4x8xf32>, tensor<8x8xf32>) outs(%f0 : tensor<4x8xf32>) -> tensor<4x8xf32>
    %t = math.tanh %h : tensor<4x8xf32>
    %a = tensor.extract_slice %t[0, 1] [4, 3] [1, 2] : tensor<4x8xf32> to tensor<4x3xf32>
    %b = tensor.extract_slice %t[0, 4] [4, 3] [1, 1] : tensor<4x8xf32> to tensor<4x3xf32>
    %p = arith.mulf %a, %b : tensor<4x3xf32>
    %w = tensor.extract_slice %w1[0, 0] [3, 4] [1, 2] : tensor<3x8xf32> to tensor<3x4xf32>
    %e1 = tensor.empty() : tensor<4x4xf32>
    %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<4x4xf32>) -> tensor<4x4xf32>
    %y = linalg.matmul ins(%p, %w : tensor<4x3xf32>, tensor<3x4xf32>) outs(%f1 : tensor<4x4xf32>) -> tensor<4x4xf32>
    return %y : tensor<4x4xf32>
  }
}
