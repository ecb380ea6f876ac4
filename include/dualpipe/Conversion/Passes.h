//===- Passes.h - dualpipe lowering passes ----------------------*- C++ -*-===//
#ifndef DUALPIPE_CONVERSION_PASSES_H
#define DUALPIPE_CONVERSION_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace dualpipe {
class AllReduceOp;

#define GEN_PASS_DECL
#include "dualpipe/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dualpipe/Conversion/Passes.h.inc"

/// Adds the dualpipe dialect's ConvertToLLVMPatternInterface (async
/// send/recv to dualpipe_rt_cuda_send/recv on the token's stream), which
/// `gpu-to-llvm` and `convert-to-llvm` use.
/// Upstream convert-func-to-llvm's per-function switch to the bare-pointer
/// calling convention (set by --dualpipe-bare-pointer-calls, read by
/// --dualpipe-emit-packed-entry-points); MLIR names it nowhere in C++.
inline constexpr llvm::StringLiteral kBarePtrAttr = "llvm.bareptr";

void registerConvertDualPipeToLLVMInterface(mlir::DialectRegistry &registry);

/// Replaces `dualpipe.all_reduce` with a call to the runtime's host
/// all-reduce, `dualpipe_rt_allreduce_sum_f32/f64(data, count, ranks,
/// nranks)`, the group kept in a constant global named `globalPrefix<k>`
/// (the first k not taken). Shared by the cpu and cuda lowerings. A
/// started all-reduce (with a token) becomes
/// `dualpipe_rt_iallreduce_sum_f32/f64(..., tag)`; then the op is left for
/// the caller to erase once the token's waits use the returned request.
mlir::Value lowerAllReduceToRuntimeCall(AllReduceOp op, mlir::ModuleOp module,
                                        llvm::StringRef globalPrefix,
                                        unsigned &globals);

} // namespace dualpipe

#endif // DUALPIPE_CONVERSION_PASSES_H
