// RUN: dualpipe-opt %s --split-input-file --dualpipe-strided-copies-to-linalg | FileCheck %s
// RUN: dualpipe-opt %s --split-input-file --dualpipe-strided-copies-to-linalg --convert-linalg-to-loops --finalize-memref-to-llvm | FileCheck %s --check-prefix=LLVM --implicit-check-not=memrefCopy
// RUN: dualpipe-opt %s --split-input-file --finalize-memref-to-llvm | FileCheck %s --check-prefix=UPSTREAM

// A column slice with a step (what bufferizing
// tensor.extract_slice %t[0, 1] [4, 3] [1, 2] gives) copied into a fresh
// buffer: the source is strided, so the copy becomes a linalg.copy.
// CHECK-LABEL: func.func @strided_source(
// CHECK-SAME: %[[T:.*]]: memref<4x8xf32>, %[[D:.*]]: memref<4x3xf32>)
// CHECK: %[[V:.*]] = memref.subview %[[T]][0, 1] [4, 3] [1, 2]
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%[[V]] : memref<4x3xf32, strided<[8, 2], offset: 1>>) outs(%[[D]] : memref<4x3xf32>)
// CHECK-NOT: memref.copy
// After it the copy is a loop nest of loads and stores; without it,
// upstream's lowering calls the C runner utils.
// LLVM-LABEL: func.func @strided_source(
// LLVM: scf.for
// LLVM: scf.for
// LLVM: llvm.load
// LLVM: llvm.store
// UPSTREAM-LABEL: func.func @strided_source(
// UPSTREAM: llvm.call @memrefCopy
func.func @strided_source(%t: memref<4x8xf32>, %d: memref<4x3xf32>) {
  %v = memref.subview %t[0, 1] [4, 3] [1, 2] : memref<4x8xf32> to memref<4x3xf32, strided<[8, 2], offset: 1>>
  memref.copy %v, %d : memref<4x3xf32, strided<[8, 2], offset: 1>> to memref<4x3xf32>
  return
}

// -----

// The gradient of such a slice: an insert_slice into zeros bufferizes to a
// copy into a subview on the non-leading dimension (unit step, still not
// contiguous).
// CHECK-LABEL: func.func @strided_target(
// CHECK: %[[V:.*]] = memref.subview
// CHECK: linalg.copy ins(%{{.*}} : memref<4x3xf32>) outs(%[[V]] : memref<4x3xf32, strided<[8, 1], offset: 2>>)
// CHECK-NOT: memref.copy
// LLVM-LABEL: func.func @strided_target(
// LLVM: scf.for
// LLVM: scf.for
// UPSTREAM-LABEL: func.func @strided_target(
// UPSTREAM: llvm.call @memrefCopy
func.func @strided_target(%g: memref<4x3xf32>, %z: memref<4x8xf32>) {
  %v = memref.subview %z[0, 2] [4, 3] [1, 1] : memref<4x8xf32> to memref<4x3xf32, strided<[8, 1], offset: 2>>
  memref.copy %g, %v : memref<4x3xf32> to memref<4x3xf32, strided<[8, 1], offset: 2>>
  return
}

// -----

// Contiguous copies stay memref.copy (memcpy): identity layouts, and a
// slice of leading rows, whose strided layout is contiguous row-major.
// CHECK-LABEL: func.func @contiguous(
// CHECK: memref.copy %{{.*}}, %{{.*}} : memref<4x8xf32> to memref<4x8xf32>
// CHECK: memref.copy %{{.*}}, %{{.*}} : memref<2x8xf32, strided<[8, 1], offset: 8>> to memref<2x8xf32>
// CHECK-NOT: linalg.copy
// LLVM-LABEL: func.func @contiguous(
// LLVM-COUNT-2: "llvm.intr.memcpy"
// LLVM-NOT: scf.for
// LLVM: return
func.func @contiguous(%a: memref<4x8xf32>, %b: memref<4x8xf32>, %c: memref<2x8xf32>) {
  memref.copy %a, %b : memref<4x8xf32> to memref<4x8xf32>
  %rows = memref.subview %a[1, 0] [2, 8] [1, 1] : memref<4x8xf32> to memref<2x8xf32, strided<[8, 1], offset: 8>>
  memref.copy %rows, %c : memref<2x8xf32, strided<[8, 1], offset: 8>> to memref<2x8xf32>
  return
}

// -----

// Dynamic shapes: a dynamic strided layout is not known to be contiguous.
// CHECK-LABEL: func.func @dynamic(
// CHECK: linalg.copy ins(%{{.*}} : memref<?x?xf32, strided<[?, ?], offset: ?>>) outs(%{{.*}} : memref<?x?xf32>)
func.func @dynamic(%a: memref<?x?xf32, strided<[?, ?], offset: ?>>, %b: memref<?x?xf32>) {
  memref.copy %a, %b : memref<?x?xf32, strided<[?, ?], offset: ?>> to memref<?x?xf32>
  return
}
