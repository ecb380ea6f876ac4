// RUN: dualpipe-opt %s --dualpipe-step-heap-noalias | FileCheck %s

// The step heap's allocation returns fresh memory (noalias, as malloc);
// nothing else changes: the free, other functions, the calls.
// CHECK: llvm.func @_mlir_memref_to_llvm_aligned_alloc(i64, i64) -> (!llvm.ptr {llvm.noalias})
// CHECK: llvm.func @_mlir_memref_to_llvm_free(!llvm.ptr)
// CHECK-NOT: llvm.noalias
// CHECK: llvm.call @_mlir_memref_to_llvm_aligned_alloc(
module {
  llvm.func @_mlir_memref_to_llvm_aligned_alloc(i64, i64) -> !llvm.ptr
  llvm.func @_mlir_memref_to_llvm_free(!llvm.ptr)
  llvm.func @other(i64) -> !llvm.ptr
  llvm.func @f(%n: i64) -> !llvm.ptr {
    %a = llvm.mlir.constant(64 : i64) : i64
    %p = llvm.call @_mlir_memref_to_llvm_aligned_alloc(%a, %n) : (i64, i64) -> !llvm.ptr
    llvm.return %p : !llvm.ptr
  }
}
