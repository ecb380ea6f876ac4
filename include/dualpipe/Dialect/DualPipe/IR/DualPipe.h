//===- DualPipe.h - the dualpipe dialect ------------------------*- C++ -*-===//
#ifndef DUALPIPE_DIALECT_DUALPIPE_IR_DUALPIPE_H
#define DUALPIPE_DIALECT_DUALPIPE_IR_DUALPIPE_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace dualpipe {
/// The side-effect resource of inter-rank communication.
struct CommResource
    : public mlir::SideEffects::Resource::Base<CommResource> {
  llvm::StringRef getName() final { return "dualpipe::comm"; }
};
} // namespace dualpipe

#include "dualpipe/Dialect/DualPipe/IR/DualPipeOpsDialect.h.inc"

#define GET_OP_CLASSES
#include "dualpipe/Dialect/DualPipe/IR/DualPipeOps.h.inc"

namespace dualpipe {
/// Attribute names of the input contract (docs/architecture.md).
inline constexpr llvm::StringLiteral kModelAttr = "dualpipe.model";
inline constexpr llvm::StringLiteral kLossAttr = "dualpipe.loss";
inline constexpr llvm::StringLiteral kInputAttr = "dualpipe.input";
inline constexpr llvm::StringLiteral kParamAttr = "dualpipe.param";
inline constexpr llvm::StringLiteral kLabelAttr = "dualpipe.label";
/// Set on generated functions: the stage index, and the rank a program runs on.
inline constexpr llvm::StringLiteral kStageAttr = "dualpipe.stage";
inline constexpr llvm::StringLiteral kRankAttr = "dualpipe.rank";

/// Rank of stage `s` of `stages` on `ranks` ranks under a placement rule
/// (linear, interleaved, dualpipe, dualpipev); -1 for an unknown rule.
int64_t placementRank(llvm::StringRef placement, int64_t s, int64_t stages,
                      int64_t ranks);

/// The pipeline op at the top of `module`, or null when there is none.
PipelineOp lookupPipeline(mlir::ModuleOp module);
} // namespace dualpipe

#endif // DUALPIPE_DIALECT_DUALPIPE_IR_DUALPIPE_H
