func.func @s() { return }
dualpipe.pipeline "linear" ranks 1 stages [@s] on [0]
func.func @m(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }
