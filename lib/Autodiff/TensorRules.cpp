//===- TensorRules.cpp - reverse-mode rules of tensor dialect ops --------===//
//
// Data-movement ops: their adjoints move the gradient back (slices become
// insertions into zeros, reshapes are inverted, concatenations are sliced).
//
//===----------------------------------------------------------------------===//
#include "Rules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace dualpipe::autodiff {

namespace {
SmallVector<OpFoldResult> staticIndices(OpBuilder &b, ArrayRef<int64_t> v) {
  return getAsIndexOpFoldResult(b.getContext(), v);
}

bool allStatic(ArrayRef<int64_t> v) {
  return llvm::none_of(v, ShapedType::isDynamic);
}

LogicalResult dynamicError(Operation *op) {
  return op->emitError() << "no gradient rule for '" << op->getName()
                         << "' with dynamic offsets, sizes or shapes; the "
                            "input contract asks for static shapes";
}

/// Whether a slice op has an SSA offset, size or stride (the rules need
/// every one of them static).
bool hasDynamicSlice(OffsetSizeAndStrideOpInterface op) {
  return !op.getOffsets().empty() || !op.getSizes().empty() ||
         !op.getStrides().empty();
}

// One rule per op; `g` is the adjoint of the op's result (null: nothing to
// propagate).

/// extract_slice: the gradient inserted into zeros at the same place.
LogicalResult adjointOf(tensor::ExtractSliceOp ex, Value g, ReverseSweep &sw) {
  if (!g)
    return success();
  OpBuilder &b = sw.builder();
  Location loc = ex.getLoc();
  if (hasDynamicSlice(ex))
    return dynamicError(ex);
  Value zeros = filled(b, loc, ex.getSource().getType(), 0);
  Value d = tensor::InsertSliceOp::create(b, loc, g, zeros,
                                          ex.getMixedOffsets(),
                                          ex.getMixedSizes(),
                                          ex.getMixedStrides());
  sw.accumulate(ex.getSource(), d, loc);
  return success();
}

/// insert_slice: the source gets the slice of the gradient; the dest
/// gets the gradient with the overwritten slice zeroed.
LogicalResult adjointOf(tensor::InsertSliceOp ins, Value g, ReverseSweep &sw) {
  if (!g)
    return success();
  OpBuilder &b = sw.builder();
  Location loc = ins.getLoc();
  if (hasDynamicSlice(ins))
    return dynamicError(ins);
  if (sw.isActive(ins.getSource())) {
    Value d = tensor::ExtractSliceOp::create(
        b, loc, cast<RankedTensorType>(ins.getSourceType()), g,
        ins.getMixedOffsets(), ins.getMixedSizes(), ins.getMixedStrides());
    sw.accumulate(ins.getSource(), d, loc);
  }
  if (sw.isActive(ins.getDest())) {
    Value zeros = filled(b, loc, ins.getSourceType(), 0);
    Value d = tensor::InsertSliceOp::create(b, loc, zeros, g,
                                            ins.getMixedOffsets(),
                                            ins.getMixedSizes(),
                                            ins.getMixedStrides());
    sw.accumulate(ins.getDest(), d, loc);
  }
  return success();
}

/// expand_shape: the gradient collapsed back.
LogicalResult adjointOf(tensor::ExpandShapeOp ex, Value g, ReverseSweep &sw) {
  if (!g)
    return success();
  Location loc = ex.getLoc();
  Value d = tensor::CollapseShapeOp::create(sw.builder(), loc, ex.getSrcType(),
                                            g, ex.getReassociationIndices());
  sw.accumulate(ex.getSrc(), d, loc);
  return success();
}

/// collapse_shape: the gradient expanded back.
LogicalResult adjointOf(tensor::CollapseShapeOp co, Value g,
                        ReverseSweep &sw) {
  if (!g)
    return success();
  OpBuilder &b = sw.builder();
  Location loc = co.getLoc();
  auto srcType = co.getSrcType();
  if (!allStatic(srcType.getShape()))
    return dynamicError(co);
  Value d = tensor::ExpandShapeOp::create(
      b, loc, srcType, g, co.getReassociationIndices(),
      staticIndices(b, srcType.getShape()));
  sw.accumulate(co.getSrc(), d, loc);
  return success();
}

/// concat: each input gets its slice of the gradient.
LogicalResult adjointOf(tensor::ConcatOp cat, Value g, ReverseSweep &sw) {
  if (!g)
    return success();
  OpBuilder &b = sw.builder();
  Location loc = cat.getLoc();
  int64_t dim = cat.getDim(), offset = 0;
  for (Value in : cat.getInputs()) {
    auto t = cast<RankedTensorType>(in.getType());
    if (!allStatic(t.getShape()))
      return dynamicError(cat);
    if (sw.isActive(in)) {
      SmallVector<int64_t> offsets(t.getRank(), 0), strides(t.getRank(), 1);
      offsets[dim] = offset;
      Value d = tensor::ExtractSliceOp::create(
          b, loc, t, g, staticIndices(b, offsets),
          staticIndices(b, t.getShape()), staticIndices(b, strides));
      sw.accumulate(in, d, loc);
    }
    offset += t.getShape()[dim];
  }
  return success();
}

/// pad with a constant: the source gets the interior of the gradient.
LogicalResult adjointOf(tensor::PadOp pad, Value g, ReverseSweep &sw) {
  if (!g)
    return success();
  OpBuilder &b = sw.builder();
  Location loc = pad.getLoc();
  Value padValue = pad.getConstantPaddingValue();
  if (!padValue)
    return pad->emitError() << "no gradient rule for tensor.pad whose "
                               "padding value is not a constant";
  if (sw.isActive(padValue))
    return pad->emitError() << "cannot differentiate the padding value of "
                               "tensor.pad; pad with a constant";
  if (!pad.getLow().empty() || !pad.getHigh().empty())
    return dynamicError(pad);
  auto srcType = pad.getSourceType();
  SmallVector<int64_t> strides(srcType.getRank(), 1);
  Value d = tensor::ExtractSliceOp::create(
      b, loc, srcType, g, staticIndices(b, pad.getStaticLow()),
      staticIndices(b, srcType.getShape()), staticIndices(b, strides));
  sw.accumulate(pad.getSource(), d, loc);
  return success();
}

/// cast: the gradient cast back.
LogicalResult adjointOf(tensor::CastOp c, Value g, ReverseSweep &sw) {
  if (!g)
    return success();
  Location loc = c.getLoc();
  sw.accumulate(c.getSource(),
                tensor::CastOp::create(sw.builder(), loc,
                                       c.getSource().getType(), g),
                loc);
  return success();
}
} // namespace

std::optional<LogicalResult> differentiateTensor(Operation *op,
                                                 ReverseSweep &sw) {
  if (!isa_and_nonnull<tensor::TensorDialect>(op->getDialect()))
    return std::nullopt;
  Value g = op->getNumResults() == 1 ? sw.getAdjoint(op->getResult(0)) : Value();
  if (isa<tensor::EmptyOp>(op))
    return success();
  return llvm::TypeSwitch<Operation *, std::optional<LogicalResult>>(op)
      .Case<tensor::ExtractSliceOp, tensor::InsertSliceOp,
            tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::ConcatOp,
            tensor::PadOp, tensor::CastOp>(
          [&](auto o) -> std::optional<LogicalResult> {
            return adjointOf(o, g, sw);
          })
      .Default([](Operation *) { return std::nullopt; });
}

} // namespace dualpipe::autodiff
