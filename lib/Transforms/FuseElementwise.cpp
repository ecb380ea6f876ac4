//===- FuseElementwise.cpp - elementwise fusion that computes nothing twice ===//
//
// Implements --dualpipe-fuse-elementwise: upstream's linalg elementwise
// fusion patterns (populateElementwiseOpsFusionPatterns, as in
// linalg-fuse-elementwise-ops) with a control that fuses a producer only
// where each of its elements is computed once, then gives the fused ops back
// an init they can be computed in.
//
// Measured on the bench models (CPU time of the 1-rank step), upstream's
// pass as it is made steps slower, for two reasons this pass removes:
//  - it fuses a producer into a consumer that reads it through a broadcast
//    or a projection (layer norm's per-row statistics into the per-element
//    op, attention's elementwise producers into the contractions run as
//    generics), so the producer's payload runs once per consumer iteration
//    instead of once per element: the control accepts only producers with
//    one use read through a permutation map;
//  - its RemoveOutsDependency pattern replaces each fused op's init (the
//    dead input that convert-elementwise-to-linalg chose, so bufferization
//    computes in place) with a fresh tensor.empty, one more allocation and
//    its page faults per op: a second pattern set hands such an op an input
//    of its type, read through the init's map, that dies there.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEFUSEELEMENTWISE
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

namespace {
/// Fuse `fused`'s producer into its consumer only when every element the
/// producer makes is used by exactly one iteration of the consumer.
bool fusesWithoutRecompute(OpOperand *fused) {
  Operation *producer = fused->get().getDefiningOp();
  if (!producer || !producer->hasOneUse())
    return false;
  auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
  return consumer && consumer.getMatchingIndexingMap(fused).isPermutation();
}

/// An all-parallel generic with one fresh (tensor.empty) init that its
/// payload does not read takes as init an input of the same type, read
/// through the same indexing map, with no other use: bufferization then
/// computes it in that input's buffer instead of a new one.
struct ReuseDeadInputAsInit : OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getNumDpsInits() != 1 ||
        op.getNumParallelLoops() != op.getNumLoops())
      return failure();
    OpOperand *init = op.getDpsInitOperand(0);
    if (!init->get().getDefiningOp<tensor::EmptyOp>() ||
        op.payloadUsesValueFromOperand(init))
      return failure();
    AffineMap initMap = op.getMatchingIndexingMap(init);
    for (OpOperand *input : op.getDpsInputOperands()) {
      Value value = input->get();
      // Block arguments are the function's read-only arguments or loop
      // values: bufferization would copy them.
      if (isa<BlockArgument>(value) || value.getType() != init->get().getType() ||
          op.getMatchingIndexingMap(input) != initMap || !value.hasOneUse())
        continue;
      rewriter.modifyOpInPlace(op, [&] { init->set(value); });
      return success();
    }
    return failure();
  }
};

struct FuseElementwisePass
    : impl::DualPipeFuseElementwiseBase<FuseElementwisePass> {
  LogicalResult initialize(MLIRContext *ctx) override {
    RewritePatternSet fusion(ctx);
    linalg::populateElementwiseOpsFusionPatterns(fusion, fusesWithoutRecompute);
    linalg::GenericOp::getCanonicalizationPatterns(fusion, ctx);
    fusionPatterns = FrozenRewritePatternSet(std::move(fusion));
    // Separate from the fusion patterns: their RemoveOutsDependency would
    // undo this one.
    RewritePatternSet reuse(ctx);
    reuse.add<ReuseDeadInputAsInit>(ctx);
    reusePatterns = FrozenRewritePatternSet(std::move(reuse));
    return success();
  }

  void runOnOperation() override {
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true);
    if (failed(applyPatternsGreedily(getOperation(), fusionPatterns, config)) ||
        failed(applyPatternsGreedily(getOperation(), reusePatterns, config)))
      return signalPassFailure();
  }

  FrozenRewritePatternSet fusionPatterns;
  FrozenRewritePatternSet reusePatterns;
};
} // namespace
} // namespace dualpipe
