// RUN: dualpipe-opt %s --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=2" --dualpipe-insert-comm | FileCheck %s
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipev" --dualpipe-schedule="schedule=dualpipev microbatches=4" --dualpipe-insert-comm | FileCheck %s --check-prefix=TURN
// RUN: dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition="placement=dualpipe" --dualpipe-schedule="schedule=dualpipe microbatches=8" --dualpipe-insert-comm | FileCheck %s --check-prefix=MIRROR
// RUN: not dualpipe-opt %S/Inputs/mlp4.mlir --dualpipe-partition --dualpipe-schedule="schedule=1f1b microbatches=4" --dualpipe-insert-comm --dualpipe-insert-comm -o /dev/null 2>&1 | FileCheck %s --check-prefix=TWICE

// Early receive, late wait: rank 0 posts both gradient receives before its
// first forward and waits for each just before the backward that needs it;
// each forward's activation is sent in the group before the next action.
// CHECK-LABEL: dualpipe.program rank 0 {
// CHECK-NEXT: dualpipe.p2p_group {
// CHECK-NEXT: dualpipe.irecv "gradient" stage 1 microbatch 0 from 1 : [tensor<2x4xf32>]
// CHECK-NEXT: dualpipe.irecv "gradient" stage 1 microbatch 1 from 1 : [tensor<2x4xf32>]
// CHECK-NEXT: }
// CHECK-NEXT: dualpipe.compute "F" stage 0 microbatch 0
// CHECK-NEXT: dualpipe.p2p_group {
// CHECK-NEXT: dualpipe.isend "activation" stage 0 microbatch 0 to 1 : [tensor<2x4xf32>]
// CHECK-NEXT: }
// CHECK-NEXT: dualpipe.compute "F" stage 0 microbatch 1
// CHECK-NEXT: dualpipe.p2p_group {
// CHECK-NEXT: dualpipe.isend "activation" stage 0 microbatch 1 to 1
// CHECK-NEXT: }
// CHECK-NEXT: dualpipe.wait_recv "gradient" stage 1 microbatch 0 from 1
// CHECK-NEXT: dualpipe.compute "B" stage 0 microbatch 0
// CHECK-NEXT: dualpipe.wait_recv "gradient" stage 1 microbatch 1 from 1
// CHECK-NEXT: dualpipe.compute "B" stage 0 microbatch 1
// CHECK-NEXT: }
// CHECK-LABEL: dualpipe.program rank 1 {
// CHECK: dualpipe.wait_recv "activation" stage 0 microbatch 0 from 0
// CHECK-NEXT: dualpipe.compute "F" stage 1 microbatch 0
// CHECK-NEXT: dualpipe.compute "B" stage 1 microbatch 0
// CHECK-NEXT: dualpipe.p2p_group {
// CHECK-NEXT: dualpipe.isend "gradient" stage 1 microbatch 0 to 0
func.func @m(%x: tensor<2x4xf32> {dualpipe.input = "x"}) -> tensor<2x4xf32> attributes {dualpipe.model} {
  %a = math.tanh %x : tensor<2x4xf32>
  %c = dualpipe.stage_boundary %a : tensor<2x4xf32>
  %b = math.exp %c : tensor<2x4xf32>
  return %b : tensor<2x4xf32>
}

// DualPipeV turns on the last rank without a message: stage 1 -> stage 2
// both live on rank 1, so nothing of stage 1's activation is ever sent.
// TURN-LABEL: dualpipe.program rank 1 {
// TURN-NOT: isend "activation" stage 1
// TURN-NOT: isend "gradient" stage 2
// TURN: dualpipe.compute "F" stage 2 microbatch 0
// TURN-NOT: isend "activation" stage 1
// TURN-NOT: isend "gradient" stage 2
// TURN: }

// DualPipe: each rank sums the gradients of its two stage functions with the
// mirror rank, in the same order on both ranks.
// MIRROR-LABEL: dualpipe.program rank 0 {
// MIRROR: dualpipe.allreduce_grads @mlp_stage0 ranks [0, 3]
// MIRROR-NEXT: dualpipe.allreduce_grads @mlp_stage3 ranks [0, 3]
// MIRROR-LABEL: dualpipe.program rank 1 {
// MIRROR: dualpipe.allreduce_grads @mlp_stage1 ranks [1, 2]
// MIRROR: dualpipe.allreduce_grads @mlp_stage2 ranks [1, 2]
// MIRROR-LABEL: dualpipe.program rank 3 {
// MIRROR: dualpipe.allreduce_grads @mlp_stage0 ranks [0, 3]
// MIRROR: dualpipe.allreduce_grads @mlp_stage3 ranks [0, 3]

// TWICE: error: the schedule already has communication; run --dualpipe-insert-comm once
