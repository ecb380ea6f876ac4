// RUN: dualpipe-opt %s --dualpipe-cuda-merge-kernel-modules | FileCheck %s

// Outlined kernels (one gpu.module each) move into one gpu.module, renamed
// after their old modules; launches follow. A module with more than its
// kernel is left alone.

module attributes {gpu.container_module} {
  // CHECK-LABEL: func.func @f
  func.func @f(%m: memref<4xf32>) {
    %c1 = arith.constant 1 : index
    // CHECK: gpu.launch_func @dualpipe_kernels::@f_kernel blocks
    gpu.launch_func @f_kernel::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<4xf32>)
    // CHECK: gpu.launch_func @dualpipe_kernels::@f_kernel_0 blocks
    gpu.launch_func @f_kernel_0::@f_kernel blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%m : memref<4xf32>)
    // CHECK: gpu.launch_func @other::@k blocks
    gpu.launch_func @other::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
  gpu.module @f_kernel {
    gpu.func @f_kernel(%m: memref<4xf32>) kernel { gpu.return }
  }
  gpu.module @f_kernel_0 {
    gpu.func @f_kernel(%m: memref<4xf32>) kernel { gpu.return }
  }
  gpu.module @other {
    gpu.func @k() kernel { gpu.return }
    gpu.func @helper() { gpu.return }
  }
}
// CHECK-NOT: gpu.module @f_kernel
// CHECK: gpu.module @other
// CHECK-NOT: gpu.module @f_kernel
// CHECK: gpu.module @dualpipe_kernels {
// CHECK-NEXT: gpu.func @f_kernel(%{{.*}}: memref<4xf32>) kernel
// CHECK: gpu.func @f_kernel_0(%{{.*}}: memref<4xf32>) kernel
