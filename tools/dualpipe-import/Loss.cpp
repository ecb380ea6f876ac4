//===- Loss.cpp - the built-in losses appended to an imported model -------===//
//
// A `dualpipe.loss` function on the model's output, written as ordinary
// linalg.generic ops like dualpipe-gen's, so the autodiff rules
// differentiate it:
//   cross_entropy  logits [..., C] against integer class labels [...]
//                  (PyTorch's F.cross_entropy with reduction='mean'):
//                  mean over rows of logsumexp(x) - x[label], max-stabilised
//   mse            mean over all elements of (y - label)^2
//
//===----------------------------------------------------------------------===//
#include "Importer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;

namespace dualpipe::import {
namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

Value cst(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
}

Value filled(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, double v) {
  Value e = tensor::EmptyOp::create(b, loc, shape, b.getF32Type());
  return linalg::FillOp::create(b, loc, ValueRange{cst(b, loc, v)},
                                ValueRange{e})
      .getResult(0);
}

Value generic(OpBuilder &b, Location loc, ValueRange ins, Value init,
              ArrayRef<AffineMap> maps, ArrayRef<utils::IteratorType> iters,
              BodyFn body) {
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ins, ValueRange{init}, maps,
             iters,
             [&](OpBuilder &nb, Location nloc, ValueRange args) {
               linalg::YieldOp::create(nb, nloc,
                                       ValueRange{body(nb, nloc, args)});
             })
      ->getResult(0);
}

Value mean(OpBuilder &b, Location loc, Value sum, int64_t count) {
  AffineMap scalar = AffineMap::get(0, 0, b.getContext());
  Value e = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{},
                                    b.getF32Type());
  return generic(b, loc, sum, e, {scalar, scalar}, {},
                 [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                   return arith::DivFOp::create(nb, l, a[0],
                                                cst(nb, l, double(count)));
                 });
}

Value mse(OpBuilder &b, Location loc, Value y, Value label) {
  auto t = cast<RankedTensorType>(y.getType());
  int64_t r = t.getRank();
  AffineMap id = b.getMultiDimIdentityMap(r);
  AffineMap toScalar = AffineMap::get(r, 0, b.getContext());
  Value sum = generic(
      b, loc, ValueRange{y, label}, filled(b, loc, {}, 0), {id, id, toScalar},
      SmallVector<utils::IteratorType>(r, utils::IteratorType::reduction),
      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value d = arith::SubFOp::create(nb, l, a[0], a[1]);
        return arith::AddFOp::create(nb, l, a[2],
                                     arith::MulFOp::create(nb, l, d, d));
      });
  return mean(b, loc, sum, t.getNumElements());
}

Value crossEntropy(OpBuilder &b, Location loc, Value x, Value label) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  MLIRContext *ctx = b.getContext();
  AffineMap id = b.getMultiDimIdentityMap(r);
  AffineMap row = AffineMap::get(
      r, 0, AffineMap::getMultiDimIdentityMap(r - 1, ctx).getResults(), ctx);
  AffineMap rowId = b.getMultiDimIdentityMap(r - 1);
  AffineMap rowToScalar = AffineMap::get(r - 1, 0, ctx);
  auto rows = t.getShape().drop_back();
  SmallVector<utils::IteratorType> iters(r, utils::IteratorType::parallel);
  iters.back() = utils::IteratorType::reduction;
  Value m = generic(b, loc, x, filled(b, loc, rows, -INFINITY), {id, row},
                    iters, [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                      return arith::MaximumFOp::create(nb, l, a[1], a[0]);
                    });
  Value s = generic(b, loc, ValueRange{x, m}, filled(b, loc, rows, 0),
                    {id, row, row}, iters,
                    [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                      Value e = math::ExpOp::create(
                          nb, l, arith::SubFOp::create(nb, l, a[0], a[1]));
                      return arith::AddFOp::create(nb, l, a[2], e);
                    });
  // Sum over rows of log(s) + m - x[row, label[row]]: the label's logit is
  // read with tensor.extract (a gather, differentiated as a scatter-add).
  Value nll = generic(
      b, loc, ValueRange{m, s, label}, filled(b, loc, {}, 0),
      {rowId, rowId, rowId, rowToScalar},
      SmallVector<utils::IteratorType>(r - 1, utils::IteratorType::reduction),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        SmallVector<Value> at;
        for (int64_t k = 0; k < r - 1; ++k)
          at.push_back(linalg::IndexOp::create(nb, l, k));
        at.push_back(arith::IndexCastOp::create(nb, l, nb.getIndexType(), a[2]));
        Value picked = tensor::ExtractOp::create(nb, l, x, at);
        Value lse = arith::AddFOp::create(nb, l, math::LogOp::create(nb, l, a[1]),
                                          a[0]);
        return arith::AddFOp::create(nb, l, a[3],
                                     arith::SubFOp::create(nb, l, lse, picked));
      });
  int64_t count = 1;
  for (int64_t d : rows)
    count *= d;
  return mean(b, loc, nll, count);
}

} // namespace

void appendLoss(ModuleOp module, func::FuncOp model, const std::string &kind,
                const std::string &labelName) {
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  Location loc = NameLoc::get(StringAttr::get(ctx, "loss"), model.getLoc());
  auto out = cast<RankedTensorType>(model.getFunctionType().getResult(0));
  bool ce = kind == "cross_entropy";
  Type labelType =
      ce ? RankedTensorType::get(out.getShape().drop_back(), b.getI64Type())
         : Type(out);
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(
      b, loc, "loss",
      FunctionType::get(ctx, {out, labelType},
                        {RankedTensorType::get({}, b.getF32Type())}));
  fn->setAttr("dualpipe.loss", UnitAttr::get(ctx));
  fn.setArgAttr(1, "dualpipe.label", StringAttr::get(ctx, labelName));
  if (ce)
    fn.setArgAttr(1, "dualpipe.int_range",
                  b.getDenseI64ArrayAttr({0, out.getShape().back()}));
  Block *body = fn.addEntryBlock();
  b.setInsertionPointToEnd(body);
  Value l = ce ? crossEntropy(b, loc, body->getArgument(0), body->getArgument(1))
               : mse(b, loc, body->getArgument(0), body->getArgument(1));
  func::ReturnOp::create(b, loc, l);
}

} // namespace dualpipe::import
