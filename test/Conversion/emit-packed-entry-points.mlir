// RUN: dualpipe-opt %s --dualpipe-emit-packed-entry-points -split-input-file -verify-diagnostics | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-emit-packed-entry-points -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=LINK
// RUN: dualpipe-opt %s --dualpipe-emit-packed-entry-points=internalize=false -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=KEEP

// CHECK-LABEL: llvm.func @dualpipe_rank0_packed(
// CHECK-SAME: %[[ARGS:.*]]: !llvm.ptr)
// CHECK: %[[S0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[D0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[S1:.*]] = llvm.getelementptr %[[ARGS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[V1:.*]] = llvm.load %[[P1]] : !llvm.ptr -> i64
// CHECK: llvm.call @_mlir_ciface_dualpipe_rank0(%[[D0]], %[[V1]])
// CHECK: llvm.return
llvm.func @_mlir_ciface_dualpipe_rank0(%desc: !llvm.ptr, %n: i64) {
  llvm.return
}
// Only entry points with the prefix are wrapped, and only the packed ones
// stay exported: the others get internal linkage.
// CHECK-NOT: llvm.func @helper_packed
// LINK: llvm.func internal @_mlir_ciface_dualpipe_rank0(
// LINK: llvm.func internal @_mlir_ciface_helper(
// LINK: llvm.func @dualpipe_rank0_packed(
// KEEP: llvm.func @_mlir_ciface_helper(
llvm.func @_mlir_ciface_helper(%desc: !llvm.ptr) {
  llvm.return
}

// -----

// expected-error @+1 {{entry point returns 'i32'; packed entry points return results through output buffers only}}
llvm.func @_mlir_ciface_dualpipe_bad() -> i32 {
  %c = llvm.mlir.constant(0 : i32) : i32
  llvm.return %c : i32
}
