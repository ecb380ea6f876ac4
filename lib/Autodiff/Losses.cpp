//===- Losses.cpp - the built-in losses of the last stage ----------------===//
//
// mse and cross_entropy written as ordinary linalg.generic ops, so that the
// same rules as the model differentiate them.
//
//===----------------------------------------------------------------------===//
#include "Rules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using linalg::GenericOp;

namespace dualpipe::autodiff {
namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// A one-result linalg.generic whose body yields `body(args)`.
Value generic(OpBuilder &b, Location loc, ValueRange ins, Value init,
              ArrayRef<AffineMap> maps, ArrayRef<utils::IteratorType> iters,
              BodyFn body) {
  return GenericOp::create(b, loc, TypeRange{init.getType()}, ins,
                           ValueRange{init}, maps, iters,
                           [&](OpBuilder &nb, Location nloc, ValueRange args) {
                             linalg::YieldOp::create(
                                 nb, nloc, ValueRange{body(nb, nloc, args)});
                           })
      ->getResult(0);
}

/// `sum / count` as a rank-0 tensor.
Value mean(OpBuilder &b, Location loc, Value sum, int64_t count) {
  MLIRContext *ctx = b.getContext();
  AffineMap scalar = AffineMap::get(0, 0, ctx);
  Type et = getElementTypeOrSelf(sum.getType());
  return generic(b, loc, sum, emptyLike(b, loc, sum.getType()),
                 {scalar, scalar}, {},
                 [&](OpBuilder &nb, Location nloc, ValueRange a) -> Value {
                   return arith::DivFOp::create(
                       nb, nloc, a[0], scalarConst(nb, nloc, et, count));
                 });
}

/// mse: mean over all elements of (y - label)^2.
Value buildMse(OpBuilder &b, Location loc, Value y, Value label) {
  auto t = cast<RankedTensorType>(y.getType());
  int64_t r = t.getRank();
  MLIRContext *ctx = b.getContext();
  AffineMap id = b.getMultiDimIdentityMap(r);
  AffineMap toScalar = AffineMap::get(r, 0, ctx);
  auto scalarType = RankedTensorType::get({}, t.getElementType());
  Value sum = generic(
      b, loc, ValueRange{y, label}, filled(b, loc, scalarType, 0),
      {id, id, toScalar},
      SmallVector<utils::IteratorType>(r, utils::IteratorType::reduction),
      [&](OpBuilder &nb, Location nloc, ValueRange a) -> Value {
        Value d = arith::SubFOp::create(nb, nloc, a[0], a[1]);
        Value sq = arith::MulFOp::create(nb, nloc, d, d);
        return arith::AddFOp::create(nb, nloc, a[2], sq);
      });
  return mean(b, loc, sum, t.getNumElements());
}

/// cross_entropy: mean over rows of -sum_c label[c] * log_softmax(x)[c],
/// with log_softmax(x) = x - (m + log(sum exp(x - m))), m the row maximum.
Value buildCrossEntropy(OpBuilder &b, Location loc, Value x, Value label) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  MLIRContext *ctx = b.getContext();
  Type et = t.getElementType();
  AffineMap id = b.getMultiDimIdentityMap(r);
  AffineMap row = AffineMap::getMultiDimIdentityMap(r - 1, ctx);
  row = AffineMap::get(r, 0, row.getResults(), ctx);
  AffineMap rowId = b.getMultiDimIdentityMap(r - 1);
  AffineMap toScalar = AffineMap::get(r, 0, ctx);
  auto rowType = RankedTensorType::get(t.getShape().drop_back(), et);
  auto scalarType = RankedTensorType::get({}, et);
  SmallVector<utils::IteratorType> rowIters(r, utils::IteratorType::parallel);
  rowIters.back() = utils::IteratorType::reduction;

  Value m = generic(b, loc, x, filled(b, loc, rowType, -INFINITY), {id, row},
                    rowIters,
                    [&](OpBuilder &nb, Location nloc, ValueRange a) -> Value {
                      return arith::MaximumFOp::create(nb, nloc, a[1], a[0]);
                    });
  Value s = generic(b, loc, ValueRange{x, m}, filled(b, loc, rowType, 0),
                    {id, row, row}, rowIters,
                    [&](OpBuilder &nb, Location nloc, ValueRange a) -> Value {
                      Value e = math::ExpOp::create(
                          nb, nloc, arith::SubFOp::create(nb, nloc, a[0], a[1]));
                      return arith::AddFOp::create(nb, nloc, a[2], e);
                    });
  Value lse = generic(
      b, loc, ValueRange{m, s}, emptyLike(b, loc, rowType),
      {rowId, rowId, rowId},
      SmallVector<utils::IteratorType>(r - 1, utils::IteratorType::parallel),
      [&](OpBuilder &nb, Location nloc, ValueRange a) -> Value {
        return arith::AddFOp::create(nb, nloc, a[0],
                                     math::LogOp::create(nb, nloc, a[1]));
      });
  Value sum = generic(
      b, loc, ValueRange{x, label, lse}, filled(b, loc, scalarType, 0),
      {id, id, row, toScalar},
      SmallVector<utils::IteratorType>(r, utils::IteratorType::reduction),
      [&](OpBuilder &nb, Location nloc, ValueRange a) -> Value {
        Value nll = arith::SubFOp::create(nb, nloc, a[2], a[0]);
        return arith::AddFOp::create(
            nb, nloc, a[3], arith::MulFOp::create(nb, nloc, a[1], nll));
      });
  return mean(b, loc, sum, rowType.getNumElements());
}

} // namespace

FailureOr<Value> buildBuiltinLoss(OpBuilder &b, Location loc, StringRef name,
                                  Value output, Value label) {
  auto t = dyn_cast<RankedTensorType>(output.getType());
  if (!t || !t.hasStaticShape() || !isa<FloatType>(t.getElementType()))
    return emitError(loc) << "the built-in loss '" << name
                          << "' needs a static float tensor output, got "
                          << output.getType(),
           failure();
  if (name == "mse")
    return buildMse(b, loc, output, label);
  if (name == "cross_entropy") {
    if (t.getRank() < 1)
      return emitError(loc) << "cross_entropy needs logits of rank >= 1 "
                               "(classes in the last dimension)",
             failure();
    return buildCrossEntropy(b, loc, output, label);
  }
  return emitError(loc) << "unknown loss '" << name
                        << "'; use loss=mse or loss=cross_entropy, or omit "
                           "loss= to use the module's dualpipe.loss function",
         failure();
}

} // namespace dualpipe::autodiff
