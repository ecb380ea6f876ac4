//===- LanePartialSums.cpp - sums in a fixed order of vector lanes --------===//
//
// Implements --dualpipe-lane-partial-sums (see the pass description in
// include/dualpipe/Conversion/Passes.td): a sum over a contiguous innermost
// reduction loop of n = c * L iterations becomes
//   1. an op with the loop split into c (reduction) x L (parallel, the new
//      innermost loop), summing into an L-wide partial tensor, whose lanes
//      are independent, so LLVM vectorizes them without reordering any
//      addition, and
//   2. a sum of the L lanes in lane order into the original outputs.
//
// Why not upstream: linalg::splitReduction takes one-output ops only (a
// layer norm's moments and its backward's two sums are one op with two
// outputs here) and cannot rewrite linalg.index (a causal mask's
// comparison); scf's partial-reduction tiling makes a loop per reduction
// tile whose tile op then needs its own vectorization. This pass only
// re-indexes the op (the split is a composition of indexing maps, no copy
// of the operands), so every other pass sees an ordinary linalg.generic.
//
// The point is the order: where the combiner of a sum carried `reassoc`
// instead, LLVM chose the partial sums per loop (vector width, interleave,
// epilogue) from its cost model, so the same sum in two functions of one
// module could round differently (issue #15: the pipeline and its
// single-rank reference disagreed by 1.3e-5 on a 48-layer GPT).
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/IRMapping.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPELANEPARTIALSUMS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// The lane count for a sum of `n` terms: 32 for long rows (the lanes' sum
/// is then a small part), 8 from 16 terms, 0 (no split) otherwise.
int64_t lanesFor(int64_t n) {
  if (n >= 1024 && n % 32 == 0)
    return 32;
  if (n >= 16 && n % 8 == 0)
    return 8;
  return 0;
}

/// Where `map` walks loop `red`: std::nullopt where it does not, the
/// result's position where one result is that loop alone (a dimension that
/// can be reshaped into blocks x lanes), failure otherwise (d * 2, two
/// results, d + e).
FailureOr<std::optional<unsigned>> reductionDimension(AffineMap map,
                                                      unsigned red) {
  std::optional<unsigned> pos;
  for (auto [r, e] : llvm::enumerate(map.getResults())) {
    if (!e.isFunctionOfDim(red))
      continue;
    if (pos || e != getAffineDimExpr(red, map.getContext()))
      return failure();
    pos = r;
  }
  return pos;
}

/// The lane count for `op`, or 0 where it is not a sum this pass splits:
/// tensors of static shape; the innermost loop a reduction (other
/// reduction loops stay as they are, outside the lanes), each input walking
/// it as one whole dimension if at all; every output's running value used
/// once, by the `arith.addf` the body yields for it (and nothing else
/// uses), so its term cannot depend on a running value; not a contraction
/// (those are GEMM calls, --dualpipe-lower-gemm-to-runtime).
int64_t lanesOf(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || linalg::isaContractionOpInterface(op))
    return 0;
  SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
  if (kinds.back() != utils::IteratorType::reduction)
    return 0;
  for (Value operand : op->getOperands())
    if (auto type = dyn_cast<ShapedType>(operand.getType());
        type && !type.hasStaticShape())
      return 0;
  for (AffineMap map : op.getIndexingMapsArray())
    if (map.getNumSymbols() != 0)
      return 0;
  for (OpOperand *in : op.getDpsInputOperands())
    if (failed(reductionDimension(op.getMatchingIndexingMap(in),
                                  kinds.size() - 1)))
      return 0;
  Block *body = op.getBlock();
  auto yield = cast<linalg::YieldOp>(body->getTerminator());
  for (auto [k, out] : llvm::enumerate(op.getRegionOutputArgs())) {
    if (!isa<Float32Type, Float64Type>(out.getType()) || !out.hasOneUse())
      return 0;
    // Used only by its own addf, which only the yield uses: so no term
    // can depend on a running value (no use-def path leaves a combiner).
    auto add = dyn_cast<arith::AddFOp>(*out.getUsers().begin());
    if (!add || add->getBlock() != body || yield.getOperand(k) != add ||
        !add->hasOneUse())
      return 0;
  }
  return lanesFor(op.getStaticLoopRanges().back());
}

/// Splits `op`'s innermost (reduction) loop into c x `lanes`: see the file
/// comment.
void splitIntoLanes(IRRewriter &rewriter, linalg::GenericOp op, int64_t lanes) {
  MLIRContext *ctx = op.getContext();
  Location loc = op.getLoc();
  unsigned rank = op.getNumLoops();
  unsigned red = rank - 1;
  // Old loop index in terms of the new ones: d_red = d_red * lanes + d_rank.
  SmallVector<AffineExpr> oldInNew;
  for (unsigned d = 0; d < red; ++d)
    oldInNew.push_back(getAffineDimExpr(d, ctx));
  oldInNew.push_back(getAffineDimExpr(red, ctx) * lanes +
                     getAffineDimExpr(rank, ctx));
  AffineMap split = AffineMap::get(rank + 1, 0, oldInNew, ctx);

  rewriter.setInsertionPoint(op);
  // An input that walks the reduction loop has that dimension expanded into
  // (c, L) (a reshape, no copy): linalg needs every loop to be some
  // operand's dimension, not only within d * L + l.
  SmallVector<AffineMap> maps;
  SmallVector<Value> inputs;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    std::optional<unsigned> pos = *reductionDimension(map, red);
    if (!pos) {
      maps.push_back(map.compose(split));
      inputs.push_back(in->get());
      continue;
    }
    auto type = cast<RankedTensorType>(in->get().getType());
    SmallVector<int64_t> shape;
    SmallVector<ReassociationIndices> groups;
    SmallVector<AffineExpr> results;
    for (unsigned r = 0; r < map.getNumResults(); ++r) {
      groups.push_back({int64_t(shape.size())});
      if (r != *pos) {
        shape.push_back(type.getDimSize(r));
        results.push_back(map.getResult(r));
        continue;
      }
      groups.back().push_back(int64_t(shape.size()) + 1);
      shape.append({type.getDimSize(r) / lanes, lanes});
      results.append({getAffineDimExpr(red, ctx), getAffineDimExpr(rank, ctx)});
    }
    inputs.push_back(tensor::ExpandShapeOp::create(
        rewriter, loc,
        RankedTensorType::get(shape, type.getElementType(), type.getEncoding()),
        in->get(), groups));
    maps.push_back(AffineMap::get(rank + 1, 0, results, ctx));
  }
  SmallVector<Value> partials;
  for (OpOperand &init : op.getDpsInitsMutable()) {
    auto type = cast<RankedTensorType>(init.get().getType());
    SmallVector<int64_t> shape(type.getShape());
    shape.push_back(lanes);
    Value empty =
        tensor::EmptyOp::create(rewriter, loc, shape, type.getElementType());
    Value zero = arith::ConstantOp::create(
        rewriter, loc, rewriter.getZeroAttr(type.getElementType()));
    partials.push_back(
        linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0));
    AffineMap outMap = op.getMatchingIndexingMap(&init).compose(split);
    maps.push_back(outMap.insertResult(getAffineDimExpr(rank, ctx),
                                       outMap.getNumResults()));
  }
  SmallVector<utils::IteratorType> kinds = op.getIteratorTypesArray();
  kinds.push_back(utils::IteratorType::parallel);

  auto lanesOp =
      linalg::GenericOp::create(rewriter, loc, TypeRange(ValueRange(partials)),
                                inputs, partials, maps, kinds);
  // The body as it was, with linalg.index of the split loop re-derived.
  IRMapping mapping;
  Region &region = lanesOp.getRegion();
  rewriter.cloneRegionBefore(op.getRegion(), region, region.end(), mapping);
  Block *newBody = &region.front();
  SmallVector<linalg::IndexOp> indices;
  newBody->walk([&](linalg::IndexOp index) {
    if (index.getDim() == red)
      indices.push_back(index);
  });
  for (linalg::IndexOp index : indices) {
    rewriter.setInsertionPoint(index);
    Value outer = linalg::IndexOp::create(rewriter, index.getLoc(), red);
    Value lane = linalg::IndexOp::create(rewriter, index.getLoc(), rank);
    Value width =
        arith::ConstantIndexOp::create(rewriter, index.getLoc(), lanes);
    Value scaled =
        arith::MulIOp::create(rewriter, index.getLoc(), outer, width);
    rewriter.replaceOpWithNewOp<arith::AddIOp>(index, scaled, lane);
  }

  // The lanes' sums in lane order, added to the original outputs: one op
  // for all of them where they have one shape (a layer norm's moments),
  // else one per output.
  rewriter.setInsertionPoint(op);
  SmallVector<Value> inits = op.getDpsInits();
  auto sameShape = [&](Value init) {
    return init.getType() == inits.front().getType();
  };
  SmallVector<SmallVector<unsigned>> groups;
  if (llvm::all_of(inits, sameShape))
    groups.push_back(llvm::to_vector(llvm::seq<unsigned>(0, inits.size())));
  else
    for (unsigned i = 0; i < inits.size(); ++i)
      groups.push_back({i});
  SmallVector<Value> results(inits.size());
  for (ArrayRef<unsigned> group : groups) {
    unsigned outRank =
        cast<RankedTensorType>(inits[group.front()].getType()).getRank();
    AffineMap all = AffineMap::getMultiDimIdentityMap(outRank + 1, ctx);
    AffineMap dropLane = all.dropResult(outRank);
    SmallVector<Value> ins, outs;
    for (unsigned i : group) {
      ins.push_back(lanesOp->getResult(i));
      outs.push_back(inits[i]);
    }
    SmallVector<AffineMap> sumMaps(group.size(), all);
    sumMaps.append(group.size(), dropLane);
    SmallVector<utils::IteratorType> sumKinds(outRank,
                                              utils::IteratorType::parallel);
    sumKinds.push_back(utils::IteratorType::reduction);
    size_t n = group.size();
    auto sum = linalg::GenericOp::create(
        rewriter, loc, TypeRange(ValueRange(outs)), ins, outs, sumMaps,
        sumKinds, [&](OpBuilder &b, Location l, ValueRange args) {
          SmallVector<Value> added;
          for (size_t i = 0; i < n; ++i)
            added.push_back(arith::AddFOp::create(b, l, args[n + i], args[i]));
          linalg::YieldOp::create(b, l, added);
        });
    for (auto [i, r] : llvm::zip(group, sum->getResults()))
      results[i] = r;
  }
  rewriter.replaceOp(op, results);
}

struct LanePartialSumsPass
    : impl::DualPipeLanePartialSumsBase<LanePartialSumsPass> {
  void runOnOperation() override {
    SmallVector<std::pair<linalg::GenericOp, int64_t>> candidates;
    getOperation()->walk([&](linalg::GenericOp op) {
      if (int64_t lanes = lanesOf(op))
        candidates.push_back({op, lanes});
    });
    IRRewriter rewriter(&getContext());
    for (auto [op, lanes] : candidates)
      splitIntoLanes(rewriter, op, lanes);
  }
};

} // namespace
} // namespace dualpipe
