//===- VectorizeMaxReductions.cpp - max/min reductions on vectors --------===//
//
// Implements --dualpipe-vectorize-max-reductions (see the pass description
// in include/dualpipe/Conversion/Passes.td): upstream's tiling
// (scf::tileUsingSCF), linalg vectorizer and vector lowering patterns,
// applied to the reductions LLVM's loop vectorizer leaves scalar. Only the
// choice of ops and tile shape is ours.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEVECTORIZEMAXREDUCTIONS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// Whether `op` is a max/min reduction over its innermost loop only, of
/// static length at most `maxLength`, on buffers with static shapes.
bool isInnerMaxReduction(linalg::GenericOp op, int64_t maxLength) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() != 1)
    return false;
  SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
  if (kinds.back() != utils::IteratorType::reduction)
    return false;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic) || ranges.back() > maxLength)
    return false;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = dyn_cast<MemRefType>(operand.get().getType());
    if (!type || !type.hasStaticShape())
      return false;
  }
  SmallVector<Operation *> combiners;
  Value reduced = matchReduction(op.getRegionOutputArgs(), 0, combiners);
  return reduced && combiners.size() == 1 &&
         isa<arith::MaximumFOp, arith::MinimumFOp>(combiners.front());
}

struct VectorizeMaxReductionsPass
    : impl::DualPipeVectorizeMaxReductionsBase<VectorizeMaxReductionsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<linalg::GenericOp> candidates;
    getOperation().walk([&](linalg::GenericOp op) {
      if (isInnerMaxReduction(op, maxLength))
        candidates.push_back(op);
    });
    if (candidates.empty())
      return;
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : candidates) {
      // One output element per tile: loops over every parallel dimension.
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      SmallVector<OpFoldResult> sizes;
      for (size_t d = 0; d + 1 < ranges.size(); ++d)
        sizes.push_back(rewriter.getIndexAttr(ranges[d] == 1 ? 0 : 1));
      sizes.push_back(rewriter.getIndexAttr(0));
      scf::SCFTilingOptions options;
      options.setTileSizes(sizes);
      rewriter.setInsertionPoint(op);
      FailureOr<scf::SCFTilingResult> tiled = scf::tileUsingSCF(
          rewriter, cast<TilingInterface>(op.getOperation()), options);
      if (failed(tiled) || tiled->tiledOps.size() != 1)
        continue; // Stays a loop nest for convert-linalg-to-loops.
      rewriter.eraseOp(op);
      Operation *tile = tiled->tiledOps.front();
      rewriter.setInsertionPoint(tile);
      if (failed(linalg::vectorize(rewriter, tile)))
        continue;
      rewriter.eraseOp(tile);
    }
    // The tiles' unit dimensions dropped (convert-vector-to-llvm takes 1-D
    // vectors), then the vector ops as upstream lowers them for the LLVM
    // dialect: one vector.reduction per output element, transfers as loads
    // and stores.
    RewritePatternSet unitDims(&getContext());
    vector::populateCastAwayVectorLeadingOneDimPatterns(unitDims);
    vector::populateVectorTransferDropUnitDimsPatterns(unitDims);
    if (failed(applyPatternsGreedily(getOperation(), std::move(unitDims))))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    vector::populateVectorMultiReductionLoweringPatterns(
        patterns, vector::VectorMultiReductionLowering::InnerReduction);
    vector::populateVectorTransferLoweringPatterns(patterns);
    vector::populateVectorShapeCastLoweringPatterns(patterns);
    vector::populateVectorBroadcastLoweringPatterns(patterns);
    vector::ExtractOp::getCanonicalizationPatterns(patterns, &getContext());
    vector::BroadcastOp::getCanonicalizationPatterns(patterns, &getContext());
    vector::ShapeCastOp::getCanonicalizationPatterns(patterns, &getContext());
    vector::TransferReadOp::getCanonicalizationPatterns(patterns,
                                                        &getContext());
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns,
                                                         &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace dualpipe
