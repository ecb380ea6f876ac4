// RUN: dualpipe-opt %s -split-input-file -verify-diagnostics

func.func @s0() { return }
// expected-error @+1 {{needs at least one rank, got 0}}
dualpipe.pipeline "linear" ranks 0 stages [@s0] on [0]

// -----

func.func @s0() { return }
func.func @s1() { return }
// expected-error @+1 {{has 2 stages but 'on' gives 1 ranks}}
dualpipe.pipeline "linear" ranks 1 stages [@s0, @s1] on [0]

// -----

func.func @s0() { return }
// expected-error @+1 {{unknown placement 'zigzag'}}
dualpipe.pipeline "zigzag" ranks 1 stages [@s0] on [0]

// -----

func.func @s0() { return }
func.func @s1() { return }
// expected-error @+1 {{places stage 1 on rank 0, but placement 'linear' puts it on rank 1}}
dualpipe.pipeline "linear" ranks 2 stages [@s0, @s1] on [0, 0]

// -----

func.func @s0() { return }
func.func @s1() { return }
// expected-error @+1 {{places stage 1 on rank 5, but ranks are 0..1}}
dualpipe.pipeline "linear" ranks 2 stages [@s0, @s1] on [0, 5]

// -----

func.func @s0() { return }
func.func @s1() { return }
// expected-error @+1 {{placement 'dualpipev' needs 2 x 2 = 4 stages (two chunks per rank), got 2}}
dualpipe.pipeline "dualpipev" ranks 2 stages [@s0, @s1] on [0, 1]

// -----

func.func @s0() { return }
// expected-error @+1 {{stage 'missing' does not name a function in this module}}
dualpipe.pipeline "linear" ranks 2 stages [@s0, @missing] on [0, 1]

// -----

func.func @s0() { return }
// expected-error @+1 {{leaves rank 1 without a stage}}
dualpipe.pipeline "linear" ranks 2 stages [@s0] on [0]

// -----

// A rank count nothing could allocate is refused at once, not sized.
func.func @s0() { return }
// expected-error @+1 {{leaves rank 1 without a stage; use fewer ranks or more stages}}
dualpipe.pipeline "linear" ranks 9223372036854775807 stages [@s0] on [0]


// -----

func.func @f() {
  // expected-error @+1 {{needs at least one activation to cut at}}
  "dualpipe.stage_boundary"() : () -> ()
  return
}

// -----

func.func @s0() { return }
func.func @s1() { return }
dualpipe.pipeline "linear" ranks 2 stages [@s0, @s1] on [0, 1]
func.func @rank0(%buf: memref<4xf32>) attributes {dualpipe.rank = 0 : i64} {
  // expected-error @+1 {{sends to rank 2, but the pipeline has 2 ranks (0..1)}}
  dualpipe.send %buf to 2 : memref<4xf32>
  return
}

// -----

func.func @rank0(%buf: memref<4xf32>) attributes {dualpipe.rank = 0 : i64} {
  // expected-error @+1 {{sends to rank 0, which is the rank this program runs on}}
  dualpipe.send %buf to 0 : memref<4xf32>
  return
}

// -----

func.func @rank0(%buf: memref<4xf32>) {
  // expected-error @+1 {{sends to rank -1, but ranks are numbered from 0}}
  dualpipe.send %buf to -1 : memref<4xf32>
  return
}

// -----

func.func @rank1(%buf: memref<4xf32>) attributes {dualpipe.rank = 1 : i64} {
  // expected-error @+1 {{receives a message of type 'tensor<8xf32>' into a buffer of type 'memref<4xf32>'}}
  dualpipe.recv %buf from 0 : tensor<8xf32> into memref<4xf32>
  return
}

// -----

func.func @rank1(%buf: memref<4xf32>) attributes {dualpipe.rank = 1 : i64} {
  // expected-error @+1 {{receives a message of type 'tensor<4xf16>' into a buffer of type 'memref<4xf32>'}}
  dualpipe.recv %buf from 0 : tensor<4xf16> into memref<4xf32>
  return
}

// -----

func.func @rank1(%buf: memref<?xf32>) {
  // expected-error @+1 {{needs a contiguous buffer with a static shape and the identity layout, got 'memref<?xf32>'}}
  dualpipe.recv %buf from 0 : tensor<4xf32> into memref<?xf32>
  return
}

// -----

func.func @rank1(%buf: memref<4xf32>) {
  // expected-error @+1 {{tag must be non-negative, got -3}}
  dualpipe.send %buf to 0 tag -3 : memref<4xf32>
  return
}

// -----

func.func @rank1(%buf: memref<4xf32>) {
  // expected-error @+1 {{an 'async' op returns a token: name its result}}
  dualpipe.send async %buf to 0 : memref<4xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{custom op 'dualpipe.teleport' is unknown}}
  dualpipe.teleport
  return
}

// -----

func.func @s0() { return }
dualpipe.pipeline "linear" ranks 1 stages [@s0] on [0]
// expected-error @+1 {{has 1 programs for 2 ranks; give one program per rank}}
dualpipe.schedule "1f1b" ranks 2 microbatches 2 {
  dualpipe.program rank 0 {
  }
}

// -----

dualpipe.schedule "1f1b" ranks 2 microbatches 2 {
  // expected-error @+1 {{is for rank 1, but rank 0 comes next}}
  dualpipe.program rank 1 {
  }
}

// -----

dualpipe.schedule "1f1b" ranks 1 microbatches 2 {
  dualpipe.program rank 0 {
    // expected-error @+1 {{unknown action kind 'Q'; expected one of F, B, I, W}}
    dualpipe.compute "Q" stage 0 microbatch 0
  }
}

// -----

dualpipe.schedule "1f1b" ranks 1 microbatches 2 {
  dualpipe.program rank 0 {
    // expected-error @+1 {{micro-batch 2 is out of range: the schedule has 2 micro-batches}}
    dualpipe.compute "F" stage 0 microbatch 2
  }
}

// -----

dualpipe.schedule "1f1b" ranks 1 microbatches 2 {
  dualpipe.program rank 0 {
    // expected-error @+1 {{must hold exactly a forward (F) then a full backward (B)}}
    dualpipe.overlap {
      dualpipe.compute "B" stage 0 microbatch 0
      dualpipe.compute "F" stage 1 microbatch 1
    }
  }
}

// -----

dualpipe.schedule "1f1b" ranks 2 microbatches 2 {
  dualpipe.program rank 0 {
    dualpipe.p2p_group {
      // expected-error @+1 {{names rank 0, the rank of its own program; a message needs another rank}}
      dualpipe.isend "activation" stage 0 microbatch 0 to 0 : [tensor<2xf32>]
    }
  }
  dualpipe.program rank 1 {
  }
}

// -----

dualpipe.schedule "1f1b" ranks 2 microbatches 2 {
  dualpipe.program rank 0 {
    dualpipe.p2p_group {
      // expected-error @+1 {{names rank 5, but the schedule has 2 ranks (0..1)}}
      dualpipe.irecv "gradient" stage 1 microbatch 0 from 5 : [tensor<2xf32>]
    }
  }
  dualpipe.program rank 1 {
  }
}

// -----

dualpipe.schedule "1f1b" ranks 2 microbatches 2 {
  dualpipe.program rank 0 {
    dualpipe.p2p_group {
      // expected-error @+1 {{unknown payload 'weights'; expected one of activation, gradient}}
      dualpipe.isend "weights" stage 0 microbatch 0 to 1 : [tensor<2xf32>]
    }
  }
  dualpipe.program rank 1 {
  }
}

// -----

dualpipe.schedule "1f1b" ranks 2 microbatches 2 {
  dualpipe.program rank 0 {
    dualpipe.p2p_group {
      // expected-error @+1 {{can only carry ranked tensors of static shape, got 'tensor<?xf32>'}}
      dualpipe.isend "activation" stage 0 microbatch 0 to 1 : [tensor<?xf32>]
    }
  }
  dualpipe.program rank 1 {
  }
}

// -----

func.func @s0() { return }
dualpipe.schedule "dualpipe" ranks 4 microbatches 8 {
  dualpipe.program rank 0 {
    // expected-error @+1 {{runs on rank 0, which is not in its group}}
    dualpipe.allreduce_grads @s0 ranks [1, 2]
  }
  dualpipe.program rank 1 {
  }
  dualpipe.program rank 2 {
  }
  dualpipe.program rank 3 {
  }
}

// -----

func.func @started_without_tag(%g: memref<4xf32>) {
  // expected-error @+1 {{is started (it has a token) but has no tag; its members match by tag: add `tag N`}}
  %t = dualpipe.all_reduce %g ranks [0, 1] : memref<4xf32> -> !gpu.async.token
  gpu.wait [%t]
  return
}

// -----

func.func @tag_out_of_range(%g: memref<4xf32>) {
  // expected-error @+1 {{has tag 1048576, outside 0 to 1048575}}
  %t = dualpipe.all_reduce %g ranks [0, 1] tag 1048576 : memref<4xf32> -> !gpu.async.token
  gpu.wait [%t]
  return
}
