func.func @a(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }
func.func @b(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }
