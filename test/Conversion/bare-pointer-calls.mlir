// RUN: dualpipe-opt %s --dualpipe-bare-pointer-calls | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-bare-pointer-calls --finalize-memref-to-llvm=use-aligned-alloc=1 --convert-func-to-llvm --reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM

// Static memrefs in and out, results from allocations and views that keep
// both pointers: one pointer per memref.
// CHECK-LABEL: func.func private @stage(
// CHECK-SAME: attributes {llvm.bareptr}
// LLVM-LABEL: llvm.func @stage(
// LLVM-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) -> !llvm.struct<(ptr, ptr)>
func.func private @stage(%a: memref<4x8xf32>, %b: memref<8xf32>)
    -> (memref<32xf32>, memref<4x8xf32>) {
  %r = memref.alloc() {alignment = 64 : i64} : memref<4x8xf32>
  memref.copy %a, %r : memref<4x8xf32> to memref<4x8xf32>
  %flat = memref.collapse_shape %r [[0, 1]] : memref<4x8xf32> into memref<32xf32>
  return %flat, %a : memref<32xf32>, memref<4x8xf32>
}

// A caller that returns what a marked callee returned is marked too (the
// pass repeats until nothing changes), and calls with one pointer per
// memref.
// CHECK-LABEL: func.func @entry(
// CHECK-SAME: attributes {llvm.bareptr, llvm.emit_c_interface}
// LLVM-LABEL: llvm.func @entry(
// LLVM-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: f32) -> !llvm.ptr
// LLVM: llvm.call @stage(%{{.*}}, %{{.*}}) : (!llvm.ptr, !llvm.ptr) -> !llvm.struct<(ptr, ptr)>
// LLVM-NOT: _mlir_ciface_entry
func.func @entry(%a: memref<4x8xf32>, %b: memref<8xf32>, %s: f32)
    -> memref<32xf32> attributes {llvm.emit_c_interface} {
  %r:2 = call @stage(%a, %b) : (memref<4x8xf32>, memref<8xf32>) -> (memref<32xf32>, memref<4x8xf32>)
  return %r#0 : memref<32xf32>
}

// A dynamic shape keeps descriptors.
// CHECK-LABEL: func.func private @dynamic(
// CHECK-NOT: llvm.bareptr
// CHECK-SAME: {
// LLVM-LABEL: llvm.func @dynamic(
// LLVM-SAME: %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64)
func.func private @dynamic(%a: memref<?xf32>) {
  return
}

// memref.view moves the aligned pointer away from the allocated one: the
// bare convention would lose one of them, so the function keeps
// descriptors.
// CHECK-LABEL: func.func private @view(
// CHECK-NOT: llvm.bareptr
// CHECK-SAME: {
func.func private @view() -> memref<4xf32> {
  %arena = memref.alloc() : memref<64xi8>
  %c16 = arith.constant 16 : index
  %v = memref.view %arena[%c16][] : memref<64xi8> to memref<4xf32>
  return %v : memref<4xf32>
}

// So does a caller returning that function's result.
// CHECK-LABEL: func.func private @returns_view(
// CHECK-NOT: llvm.bareptr
// CHECK-SAME: {
func.func private @returns_view() -> memref<4xf32> {
  %v = call @view() : () -> memref<4xf32>
  return %v : memref<4xf32>
}

// Declarations (the runtime's functions) keep their convention.
// CHECK-LABEL: func.func private @runtime_gemm(
// CHECK-NOT: llvm.bareptr
func.func private @runtime_gemm(%a: memref<4x8xf32>) attributes {llvm.emit_c_interface}
