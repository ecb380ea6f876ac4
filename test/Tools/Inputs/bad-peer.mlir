func.func @s0() { return }
func.func @s1() { return }
dualpipe.pipeline "linear" ranks 2 stages [@s0, @s1] on [0, 1]
func.func @rank0(%buf: memref<4xf32>) attributes {dualpipe.rank = 0 : i64} {
  dualpipe.send %buf to 7 : memref<4xf32>
  return
}
