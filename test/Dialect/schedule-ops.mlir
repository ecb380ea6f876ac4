// RUN: dualpipe-opt %s | FileCheck %s
// RUN: dualpipe-opt %s | dualpipe-opt | FileCheck %s
// RUN: dualpipe-opt %s --mlir-print-op-generic | dualpipe-opt | FileCheck %s

func.func @s0() { return }
func.func @s1() { return }
dualpipe.pipeline "linear" ranks 2 stages [@s0, @s1] on [0, 1]

// CHECK: dualpipe.schedule "1f1b" ranks 2 microbatches 2 {
// CHECK-NEXT: dualpipe.program rank 0 {
// CHECK-NEXT: dualpipe.compute "F" stage 0 microbatch 0 calls @s0
// CHECK-NEXT: dualpipe.p2p_group {
// CHECK-NEXT: dualpipe.isend "activation" stage 0 microbatch 0 to 1 : [tensor<2x4xf32>, tensor<3xf16>]
// CHECK-NEXT: dualpipe.irecv "gradient" stage 1 microbatch 0 from 1 : [tensor<2x4xf32>]
// CHECK-NEXT: }
// CHECK-NEXT: dualpipe.wait_recv "gradient" stage 1 microbatch 0 from 1
// CHECK-NEXT: dualpipe.overlap {
// CHECK-NEXT: dualpipe.compute "F" stage 0 microbatch 1
// CHECK-NEXT: dualpipe.compute "B" stage 1 microbatch 0
// CHECK-NEXT: }
// CHECK-NEXT: dualpipe.allreduce_grads @s0 ranks [0, 1]
dualpipe.schedule "1f1b" ranks 2 microbatches 2 {
  dualpipe.program rank 0 {
    dualpipe.compute "F" stage 0 microbatch 0 calls @s0
    dualpipe.p2p_group {
      dualpipe.isend "activation" stage 0 microbatch 0 to 1 : [tensor<2x4xf32>, tensor<3xf16>]
      dualpipe.irecv "gradient" stage 1 microbatch 0 from 1 : [tensor<2x4xf32>]
    }
    dualpipe.wait_recv "gradient" stage 1 microbatch 0 from 1
    dualpipe.overlap {
      dualpipe.compute "F" stage 0 microbatch 1
      dualpipe.compute "B" stage 1 microbatch 0
    }
    dualpipe.allreduce_grads @s0 ranks [0, 1]
  }
  dualpipe.program rank 1 {
  }
}
