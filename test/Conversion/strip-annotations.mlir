// RUN: dualpipe-opt %s --dualpipe-strip-annotations -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-NOT: dualpipe.pipeline
// CHECK-LABEL: llvm.func @s(
// CHECK-SAME: %{{.*}}: !llvm.ptr {llvm.noalias})
// CHECK-NOT: dualpipe.
llvm.func @s(%p: !llvm.ptr {dualpipe.param = "w", llvm.noalias}) attributes {dualpipe.stage = 0 : i64} {
  llvm.return
}
dualpipe.pipeline "linear" ranks 1 stages [@s] on [0]

// -----

func.func @f(%b: memref<4xf32>) {
  // expected-error @+1 {{was not lowered; the pass chain has no lowering for it on this target}}
  dualpipe.send %b to 1 : memref<4xf32>
  return
}
