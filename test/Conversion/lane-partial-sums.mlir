// RUN: dualpipe-opt %s --dualpipe-lane-partial-sums | FileCheck %s

#id = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
#col = affine_map<(i, j) -> (j)>
#tr = affine_map<(i, j) -> (j, i)>

// A causal softmax denominator over rows of 64: the row is reshaped into
// 8 blocks of 8 lanes (no copy), the lanes are the new innermost parallel
// loop, summed into a zeroed 4 x 8 partial; linalg.index of the split loop
// is rebuilt as block * 8 + lane, so the mask compares the same column;
// then the 8 lanes are added to the original output in lane order.
// CHECK-LABEL: func.func @masked_row_sum
// CHECK-SAME: (%[[X:.*]]: tensor<4x64xf32>, %[[M:.*]]: tensor<4xf32>, %[[OUT:.*]]: tensor<4xf32>)
// CHECK: %[[XE:.*]] = tensor.expand_shape %[[X]] {{\[\[}}0], [1, 2]] output_shape [4, 8, 8] : tensor<4x64xf32> into tensor<4x8x8xf32>
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[P0:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<4x8xf32>)
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[ID3:.*]], #[[ROW3:.*]], #[[LANE3:.*]]], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK-SAME: ins(%[[XE]], %[[M]] : tensor<4x8x8xf32>, tensor<4xf32>) outs(%[[P0]] : tensor<4x8xf32>)
// CHECK: %[[I:.*]] = linalg.index 0 : index
// CHECK: %[[B:.*]] = linalg.index 1 : index
// CHECK: %[[L:.*]] = linalg.index 2 : index
// CHECK: %[[C8:.*]] = arith.constant 8 : index
// CHECK: %[[BS:.*]] = arith.muli %[[B]], %[[C8]] : index
// CHECK: %[[J:.*]] = arith.addi %[[BS]], %[[L]] : index
// CHECK: arith.cmpi ule, %[[J]], %[[I]] : index
// CHECK: math.exp
// CHECK: arith.addf %{{.*}}, %{{.*}} : f32
// CHECK: } -> tensor<4x8xf32>
// CHECK: %[[R:.*]] = linalg.generic {indexing_maps = [#[[ID2:.*]], #[[ROW2:.*]]], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME: ins(%[[P]] : tensor<4x8xf32>) outs(%[[OUT]] : tensor<4xf32>)
// CHECK-NOT: fastmath
// CHECK: return %[[R]]
func.func @masked_row_sum(%x: tensor<4x64xf32>, %m: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %m : tensor<4x64xf32>, tensor<4xf32>) outs(%out : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %keep = arith.cmpi ule, %j, %i : index
    %d = arith.subf %a, %b : f32
    %e = math.exp %d : f32
    %z = arith.constant 0.0 : f32
    %t = arith.select %keep, %e, %z : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// A layer norm's moments (two sums in one op, the running value as either
// operand) over rows of 2048 (f64): 64 blocks of 32 lanes, both partials
// summed in one op. An input that does not walk the row (%w, per row) keeps
// its map; one that walks it transposed is reshaped on its own dimension.
// CHECK-LABEL: func.func @moments
// CHECK-SAME: (%[[X:.*]]: tensor<8x2048xf64>, %[[W:.*]]: tensor<8xf64>, %[[T:.*]]: tensor<2048x8xf64>
// CHECK-DAG: tensor.expand_shape %[[X]] {{\[\[}}0], [1, 2]] output_shape [8, 64, 32] : tensor<8x2048xf64> into tensor<8x64x32xf64>
// CHECK-DAG: tensor.expand_shape %[[T]] {{\[\[}}0, 1], [2]] output_shape [64, 32, 8] : tensor<2048x8xf64> into tensor<64x32x8xf64>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]
// CHECK-SAME: outs(%{{.*}}, %{{.*}} : tensor<8x32xf64>, tensor<8x32xf64>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: arith.addf
// CHECK: } -> (tensor<8x32xf64>, tensor<8x32xf64>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK-SAME: outs(%{{.*}}, %{{.*}} : tensor<8xf64>, tensor<8xf64>)
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @moments(%x: tensor<8x2048xf64>, %w: tensor<8xf64>, %t: tensor<2048x8xf64>, %s: tensor<8xf64>, %q: tensor<8xf64>) -> (tensor<8xf64>, tensor<8xf64>) {
  %r:2 = linalg.generic {indexing_maps = [#id, #row, #tr, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x, %w, %t : tensor<8x2048xf64>, tensor<8xf64>, tensor<2048x8xf64>) outs(%s, %q : tensor<8xf64>, tensor<8xf64>) {
  ^bb0(%a: f64, %b: f64, %c: f64, %sum: f64, %sq: f64):
    %ab = arith.mulf %a, %b : f64
    %a2 = arith.mulf %ab, %c : f64
    %s1 = arith.addf %sum, %ab : f64
    %q1 = arith.addf %a2, %sq : f64
    linalg.yield %s1, %q1 : f64, f64
  } -> (tensor<8xf64>, tensor<8xf64>)
  return %r#0, %r#1 : tensor<8xf64>, tensor<8xf64>
}

// A loss over rows x width (two reduction loops): the rows stay an outer
// reduction loop, the width's 1024 terms go into 32 lanes, and the scalar
// loss is the sum of the 32 lanes.
// CHECK-LABEL: func.func @loss
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1, 2]] output_shape [64, 32, 32] : tensor<64x1024xf32> into tensor<64x32x32xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "parallel"]
// CHECK-SAME: outs(%{{.*}} : tensor<32xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK-SAME: ins(%{{.*}} : tensor<32xf32>) outs(%{{.*}} : tensor<f32>)
func.func @loss(%x: tensor<64x1024xf32>, %out: tensor<f32>) -> tensor<f32> {
  %r = linalg.generic {indexing_maps = [#id, affine_map<(i, j) -> ()>], iterator_types = ["reduction", "reduction"]}
      ins(%x : tensor<64x1024xf32>) outs(%out : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %sq = arith.mulf %a, %a : f32
    %s = arith.addf %acc, %sq : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// Left as they are: a row of 12 (not a multiple of 8), of 8 (too short to
// split), a column sum (the reduction is not the innermost loop, LLVM
// vectorizes the columns), a max (exact in any order), a sum whose term
// reads the running value, a contraction (a GEMM call later), an input
// that walks the row with a stride (2 * j), and buffers.
// CHECK-LABEL: func.func @kept
// CHECK-NOT: tensor.expand_shape
// CHECK-NOT: linalg.fill
// CHECK: return
func.func @kept(%x12: tensor<4x12xf32>, %x8: tensor<4x8xf32>, %x: tensor<4x64xf32>, %w: tensor<64x16xf32>,
                %x128: tensor<4x128xf32>, %o4: tensor<4xf32>, %o64: tensor<64xf32>, %o416: tensor<4x16xf32>,
                %bx: memref<4x64xf32>, %bo: memref<4xf32>)
    -> (tensor<4xf32>, tensor<4xf32>, tensor<64xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x16xf32>, tensor<4xf32>) {
  %a = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x12 : tensor<4x12xf32>) outs(%o4 : tensor<4xf32>) {
  ^bb0(%e: f32, %acc: f32):
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %b = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x8 : tensor<4x8xf32>) outs(%o4 : tensor<4xf32>) {
  ^bb0(%e: f32, %acc: f32):
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %c = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<4x64xf32>) outs(%o64 : tensor<64xf32>) {
  ^bb0(%e: f32, %acc: f32):
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  } -> tensor<64xf32>
  %d = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x64xf32>) outs(%o4 : tensor<4xf32>) {
  ^bb0(%e: f32, %acc: f32):
    %s = arith.maximumf %acc, %e : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %f = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x64xf32>) outs(%o4 : tensor<4xf32>) {
  ^bb0(%e: f32, %acc: f32):
    %t = arith.mulf %acc, %e : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %g = linalg.matmul ins(%x, %w : tensor<4x64xf32>, tensor<64x16xf32>) outs(%o416 : tensor<4x16xf32>) -> tensor<4x16xf32>
  %h = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, 2 * j)>, #id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x128, %x : tensor<4x128xf32>, tensor<4x64xf32>) outs(%o4 : tensor<4xf32>) {
  ^bb0(%e: f32, %e2: f32, %acc: f32):
    %p = arith.mulf %e, %e2 : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%bx : memref<4x64xf32>) outs(%bo : memref<4xf32>) {
  ^bb0(%e: f32, %acc: f32):
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  }
  return %a, %b, %c, %d, %f, %g, %h : tensor<4xf32>, tensor<4xf32>, tensor<64xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4x16xf32>, tensor<4xf32>
}
