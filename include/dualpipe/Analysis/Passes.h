//===- Passes.h - model import and cost analysis passes ---------*- C++ -*-===//
#ifndef DUALPIPE_ANALYSIS_PASSES_H
#define DUALPIPE_ANALYSIS_PASSES_H

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "mlir/Pass/Pass.h"

namespace dualpipe {
#define GEN_PASS_DECL
#include "dualpipe/Analysis/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dualpipe/Analysis/Passes.h.inc"


/// The function of `module` marked `attr` (dualpipe.model, dualpipe.loss),
/// or null; sets `duplicate` and emits an error when two are marked.
mlir::func::FuncOp findMarkedFunction(mlir::ModuleOp module,
                                      llvm::StringRef attr, bool &duplicate);
} // namespace dualpipe

#endif // DUALPIPE_ANALYSIS_PASSES_H
