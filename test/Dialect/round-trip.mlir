// RUN: dualpipe-opt %s | FileCheck %s
// RUN: dualpipe-opt %s | dualpipe-opt | FileCheck %s
// RUN: dualpipe-opt %s --mlir-print-op-generic | dualpipe-opt | FileCheck %s

// CHECK-LABEL: func.func @stage0
func.func @stage0(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  return %x : tensor<2x4xf32>
}
// CHECK-LABEL: func.func @stage1
func.func @stage1(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  return %x : tensor<2x4xf32>
}
// CHECK: dualpipe.pipeline "linear" ranks 2 stages [@stage0, @stage1] on [0, 1] model @model
dualpipe.pipeline "linear" ranks 2 stages [@stage0, @stage1] on [0, 1] model @model

// CHECK-LABEL: func.func @model
// CHECK-SAME: (%[[X:.*]]: tensor<2x4xf32>, %[[Y:.*]]: tensor<3xf32>)
func.func @model(%x: tensor<2x4xf32>, %y: tensor<3xf32>) -> (tensor<2x4xf32>, tensor<3xf32>) attributes {dualpipe.model} {
  // CHECK: %[[A:.*]] = dualpipe.stage_boundary %[[X]] : tensor<2x4xf32>
  %a = dualpipe.stage_boundary %x : tensor<2x4xf32>
  // CHECK: %{{.*}}:2 = dualpipe.stage_boundary %[[A]], %[[Y]] : tensor<2x4xf32>, tensor<3xf32>
  %b:2 = dualpipe.stage_boundary %a, %y : tensor<2x4xf32>, tensor<3xf32>
  return %b#0, %b#1 : tensor<2x4xf32>, tensor<3xf32>
}

// CHECK-LABEL: func.func @rank0
func.func @rank0(%buf: memref<2x4xf32>) attributes {dualpipe.rank = 0 : i64} {
  // CHECK: dualpipe.send %{{.*}} to 1 : memref<2x4xf32>
  dualpipe.send %buf to 1 : memref<2x4xf32>
  // CHECK: dualpipe.send %{{.*}} to 1 tag 3 : memref<2x4xf32>
  dualpipe.send %buf to 1 tag 3 : memref<2x4xf32>
  // CHECK: %[[T0:.*]] = dualpipe.send async %{{.*}} to 1 : memref<2x4xf32>
  %t0 = dualpipe.send async %buf to 1 : memref<2x4xf32>
  // CHECK: %[[T1:.*]] = dualpipe.recv async [%[[T0]]] %{{.*}} from 1 tag 2 : tensor<2x4xf32> into memref<2x4xf32>
  %t1 = dualpipe.recv async [%t0] %buf from 1 tag 2 : tensor<2x4xf32> into memref<2x4xf32>
  // CHECK: dualpipe.recv [%[[T0]], %[[T1]]] %{{.*}} from 1 : tensor<2x4xf32> into memref<2x4xf32>
  dualpipe.recv [%t0, %t1] %buf from 1 : tensor<2x4xf32> into memref<2x4xf32>
  // CHECK: gpu.wait [%[[T1]]]
  gpu.wait [%t1]
  // CHECK: dualpipe.all_reduce %{{.*}} ranks [0, 1] : memref<2x4xf32>
  dualpipe.all_reduce %buf ranks [0, 1] : memref<2x4xf32>
  // CHECK: %[[T2:.*]] = dualpipe.all_reduce %{{.*}} ranks [0, 1] tag 5 : memref<2x4xf32> -> !gpu.async.token
  %t2 = dualpipe.all_reduce %buf ranks [0, 1] tag 5 : memref<2x4xf32> -> !gpu.async.token
  // CHECK: gpu.wait [%[[T2]]]
  gpu.wait [%t2]
  return
}

// Placement rules other than linear.
func.func @s0() { return }
func.func @s1() { return }
func.func @s2() { return }
func.func @s3() { return }
// CHECK: dualpipe.pipeline "dualpipev" ranks 2 stages [@s0, @s1, @s2, @s3] on [0, 1, 1, 0]
dualpipe.pipeline "dualpipev" ranks 2 stages [@s0, @s1, @s2, @s3] on [0, 1, 1, 0]
// CHECK: dualpipe.pipeline "dualpipe" ranks 2 stages [@s0, @s1, @s0, @s1] on [0, 1, 1, 0]
dualpipe.pipeline "dualpipe" ranks 2 stages [@s0, @s1, @s0, @s1] on [0, 1, 1, 0]
// CHECK: dualpipe.pipeline "interleaved" ranks 2 stages [@s0, @s1, @s2, @s3] on [0, 1, 0, 1]
dualpipe.pipeline "interleaved" ranks 2 stages [@s0, @s1, @s2, @s3] on [0, 1, 0, 1]
// The tensors crossing each cut (one list per cut; a cut may carry none).
// CHECK: dualpipe.pipeline "dualpipe" ranks 2 stages [@s0, @s1, @s0, @s1] on [0, 1, 1, 0] cuts {{\[}}[tensor<2x4xf32>, tensor<3xf32>]]
dualpipe.pipeline "dualpipe" ranks 2 stages [@s0, @s1, @s0, @s1] on [0, 1, 1, 0] cuts [[tensor<2x4xf32>, tensor<3xf32>]]
// CHECK: dualpipe.pipeline "linear" ranks 3 stages [@s0, @s1, @s2] on [0, 1, 2] model @model cuts {{\[}}[tensor<2x4xf32>], []]
dualpipe.pipeline "linear" ranks 3 stages [@s0, @s1, @s2] on [0, 1, 2] model @model cuts [[tensor<2x4xf32>], []]
