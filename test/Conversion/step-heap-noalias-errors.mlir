// RUN: dualpipe-opt %s --dualpipe-step-heap-noalias --verify-diagnostics -split-input-file

// A module without the step heap is left alone.
module {
  llvm.func @f() {
    llvm.return
  }
}

// -----

// An allocation function of another type is an error: the step heap's
// contract (runtime/src/StepAlloc.cpp) is (alignment, size) -> pointer.
module {
  // expected-error @below {{is the step heap's allocation function but does not return a pointer; declare it as (i64, i64) -> !llvm.ptr}}
  llvm.func @_mlir_memref_to_llvm_aligned_alloc(i64, i64) -> i64
}
