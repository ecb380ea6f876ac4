func.func @m(%x: tensor<2x4xf32> {dualpipe.input = "x"}, %w: tensor<4x4xf32> {dualpipe.param = "w"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  return %x : tensor<2x4xf32>
}
func.func private @s0(tensor<2x4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}, tensor<4x4xf32> {dualpipe.arg_index = 1 : i64, dualpipe.param = "w"}) -> tensor<2x4xf32> attributes {dualpipe.stage = 0 : i64, dualpipe.autodiff = #dualpipe.autodiff<forward = @s0_fwd, backward = @s0_bwd, backward_input = @s0_bwd_i, backward_weight = @s0_bwd_w>}
func.func private @s0_fwd(tensor<2x4xf32>, tensor<4x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>)
func.func private @s0_bwd(tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<4x4xf32>
func.func private @s0_bwd_i(tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
func.func private @s0_bwd_w(tensor<2x4xf32>) -> tensor<4x4xf32>
func.func private @s1(tensor<2x4xf32> {dualpipe.from_stage = 0 : i64}) -> tensor<2x4xf32> attributes {dualpipe.stage = 1 : i64, dualpipe.autodiff = #dualpipe.autodiff<forward = @s1_fwd, backward = @s1_bwd, backward_input = @s1_bwd_i, backward_weight = @s1_bwd_w>}
func.func private @s1_fwd(%a: tensor<2x4xf32>, %y: tensor<2x4xf32> {dualpipe.label = "y"}) -> (tensor<f32>, tensor<2x4xf32>) {
  %l = tensor.empty() : tensor<f32>
  return %l, %a : tensor<f32>, tensor<2x4xf32>
}
func.func private @s1_bwd(tensor<2x4xf32>) -> tensor<2x4xf32>
func.func private @s1_bwd_i(tensor<2x4xf32>) -> tensor<2x4xf32>
func.func private @s1_bwd_w() -> ()
func.func private @wrong(tensor<2x4xf32>, tensor<2x4xf32>) -> ()
dualpipe.pipeline "linear" ranks 2 stages [@s0, @s1] on [0, 1] model @m
dualpipe.schedule "1f1b" ranks 2 microbatches 1 {
  dualpipe.program rank 0 {
    dualpipe.compute "F" stage 0 microbatch 0 calls @s0_fwd
    dualpipe.p2p_group {
      dualpipe.isend "activation" stage 0 microbatch 0 to 1 : [tensor<2x4xf32>]
      dualpipe.irecv "gradient" stage 1 microbatch 0 from 1 : [tensor<2x4xf32>]
    }
    dualpipe.wait_recv "gradient" stage 1 microbatch 0 from 1
    dualpipe.compute "B" stage 0 microbatch 0 calls @s0_fwd
  }
  dualpipe.program rank 1 {
    dualpipe.p2p_group {
      dualpipe.irecv "activation" stage 0 microbatch 0 from 0 : [tensor<2x4xf32>]
    }
    dualpipe.wait_recv "activation" stage 0 microbatch 0 from 0
    dualpipe.compute "F" stage 1 microbatch 0 calls @s1_fwd
    dualpipe.compute "B" stage 1 microbatch 0 calls @s1_bwd
    dualpipe.p2p_group {
      dualpipe.isend "gradient" stage 1 microbatch 0 to 0 : [tensor<2x4xf32>]
    }
  }
}
