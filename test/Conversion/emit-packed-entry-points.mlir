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

// -----

// An entry point converted with the bare-pointer convention has no
// C-interface wrapper: the packed one calls it directly, passing each
// descriptor's aligned pointer (field 1) and each scalar's value.
// CHECK-LABEL: llvm.func @dualpipe_rank1_packed(
// CHECK-SAME: %[[ARGS:.*]]: !llvm.ptr)
// CHECK: %[[S0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[D0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[F1:.*]] = llvm.getelementptr %[[D0]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P0:.*]] = llvm.load %[[F1]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[S1:.*]] = llvm.getelementptr %[[ARGS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[Q1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[V1:.*]] = llvm.load %[[Q1]] : !llvm.ptr -> f32
// CHECK: llvm.call @dualpipe_rank1(%[[P0]], %[[V1]])
// LINK: llvm.func internal @dualpipe_rank1(
// LINK: llvm.func @dualpipe_rank1_packed(
llvm.func @dualpipe_rank1(%data: !llvm.ptr, %lr: f32) attributes {llvm.bareptr, llvm.emit_c_interface} {
  llvm.return
}
// A bare function that is not marked as an entry point is not wrapped.
// CHECK-NOT: @dualpipe_helper_packed
llvm.func @dualpipe_helper(%data: !llvm.ptr) attributes {llvm.bareptr} {
  llvm.return
}
