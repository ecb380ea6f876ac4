func.func @stage0(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  return %x : tensor<2x4xf32>
}
func.func @stage1(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  return %x : tensor<2x4xf32>
}
dualpipe.pipeline "linear" ranks 2 stages [@stage0, @stage1] on [0, 1] model @model

func.func @model(%x: tensor<2x4xf32>, %y: tensor<3xf32>) -> (tensor<2x4xf32>, tensor<3xf32>) attributes {dualpipe.model} {
  %a = dualpipe.stage_boundary %x : tensor<2x4xf32>
  %b:2 = dualpipe.stage_boundary %a, %y : tensor<2x4xf32>, tensor<3xf32>
  return %b#0, %b#1 : tensor<2x4xf32>, tensor<3xf32>
}

func.func @rank0(%buf: memref<2x4xf32>) attributes {dualpipe.rank = 0 : i64} {
  dualpipe.send %buf to 1 : memref<2x4xf32>
  dualpipe.send %buf to 1 tag 3 : memref<2x4xf32>
  %t0 = dualpipe.send async %buf to 1 : memref<2x4xf32>
  %t1 = dualpipe.recv async [%t0] %buf from 1 tag 2 : tensor<2x4xf32> into memref<2x4xf32>
  dualpipe.recv [%t0, %t1] %buf from 1 : tensor<2x4xf32> into memref<2x4xf32>
  gpu.wait [%t1]
  return
}

func.func @s0() { return }
func.func @s1() { return }
func.func @s2() { return }
func.func @s3() { return }
dualpipe.pipeline "dualpipev" ranks 2 stages [@s0, @s1, @s2, @s3] on [0, 1, 1, 0]
dualpipe.pipeline "dualpipe" ranks 2 stages [@s0, @s1, @s0, @s1] on [0, 1, 1, 0]
dualpipe.pipeline "interleaved" ranks 2 stages [@s0, @s1, @s2, @s3] on [0, 1, 0, 1]
dualpipe.pipeline "dualpipe" ranks 2 stages [@s0, @s1, @s0, @s1] on [0, 1, 1, 0] cuts [[tensor<2x4xf32>, tensor<3xf32>]]
dualpipe.pipeline "linear" ranks 3 stages [@s0, @s1, @s2] on [0, 1, 2] model @model cuts [[tensor<2x4xf32>], []]
