//===- Passes.h - dualpipe lowering passes ----------------------*- C++ -*-===//
#ifndef DUALPIPE_CONVERSION_PASSES_H
#define DUALPIPE_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace dualpipe {
#define GEN_PASS_DECL
#include "dualpipe/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dualpipe/Conversion/Passes.h.inc"

/// Appends the passes that take a bufferized module with per-rank programs
/// down to LLVM-dialect IR for the CPU (loops, runtime calls, packed entry
/// points).
void buildCpuLoweringPipeline(mlir::OpPassManager &pm);

/// Appends the whole walking-skeleton chain: partition at the markers,
/// bufferize, build forward programs, deallocate, lower to LLVM for the CPU.
void buildForwardCpuPipeline(mlir::OpPassManager &pm);

/// Registers the named pipelines above with the pass registry
/// (`--dualpipe-lower-to-llvm-cpu`, `--dualpipe-forward-cpu`).
void registerDualPipePipelines();
} // namespace dualpipe

#endif // DUALPIPE_CONVERSION_PASSES_H
