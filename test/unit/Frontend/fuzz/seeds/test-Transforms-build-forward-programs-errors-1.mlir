func.func @m(%x: tensor<4xf32>) -> tensor<4xf32> attributes {dualpipe.model} { return %x : tensor<4xf32> }
func.func @m_stage0(%x: tensor<4xf32>) -> tensor<4xf32> { return %x : tensor<4xf32> }
dualpipe.pipeline "linear" ranks 1 stages [@m_stage0] on [0] model @m
