// RUN: dualpipe-opt %s --pass-pipeline='builtin.module(dualpipe-cuda-prepare,dualpipe-lower-gemm-to-runtime{target=cuda},func.func(convert-linalg-to-parallel-loops,scf-parallel-loop-tiling{parallel-loop-tile-sizes=16,16 no-min-max-bounds=true},gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,func.func(gpu-async-region),dualpipe-cuda-gemm-on-stream,dualpipe-cuda-managed-memory)' | FileCheck %s
// RUN: dualpipe-opt %s --pass-pipeline='builtin.module(dualpipe-cuda-prepare,dualpipe-lower-gemm-to-runtime{target=cuda},func.func(convert-linalg-to-parallel-loops,scf-parallel-loop-tiling{parallel-loop-tile-sizes=16,16 no-min-max-bounds=true},gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,func.func(gpu-async-region),dualpipe-cuda-gemm-on-stream,dualpipe-cuda-managed-memory,lower-affine,convert-scf-to-cf,gpu.module(convert-gpu-to-nvvm),expand-strided-metadata,gpu-to-llvm,reconcile-unrealized-casts)' | FileCheck %s --check-prefix=LLVM

// The cuda target: a matmul becomes a cuBLAS call in the runtime that takes
// the stream of the kernel before it (the fill), queued behind it; the host
// waits for that stream after the call, not before. (UNRUN on a GPU.)

// CHECK: func.func private @dualpipe_rt_cuda_matmul_f32(memref<*xf32>, memref<*xf32>, memref<*xf32>, i32, i32, !gpu.async.token) -> i32 attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @stage
func.func @stage(%x: memref<4x8xf32>, %w: memref<8x8xf32>, %y: memref<4x8xf32>) {
  %c0 = arith.constant 0.0 : f32
  // CHECK: %[[T0:.*]] = gpu.wait async
  // CHECK: %[[T1:.*]] = gpu.launch_func async [%[[T0]]]
  // CHECK-NOT: gpu.wait [
  // CHECK: call @dualpipe_rt_cuda_matmul_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[T1]])
  // CHECK-NEXT: gpu.wait [%[[T1]]]
  // CHECK-NOT: linalg.matmul
  // CHECK: return
  linalg.fill ins(%c0 : f32) outs(%y : memref<4x8xf32>)
  linalg.matmul ins(%x, %w : memref<4x8xf32>, memref<8x8xf32>) outs(%y : memref<4x8xf32>)
  return
}

// No kernel before: a fresh stream, waited for after the call. A batch
// with transposed B (the autodiff's dA = dC·Bᵀ after the fold).
// CHECK-LABEL: func.func @alone
func.func @alone(%dc: memref<2x4x3xf64>, %b: memref<2x8x3xf64>) -> memref<2x4x8xf64> {
  // CHECK: %[[S:.*]] = gpu.wait async
  // CHECK: call @dualpipe_rt_cuda_matmul_f64(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[S]])
  // CHECK-NEXT: gpu.wait [%[[S]]]
  %t = memref.alloc() : memref<2x3x8xf64>
  linalg.transpose ins(%b : memref<2x8x3xf64>) outs(%t : memref<2x3x8xf64>) permutation = [0, 2, 1]
  %out = memref.alloc() : memref<2x4x8xf64>
  linalg.batch_matmul ins(%dc, %t : memref<2x4x3xf64>, memref<2x3x8xf64>) outs(%out : memref<2x4x8xf64>)
  memref.dealloc %t : memref<2x3x8xf64>
  return %out : memref<2x4x8xf64>
}

// No unit stride: left to the parallel-loop kernels.
// CHECK-LABEL: func.func @strided
func.func @strided(%big: memref<16x16xf32>, %w: memref<8x8xf32>, %y: memref<4x8xf32>) {
  %x = memref.subview %big[0, 0] [4, 8] [2, 2] : memref<16x16xf32> to memref<4x8xf32, strided<[32, 2]>>
  // CHECK-NOT: call @dualpipe_rt_cuda_matmul
  // CHECK: gpu.launch_func
  linalg.matmul ins(%x, %w : memref<4x8xf32, strided<[32, 2]>>, memref<8x8xf32>) outs(%y : memref<4x8xf32>)
  return
}

// After gpu-to-llvm the token is the stream: the C-interface call takes the
// pointer mgpuStreamCreate returned.
// LLVM-LABEL: llvm.func @stage
// LLVM: %[[STREAM:.*]] = llvm.call @mgpuStreamCreate()
// LLVM: gpu.launch_func <%[[STREAM]] : !llvm.ptr> @stage_kernel::@stage_kernel
// LLVM: llvm.call @dualpipe_rt_cuda_matmul_f32({{.*}}, %[[STREAM]])
// LLVM-NEXT: llvm.call @mgpuStreamSynchronize(%[[STREAM]])
