// Absurd counts in the IR are refused by the op verifiers with the reason,
// never an abort or an allocation sized by them (issue #19).
// RUN: dualpipe-opt %s -split-input-file -verify-diagnostics -o /dev/null

func.func @s0(%x: tensor<2x4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}) -> tensor<2x4xf32> {
  return %x : tensor<2x4xf32>
}
// expected-error @+1 {{leaves rank 1 without a stage; use fewer ranks or more stages}}
dualpipe.pipeline "linear" ranks 9223372036854775807 stages [@s0] on [0]

// -----

func.func @s0(%x: tensor<2x4xf32> {dualpipe.arg_index = 0 : i64, dualpipe.input = "x"}) -> tensor<2x4xf32> {
  return %x : tensor<2x4xf32>
}
// expected-error @+1 {{places stage 0 on rank 9223372036854775807, but ranks are 0..0}}
dualpipe.pipeline "linear" ranks 1 stages [@s0] on [9223372036854775807]

// -----

// expected-error @+1 {{has 9223372036854775807 ranks and 1 micro-batches; the schedule engine takes at most 2147483647 of each}}
dualpipe.schedule "1f1b" ranks 9223372036854775807 microbatches 1 {
  dualpipe.program rank 0 {
  }
}

// -----

// expected-error @+1 {{has 1 ranks and 9223372036854775807 micro-batches; the schedule engine takes at most 2147483647 of each}}
dualpipe.schedule "1f1b" ranks 1 microbatches 9223372036854775807 {
  dualpipe.program rank 0 {
  }
}
