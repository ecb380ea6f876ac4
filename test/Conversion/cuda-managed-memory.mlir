// RUN: dualpipe-opt %s --dualpipe-cuda-managed-memory | FileCheck %s

// Host allocations become managed memory (gpu.alloc host_shared); a
// deallocation frees on a fresh stream and waits for it. Kernel code in
// gpu.module is left alone.

// CHECK-LABEL: func.func @dualpipe_rank0
func.func @dualpipe_rank0(%n: index) {
  // CHECK: %[[M:.*]] = gpu.alloc host_shared () : memref<4x8xf32>
  %m = memref.alloc() : memref<4x8xf32>
  // CHECK: %[[D:.*]] = gpu.alloc host_shared (%{{.*}}) : memref<?xf64>
  %d = memref.alloc(%n) : memref<?xf64>
  // CHECK: %[[T0:.*]] = gpu.wait async
  // CHECK: %[[T1:.*]] = gpu.dealloc async [%[[T0]]] %[[M]] : memref<4x8xf32>
  // CHECK: gpu.wait [%[[T1]]]
  memref.dealloc %m : memref<4x8xf32>
  // CHECK: gpu.dealloc async [%{{.*}}] %[[D]] : memref<?xf64>
  memref.dealloc %d : memref<?xf64>
  // CHECK-NOT: memref.alloc
  // CHECK-NOT: memref.dealloc
  return
}
