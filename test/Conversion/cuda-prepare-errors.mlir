// RUN: dualpipe-opt %s --dualpipe-cuda-prepare -verify-diagnostics

// The cuda target runs all-reduces on the host, blocking: a started one
// (from lower-schedule with post-receives) is refused with what to do.
func.func @dualpipe_rank0(%g: memref<8x8xf32>) {
  // expected-error @+1 {{is a started all-reduce; the cuda target runs all-reduces on the host, blocking (lower the schedule with post-receives=false)}}
  %t = dualpipe.all_reduce %g ranks [0, 3] tag 1 : memref<8x8xf32> -> !gpu.async.token
  gpu.wait [%t]
  return
}
