// RUN: dualpipe-opt %s --dualpipe-lower-gemm-to-runtime -split-input-file | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-lower-gemm-to-runtime="contractions=false fold-fills=false" -split-input-file | FileCheck %s --check-prefix=OFF

// Attention's scores: s[b, n, i, j] = sum_d q[b, i, n, d] k[b, j, n, d]
// (batch b, n; m = i; n = j; k = d). One loop over b, views of the
// operands with the head dimension n first, one batched call per b.
#q = affine_map<(b, n, i, j, d) -> (b, i, n, d)>
#k = affine_map<(b, n, i, j, d) -> (b, j, n, d)>
#s = affine_map<(b, n, i, j, d) -> (b, n, i, j)>
// CHECK-LABEL: func.func @scores
// CHECK-SAME: %[[Q:[a-z0-9]+]]: memref<2x8x4x16xf32>, %[[K:[a-z0-9]+]]: memref<2x8x4x16xf32>, %[[S:[a-z0-9]+]]: memref<2x4x8x8xf32>
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK: scf.for %[[B:.*]] = %[[C0]] to %[[C2]] step %[[C1]]
// CHECK: %[[QV:.*]] = memref.subview %[[Q]][%[[B]], 0, 0, 0] [1, 8, 4, 16] [1, 1, 1, 1] : memref<2x8x4x16xf32> to memref<8x4x16xf32, strided<[64, 16, 1], offset: ?>>
// CHECK: %[[QT:.*]] = memref.transpose %[[QV]] (d0, d1, d2) -> (d1, d0, d2) : memref<8x4x16xf32, strided<[64, 16, 1], offset: ?>> to memref<4x8x16xf32, strided<[16, 64, 1], offset: ?>>
// CHECK: %[[KV:.*]] = memref.subview %[[K]][%[[B]], 0, 0, 0]
// CHECK: %[[KT:.*]] = memref.transpose %[[KV]] (d0, d1, d2) -> (d1, d2, d0) : memref<8x4x16xf32, strided<[64, 16, 1], offset: ?>> to memref<4x16x8xf32, strided<[16, 1, 64], offset: ?>>
// CHECK: %[[SV:.*]] = memref.subview %[[S]][%[[B]], 0, 0, 0] [1, 4, 8, 8] [1, 1, 1, 1] : memref<2x4x8x8xf32> to memref<4x8x8xf32, strided<[64, 8, 1], offset: ?>>
// CHECK-NOT: memref.transpose
// CHECK: memref.alloca_scope
// CHECK-DAG: %[[UQ:.*]] = memref.cast %[[QT]]
// CHECK-DAG: %[[UK:.*]] = memref.cast %[[KT]]
// CHECK-DAG: %[[US:.*]] = memref.cast %[[SV]]
// CHECK-DAG: %[[F:.*]] = arith.constant 0 : i32
// CHECK: call @dualpipe_rt_matmul_f32(%[[UQ]], %[[UK]], %[[US]], %[[F]], %[[F]])
// CHECK-NOT: linalg.generic
// OFF-LABEL: func.func @scores
// OFF: linalg.generic
func.func @scores(%q: memref<2x8x4x16xf32>, %k: memref<2x8x4x16xf32>, %s: memref<2x4x8x8xf32>) {
  linalg.generic {indexing_maps = [#q, #k, #s],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%s : memref<2x4x8x8xf32>) {
  ^bb0(%a0: f32, %a1: f32, %a2: f32):
    %p = arith.mulf %a0, %a1 : f32
    %r = arith.addf %a2, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// A plain matmul written as a generic, multiplication and addition in the
// other order: one 2-D call, no loop, no view.
#a = affine_map<(i, j, k) -> (i, k)>
#b = affine_map<(i, j, k) -> (k, j)>
#c = affine_map<(i, j, k) -> (i, j)>
// CHECK-LABEL: func.func @generic_matmul
// CHECK-NOT: scf.for
// CHECK-NOT: memref.transpose
// CHECK: call @dualpipe_rt_matmul_f64
func.func @generic_matmul(%x: memref<4x8xf64>, %y: memref<8x3xf64>, %z: memref<4x3xf64>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %y : memref<4x8xf64>, memref<8x3xf64>) outs(%z : memref<4x3xf64>) {
  ^bb0(%a0: f64, %a1: f64, %a2: f64):
    %p = arith.mulf %a1, %a0 : f64
    %r = arith.addf %p, %a2 : f64
    linalg.yield %r : f64
  }
  return
}

// -----

// The output transposed (z[j, i] += x[i, k] y[k, j]): a view, no copy.
#a = affine_map<(i, j, k) -> (i, k)>
#b = affine_map<(i, j, k) -> (k, j)>
#ct = affine_map<(i, j, k) -> (j, i)>
// CHECK-LABEL: func.func @transposed_output
// CHECK: %[[ZT:.*]] = memref.transpose %{{.*}} (d0, d1) -> (d1, d0) : memref<3x4xf32> to memref<4x3xf32, strided<[1, 4]>>
// CHECK: %[[UZ:.*]] = memref.cast %[[ZT]]
// CHECK: call @dualpipe_rt_matmul_f32(%{{.*}}, %{{.*}}, %[[UZ]],
func.func @transposed_output(%x: memref<4x8xf32>, %y: memref<8x3xf32>, %z: memref<3x4xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #ct], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %y : memref<4x8xf32>, memref<8x3xf32>) outs(%z : memref<3x4xf32>) {
  ^bb0(%a0: f32, %a1: f32, %a2: f32):
    %p = arith.mulf %a0, %a1 : f32
    %r = arith.addf %a2, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Not lowered: a body that is not a bare product-sum (scaled), two
// reduction loops, and an integer contraction.
#a = affine_map<(i, j, k) -> (i, k)>
#b = affine_map<(i, j, k) -> (k, j)>
#c = affine_map<(i, j, k) -> (i, j)>
#a4 = affine_map<(i, j, k, l) -> (i, k, l)>
#b4 = affine_map<(i, j, k, l) -> (k, l, j)>
#c4 = affine_map<(i, j, k, l) -> (i, j)>
// CHECK-LABEL: func.func @kept
// CHECK-NOT: call @dualpipe_rt_matmul
// CHECK-COUNT-3: linalg.generic
// CHECK-NOT: call @dualpipe_rt_matmul
func.func @kept(%x: memref<4x8xf32>, %y: memref<8x3xf32>, %z: memref<4x3xf32>,
                %x4: memref<4x8x2xf32>, %y4: memref<8x2x3xf32>,
                %xi: memref<4x8xi32>, %yi: memref<8x3xi32>, %zi: memref<4x3xi32>) {
  %two = arith.constant 2.0 : f32
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %y : memref<4x8xf32>, memref<8x3xf32>) outs(%z : memref<4x3xf32>) {
  ^bb0(%a0: f32, %a1: f32, %a2: f32):
    %p = arith.mulf %a0, %a1 : f32
    %q = arith.mulf %p, %two : f32
    %r = arith.addf %a2, %q : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#a4, #b4, #c4], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x4, %y4 : memref<4x8x2xf32>, memref<8x2x3xf32>) outs(%z : memref<4x3xf32>) {
  ^bb0(%a0: f32, %a1: f32, %a2: f32):
    %p = arith.mulf %a0, %a1 : f32
    %r = arith.addf %a2, %p : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%xi, %yi : memref<4x8xi32>, memref<8x3xi32>) outs(%zi : memref<4x3xi32>) {
  ^bb0(%a0: i32, %a1: i32, %a2: i32):
    %p = arith.muli %a0, %a1 : i32
    %r = arith.addi %a2, %p : i32
    linalg.yield %r : i32
  }
  return
}

// -----

// A zero fill of an allocated C right before the GEMM becomes the call's
// beta = 0 (dualpipe_rt_matmul_into_*): no fill is left. Not when something
// reads C in between, when the fill value is not +0.0, or when C is an
// argument (the caller's buffer may alias another operand).
// CHECK-LABEL: func.func @fills
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<4x8xf32>, %[[Y:[a-z0-9]+]]: memref<8x3xf32>
// CHECK: %[[Z:.*]] = memref.alloc() : memref<4x3xf32>
// CHECK-NOT: linalg.fill
// CHECK: call @dualpipe_rt_matmul_into_f32(
// CHECK: %[[Z2:.*]] = memref.alloc() : memref<4x3xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[Z2]]
// CHECK: memref.load %[[Z2]]
// CHECK: call @dualpipe_rt_matmul_f32(
// CHECK: %[[Z3:.*]] = memref.alloc() : memref<4x3xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[Z3]]
// CHECK: call @dualpipe_rt_matmul_f32(
// CHECK: linalg.fill
// CHECK: call @dualpipe_rt_matmul_f32(
// CHECK: return
// OFF-LABEL: func.func @fills
// OFF-COUNT-4: linalg.fill
func.func @fills(%x: memref<4x8xf32>, %y: memref<8x3xf32>, %arg: memref<4x3xf32>) -> (memref<4x3xf32>, memref<4x3xf32>, memref<4x3xf32>, f32) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %c0 = arith.constant 0 : index
  %z = memref.alloc() : memref<4x3xf32>
  linalg.fill ins(%zero : f32) outs(%z : memref<4x3xf32>)
  linalg.matmul ins(%x, %y : memref<4x8xf32>, memref<8x3xf32>) outs(%z : memref<4x3xf32>)
  %z2 = memref.alloc() : memref<4x3xf32>
  linalg.fill ins(%zero : f32) outs(%z2 : memref<4x3xf32>)
  %read = memref.load %z2[%c0, %c0] : memref<4x3xf32>
  linalg.matmul ins(%x, %y : memref<4x8xf32>, memref<8x3xf32>) outs(%z2 : memref<4x3xf32>)
  %z3 = memref.alloc() : memref<4x3xf32>
  linalg.fill ins(%one : f32) outs(%z3 : memref<4x3xf32>)
  linalg.matmul ins(%x, %y : memref<4x8xf32>, memref<8x3xf32>) outs(%z3 : memref<4x3xf32>)
  linalg.fill ins(%zero : f32) outs(%arg : memref<4x3xf32>)
  linalg.matmul ins(%x, %y : memref<4x8xf32>, memref<8x3xf32>) outs(%arg : memref<4x3xf32>)
  return %z, %z2, %z3, %read : memref<4x3xf32>, memref<4x3xf32>, memref<4x3xf32>, f32
}

// -----

// The attention contraction's zero-filled scores: every loop iteration's
// call overwrites its slice, together all of C.
#q = affine_map<(b, n, i, j, d) -> (b, i, n, d)>
#k = affine_map<(b, n, i, j, d) -> (b, j, n, d)>
#s = affine_map<(b, n, i, j, d) -> (b, n, i, j)>
// CHECK-LABEL: func.func @zero_scores
// CHECK-NOT: linalg.fill
// CHECK: scf.for
// CHECK: call @dualpipe_rt_matmul_into_f32(
func.func @zero_scores(%q: memref<2x8x4x16xf32>, %k: memref<2x8x4x16xf32>) -> memref<2x4x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %s = memref.alloc() : memref<2x4x8x8xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<2x4x8x8xf32>)
  linalg.generic {indexing_maps = [#q, #k, #s],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : memref<2x8x4x16xf32>, memref<2x8x4x16xf32>) outs(%s : memref<2x4x8x8xf32>) {
  ^bb0(%a0: f32, %a1: f32, %a2: f32):
    %p = arith.mulf %a0, %a1 : f32
    %r = arith.addf %a2, %p : f32
    linalg.yield %r : f32
  }
  return %s : memref<2x4x8x8xf32>
}
