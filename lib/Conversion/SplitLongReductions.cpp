//===- SplitLongReductions.cpp - blocked sums for long reductions ---------===//
//
// Implements --dualpipe-split-long-reductions (see the pass description in
// include/dualpipe/Conversion/Passes.td): a sum whose loops leave a long
// sequential chain of float additions becomes two sums, partial sums over
// blocks and a sum of those, with upstream's linalg::splitReduction (after
// linalg::collapseOpIterationDims where the reduction spans several
// loops). Only the choice of which ops and which ratio is ours.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPESPLITLONGREDUCTIONS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// The additions one element of the result takes one after another once
/// LLVM has vectorized the loops convert-linalg-to-loops makes of `op`:
/// the innermost loop, when it is a reduction, runs in partial sums per
/// lane (--dualpipe-lane-partial-sums, after this pass, where its length is
/// a multiple of 8), so its length hardly counts; every other reduction
/// loop adds its iterations in sequence.
int64_t sequentialChain(linalg::GenericOp op) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
  int64_t chain = 1;
  for (size_t d = 0; d < kinds.size(); ++d) {
    if (kinds[d] != utils::IteratorType::reduction)
      continue;
    if (ShapedType::isDynamic(ranges[d]))
      return 0;
    if (d + 1 != kinds.size())
      chain *= ranges[d];
  }
  return chain;
}

/// Whether `op` is a single-output f32/f64 sum (the yield is an addf of the
/// running value and something else), not a contraction (those go to BLAS).
bool isLongSum(linalg::GenericOp op, int64_t minChain) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() == 0 || linalg::isaContractionOpInterface(op))
    return false;
  SmallVector<Operation *> combiners;
  Value reduced =
      mlir::matchReduction(op.getRegionOutputArgs(), 0, combiners);
  if (!reduced || combiners.size() != 1 ||
      !isa<arith::AddFOp>(combiners.front()))
    return false;
  return sequentialChain(op) >= minChain;
}

/// The block count: the largest power of two r with r * r <= n dividing n
/// (chains of about sqrt(n) on both levels), or 0 where that is under 8.
int64_t ratioFor(int64_t n) {
  int64_t r = 1;
  while (n % (2 * r) == 0 && (2 * r) * (2 * r) <= n)
    r *= 2;
  return r >= 8 ? r : 0;
}

struct SplitLongReductionsPass
    : impl::DualPipeSplitLongReductionsBase<SplitLongReductionsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<linalg::GenericOp> candidates;
    getOperation()->walk([&](linalg::GenericOp op) {
      if (isLongSum(op, minChain))
        candidates.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : candidates) {
      linalg::LinalgOp target = op;
      // Several reduction loops: one, where they are adjacent and every
      // operand walks them as one contiguous run.
      SmallVector<unsigned> dims;
      op.getReductionDims(dims);
      if (dims.size() > 1) {
        ReassociationIndices group;
        for (unsigned d : dims)
          group.push_back(d);
        if (dims.back() - dims.front() + 1 != dims.size() ||
            !linalg::areDimSequencesPreserved(op.getIndexingMapsArray(),
                                              {group}))
          continue;
        rewriter.setInsertionPoint(op);
        FailureOr<linalg::CollapseResult> collapsed =
            linalg::collapseOpIterationDims(op, {group}, rewriter);
        if (failed(collapsed))
          continue;
        rewriter.replaceOp(op, collapsed->results);
        target = collapsed->collapsedOp;
      }
      SmallVector<unsigned> reduction;
      target.getReductionDims(reduction);
      int64_t n = target.getStaticLoopRanges()[reduction.front()];
      int64_t ratio = ratioFor(n);
      if (!ratio)
        continue;
      rewriter.setInsertionPoint(target);
      // The blocks are an outer parallel loop and the reduction within a
      // block stays where it was (innerParallel = false), so a reduction
      // over contiguous elements stays contiguous and vectorized.
      (void)linalg::splitReduction(rewriter, target, [&](linalg::LinalgOp) {
        return linalg::SplitReductionOptions{ratio, 0, false};
      });
    }
  }
};

} // namespace
} // namespace dualpipe
