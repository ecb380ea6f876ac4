func.func @names(
    %x: tensor<4xf32>,
    %y: tensor<4xf32> {dualpipe.input = "y", dualpipe.param = "y"},
    %w: tensor<4xf32> {dualpipe.param = "w"},
    %w2: tensor<4xf32> {dualpipe.param = "w"},
    %z: tensor<4xf32> {dualpipe.input = ""}) -> tensor<4xf32> attributes {dualpipe.model} {
  return %x : tensor<4xf32>
}
func.func @loss(%y: tensor<4xf32>,
    %l: tensor<4xf32> {dualpipe.label = "w"}) -> tensor<f32> attributes {dualpipe.loss} {
  %c = arith.constant dense<0.0> : tensor<f32>
  return %c : tensor<f32>
}
