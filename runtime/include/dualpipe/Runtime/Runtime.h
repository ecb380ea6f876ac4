/*===- dualpipe/Runtime/Runtime.h - C ABI of the dualpipe runtime ---------===*
 *
 * The umbrella header: everything libdualpipe_runtime exports.
 *
 *   dualpipe/Runtime/StepABI.h  what generated rank programs call (send,
 *                               recv, actions, all-reduce, barrier, fail,
 *                               GEMM, the stream forms)
 *   dualpipe/Runtime/Host.h     what runners call (worlds, bind, traces,
 *                               MPI and NCCL worlds, GEMM settings)
 *
 * The cuda target's mgpu* shim is apart: dualpipe/Runtime/CudaRuntime.h
 * (libdualpipe_runtime_cuda). See docs/runtime.md.
 *
 *===----------------------------------------------------------------------===*/

#ifndef DUALPIPE_RUNTIME_RUNTIME_H
#define DUALPIPE_RUNTIME_RUNTIME_H

#include "dualpipe/Runtime/StepABI.h"
#include "dualpipe/Runtime/Host.h"

#endif /* DUALPIPE_RUNTIME_RUNTIME_H */
