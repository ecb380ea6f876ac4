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
  // expected-error @+1 {{asynchronous dualpipe.send lowers only on the cuda target; on cpu a send is synchronous (the runtime buffers it)}}
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

// -----

// A posted receive: the request from dualpipe_rt_irecv replaces the token,
// and the wait for it waits for that request.
// CHECK-DAG: func.func private @dualpipe_rt_irecv(i32, i64, !llvm.ptr, i64) -> i64
// CHECK-DAG: func.func private @dualpipe_rt_wait(i64) -> i32
// CHECK-LABEL: func.func @posted
func.func @posted(%a: memref<4xf32>, %b: memref<2xf64>) {
  // CHECK: %[[R0:.*]] = call @dualpipe_rt_irecv(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (i32, i64, !llvm.ptr, i64) -> i64
  %t0 = dualpipe.recv async %a from 2 tag 7 : tensor<4xf32> into memref<4xf32>
  // CHECK: %[[R1:.*]] = call @dualpipe_rt_irecv(
  %t1 = dualpipe.recv async %b from 2 tag 8 : tensor<2xf64> into memref<2xf64>
  // CHECK-NEXT: call @dualpipe_rt_wait(%[[R0]])
  // CHECK-NEXT: call @dualpipe_rt_wait(%[[R1]])
  // CHECK-NOT: gpu.wait
  gpu.wait [%t0, %t1]
  return
}

// -----

// A token that orders another transfer is the cuda target's stream form.
func.func @chained(%a: memref<4xf32>, %b: memref<4xf32>) {
  // expected-error @+1 {{asynchronous dualpipe.recv lowers on cpu only as a posted receive}}
  %t0 = dualpipe.recv async %a from 2 : tensor<4xf32> into memref<4xf32>
  %t1 = dualpipe.recv async [%t0] %b from 2 : tensor<4xf32> into memref<4xf32>
  gpu.wait [%t1]
  return
}

// -----

func.func @stream(%a: memref<4xf32>) {
  %s = gpu.wait async
  // expected-error @+1 {{on cpu gpu.wait only completes posted receives}}
  gpu.wait [%s]
  return
}

// -----

// A started all-reduce returns a request, which the wait takes.
// CHECK-DAG: func.func private @dualpipe_rt_iallreduce_sum_f32(!llvm.ptr, i64, !llvm.ptr, i32, i64) -> i64
// CHECK-LABEL: func.func @started
func.func @started(%g: memref<4x4xf32>, %a: memref<4xf32>) {
  // CHECK-DAG: %[[TAG:.*]] = arith.constant 9 : i64
  // CHECK: %[[R:.*]] = call @dualpipe_rt_iallreduce_sum_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[TAG]])
  %t = dualpipe.all_reduce %g ranks [0, 3] tag 9 : memref<4x4xf32> -> !gpu.async.token
  // CHECK: %[[Q:.*]] = call @dualpipe_rt_irecv(
  %r = dualpipe.recv async %a from 3 : tensor<4xf32> into memref<4xf32>
  // CHECK: call @dualpipe_rt_wait(%[[R]])
  // CHECK-NEXT: call @dualpipe_rt_wait(%[[Q]])
  gpu.wait [%t, %r]
  // CHECK-NOT: dualpipe.all_reduce
  return
}
