func.func @m(%x: tensor<2x4xf32> {dualpipe.input = "x"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  return %x : tensor<2x4xf32>
}
func.func @m_stage0(%x: tensor<2x4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}) -> tensor<2x4xf32> attributes {dualpipe.stage = 0 : i64} {
  return %x : tensor<2x4xf32>
}
func.func @m_stage1(%a: tensor<2x4xf32> {dualpipe.from_stage = 0 : i64}) -> tensor<2x4xf32> attributes {dualpipe.stage = 1 : i64} {
  return %a : tensor<2x4xf32>
}
dualpipe.pipeline "linear" ranks 2 stages [@m_stage0, @m_stage1] on [0, 1] model @m
dualpipe.schedule "1f1b" ranks 2 microbatches 1 {
  dualpipe.program rank 0 {
    dualpipe.p2p_group {
      dualpipe.isend "activation" stage 0 microbatch 0 to 1 : [tensor<2x4xf32>]
    }
    dualpipe.compute "F" stage 0 microbatch 0
    dualpipe.compute "B" stage 0 microbatch 0
  }
  dualpipe.program rank 1 {
    dualpipe.p2p_group {
      dualpipe.irecv "activation" stage 0 microbatch 0 from 0 : [tensor<2x4xf32>]
    }
    dualpipe.wait_recv "activation" stage 0 microbatch 0 from 0
    dualpipe.compute "F" stage 1 microbatch 0
    dualpipe.compute "B" stage 1 microbatch 0
  }
}
