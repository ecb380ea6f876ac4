//===- Differentiator.h - stages and blocks through autodiff ----*- C++ -*-===//
//
// What --dualpipe-autodiff does to one function, private to lib/Autodiff.
// A function is differentiated in one scratch function holding its primal
// ops (plus the loss for the last stage) followed by their adjoints
// (Scratch.cpp); a policy decides what the forward saves (Policy.cpp); the
// scratch is then carved into the functions of the contract: forward,
// backward, backward-input (I) and backward-weight (W)
// (EmitFunctions.cpp).
//
// Stage functions and block functions go through the same machinery. A
// block is a function the model calls (a repeated layer): it is
// differentiated once per calling convention (which arguments carry
// gradients, which are weights), and a call in a stage becomes a call of
// the block's forward, and in the backward a call of its backward-input and
// one of its backward-weight, so that the stage's I/W split keeps the
// block's weight gradients in W.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_LIB_AUTODIFF_DIFFERENTIATOR_H
#define DUALPIPE_LIB_AUTODIFF_DIFFERENTIATOR_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

#include <map>
#include <memory>
#include <string>

namespace dualpipe::autodiff {

//===- Helpers shared by the pieces ---------------------------------------===//

/// Every value an op uses, including inside its regions, that is defined
/// outside it.
llvm::SmallVector<mlir::Value> usedValues(mlir::Operation *op);

/// Ops of `block` that `roots` need, stopping at `leaves`.
llvm::DenseSet<mlir::Operation *>
sliceOf(llvm::ArrayRef<mlir::Value> roots, mlir::Block &block,
        const llvm::DenseSet<mlir::Value> &leaves);

/// Ops of `block` in `set`, in block order.
llvm::SmallVector<mlir::Operation *>
inOrder(mlir::Block &block, const llvm::DenseSet<mlir::Operation *> &set);

/// Cheaper to recreate than to keep: constants, tensor.empty, and
/// linalg.fill of those.
bool isRematerializable(mlir::Operation *op);

/// Bytes of a statically shaped type (0 otherwise).
int64_t bytesOf(mlir::Type t);

//===- One function being differentiated ----------------------------------===//

/// The calling convention of a block at a call site: which of the callee's
/// arguments carry gradients, and which of those are weights (their
/// gradients belong to W).
struct CallConvention {
  llvm::SmallVector<bool> active, weight;
  bool operator<(const CallConvention &o) const {
    return std::tie(active, weight) < std::tie(o.active, o.weight);
  }
};

/// The derived functions of a block for one calling convention.
struct BlockGrad {
  mlir::func::FuncOp forward, backwardInput, backwardWeight;
  unsigned numResults = 0;
  /// What backward-input takes after the output gradients: the callee's
  /// arguments it needs (passed from the call site, not saved by the
  /// forward), then the forward's extra results.
  llvm::SmallVector<unsigned> savedArgs;
  /// Callee arguments that get gradients from backward-input (activations)
  /// and from backward-weight (weights), in result order.
  llvm::SmallVector<unsigned> actArgs, weightArgs;
  /// The block's saved activation bytes with and without its own
  /// recomputation (equal unless recompute=elementwise).
  int64_t savedBytes = 0, savedBytesNoRecompute = 0;
};

/// A stage or block function differentiated in one scratch function.
struct StageGrad {
  mlir::func::FuncOp stage;
  /// The last stage (it applies the loss); false for blocks.
  bool last = false;
  /// A block function called by stages, not a stage of the pipeline.
  bool block = false;
  /// Names of the derived functions: <base>_fwd, <base>_bwd_i, ...
  std::string base;
  mlir::func::FuncOp scratch;
  unsigned numStageArgs = 0;
  /// Label argument types and attributes (last stage only).
  llvm::SmallVector<mlir::Type> labelTypes;
  llvm::SmallVector<mlir::DictionaryAttr> labelAttrs;
  unsigned numGradArgs = 0;
  llvm::SmallVector<unsigned> actArgs, paramArgs;
  llvm::SmallVector<mlir::Operation *> primalOps;
  llvm::SmallVector<mlir::Value> primalOuts, actGrads, paramGrads;
  /// Calls of block forwards in the scratch, with their derived functions.
  llvm::DenseMap<mlir::Operation *, const BlockGrad *> blockCalls;
  /// Policy outcome.
  llvm::SetVector<mlir::Value> saved;
  int64_t savedBytes = 0, savedBytesNoRecompute = 0;

  mlir::Block &body() { return scratch.getBody().front(); }
  bool isGradArg(mlir::Value v);
  bool isParamArg(mlir::Value v);
};

/// The options of the pass that the differentiation reads.
struct AutodiffOptions {
  std::string loss;
  int64_t microbatches = 1;
  std::string recompute = "none";
};

/// Differentiates the stages of one module (and the blocks they call).
class Differentiator {
public:
  Differentiator(mlir::ModuleOp module, AutodiffOptions options,
                 mlir::func::FuncOp lossFn)
      : module(module), options(std::move(options)), lossFn(lossFn) {}

  /// Derives @S_fwd, @S_bwd, @S_bwd_i, @S_bwd_w of a stage function and
  /// records them in its dualpipe.autodiff attribute.
  mlir::LogicalResult differentiateStage(mlir::func::FuncOp stage, bool last);

private:
  /// The derived functions of `callee` under `convention`, built once.
  mlir::FailureOr<const BlockGrad *>
  differentiateBlock(mlir::func::FuncOp callee,
                     const CallConvention &convention, mlir::Operation *site);
  /// Scratch building, sweep, policy and emission of one function.
  mlir::LogicalResult differentiate(StageGrad &sg);

  // Scratch.cpp
  mlir::LogicalResult classifyStageArguments(StageGrad &sg);
  mlir::LogicalResult prepareSignature(StageGrad &sg);
  mlir::LogicalResult buildScratch(StageGrad &sg);
  mlir::LogicalResult appendLoss(StageGrad &sg, mlir::OpBuilder &b);
  mlir::LogicalResult useBlockForwards(StageGrad &sg,
                                       llvm::DenseSet<mlir::Value> &active);
  mlir::LogicalResult reverseSweep(StageGrad &sg,
                                   llvm::DenseSet<mlir::Value> active);
  // Policy.cpp
  void choosePolicy(StageGrad &sg);
  // EmitFunctions.cpp
  mlir::LogicalResult emitFunctions(StageGrad &sg, BlockGrad *block);

  mlir::ModuleOp module;
  AutodiffOptions options;
  mlir::func::FuncOp lossFn;
  std::map<std::pair<mlir::Operation *, CallConvention>,
           std::unique_ptr<BlockGrad>>
      blocks;
  /// Blocks being differentiated (a call cycle would recurse forever).
  llvm::DenseSet<mlir::Operation *> inProgress;
  /// Variants made of each block so far (they get _v2, _v3, ... names).
  llvm::DenseMap<mlir::Operation *, unsigned> variants;
};

} // namespace dualpipe::autodiff

#endif // DUALPIPE_LIB_AUTODIFF_DIFFERENTIATOR_H
