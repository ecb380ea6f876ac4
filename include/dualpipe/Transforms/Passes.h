//===- Passes.h - dualpipe transformation passes ----------------*- C++ -*-===//
#ifndef DUALPIPE_TRANSFORMS_PASSES_H
#define DUALPIPE_TRANSFORMS_PASSES_H

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Pass/Pass.h"

namespace dualpipe {
#define GEN_PASS_DECL
#include "dualpipe/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dualpipe/Transforms/Passes.h.inc"

/// Registers `--dualpipe-emit-schedule=FILE.csv` (its argument is a file
/// name, not a pass-option list, so it is registered by hand).
void registerEmitSchedulePass();
} // namespace dualpipe

#endif // DUALPIPE_TRANSFORMS_PASSES_H
