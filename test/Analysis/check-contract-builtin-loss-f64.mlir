// RUN: dualpipe-opt %s --dualpipe-check-contract="loss=mse" -verify-diagnostics
// RUN: dualpipe-opt %s --dualpipe-check-contract="loss=cross_entropy" -verify-diagnostics

// Found by dualpipe-fuzz-frontend: a built-in loss on an f64 model gave a
// tensor<f64> loss, which --dualpipe-verify then refused in the front
// half's own output (a step's loss is tensor<f32>); the contract check says
// so first.
// expected-error @+1 {{computes in the model result's element type, and a training step's loss must be tensor<f32>, but the result is 'tensor<3x5xf64>'; return f32 from the model (arith.truncf) or add a dualpipe.loss function returning tensor<f32>}}
func.func @m(%x: tensor<3x5xf64> {dualpipe.input = "x"}, %w: tensor<3x5xf64> {dualpipe.param = "w"}) -> tensor<3x5xf64> attributes {dualpipe.model} {
  %y = arith.mulf %x, %w : tensor<3x5xf64>
  return %y : tensor<3x5xf64>
}
