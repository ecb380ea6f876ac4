func.func @m(%x: memref<4xf32> {dualpipe.input = "x"}, %w: memref<4xf32> {dualpipe.param = "w"}) -> memref<4xf32> attributes {dualpipe.model} {
  return %x : memref<4xf32>
}
func.func @m_stage0(%x: memref<4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}) -> (memref<4xf32>, memref<2xf32>) {
  %a = memref.alloc() : memref<2xf32>
  return %x, %a : memref<4xf32>, memref<2xf32>
}
func.func @m_stage1(%a: memref<4xf32> {dualpipe.from_stage = 0 : i64}, %b: memref<2xf32> {dualpipe.from_stage = 0 : i64}, %w: memref<4xf32> {dualpipe.arg_index = 1 : i64, dualpipe.param = "w"}) -> memref<4xf32> {
  return %w : memref<4xf32>
}
dualpipe.pipeline "linear" ranks 2 stages [@m_stage0, @m_stage1] on [0, 1] model @m
