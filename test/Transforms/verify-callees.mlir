// What --dualpipe-lower-schedule assumes of the schedule (issue #19): each
// action's callee has the signature its action is called with, each message
// carries its producer's tensors, each stage argument is a model argument
// that exists. --dualpipe-verify now refuses the rest, and the lowering
// refuses them itself instead of indexing past a callee's arguments or
// results (F of the last stage calling a function without results used to
// end in SIGSEGV). The first case is the well-formed schedule.
// RUN: dualpipe-opt %s -split-input-file --dualpipe-verify -verify-diagnostics -o /dev/null
// RUN: dualpipe-opt %s -split-input-file --dualpipe-lower-schedule -verify-diagnostics -o /dev/null

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
    dualpipe.compute "B" stage 0 microbatch 0 calls @s0_bwd
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


// -----

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
    dualpipe.compute "B" stage 0 microbatch 0 calls @s0_bwd
  }
  dualpipe.program rank 1 {
    dualpipe.p2p_group {
      dualpipe.irecv "activation" stage 0 microbatch 0 from 0 : [tensor<2x4xf32>]
    }
    dualpipe.wait_recv "activation" stage 0 microbatch 0 from 0
    // expected-error @+1 {{F of stage 1 calls @wrong, whose signature (tensor<2x4xf32>, tensor<2x4xf32>) -> () does not follow the stage's conventions: it has 0 results, but the lowering expects 2 (the micro-batch's loss, saved value 0 of stage 1's forward); call the stage's own function}}
    dualpipe.compute "F" stage 1 microbatch 0 calls @wrong
    dualpipe.compute "B" stage 1 microbatch 0 calls @s1_bwd
    dualpipe.p2p_group {
      dualpipe.isend "gradient" stage 1 microbatch 0 to 0 : [tensor<2x4xf32>]
    }
  }
}


// -----

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
    // expected-error @+1 {{B of stage 0 calls @s0_fwd, whose signature (tensor<2x4xf32>, tensor<4x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) does not follow the stage's conventions: argument 1 is 'tensor<4x4xf32>', but saved value 0 of stage 0's forward is 'tensor<2x4xf32>'}}
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


// -----

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
    dualpipe.compute "B" stage 0 microbatch 0 calls @s0_bwd
  }
  dualpipe.program rank 1 {
    dualpipe.p2p_group {
      dualpipe.irecv "activation" stage 0 microbatch 0 from 0 : [tensor<2x4xf32>]
    }
    dualpipe.wait_recv "activation" stage 0 microbatch 0 from 0
    dualpipe.compute "F" stage 1 microbatch 0 calls @s1_fwd
    // expected-error @+1 {{it has 0 arguments, but the lowering passes 1 (saved value 0 of stage 1's forward)}}
    dualpipe.compute "B" stage 1 microbatch 0 calls @s1_bwd_w
    dualpipe.p2p_group {
      dualpipe.isend "gradient" stage 1 microbatch 0 to 0 : [tensor<2x4xf32>]
    }
  }
}


// -----

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
    // expected-error @+1 {{calls @nowhere, which is not a func.func in this module}}
    dualpipe.compute "F" stage 0 microbatch 0 calls @nowhere
    dualpipe.p2p_group {
      dualpipe.isend "activation" stage 0 microbatch 0 to 1 : [tensor<2x4xf32>]
      dualpipe.irecv "gradient" stage 1 microbatch 0 from 1 : [tensor<2x4xf32>]
    }
    dualpipe.wait_recv "gradient" stage 1 microbatch 0 from 1
    dualpipe.compute "B" stage 0 microbatch 0 calls @s0_bwd
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


// -----

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
      // expected-error @+1 {{carries (tensor<2x8xf32>), but the activation of stage 0 is (tensor<2x4xf32>) (stage function @s0's results); rerun --dualpipe-insert-comm}}
      dualpipe.isend "activation" stage 0 microbatch 0 to 1 : [tensor<2x8xf32>]
      dualpipe.irecv "gradient" stage 1 microbatch 0 from 1 : [tensor<2x4xf32>]
    }
    dualpipe.wait_recv "gradient" stage 1 microbatch 0 from 1
    dualpipe.compute "B" stage 0 microbatch 0 calls @s0_bwd
  }
  dualpipe.program rank 1 {
    dualpipe.p2p_group {
      dualpipe.irecv "activation" stage 0 microbatch 0 from 0 : [tensor<2x8xf32>]
    }
    dualpipe.wait_recv "activation" stage 0 microbatch 0 from 0
    dualpipe.compute "F" stage 1 microbatch 0 calls @s1_fwd
    dualpipe.compute "B" stage 1 microbatch 0 calls @s1_bwd
    dualpipe.p2p_group {
      dualpipe.isend "gradient" stage 1 microbatch 0 to 0 : [tensor<2x4xf32>]
    }
  }
}


// -----

func.func @m(%x: tensor<2x4xf32> {dualpipe.input = "x"}, %w: tensor<4x4xf32> {dualpipe.param = "w"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  return %x : tensor<2x4xf32>
}
// expected-error @+1 {{argument 1 is neither an activation (dualpipe.from_stage) nor one of the 2 model arguments (dualpipe.arg_index 0..1); rerun --dualpipe-partition}}
func.func private @s0(tensor<2x4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}, tensor<4x4xf32> {dualpipe.arg_index = 7 : i64, dualpipe.param = "w"}) -> tensor<2x4xf32> attributes {dualpipe.stage = 0 : i64, dualpipe.autodiff = #dualpipe.autodiff<forward = @s0_fwd, backward = @s0_bwd, backward_input = @s0_bwd_i, backward_weight = @s0_bwd_w>}
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
    dualpipe.compute "B" stage 0 microbatch 0 calls @s0_bwd
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
