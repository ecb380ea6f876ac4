// RUN: dualpipe-opt %s --dualpipe-split-long-reductions | FileCheck %s
// RUN: dualpipe-opt %s --dualpipe-split-long-reductions=min-chain=100000 | FileCheck %s --check-prefix=HIGH

#id = affine_map<(i, j) -> (i, j)>
#col = affine_map<(i, j) -> (j)>
#row = affine_map<(i, j) -> (i)>
#all = affine_map<(i, j) -> ()>

// A bias gradient: the sum over 4096 rows of each column (the rows are
// the outer loop, a 4096-term chain per column) becomes 64 blocks of 64
// rows (partials 64 x 16) and the sum of the 64 partials.
// CHECK-LABEL: func.func @column_sum
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [64, 64, 16] : tensor<4096x16xf32> into tensor<64x64x16xf32>
// CHECK: linalg.fill {{.*}} -> tensor<64x16xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]
// CHECK-SAME: outs(%{{.*}} : tensor<64x16xf32>)
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]
// CHECK-SAME: ins(%{{.*}} : tensor<64x16xf32>) outs(%{{.*}} : tensor<16xf32>)
// HIGH-LABEL: func.func @column_sum
// HIGH-NOT: tensor.expand_shape
// HIGH: return
func.func @column_sum(%g: tensor<4096x16xf32>, %out: tensor<16xf32>) -> tensor<16xf32> {
  %r = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%g : tensor<4096x16xf32>) outs(%out : tensor<16xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  } -> tensor<16xf32>
  return %r : tensor<16xf32>
}

// A loss over 2048 rows x 16: the two reduction loops become one of 32768
// (a 2048-term chain of row partials before), split into 128 blocks.
// CHECK-LABEL: func.func @narrow_loss
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<2048x16xf32> into tensor<32768xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [128, 256] : tensor<32768xf32> into tensor<128x256xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK-SAME: ins(%{{.*}} : tensor<128xf32>) outs(%{{.*}} : tensor<f32>)
func.func @narrow_loss(%y: tensor<2048x16xf32>, %t: tensor<2048x16xf32>, %out: tensor<f32>) -> tensor<f32> {
  %r = linalg.generic {indexing_maps = [#id, #id, #all], iterator_types = ["reduction", "reduction"]}
      ins(%y, %t : tensor<2048x16xf32>, tensor<2048x16xf32>) outs(%out : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %d = arith.subf %a, %b : f32
    %q = arith.mulf %d, %d : f32
    %s = arith.addf %acc, %q : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// Kept: the 8x1024 MLP's loss (64 rows x 1024: the 1024 are the vectorized
// innermost loop, a 64-term chain); a row sum (innermost); a max; a
// contraction (BLAS's); a memref op.
// CHECK-LABEL: func.func @kept
// CHECK-NOT: tensor.expand_shape
// CHECK-NOT: tensor.collapse_shape
// CHECK: return
func.func @kept(%y: tensor<64x1024xf32>, %x: tensor<4096x4096xf32>, %w: tensor<4096x4xf32>,
                %s: tensor<f32>, %rows: tensor<4096xf32>, %m: memref<4096x16xf32>, %mo: memref<16xf32>)
    -> (tensor<f32>, tensor<4096xf32>, tensor<4096xf32>, tensor<4096x4xf32>) {
  %l = linalg.generic {indexing_maps = [#id, #all], iterator_types = ["reduction", "reduction"]}
      ins(%y : tensor<64x1024xf32>) outs(%s : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %q = arith.mulf %a, %a : f32
    %r = arith.addf %acc, %q : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %rs = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4096x4096xf32>) outs(%rows : tensor<4096xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<4096xf32>
  %mx = linalg.generic {indexing_maps = [affine_map<(i, j) -> (j, i)>, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4096x4096xf32>) outs(%rows : tensor<4096xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<4096xf32>
  %init = tensor.empty() : tensor<4096x4xf32>
  %mm = linalg.matmul ins(%x, %w : tensor<4096x4096xf32>, tensor<4096x4xf32>) outs(%init : tensor<4096x4xf32>) -> tensor<4096x4xf32>
  linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%m : memref<4096x16xf32>) outs(%mo : memref<16xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  return %l, %rs, %mx, %mm : tensor<f32>, tensor<4096xf32>, tensor<4096xf32>, tensor<4096x4xf32>
}
