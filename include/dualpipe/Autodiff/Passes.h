//===- Passes.h - dualpipe automatic differentiation passes -----*- C++ -*-===//
#ifndef DUALPIPE_AUTODIFF_PASSES_H
#define DUALPIPE_AUTODIFF_PASSES_H

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace dualpipe {
#define GEN_PASS_DECL
#include "dualpipe/Autodiff/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dualpipe/Autodiff/Passes.h.inc"
} // namespace dualpipe

#endif // DUALPIPE_AUTODIFF_PASSES_H
