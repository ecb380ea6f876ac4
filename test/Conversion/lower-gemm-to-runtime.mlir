// RUN: dualpipe-opt %s --dualpipe-lower-gemm-to-runtime=fold-fills=false -split-input-file -verify-diagnostics | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-lower-gemm-to-runtime="fold-transposes=false fold-fills=false" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=NOFOLD
// The zero fills these functions start with are kept (fold-fills=false);
// lower-gemm-contractions.mlir checks that fold.

// CHECK: func.func private @dualpipe_rt_matmul_f32(memref<*xf32>, memref<*xf32>, memref<*xf32>, i32, i32) -> i32 attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: %[[A:.*]]: memref<4x8xf32>, %[[B:.*]]: memref<8x3xf32>, %[[C:.*]]: memref<4x3xf32>
func.func @matmul(%a: memref<4x8xf32>, %b: memref<8x3xf32>, %c: memref<4x3xf32>) {
  // CHECK-DAG: %[[UA:.*]] = memref.cast %[[A]] : memref<4x8xf32> to memref<*xf32>
  // CHECK-DAG: %[[UB:.*]] = memref.cast %[[B]] : memref<8x3xf32> to memref<*xf32>
  // CHECK-DAG: %[[UC:.*]] = memref.cast %[[C]] : memref<4x3xf32> to memref<*xf32>
  // CHECK-DAG: %[[F:.*]] = arith.constant 0 : i32
  // CHECK: call @dualpipe_rt_matmul_f32(%[[UA]], %[[UB]], %[[UC]], %[[F]], %[[F]])
  // CHECK-NOT: linalg.matmul
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x3xf32>) outs(%c : memref<4x3xf32>)
  return
}

// -----

// One declaration per element type, shared by every call.
// CHECK: func.func private @dualpipe_rt_matmul_f64(memref<*xf64>, memref<*xf64>, memref<*xf64>, i32, i32) -> i32 attributes {llvm.emit_c_interface}
// CHECK-NOT: func.func private @dualpipe_rt_matmul
// CHECK-LABEL: func.func @batch_matmul
func.func @batch_matmul(%a: memref<2x4x8xf64>, %b: memref<2x8x3xf64>, %c: memref<2x4x3xf64>) {
  // CHECK: memref.cast %{{.*}} : memref<2x4x8xf64> to memref<*xf64>
  // CHECK: call @dualpipe_rt_matmul_f64(
  // CHECK-NOT: linalg.batch_matmul
  linalg.batch_matmul ins(%a, %b : memref<2x4x8xf64>, memref<2x8x3xf64>) outs(%c : memref<2x4x3xf64>)
  // CHECK: call @dualpipe_rt_matmul_f64(
  linalg.batch_matmul ins(%a, %b : memref<2x4x8xf64>, memref<2x8x3xf64>) outs(%c : memref<2x4x3xf64>)
  return
}

// -----

// A strided subview operand goes to the runtime as it is (its descriptor
// carries offset and strides).
// CHECK-LABEL: func.func @strided
func.func @strided(%big: memref<16x16xf32>, %b: memref<8x3xf32>, %c: memref<4x3xf32>) {
  %a = memref.subview %big[2, 4] [4, 8] [2, 1] : memref<16x16xf32> to memref<4x8xf32, strided<[32, 1], offset: 36>>
  // CHECK: %[[S:.*]] = memref.subview
  // CHECK: %[[US:.*]] = memref.cast %[[S]] : memref<4x8xf32, strided<[32, 1], offset: 36>> to memref<*xf32>
  // CHECK: call @dualpipe_rt_matmul_f32(%[[US]],
  linalg.matmul ins(%a, %b : memref<4x8xf32, strided<[32, 1], offset: 36>>, memref<8x3xf32>) outs(%c : memref<4x3xf32>)
  return
}

// -----

// Transposed indexing maps become the flags.
// CHECK-LABEL: func.func @transposed_maps
func.func @transposed_maps(%a: memref<8x4xf32>, %b: memref<3x8xf32>, %c: memref<4x3xf32>) {
  // CHECK-DAG: %[[T:.*]] = arith.constant 1 : i32
  // CHECK: call @dualpipe_rt_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[T]], %[[T]])
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (k, m)>,
                                 affine_map<(m, n, k) -> (n, k)>,
                                 affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : memref<8x4xf32>, memref<3x8xf32>) outs(%c : memref<4x3xf32>)
  return
}

// -----

// What autodiff emits for dB = Aᵀ·dC after bufferization: a transpose into
// a temporary, a fresh filled output, the matmul. The transpose folds into
// transpose_a = 1 on the original A; the temporary goes away.
// CHECK-LABEL: func.func @transpose_then_matmul
// CHECK-SAME: %[[A:.*]]: memref<4x8xf32>, %[[DC:.*]]: memref<4x3xf32>
// NOFOLD-LABEL: func.func @transpose_then_matmul
func.func @transpose_then_matmul(%a: memref<4x8xf32>, %dc: memref<4x3xf32>) -> memref<8x3xf32> {
  // CHECK-NOT: linalg.transpose
  // CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<8x3xf32>
  // CHECK: linalg.fill
  // CHECK-DAG: %[[UA:.*]] = memref.cast %[[A]] : memref<4x8xf32> to memref<*xf32>
  // CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i32
  // CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
  // CHECK: call @dualpipe_rt_matmul_f32(%[[UA]], %{{.*}}, %{{.*}}, %[[ONE]], %[[ZERO]])
  // CHECK-NOT: memref.dealloc
  // CHECK: return %[[OUT]]
  // NOFOLD: linalg.transpose
  // NOFOLD: call @dualpipe_rt_matmul_f32
  // NOFOLD: memref.dealloc
  %t = memref.alloc() {alignment = 64 : i64} : memref<8x4xf32>
  linalg.transpose ins(%a : memref<4x8xf32>) outs(%t : memref<8x4xf32>) permutation = [1, 0]
  %out = memref.alloc() {alignment = 64 : i64} : memref<8x3xf32>
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<8x3xf32>)
  linalg.matmul ins(%t, %dc : memref<8x4xf32>, memref<4x3xf32>) outs(%out : memref<8x3xf32>)
  memref.dealloc %t : memref<8x4xf32>
  return %out : memref<8x3xf32>
}

// -----

// dA = dC·Bᵀ for a batch: the batch transpose (0, 2, 1) folds into
// transpose_b.
// CHECK-LABEL: func.func @batch_transpose_b
func.func @batch_transpose_b(%dc: memref<2x4x3xf32>, %b: memref<2x8x3xf32>) -> memref<2x4x8xf32> {
  // CHECK-NOT: linalg.transpose
  // CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i32
  // CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
  // CHECK: call @dualpipe_rt_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[ZERO]], %[[ONE]])
  %t = memref.alloc() : memref<2x3x8xf32>
  linalg.transpose ins(%b : memref<2x8x3xf32>) outs(%t : memref<2x3x8xf32>) permutation = [0, 2, 1]
  %out = memref.alloc() : memref<2x4x8xf32>
  linalg.batch_matmul ins(%dc, %t : memref<2x4x3xf32>, memref<2x3x8xf32>) outs(%out : memref<2x4x8xf32>)
  memref.dealloc %t : memref<2x3x8xf32>
  return %out : memref<2x4x8xf32>
}

// -----

// The matmul's output is an argument, as is the transpose's source: they
// might be one buffer, so the transpose stays.
// CHECK-LABEL: func.func @may_alias
func.func @may_alias(%a: memref<4x4xf32>, %b: memref<4x4xf32>, %c: memref<4x4xf32>) {
  // CHECK: linalg.transpose
  // CHECK: call @dualpipe_rt_matmul_f32
  %t = memref.alloc() : memref<4x4xf32>
  linalg.transpose ins(%a : memref<4x4xf32>) outs(%t : memref<4x4xf32>) permutation = [1, 0]
  linalg.matmul ins(%t, %b : memref<4x4xf32>, memref<4x4xf32>) outs(%c : memref<4x4xf32>)
  memref.dealloc %t : memref<4x4xf32>
  return
}

// -----

// The transposed temporary is read again after the matmul, and the source
// is written between transpose and matmul: neither transpose folds.
// CHECK-LABEL: func.func @no_fold
func.func @no_fold(%a: memref<4x8xf32>, %b: memref<4x3xf32>, %c: memref<8x3xf32>, %d: memref<8x4xf32>) {
  // CHECK: linalg.transpose
  // CHECK: call @dualpipe_rt_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[Z:c0_i32[_0-9]*]], %[[Z]])
  // CHECK: memref.copy
  // CHECK: linalg.transpose
  // CHECK: linalg.fill
  // CHECK: call @dualpipe_rt_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %[[Z:c0_i32[_0-9]*]], %[[Z]])
  %t = memref.alloc() : memref<8x4xf32>
  linalg.transpose ins(%a : memref<4x8xf32>) outs(%t : memref<8x4xf32>) permutation = [1, 0]
  linalg.matmul ins(%t, %b : memref<8x4xf32>, memref<4x3xf32>) outs(%c : memref<8x3xf32>)
  memref.copy %t, %d : memref<8x4xf32> to memref<8x4xf32>
  %u = memref.alloc() : memref<8x4xf32>
  linalg.transpose ins(%a : memref<4x8xf32>) outs(%u : memref<8x4xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%a : memref<4x8xf32>)
  linalg.matmul ins(%u, %b : memref<8x4xf32>, memref<4x3xf32>) outs(%c : memref<8x3xf32>)
  memref.dealloc %t : memref<8x4xf32>
  memref.dealloc %u : memref<8x4xf32>
  return
}

// -----

// Inside a loop the casts' stack slots are scoped.
// CHECK-LABEL: func.func @in_loop
func.func @in_loop(%a: memref<4x8xf32>, %b: memref<8x3xf32>, %c: memref<4x3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  // CHECK: scf.for
  // CHECK-NEXT: memref.alloca_scope
  // CHECK: call @dualpipe_rt_matmul_f32(
  scf.for %i = %c0 to %c4 step %c1 {
    linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x3xf32>) outs(%c : memref<4x3xf32>)
  }
  return
}

// -----

// Left for convert-linalg-to-loops: integers, mixed types, tensors,
// broadcast maps.
// CHECK-NOT: func.func private @dualpipe_rt_matmul
// CHECK-LABEL: func.func @kept
// CHECK-NOT: call
func.func @kept(%a: memref<4x8xi32>, %b: memref<8x3xi32>, %c: memref<4x3xi32>,
                %h: memref<4x8xf16>, %g: memref<8x3xf16>, %f: memref<4x3xf32>,
                %ta: tensor<4x8xf32>, %tb: tensor<8x3xf32>, %tc: tensor<4x3xf32>,
                %v: memref<8xf32>, %w: memref<8x3xf32>) -> tensor<4x3xf32> {
  // CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : memref<4x8xi32>, memref<8x3xi32>)
  linalg.matmul ins(%a, %b : memref<4x8xi32>, memref<8x3xi32>) outs(%c : memref<4x3xi32>)
  // CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : memref<4x8xf16>, memref<8x3xf16>) outs(%{{.*}} : memref<4x3xf32>)
  linalg.matmul ins(%h, %g : memref<4x8xf16>, memref<8x3xf16>) outs(%f : memref<4x3xf32>)
  // CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8x3xf32>)
  %r = linalg.matmul ins(%ta, %tb : tensor<4x8xf32>, tensor<8x3xf32>) outs(%tc : tensor<4x3xf32>) -> tensor<4x3xf32>
  // CHECK: linalg.matmul indexing_maps
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (k)>,
                                 affine_map<(m, n, k) -> (k, n)>,
                                 affine_map<(m, n, k) -> (m, n)>]
      ins(%v, %w : memref<8xf32>, memref<8x3xf32>) outs(%f : memref<4x3xf32>)
  // CHECK-NOT: call
  return %r : tensor<4x3xf32>
}

// -----

// expected-error @+1 {{'dualpipe_rt_matmul_f32' is the runtime's GEMM entry point; expected an external func.func of type '(memref<*xf32>, memref<*xf32>, memref<*xf32>, i32, i32) -> i32' with llvm.emit_c_interface}}
func.func private @dualpipe_rt_matmul_f32(memref<4x8xf32>)

func.func @clash(%a: memref<4x8xf32>, %b: memref<8x3xf32>, %c: memref<4x3xf32>) {
  linalg.matmul ins(%a, %b : memref<4x8xf32>, memref<8x3xf32>) outs(%c : memref<4x3xf32>)
  return
}
