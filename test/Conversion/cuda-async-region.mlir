// RUN: dualpipe-opt %s --pass-pipeline='builtin.module(dualpipe-cuda-prepare,func.func(convert-linalg-to-parallel-loops,scf-parallel-loop-tiling{parallel-loop-tile-sizes=16,16 no-min-max-bounds=true},gpu-map-parallel-loops,convert-parallel-loops-to-gpu),gpu-kernel-outlining,func.func(gpu-async-region),dualpipe-cuda-managed-memory)' | FileCheck %s

// The first half of --dualpipe-lower-to-llvm-cuda on a bufferized step:
// linalg (and copies) become outlined kernels launched with async tokens,
// sends and receives join the token chain (GPU_AsyncOpInterface), host
// calls and deallocations wait for the stream first.

func.func private @stage(%x: memref<4x8xf32>, %w: memref<8x8xf32>, %y: memref<4x8xf32>) {
  %c0 = arith.constant 0.0 : f32
  linalg.fill ins(%c0 : f32) outs(%y : memref<4x8xf32>)
  linalg.matmul ins(%x, %w : memref<4x8xf32>, memref<8x8xf32>) outs(%y : memref<4x8xf32>)
  return
}

// CHECK: module attributes {gpu.container_module}
// CHECK-LABEL: func.func private @stage
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[T1:.*]] = gpu.launch_func async [%[[T0]]] @stage_kernel::@stage_kernel
// CHECK-SAME: threads in (%{{.*}}, %{{.*}}, %{{.*}})
// CHECK: %[[T2:.*]] = gpu.launch_func async [%[[T1]]] @stage_kernel_0::@stage_kernel
// CHECK: gpu.wait [%[[T2]]]
// CHECK-NEXT: return
// CHECK: gpu.module @stage_kernel
// CHECK: gpu.func @stage_kernel({{.*}}) kernel

// CHECK-LABEL: func.func @dualpipe_rank0
func.func @dualpipe_rank0(%x: memref<4x8xf32>, %w: memref<8x8xf32>, %g: memref<8x8xf32>) {
  // CHECK: %[[A:.*]] = gpu.alloc host_shared () : memref<4x8xf32>
  %a = memref.alloc() : memref<4x8xf32>
  // CHECK: call @stage
  call @stage(%x, %w, %a) : (memref<4x8xf32>, memref<8x8xf32>, memref<4x8xf32>) -> ()
  // CHECK: %[[S0:.*]] = gpu.wait async
  // CHECK: %[[S1:.*]] = dualpipe.send async [%[[S0]]] %[[A]] to 1 tag 3
  dualpipe.send %a to 1 tag 3 : memref<4x8xf32>
  // CHECK: gpu.wait [%[[S1]]]
  // CHECK: %[[B:.*]] = gpu.alloc host_shared () : memref<4x8xf32>
  %b = memref.alloc() : memref<4x8xf32>
  // CHECK: %[[R0:.*]] = gpu.wait async
  // CHECK: %[[R1:.*]] = dualpipe.recv async [%[[R0]]] %[[B]] from 1 tag 4
  dualpipe.recv %b from 1 tag 4 : tensor<4x8xf32> into memref<4x8xf32>
  // The copy is a kernel on the receive's stream.
  // CHECK: %[[K:.*]] = gpu.launch_func async [%[[R1]]] @dualpipe_rank0_kernel::@dualpipe_rank0_kernel
  // CHECK-SAME: %[[B]] : memref<4x8xf32>, %[[A]] : memref<4x8xf32>
  memref.copy %b, %a : memref<4x8xf32> to memref<4x8xf32>
  // CHECK: gpu.wait [%[[K]]]
  // CHECK-NEXT: call @dualpipe_rt_allreduce_sum_f32
  dualpipe.all_reduce %g ranks [0, 1] : memref<8x8xf32>
  // CHECK: gpu.dealloc async
  memref.dealloc %a : memref<4x8xf32>
  memref.dealloc %b : memref<4x8xf32>
  return
}

// CHECK: gpu.module @dualpipe_rank0_kernel
