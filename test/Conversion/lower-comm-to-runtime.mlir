// RUN: dualpipe-opt %s --dualpipe-lower-comm-to-runtime -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-DAG: func.func private @dualpipe_rt_send(i32, i64, !llvm.ptr, i64) -> i32
// CHECK-DAG: func.func private @dualpipe_rt_recv(i32, i64, !llvm.ptr, i64) -> i32
// CHECK-LABEL: func.func @rank0
// CHECK-SAME: %[[A:.*]]: memref<2x3xf32>, %[[B:.*]]: memref<5xf64>
func.func @rank0(%a: memref<2x3xf32>, %b: memref<5xf64>) {
  // CHECK: %[[I:.*]] = memref.extract_aligned_pointer_as_index %[[A]]
  // CHECK: %[[I64:.*]] = arith.index_cast %[[I]] : index to i64
  // CHECK: %[[P:.*]] = llvm.inttoptr %[[I64]] : i64 to !llvm.ptr
  // CHECK-DAG: %[[PEER:.*]] = arith.constant 1 : i32
  // CHECK-DAG: %[[TAG:.*]] = arith.constant 4 : i64
  // CHECK-DAG: %[[N:.*]] = arith.constant 24 : i64
  // CHECK: call @dualpipe_rt_send(%[[PEER]], %[[TAG]], %[[P]], %[[N]])
  dualpipe.send %a to 1 tag 4 : memref<2x3xf32>
  // CHECK: %[[J:.*]] = memref.extract_aligned_pointer_as_index %[[B]]
  // CHECK-DAG: arith.constant 40 : i64
  // CHECK: call @dualpipe_rt_recv(
  dualpipe.recv %b from 1 : tensor<5xf64> into memref<5xf64>
  // CHECK-NOT: dualpipe.
  return
}

// -----

func.func @rank0(%a: memref<4xf32>) {
  // expected-error @+1 {{asynchronous dualpipe.send lowers only on the cuda target; on cpu use the synchronous form}}
  %t = dualpipe.send async %a to 1 : memref<4xf32>
  return
}

// -----

// CHECK-LABEL: memref.global "private" constant @__dualpipe_group_0 : memref<2xi32> = dense<[0, 3]>
// CHECK-LABEL: func.func @mirror
func.func @mirror(%g: memref<4x4xf32>) {
  // CHECK: %[[G:.*]] = memref.get_global @__dualpipe_group_0 : memref<2xi32>
  // CHECK-DAG: %[[N:.*]] = arith.constant 16 : i64
  // CHECK-DAG: %[[TWO:.*]] = arith.constant 2 : i32
  // CHECK: call @dualpipe_rt_allreduce_sum_f32(%{{.*}}, %[[N]], %{{.*}}, %[[TWO]])
  dualpipe.all_reduce %g ranks [0, 3] : memref<4x4xf32>
  return
}
