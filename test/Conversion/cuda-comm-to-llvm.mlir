// RUN: dualpipe-opt %s --gpu-to-llvm --reconcile-unrealized-casts | FileCheck %s

// Upstream gpu-to-llvm lowers async dualpipe.send/recv through the dialect's
// ConvertToLLVMPatternInterface: a call into the runtime that takes the
// stream of the token it depends on; the result token is that stream.

// CHECK-DAG: llvm.func @dualpipe_rt_cuda_send(i32, i64, !llvm.ptr, i64, !llvm.ptr) -> i32
// CHECK-DAG: llvm.func @dualpipe_rt_cuda_recv(i32, i64, !llvm.ptr, i64, !llvm.ptr) -> i32
// CHECK-LABEL: llvm.func @dualpipe_rank1
func.func @dualpipe_rank1(%a: memref<4x8xf32>, %b: memref<2x3xf64>) {
  // CHECK: %[[S:.*]] = llvm.call @mgpuStreamCreate()
  %t0 = gpu.wait async
  // CHECK-DAG: %[[PEER:.*]] = llvm.mlir.constant(0 : i32) : i32
  // CHECK-DAG: %[[TAG:.*]] = llvm.mlir.constant(3 : i64) : i64
  // CHECK-DAG: %[[BYTES:.*]] = llvm.mlir.constant(128 : i64) : i64
  // CHECK: llvm.call @dualpipe_rt_cuda_send(%[[PEER]], %[[TAG]], %{{.*}}, %[[BYTES]], %[[S]])
  %t1 = dualpipe.send async [%t0] %a to 0 tag 3 : memref<4x8xf32>
  // CHECK-DAG: llvm.mlir.constant(48 : i64) : i64
  // CHECK: llvm.call @dualpipe_rt_cuda_recv(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[S]])
  %t2 = dualpipe.recv async [%t1] %b from 0 tag 5 : tensor<2x3xf64> into memref<2x3xf64>
  // CHECK: llvm.call @mgpuStreamSynchronize(%[[S]])
  // CHECK: llvm.call @mgpuStreamDestroy(%[[S]])
  gpu.wait [%t2]
  // CHECK-NOT: dualpipe.
  return
}
