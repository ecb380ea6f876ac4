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
