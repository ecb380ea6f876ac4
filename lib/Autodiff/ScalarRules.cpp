//===- ScalarRules.cpp - reverse-mode rules of scalar arith/math ops -----===//
//
// The derivative of each scalar op that may appear in a linalg body, and the
// rule for elementwise arith/math ops on whole tensors, which reuses them
// inside a linalg.generic.
//
//===----------------------------------------------------------------------===//
#include "Rules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;

namespace dualpipe::autodiff {

namespace {

Value mul(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::MulFOp::create(b, loc, x, y);
}
Value div(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::DivFOp::create(b, loc, x, y);
}
Value neg(OpBuilder &b, Location loc, Value x) {
  return arith::NegFOp::create(b, loc, x);
}
Value sub(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::SubFOp::create(b, loc, x, y);
}
Value add(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddFOp::create(b, loc, x, y);
}

/// `select(cond, g, 0)` and `select(cond, 0, g)`: the two halves of a
/// gradient routed by a comparison.
std::pair<Value, Value> route(OpBuilder &b, Location loc, Value cond,
                              Value g) {
  Value zero = scalarConst(b, loc, g.getType(), 0.0);
  return {arith::SelectOp::create(b, loc, cond, g, zero),
          arith::SelectOp::create(b, loc, cond, zero, g)};
}

bool isFloat(Value v) { return isa<FloatType>(v.getType()); }

} // namespace

std::string supportedScalarOps() {
  return "arith.addf, subf, mulf, divf, negf, maximumf, minimumf, maxnumf, "
         "minnumf, select, extf, truncf, constant, cmpf/cmpi/integer ops "
         "(no gradient); math.exp, expm1, log, log1p, tanh, erf, sqrt, "
         "rsqrt, powf, absf, sin, cos";
}

bool isCheapScalarOp(Operation *op) {
  if (isa<linalg::YieldOp, linalg::IndexOp>(op))
    return true;
  Dialect *d = op->getDialect();
  return d && (isa<arith::ArithDialect>(d) || isa<math::MathDialect>(d)) &&
         op->getNumRegions() == 0;
}

namespace {

/// The rules of the arith ops: sets `out` (the operands' adjoints) from
/// `g`, the adjoint of the result `y`; false when `op` is no arith op with a
/// rule.
bool arithAdjoint(OpBuilder &b, Location loc, Operation *op, Value g, Value y,
                  SmallVectorImpl<Value> &out) {
  return llvm::TypeSwitch<Operation *, bool>(op)
      /// d(a+b) = (g, g)
      .Case<arith::AddFOp>([&](auto) {
        out[0] = g;
        out[1] = g;
        return true;
      })
      /// d(a-b) = (g, -g)
      .Case<arith::SubFOp>([&](auto) {
        out[0] = g;
        out[1] = neg(b, loc, g);
        return true;
      })
      /// d(a*b) = (g*b, g*a)
      .Case<arith::MulFOp>([&](auto o) {
        out[0] = mul(b, loc, g, o.getRhs());
        out[1] = mul(b, loc, g, o.getLhs());
        return true;
      })
      /// d(a/b) = (g/b, -g*y/b) with y = a/b
      .Case<arith::DivFOp>([&](auto o) {
        out[0] = div(b, loc, g, o.getRhs());
        out[1] = neg(b, loc, div(b, loc, mul(b, loc, g, y), o.getRhs()));
        return true;
      })
      /// d(-a) = -g
      .Case<arith::NegFOp>([&](auto) {
        out[0] = neg(b, loc, g);
        return true;
      })
      /// max(a, b): all of g to a when a >= b, else to b (ties: first
      /// operand).
      .Case<arith::MaximumFOp, arith::MaxNumFOp>([&](auto o) {
        Value c = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE,
                                        o.getLhs(), o.getRhs());
        std::tie(out[0], out[1]) = route(b, loc, c, g);
        return true;
      })
      /// min(a, b): all of g to a when a <= b, else to b.
      .Case<arith::MinimumFOp, arith::MinNumFOp>([&](auto o) {
        Value c = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLE,
                                        o.getLhs(), o.getRhs());
        std::tie(out[0], out[1]) = route(b, loc, c, g);
        return true;
      })
      /// select(c, a, b): g to the chosen operand.
      .Case<arith::SelectOp>([&](auto o) {
        std::tie(out[1], out[2]) = route(b, loc, o.getCondition(), g);
        return true;
      })
      /// extf / truncf: the gradient converted back.
      .Case<arith::ExtFOp>([&](auto o) {
        out[0] = arith::TruncFOp::create(b, loc, o.getIn().getType(), g);
        return true;
      })
      .Case<arith::TruncFOp>([&](auto o) {
        out[0] = arith::ExtFOp::create(b, loc, o.getIn().getType(), g);
        return true;
      })
      /// int-to-float casts: the integer gets nothing.
      .Case<arith::SIToFPOp, arith::UIToFPOp>([&](auto) { return true; })
      .Default([](Operation *) { return false; });
}

/// The rules of the math ops, as arithAdjoint.
bool mathAdjoint(OpBuilder &b, Location loc, Operation *op, Value g, Value y,
                 SmallVectorImpl<Value> &out) {
  return llvm::TypeSwitch<Operation *, bool>(op)
      /// d exp(a) = g*y
      .Case<math::ExpOp>([&](auto) {
        out[0] = mul(b, loc, g, y);
        return true;
      })
      /// d expm1(a) = g*(y+1)
      .Case<math::ExpM1Op>([&](auto) {
        out[0] = mul(b, loc, g,
                     add(b, loc, y, scalarConst(b, loc, y.getType(), 1)));
        return true;
      })
      /// d log(a) = g/a
      .Case<math::LogOp>([&](auto o) {
        out[0] = div(b, loc, g, o.getOperand());
        return true;
      })
      /// d log1p(a) = g/(1+a)
      .Case<math::Log1pOp>([&](auto o) {
        out[0] = div(b, loc, g,
                     add(b, loc, o.getOperand(),
                         scalarConst(b, loc, y.getType(), 1)));
        return true;
      })
      /// d tanh(a) = g*(1-y*y)
      .Case<math::TanhOp>([&](auto) {
        Value one = scalarConst(b, loc, y.getType(), 1);
        out[0] = mul(b, loc, g, sub(b, loc, one, mul(b, loc, y, y)));
        return true;
      })
      /// d erf(a) = g * 2/sqrt(pi) * exp(-a*a)
      .Case<math::ErfOp>([&](auto o) {
        Value a = o.getOperand();
        Value e = math::ExpOp::create(b, loc, neg(b, loc, mul(b, loc, a, a)));
        Value k = scalarConst(b, loc, y.getType(), 2.0 / std::sqrt(M_PI));
        out[0] = mul(b, loc, g, mul(b, loc, k, e));
        return true;
      })
      /// d sqrt(a) = g*0.5/y
      .Case<math::SqrtOp>([&](auto) {
        out[0] = div(b, loc, mul(b, loc, g,
                                 scalarConst(b, loc, y.getType(), 0.5)),
                     y);
        return true;
      })
      /// d rsqrt(a) = g*(-0.5)*y/a
      .Case<math::RsqrtOp>([&](auto o) {
        Value k = scalarConst(b, loc, y.getType(), -0.5);
        out[0] = mul(b, loc, g,
                     mul(b, loc, k, div(b, loc, y, o.getOperand())));
        return true;
      })
      /// d a^p = (g*p*a^(p-1), g*y*log(a))
      .Case<math::PowFOp>([&](auto o) {
        Value a = o.getLhs(), p = o.getRhs();
        Value pm1 = sub(b, loc, p, scalarConst(b, loc, y.getType(), 1));
        Value apm1 = math::PowFOp::create(b, loc, a, pm1);
        out[0] = mul(b, loc, g, mul(b, loc, p, apm1));
        out[1] = mul(b, loc, g, mul(b, loc, y, math::LogOp::create(b, loc, a)));
        return true;
      })
      /// d |a| = g when a >= 0, -g otherwise.
      .Case<math::AbsFOp>([&](auto o) {
        Value zero = scalarConst(b, loc, y.getType(), 0);
        Value c = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE,
                                        o.getOperand(), zero);
        out[0] = arith::SelectOp::create(b, loc, c, g, neg(b, loc, g));
        return true;
      })
      /// d sin(a) = g*cos(a); d cos(a) = -g*sin(a)
      .Case<math::SinOp>([&](auto o) {
        out[0] = mul(b, loc, g, math::CosOp::create(b, loc, o.getOperand()));
        return true;
      })
      .Case<math::CosOp>([&](auto o) {
        out[0] = neg(b, loc, mul(b, loc, g,
                                 math::SinOp::create(b, loc, o.getOperand())));
        return true;
      })
      .Default([](Operation *) { return false; });
}

} // namespace

LogicalResult scalarAdjoint(OpBuilder &b, Operation *op,
                            ArrayRef<Value> resultAdjoints,
                            SmallVectorImpl<Value> &operandAdjoints,
                            Operation *diagOp) {
  Location loc = op->getLoc();
  operandAdjoints.assign(op->getNumOperands(), Value());
  // Ops without float results pass no gradient (comparisons, integer and
  // index arithmetic, float-to-int casts are piecewise constant).
  // tensor.extract of a captured tensor: its gradient is scattered by the
  // caller (LinalgRules.cpp), the indices get none.
  if (llvm::none_of(op->getResults(), isFloat) ||
      isa<arith::ConstantOp, tensor::ExtractOp>(op))
    return success();
  Value g = resultAdjoints.empty() ? Value() : resultAdjoints[0];
  if (!g)
    return success();
  Value y = op->getResult(0);
  auto &out = operandAdjoints;

  bool handled = arithAdjoint(b, loc, op, g, y, out) ||
                 mathAdjoint(b, loc, op, g, y, out);
  if (!handled) {
    InFlightDiagnostic diag =
        diagOp->emitError() << "no gradient rule for '" << op->getName()
                            << "' in the body of '" << diagOp->getName()
                            << "'; supported scalar ops: "
                            << supportedScalarOps();
    return diag;
  }
  // Integer / i1 operands never receive a gradient.
  for (auto [i, v] : llvm::enumerate(op->getOperands()))
    if (!isFloat(v))
      out[i] = Value();
  return success();
}

LogicalResult scalarReverse(OpBuilder &b, ArrayRef<Operation *> ops,
                            DenseMap<Value, Value> &adj, Operation *diagOp) {
  for (Operation *op : llvm::reverse(ops)) {
    SmallVector<Value> resultAdj;
    bool any = false;
    for (Value r : op->getResults()) {
      resultAdj.push_back(adj.lookup(r));
      any |= bool(resultAdj.back());
    }
    if (!any)
      continue;
    SmallVector<Value> operandAdj;
    if (failed(scalarAdjoint(b, op, resultAdj, operandAdj, diagOp)))
      return failure();
    for (auto [v, a] : llvm::zip(op->getOperands(), operandAdj)) {
      if (!a)
        continue;
      Value &slot = adj[v];
      slot = slot ? add(b, op->getLoc(), slot, a) : a;
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Elementwise arith/math ops on tensors
//===----------------------------------------------------------------------===//

/// An arith/math op with the Elementwise trait applied to whole tensors
/// (`arith.mulf %a, %b : tensor<4xf32>`): the adjoint of each operand is a
/// linalg.generic over the result shape whose body is the scalar op and its
/// scalar rule.
std::optional<LogicalResult> differentiateElementwise(Operation *op,
                                                      ReverseSweep &sweep) {
  if (!op->hasTrait<OpTrait::Elementwise>() || op->getNumResults() != 1 ||
      !isa<RankedTensorType>(op->getResult(0).getType()) ||
      !isCheapScalarOp(op))
    return std::nullopt;
  Value result = op->getResult(0);
  Value g = sweep.getAdjoint(result);
  if (!g)
    return success();
  OpBuilder &b = sweep.builder();
  Location loc = op->getLoc();
  auto resultType = cast<RankedTensorType>(result.getType());
  for (Value v : op->getOperands())
    if (cast<RankedTensorType>(v.getType()).getShape() != resultType.getShape())
      return op->emitError() << "elementwise '" << op->getName()
                             << "' on tensors of different shapes has no "
                                "gradient rule; broadcast explicitly";

  SmallVector<unsigned> wanted;
  for (auto [i, v] : llvm::enumerate(op->getOperands()))
    if (sweep.isActive(v) && isa<FloatType>(getElementTypeOrSelf(v.getType())))
      wanted.push_back(i);
  if (wanted.empty())
    return success();

  int64_t rank = resultType.getRank();
  AffineMap id = b.getMultiDimIdentityMap(rank);
  SmallVector<Value> ins(op->getOperands());
  ins.push_back(g);
  SmallVector<Value> outs;
  SmallVector<Type> outTypes;
  for (unsigned i : wanted) {
    outs.push_back(emptyLike(b, loc, op->getOperand(i).getType()));
    outTypes.push_back(outs.back().getType());
  }
  SmallVector<AffineMap> maps(ins.size() + outs.size(), id);
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  LogicalResult status = success();
  auto generic = linalg::GenericOp::create(
      b, loc, outTypes, ins, outs, maps, iters,
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        OperationState state(nloc, op->getName());
        state.addOperands(args.take_front(op->getNumOperands()));
        state.addTypes(resultType.getElementType());
        state.addAttributes(op->getAttrs());
        Operation *scalar = nb.create(state);
        DenseMap<Value, Value> adj;
        adj[scalar->getResult(0)] = args[op->getNumOperands()];
        if (failed(scalarReverse(nb, {scalar}, adj, op)))
          status = failure();
        SmallVector<Value> yields;
        for (unsigned i : wanted) {
          Value a = adj.lookup(scalar->getOperand(i));
          yields.push_back(a ? a
                             : scalarConst(nb, nloc,
                                           resultType.getElementType(), 0));
        }
        linalg::YieldOp::create(nb, nloc, yields);
      });
  if (failed(status))
    return failure();
  generic = pruneGeneric(b, generic);
  for (auto [k, i] : llvm::enumerate(wanted))
    sweep.accumulate(op->getOperand(i), generic->getResult(k), loc);
  return success();
}

} // namespace dualpipe::autodiff
