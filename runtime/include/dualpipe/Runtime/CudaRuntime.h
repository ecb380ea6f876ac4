/*===- dualpipe/Runtime/CudaRuntime.h - C ABI of the CUDA runtime --------===*
 *
 * libdualpipe_runtime_cuda.so: what a step.so built with
 * `dualpipe-compile --target=cuda` links against, beside libdualpipe_runtime.
 *
 * - the `mgpu*` entry points that upstream MLIR's `gpu-to-llvm` lowering and
 *   the gpu.binary translation call (Debian's LLVM ships no
 *   libmlir_cuda_runtime): streams, events, memory, module load, launch;
 * - communication on a stream: dualpipe_rt_cuda_send / _recv, what
 *   `dualpipe.send async` / `dualpipe.recv async` lower to;
 * - device status and managed allocation for a runner.
 *
 * Memory convention of the cuda target: every buffer a step function touches
 * is CUDA managed memory (cudaMallocManaged): the runner allocates the step's
 * arguments with dualpipe_cuda_alloc_managed, and allocations inside the
 * step are `gpu.alloc host_shared`. Kernels run on the device; the few host
 * operations that remain (runtime calls, scalar stores) run after a stream
 * synchronisation that `gpu-async-region` inserts.
 *
 * No device: every call that needs one prints
 *   "no CUDA device: use --backend=local with a cpu build"
 * and exits the process with status 1; dualpipe_cuda_device_status reports
 * the same without exiting. Loading the library needs no device and no
 * driver (the driver API is reached through cudart at run time).
 *
 *===----------------------------------------------------------------------===*/

#ifndef DUALPIPE_RUNTIME_CUDARUNTIME_H
#define DUALPIPE_RUNTIME_CUDARUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "dualpipe/Runtime/Runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when a CUDA device answers; otherwise non-zero, with a message (the
 * no-device message followed by cudart's reason) copied into `message`. */
DUALPIPE_RT_EXPORT int32_t dualpipe_cuda_device_status(char *message,
                                                       int64_t capacity);

/* Binds the calling thread to device `device` (cudaSetDevice). */
DUALPIPE_RT_EXPORT int32_t dualpipe_cuda_set_device(int32_t device);

/* Managed memory for step arguments (zero-filled); NULL on failure. */
DUALPIPE_RT_EXPORT void *dualpipe_cuda_alloc_managed(int64_t bytes);
DUALPIPE_RT_EXPORT void dualpipe_cuda_free(void *ptr);

/* Versions of the libraries the step links against (cudart, cuBLAS, NCCL),
 * as the libraries report them; no device needed for NCCL. */
DUALPIPE_RT_EXPORT int32_t dualpipe_cuda_nccl_version(void);
DUALPIPE_RT_EXPORT int32_t dualpipe_cuda_runtime_version(void);
DUALPIPE_RT_EXPORT int32_t dualpipe_cuda_cublas_version(void);

/* Communication on a stream. The transfer happens after everything queued
 * on `stream` before it, and everything queued after it sees its effect.
 * On a stream-ordered world (nccl) the transfer is queued on the GPU and
 * the call returns at once (dualpipe_rt_send_on_stream); on the host
 * transports (local, mpi) the calling thread synchronises `stream` and runs
 * the transfer through the world's transport (the buffers are managed
 * memory), so communication there does not overlap compute. */
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_cuda_send(int32_t peer, int64_t tag,
                                                 const void *data,
                                                 int64_t bytes, void *stream);
DUALPIPE_RT_EXPORT int32_t dualpipe_rt_cuda_recv(int32_t peer, int64_t tag,
                                                 void *data, int64_t bytes,
                                                 void *stream);

/* The end of a step, for a runner: waits for the device (every stream of
 * this process) and frees the managed memory whose release was put off
 * while nccl sends were in flight. 0, or non-zero with the reason in
 * `message`. Call it after dualpipe_rt_synchronize, before the host reads
 * what the step wrote. */
DUALPIPE_RT_EXPORT int32_t dualpipe_cuda_synchronize(char *message,
                                                     int64_t capacity);

/* Makes `device` the GPU of every thread of this process that has not
 * chosen one (dualpipe_cuda_set_device, mgpuSetDefaultDevice), e.g. the
 * rank threads of a local world; also binds the calling thread. */
DUALPIPE_RT_EXPORT int32_t dualpipe_cuda_set_process_device(int32_t device);

/* How many CUDA devices are visible (0 when none, or no driver). */
DUALPIPE_RT_EXPORT int32_t dualpipe_cuda_device_count(void);

/*--- upstream gpu-to-llvm's runtime interface -------------------------------*/
DUALPIPE_RT_EXPORT void *mgpuStreamCreate(void);
DUALPIPE_RT_EXPORT void mgpuStreamDestroy(void *stream);
DUALPIPE_RT_EXPORT void mgpuStreamSynchronize(void *stream);
DUALPIPE_RT_EXPORT void mgpuStreamWaitEvent(void *stream, void *event);
DUALPIPE_RT_EXPORT void *mgpuEventCreate(void);
DUALPIPE_RT_EXPORT void mgpuEventDestroy(void *event);
DUALPIPE_RT_EXPORT void mgpuEventSynchronize(void *event);
DUALPIPE_RT_EXPORT void mgpuEventRecord(void *event, void *stream);
DUALPIPE_RT_EXPORT void *mgpuMemAlloc(uint64_t bytes, void *stream,
                                      int8_t isHostShared);
DUALPIPE_RT_EXPORT void mgpuMemFree(void *ptr, void *stream);
DUALPIPE_RT_EXPORT void mgpuMemcpy(void *dst, void *src, size_t bytes,
                                   void *stream);
DUALPIPE_RT_EXPORT void mgpuMemset32(void *dst, uint32_t value, size_t count,
                                     void *stream);
DUALPIPE_RT_EXPORT void mgpuMemset16(void *dst, uint16_t value, size_t count,
                                     void *stream);
DUALPIPE_RT_EXPORT void *mgpuModuleLoad(void *data, size_t bytes);
DUALPIPE_RT_EXPORT void *mgpuModuleLoadJIT(void *data, int32_t optLevel,
                                           size_t bytes);
DUALPIPE_RT_EXPORT void mgpuModuleUnload(void *module);
DUALPIPE_RT_EXPORT void *mgpuModuleGetFunction(void *module, const char *name);
DUALPIPE_RT_EXPORT void mgpuLaunchKernel(void *function, intptr_t gridX,
                                         intptr_t gridY, intptr_t gridZ,
                                         intptr_t blockX, intptr_t blockY,
                                         intptr_t blockZ, int32_t smem,
                                         void *stream, void **params,
                                         void **extra, size_t paramsCount);
DUALPIPE_RT_EXPORT void mgpuSetDefaultDevice(int32_t device);

/* GEMM on a stream (cuBLAS), the cuda target's form of
 * _mlir_ciface_dualpipe_rt_matmul_f32/f64 (Runtime.h: same operands and
 * semantics, C += op(A) op(B)), queued on `stream` (the kernels' stream, as
 * gpu-to-llvm passes a !gpu.async.token) without waiting for it. Operands
 * must have a unit stride in one of their last two dimensions (nothing is
 * copied); anything else, or a cuBLAS error, ends the process with a
 * message, as the other cuda entry points do. Not yet run on a GPU. */
DUALPIPE_RT_EXPORT int32_t _mlir_ciface_dualpipe_rt_cuda_matmul_f32(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b, void *stream);
DUALPIPE_RT_EXPORT int32_t _mlir_ciface_dualpipe_rt_cuda_matmul_f64(
    const dualpipe_unranked_memref *a, const dualpipe_unranked_memref *b,
    const dualpipe_unranked_memref *c, int32_t transpose_a,
    int32_t transpose_b, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* DUALPIPE_RUNTIME_CUDARUNTIME_H */
