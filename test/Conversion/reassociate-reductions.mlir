// RUN: dualpipe-opt %s --dualpipe-reassociate-reductions | FileCheck %s

#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
#col = affine_map<(i, j) -> (j)>

// A softmax denominator (sum over j of exp): the combiner gets reassoc,
// the element's arithmetic does not.
// CHECK-LABEL: func.func @row_sum
// CHECK: arith.subf %{{.*}}, %{{.*}} : f32
// CHECK: math.exp
// CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc> : f32
func.func @row_sum(%x: memref<4x8xf32>, %m: memref<4xf32>, %out: memref<4xf32>) {
  linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %m : memref<4x8xf32>, memref<4xf32>) outs(%out : memref<4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %d = arith.subf %a, %b : f32
    %e = math.exp %d : f32
    %r = arith.addf %acc, %e : f32
    linalg.yield %r : f32
  }
  return
}

// Tensors too; existing flags are kept; a product reduction; the second
// output of a two-output reduction (sum and sum of squares), with the
// accumulator as the second operand.
// CHECK-LABEL: func.func @moments
// CHECK: %[[SQ:.*]] = arith.mulf %{{.*}}, %{{.*}} : f64
// CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc,nnan> : f64
// CHECK: arith.addf %[[SQ]], %{{.*}} fastmath<reassoc> : f64
// CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<reassoc> : f64
func.func @moments(%x: tensor<4x8xf64>, %s: tensor<8xf64>, %q: tensor<8xf64>, %p: tensor<8xf64>)
    -> (tensor<8xf64>, tensor<8xf64>, tensor<8xf64>) {
  %r:3 = linalg.generic {indexing_maps = [#id, #col, #col, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<4x8xf64>) outs(%s, %q, %p : tensor<8xf64>, tensor<8xf64>, tensor<8xf64>) {
  ^bb0(%a: f64, %sum: f64, %sq: f64, %prod: f64):
    %a2 = arith.mulf %a, %a : f64
    %s1 = arith.addf %sum, %a fastmath<nnan> : f64
    %q1 = arith.addf %a2, %sq : f64
    %p1 = arith.mulf %prod, %a : f64
    linalg.yield %s1, %q1, %p1 : f64, f64, f64
  } -> (tensor<8xf64>, tensor<8xf64>, tensor<8xf64>)
  return %r#0, %r#1, %r#2 : tensor<8xf64>, tensor<8xf64>, tensor<8xf64>
}

// Not touched: an elementwise op (no reduction loop), a max reduction
// (exact in any order), and a sum whose yielded value does not combine the
// accumulator (it overwrites it).
// CHECK-LABEL: func.func @kept
// CHECK-NOT: reassoc
// CHECK: return
func.func @kept(%x: memref<4x8xf32>, %y: memref<4x8xf32>, %out: memref<4xf32>) {
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x8xf32>) outs(%y : memref<4x8xf32>) {
  ^bb0(%a: f32, %b: f32):
    %r = arith.addf %a, %b : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%out : memref<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %acc, %a : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%out : memref<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %a : f32
    linalg.yield %r : f32
  }
  return
}
