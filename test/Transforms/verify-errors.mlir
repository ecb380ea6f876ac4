// --dualpipe-verify on hand-broken programs (Inputs/verify-cases.mlir: a
// valid 1F1B baseline on two ranks, then each breakage). Diagnostics point at
// the ops involved.
// RUN: not dualpipe-opt %S/Inputs/verify-cases.mlir -split-input-file --dualpipe-verify --mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s

// Two sends swapped on rank 0.
// CHECK: verify-cases.mlir:[[#]]:7: error: message 0 on the link 0 -> 1 is the activation of stage 0, micro-batch 1 at the sender but the receiver expects the activation of stage 0, micro-batch 0; links are FIFO, so post receives in the order the sender sends
// CHECK-NEXT: dualpipe.irecv "activation" stage 0 microbatch 0 from 0
// CHECK: note: the sender's message 0
// CHECK-NEXT: dualpipe.isend "activation" stage 0 microbatch 1 to 1

// A missing receive.
// CHECK: error: rank 0 sends the activation of stage 0, micro-batch 1 to rank 1, which never posts a receive for it (it posts 1 receives on the link 0 -> 1)

// A shape mismatch.
// CHECK: error: the activation of stage 0, micro-batch 1 arrives as [tensor<2x4xf32>] but is received as [tensor<4x2xf32>]; shapes and element types must match
// CHECK: note: sent here

// A cycle of blocking receives.
// CHECK: error: the programs deadlock: no rank can go on
// CHECK: note: rank 0 waits for rank 1 to send the gradient of stage 1, micro-batch 0
// CHECK: note: rank 1 waits for rank 0 to send the activation of stage 0, micro-batch 0

// The valid baseline passes on its own.
// RUN: sed -n '1,/^\/\/ -----/p' %S/Inputs/verify-cases.mlir | dualpipe-opt --dualpipe-verify -o /dev/null
