// RUN: dualpipe-opt %s --dualpipe-cuda-prepare | FileCheck %s

// Copies become linalg.copy (so that they become kernels); the mirror
// all-reduce becomes a host call to the runtime; sends and receives stay.

// CHECK-DAG: memref.global "private" constant @__dualpipe_cuda_group_0 : memref<2xi32> = dense<[0, 3]>
// CHECK-DAG: func.func private @dualpipe_rt_allreduce_sum_f32(!llvm.ptr, i64, !llvm.ptr, i32) -> i32
// CHECK-LABEL: func.func @dualpipe_rank0
// CHECK-SAME: %[[A:.*]]: memref<4x8xf32>, %[[B:.*]]: memref<4x8xf32>, %[[G:.*]]: memref<8x8xf32>
func.func @dualpipe_rank0(%a: memref<4x8xf32>, %b: memref<4x8xf32>, %g: memref<8x8xf32>) {
  // CHECK: linalg.copy ins(%[[A]] : memref<4x8xf32>) outs(%[[B]] : memref<4x8xf32>)
  // CHECK-NOT: memref.copy
  memref.copy %a, %b : memref<4x8xf32> to memref<4x8xf32>
  // CHECK: dualpipe.send %[[B]] to 1 tag 3
  dualpipe.send %b to 1 tag 3 : memref<4x8xf32>
  // CHECK: %[[GROUP:.*]] = memref.get_global @__dualpipe_cuda_group_0
  // CHECK-DAG: %[[N:.*]] = arith.constant 64 : i64
  // CHECK-DAG: %[[TWO:.*]] = arith.constant 2 : i32
  // CHECK: call @dualpipe_rt_allreduce_sum_f32(%{{.*}}, %[[N]], %{{.*}}, %[[TWO]])
  // CHECK-NOT: dualpipe.all_reduce
  dualpipe.all_reduce %g ranks [0, 3] : memref<8x8xf32>
  return
}
