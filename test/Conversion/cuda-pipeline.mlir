// REQUIRES: cuda-toolkit
// RUN: dualpipe-opt %s --dualpipe-lower-to-llvm-cuda | FileCheck %s

// The whole cuda lowering of a bufferized step (no GPU needed: ptxas runs
// here): kernels become one sm_90 cubin in a gpu.binary, the host code is
// LLVM with launches on streams, sends and receives take the stream, the
// rank function gets its packed entry point.

func.func private @stage(%x: memref<4x8xf32>, %w: memref<8x8xf32>, %y: memref<4x8xf32>) {
  %c0 = arith.constant 0.0 : f32
  linalg.fill ins(%c0 : f32) outs(%y : memref<4x8xf32>)
  linalg.matmul ins(%x, %w : memref<4x8xf32>, memref<8x8xf32>) outs(%y : memref<4x8xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      outs(%y : memref<4x8xf32>) {
  ^bb0(%v: f32):
    %e = math.tanh %v : f32
    linalg.yield %e : f32
  }
  return
}

func.func @dualpipe_rank0(%x: memref<4x8xf32>, %w: memref<8x8xf32>, %g: memref<8x8xf32>) attributes {llvm.emit_c_interface} {
  %a = memref.alloc() : memref<4x8xf32>
  call @stage(%x, %w, %a) : (memref<4x8xf32>, memref<8x8xf32>, memref<4x8xf32>) -> ()
  dualpipe.send %a to 1 tag 3 : memref<4x8xf32>
  dualpipe.recv %a from 1 tag 4 : tensor<4x8xf32> into memref<4x8xf32>
  dualpipe.all_reduce %g ranks [0, 1] : memref<8x8xf32>
  memref.dealloc %a : memref<4x8xf32>
  return
}

// CHECK: module attributes {gpu.container_module}
// CHECK-DAG: llvm.func @dualpipe_rt_cuda_send(i32, i64, !llvm.ptr, i64, !llvm.ptr) -> i32

// CHECK-LABEL: llvm.func internal @stage(
// CHECK: %[[KS:.*]] = llvm.call @mgpuStreamCreate()
// CHECK: gpu.launch_func <%[[KS]] : !llvm.ptr> @dualpipe_kernels::@stage_kernel
// The matmul is cuBLAS on the fill's stream; the host waits after it.
// CHECK: llvm.call @dualpipe_rt_cuda_matmul_f32({{.*}}, %[[KS]])
// CHECK: llvm.call @mgpuStreamSynchronize(%[[KS]])
// CHECK: %[[KS2:.*]] = llvm.call @mgpuStreamCreate()
// CHECK: gpu.launch_func <%[[KS2]] : !llvm.ptr> @dualpipe_kernels::@stage_kernel_0
// CHECK: llvm.call @mgpuStreamSynchronize(%[[KS2]])

// CHECK-LABEL: llvm.func internal @dualpipe_rank0(
// CHECK: %[[TRUE:.*]] = llvm.mlir.constant(1 : i8) : i8
// CHECK: llvm.call @mgpuMemAlloc(%{{.*}}, %{{.*}}, %[[TRUE]])
// CHECK: llvm.call @stage(
// CHECK: %[[S:.*]] = llvm.call @mgpuStreamCreate()
// CHECK: llvm.call @dualpipe_rt_cuda_send({{.*}}, %[[S]])
// CHECK: llvm.call @dualpipe_rt_cuda_recv({{.*}}, %[[S]])
// CHECK: llvm.call @mgpuStreamSynchronize(%[[S]])
// CHECK: llvm.call @dualpipe_rt_allreduce_sum_f32(
// CHECK: llvm.call @mgpuMemFree(
// All kernels are in one module: one ptxas run, one cubin.
// CHECK: gpu.binary @dualpipe_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, {{.*}}bin = "\7FELF
// CHECK-NOT: gpu.binary
// CHECK-LABEL: llvm.func @dualpipe_rank0_packed(

// CHECK-NOT: dualpipe.
