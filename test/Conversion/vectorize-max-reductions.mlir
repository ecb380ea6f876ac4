// RUN: dualpipe-opt %s --dualpipe-vectorize-max-reductions --split-input-file | FileCheck %s

// A softmax's masked running maximum (causal: j > i is -inf) over the
// innermost loop: one tile per output element (loops over the parallel
// dimensions), the row read as one vector, masked and scaled on vectors,
// one vector.reduction <maximumf> that starts from the output's value,
// which is written back.
#m3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#r3 = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @softmax_max(%s: memref<2x4x8xf32>, %m: memref<2x4xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  %scale = arith.constant 0.5 : f32
  linalg.fill ins(%ninf : f32) outs(%m : memref<2x4xf32>)
  linalg.generic {indexing_maps = [#m3, #r3], iterator_types = ["parallel", "parallel", "reduction"]} ins(%s : memref<2x4x8xf32>) outs(%m : memref<2x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %i = linalg.index 1 : index
    %j = linalg.index 2 : index
    %c = arith.cmpi ugt, %j, %i : index
    %x = arith.mulf %in, %scale : f32
    %y = arith.select %c, %ninf, %x : f32
    %r = arith.maximumf %out, %y : f32
    linalg.yield %r : f32
  }
  return
}
// CHECK-LABEL: func.func @softmax_max(
// CHECK-SAME: %[[S:[^:]*]]: memref<2x4x8xf32>, %[[M:[^:]*]]: memref<2x4xf32>
// CHECK: linalg.fill
// CHECK: scf.for %[[B:.*]] = %{{.*}} to %{{.*}} step
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK: %[[ROW:.*]] = memref.subview %[[S]][%[[B]], %[[I]], 0] [1, 1, 8]
// CHECK: %[[OUT:.*]] = memref.subview %[[M]][%[[B]], %[[I]]] [1, 1]
// CHECK: %[[X:.*]] = vector.load %{{.*}}[%{{.*}}] : memref<8xf32, {{.*}}>, vector<8xf32>
// CHECK: %[[J:.*]] = vector.step : vector<8xindex>
// CHECK: %[[MASK:.*]] = arith.cmpi ugt, %[[J]], %{{.*}} : vector<8xindex>
// CHECK: %[[SC:.*]] = arith.mulf %[[X]], %{{.*}} : vector<8xf32>
// CHECK: %[[Y:.*]] = arith.select %[[MASK]], %{{.*}}, %[[SC]] : vector<8xi1>, vector<8xf32>
// CHECK: %[[R:.*]] = vector.reduction <maximumf>, %[[Y]], %{{.*}} : vector<8xf32> into f32
// CHECK: vector.store %{{.*}}, %{{.*}}[] : memref<f32, {{.*}}>, vector<f32>
// CHECK-NOT: linalg.generic

// -----

// A minimum over rows of a 2-D buffer: the same, one loop.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @row_min(%a: memref<3x16xf32>, %m: memref<3xf32>) {
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%a : memref<3x16xf32>) outs(%m : memref<3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.minimumf %in, %out : f32
    linalg.yield %r : f32
  }
  return
}
// CHECK-LABEL: func.func @row_min(
// CHECK: scf.for
// CHECK: vector.load {{.*}} vector<16xf32>
// CHECK: vector.reduction <minimumf>
// CHECK-NOT: linalg.generic

// -----

// Left alone: a sum (--dualpipe-lane-partial-sums splits those, on
// tensors), a maximum over a non-innermost loop, a reduction longer than
// max-length, a maximum on tensors, and a dynamic shape.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @left_alone(%a: memref<3x16xf32>, %m: memref<3xf32>, %c: memref<16xf32>,
                      %long: memref<2x8192xf32>, %lm: memref<2xf32>,
                      %t: tensor<3x16xf32>, %tm: tensor<3xf32>,
                      %d: memref<?x16xf32>, %dm: memref<?xf32>) -> tensor<3xf32> {
  // CHECK-LABEL: func.func @left_alone(
  // CHECK-NOT: vector.
  // CHECK-COUNT-5: linalg.generic
  // CHECK-NOT: vector.
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%a : memref<3x16xf32>) outs(%m : memref<3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.addf %in, %out : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]} ins(%a : memref<3x16xf32>) outs(%c : memref<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.maximumf %in, %out : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%long : memref<2x8192xf32>) outs(%lm : memref<2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.maximumf %in, %out : f32
    linalg.yield %r : f32
  }
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%t : tensor<3x16xf32>) outs(%tm : tensor<3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.maximumf %in, %out : f32
    linalg.yield %r : f32
  } -> tensor<3xf32>
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%d : memref<?x16xf32>) outs(%dm : memref<?xf32>) {
  ^bb0(%in: f32, %out: f32):
    %r = arith.maximumf %in, %out : f32
    linalg.yield %r : f32
  }
  return %0 : tensor<3xf32>
}
