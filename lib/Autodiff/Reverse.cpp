//===- Reverse.cpp - adjoint bookkeeping and rule dispatch ---------------===//
//
// The adjoint map of a reverse sweep, helpers that build the small tensor
// ops every rule needs, and the dispatcher that finds the rule of a
// top-level op or says which ops have one.
//
//===----------------------------------------------------------------------===//
#include "Rules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

using namespace mlir;

namespace dualpipe::autodiff {

Value emptyLike(OpBuilder &b, Location loc, Type type) {
  auto t = cast<RankedTensorType>(type);
  return tensor::EmptyOp::create(b, loc, t.getShape(), t.getElementType());
}

Value scalarConst(OpBuilder &b, Location loc, Type type, double value) {
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value filled(OpBuilder &b, Location loc, Type type, double value) {
  auto t = cast<RankedTensorType>(type);
  Value c = scalarConst(b, loc, t.getElementType(), value);
  return linalg::FillOp::create(b, loc, ValueRange{c},
                                ValueRange{emptyLike(b, loc, type)})
      .getResult(0);
}

Value addTensors(OpBuilder &b, Location loc, Value x, Value y) {
  return linalg::AddOp::create(b, loc, TypeRange{x.getType()},
                               ValueRange{x, y},
                               ValueRange{emptyLike(b, loc, x.getType())})
      .getResult(0);
}

Value ReverseSweep::getAdjointOrZeros(Value v, Location loc) {
  if (Value a = getAdjoint(v))
    return a;
  return filled(b, loc, v.getType(), 0.0);
}

void ReverseSweep::accumulate(Value v, Value contribution, Location loc) {
  if (!contribution || !isActive(v))
    return;
  Value &slot = adjoints[v];
  slot = slot ? addTensors(b, loc, slot, contribution) : contribution;
}

linalg::GenericOp pruneGeneric(OpBuilder &b, linalg::GenericOp op) {
  Block *body = op.getBody();
  // Dead scalar ops first, so that inputs only they used become unused.
  SmallVector<Operation *> inner;
  for (Operation &o : body->without_terminator())
    inner.push_back(&o);
  for (Operation *o : llvm::reverse(inner))
    if (isOpTriviallyDead(o))
      o->erase();
  unsigned numIns = op.getNumDpsInputs();
  llvm::BitVector unused(body->getNumArguments());
  for (unsigned i = 0; i < numIns; ++i)
    unused[i] = body->getArgument(i).use_empty();
  if (unused.none())
    return op;

  SmallVector<AffineMap> oldMaps = op.getIndexingMapsArray();
  // The kept maps must still determine every loop's bounds (linalg's
  // verifier: the maps together invertible). When the body no longer reads
  // the only inputs that index some loop (dead scalar code, or a gradient
  // that is zero, such as a bias the output does not depend on), unused
  // inputs are kept for their maps, first to last, until they do.
  auto invertible = [&] {
    SmallVector<AffineMap> kept;
    for (unsigned i = 0; i < oldMaps.size(); ++i)
      if (i >= numIns || !unused[i])
        kept.push_back(oldMaps[i]);
    return static_cast<bool>(
        inversePermutation(concatAffineMaps(kept, op.getContext())));
  };
  for (unsigned i = 0; i < numIns && !invertible(); ++i)
    unused[i] = false;
  if (unused.none())
    return op;

  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  for (unsigned i = 0; i < numIns; ++i)
    if (!unused[i]) {
      ins.push_back(op.getDpsInputs()[i]);
      maps.push_back(oldMaps[i]);
    }
  for (unsigned i = numIns; i < oldMaps.size(); ++i)
    maps.push_back(oldMaps[i]);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(op);
  auto fresh = linalg::GenericOp::create(
      b, op.getLoc(), op->getResultTypes(), ins, op.getDpsInits(), maps,
      op.getIteratorTypesArray());
  fresh.getRegion().takeBody(op.getRegion());
  fresh.getBody()->eraseArguments(unused);
  op->replaceAllUsesWith(fresh->getResults());
  op->erase();
  return fresh;
}

LogicalResult differentiateOp(Operation *op, ReverseSweep &sweep) {
  for (auto family : {differentiateLinalg, differentiateTensor,
                      differentiateElementwise})
    if (std::optional<LogicalResult> r = family(op, sweep))
      return *r;
  if (isa<arith::ConstantOp, tensor::EmptyOp>(op))
    return success();
  InFlightDiagnostic diag =
      op->emitError()
      << "no gradient rule for '" << op->getName()
      << "', which is on the path from a parameter or activation to the "
         "loss; supported: linalg.generic (projected-permutation maps, "
         "parallel and sum/max/min-reduction iterators), linalg.matmul, "
         "batch_matmul, transpose, fill, broadcast, reduce and the named "
         "elementwise ops, tensor.empty, extract_slice, insert_slice, "
         "expand_shape, collapse_shape, concat, pad, cast, and elementwise "
         "arith/math ops on tensors; in bodies: "
      << supportedScalarOps();
  if (op->getDialect() && op->getDialect()->getNamespace() == "tosa")
    diag << "; convert TOSA to linalg first (tosa-to-linalg-named, "
            "tosa-to-linalg, tosa-to-arith, tosa-to-tensor)";
  else
    diag << "; rewrite the model with these ops or add a rule in "
            "lib/Autodiff";
  return diag;
}

bool isCheapElementwise(Operation *op) {
  auto bodyIsCheap = [](Region &r) {
    bool cheap = true;
    r.walk([&](Operation *inner) { cheap &= isCheapScalarOp(inner); });
    return cheap;
  };
  if (auto lop = dyn_cast<linalg::LinalgOp>(op)) {
    if (isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op) ||
        lop.getNumReductionLoops() != 0 || !lop.hasPureTensorSemantics())
      return false;
    for (AffineMap m : lop.getIndexingMapsArray())
      if (!m.isProjectedPermutation())
        return false;
    return bodyIsCheap(op->getRegion(0));
  }
  return op->hasTrait<OpTrait::Elementwise>() && isCheapScalarOp(op) &&
         op->getNumResults() == 1 &&
         isa<RankedTensorType>(op->getResult(0).getType());
}

} // namespace dualpipe::autodiff
