//===- BuildOptimizer.cpp - the optimizer step as compiled code ----------===//
//
// Implements --dualpipe-build-optimizer: one function that updates every
// parameter in place from its (synchronized) gradient and the optimizer
// state: SGD, SGD with momentum, AdamW, with PyTorch's update rules.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEBUILDOPTIMIZER
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// The state tensors each optimizer keeps per parameter.
SmallVector<StringRef> stateSuffixes(StringRef kind) {
  if (kind == "momentum")
    return {"momentum_buffer"};
  if (kind == "adamw")
    return {"exp_avg", "exp_avg_sq"};
  return {};
}

/// The optimizer and its hyper-parameters, as the pass options give them.
struct Hyper {
  std::string kind;
  double momentum, beta1, beta2, eps, weightDecay;
};

/// A parameter the optimizer updates: its name and buffer type.
struct Param {
  std::string name;
  MemRefType type;
};

/// The dualpipe.param arguments of the entry point, each static-shaped f32.
LogicalResult collectParams(ModuleOp module, func::FuncOp entryFn,
                            StringRef entry, SmallVectorImpl<Param> &params) {
  for (unsigned i = 0; i < entryFn.getNumArguments(); ++i) {
    auto n = entryFn.getArgAttrOfType<StringAttr>(i, kParamAttr);
    if (!n)
      continue;
    Type argType = entryFn.getArgumentTypes()[i];
    auto shaped = dyn_cast<ShapedType>(argType);
    if (!shaped || !shaped.hasStaticShape() ||
        !shaped.getElementType().isF32()) {
      entryFn.emitError()
          << "parameter '" << n.getValue() << "' has type " << argType
          << "; the compiled optimizer updates static-shaped f32 "
             "parameters only (train without --optimizer, or keep the "
             "parameter in f32)";
      return failure();
    }
    params.push_back({n.getValue().str(),
                      MemRefType::get(shaped.getShape(), Builder(module)
                                                             .getF32Type())});
  }
  if (params.empty()) {
    entryFn.emitError() << "@" << entry
                        << " has no dualpipe.param arguments: nothing for "
                           "an optimizer to update";
    return failure();
  }
  return success();
}

/// Declares the optimizer function: the parameters, their gradients, the
/// state tensors of each parameter in turn, and memref<2xf32> {lr, t}.
func::FuncOp declareOptimizer(OpBuilder &b, Location loc, StringRef name,
                              StringRef kind, ArrayRef<Param> params,
                              ArrayRef<StringRef> suffixes) {
  SmallVector<Type> argTypes;
  for (const Param &p : params)
    argTypes.push_back(p.type);
  for (const Param &p : params)
    argTypes.push_back(p.type);
  for (const Param &p : params)
    for (size_t k = 0; k < suffixes.size(); ++k)
      argTypes.push_back(p.type);
  argTypes.push_back(MemRefType::get({2}, b.getF32Type()));

  auto fn = func::FuncOp::create(
      b, loc, name, FunctionType::get(b.getContext(), argTypes, {}));
  fn->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  fn->setAttr(kOptimizerAttr, b.getStringAttr(kind));
  size_t n = params.size();
  for (size_t i = 0; i < n; ++i) {
    fn.setArgAttr(i, kParamAttr, b.getStringAttr(params[i].name));
    fn.setArgAttr(n + i, kGradOfAttr, b.getStringAttr(params[i].name));
    for (size_t k = 0; k < suffixes.size(); ++k)
      fn.setArgAttr(2 * n + i * suffixes.size() + k, kStateAttr,
                    b.getStringAttr(params[i].name + "." + suffixes[k].str()));
  }
  fn.setArgAttr(argTypes.size() - 1, kScalarsAttr, b.getStringAttr("lr,t"));
  return fn;
}

/// The step's scalars: lr and t from the scalars argument and, for AdamW,
/// the step size, sqrt of the second bias correction and the decay factor
/// (bias corrections in f64, as Python computes them).
struct StepScalars {
  Value lr, t, stepSize, sqrtBc2, decay;
};

StepScalars loadStepScalars(OpBuilder &b, Location loc, Value scalars,
                            const Hyper &h) {
  Type f32 = b.getF32Type(), f64 = b.getF64Type();
  auto index = [&](int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v).getResult();
  };
  auto c32 = [&](double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v))
        .getResult();
  };
  auto c64 = [&](double v) {
    return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v))
        .getResult();
  };
  StepScalars s;
  s.lr = memref::LoadOp::create(b, loc, scalars, ValueRange{index(0)});
  s.t = memref::LoadOp::create(b, loc, scalars, ValueRange{index(1)});
  if (h.kind == "adamw") {
    Value t64 = arith::ExtFOp::create(b, loc, f64, s.t);
    Value lr64 = arith::ExtFOp::create(b, loc, f64, s.lr);
    Value bc1 = arith::SubFOp::create(
        b, loc, c64(1.0), math::PowFOp::create(b, loc, c64(h.beta1), t64));
    Value bc2 = arith::SubFOp::create(
        b, loc, c64(1.0), math::PowFOp::create(b, loc, c64(h.beta2), t64));
    s.stepSize = arith::TruncFOp::create(
        b, loc, f32, arith::DivFOp::create(b, loc, lr64, bc1));
    s.sqrtBc2 = arith::TruncFOp::create(b, loc, f32,
                                        math::SqrtOp::create(b, loc, bc2));
    s.decay = arith::SubFOp::create(
        b, loc, c32(1.0),
        arith::MulFOp::create(b, loc, s.lr, c32(h.weightDecay)));
  }
  return s;
}

/// One linalg.generic that updates `param` (and its state `outs[1..]`) in
/// place from `grad`, elementwise, with PyTorch's update rule.
void emitUpdate(OpBuilder &b, Location loc, const Hyper &h,
                const StepScalars &s, Value grad, ArrayRef<Value> outs,
                int64_t rank) {
  SmallVector<AffineMap> maps(1 + outs.size(), b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iterators(rank,
                                             utils::IteratorType::parallel);
  Value lr = s.lr;
  linalg::GenericOp::create(
      b, loc, ValueRange{grad}, outs, maps, iterators,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        auto mul = [&](Value x, Value y) {
          return arith::MulFOp::create(nb, l, x, y).getResult();
        };
        auto add = [&](Value x, Value y) {
          return arith::AddFOp::create(nb, l, x, y).getResult();
        };
        auto sub = [&](Value x, Value y) {
          return arith::SubFOp::create(nb, l, x, y).getResult();
        };
        auto k32 = [&](double v) {
          return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(v))
              .getResult();
        };
        Value g = args[0], p = args[1];
        if (h.kind == "sgd" || h.kind == "momentum") {
          if (h.weightDecay != 0.0)
            g = add(g, mul(k32(h.weightDecay), p));
          if (h.kind == "sgd") {
            linalg::YieldOp::create(nb, l, ValueRange{sub(p, mul(lr, g))});
            return;
          }
          Value buf = add(mul(k32(h.momentum), args[2]), g);
          linalg::YieldOp::create(nb, l,
                                  ValueRange{sub(p, mul(lr, buf)), buf});
          return;
        }
        // AdamW, in torch.optim.AdamW's order of operations.
        Value pd = mul(p, s.decay);
        Value m = add(mul(k32(h.beta1), args[2]), mul(k32(1.0 - h.beta1), g));
        Value v = add(mul(k32(h.beta2), args[3]),
                      mul(k32(1.0 - h.beta2), mul(g, g)));
        Value denom = add(
            arith::DivFOp::create(nb, l, math::SqrtOp::create(nb, l, v),
                                  s.sqrtBc2),
            k32(h.eps));
        Value upd = mul(s.stepSize, arith::DivFOp::create(nb, l, m, denom));
        linalg::YieldOp::create(nb, l, ValueRange{sub(pd, upd), m, v});
      });
}

struct BuildOptimizerPass
    : impl::DualPipeBuildOptimizerBase<BuildOptimizerPass> {
  using DualPipeBuildOptimizerBase::DualPipeBuildOptimizerBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (kind != "sgd" && kind != "momentum" && kind != "adamw") {
      module.emitError() << "unknown optimizer '" << kind
                         << "'; use sgd, momentum or adamw";
      return signalPassFailure();
    }
    auto entryFn = module.lookupSymbol<func::FuncOp>(entry);
    if (!entryFn) {
      module.emitError() << "no rank entry point @" << entry
                         << " to read the parameters from; run "
                            "--dualpipe-lower-schedule first (or set entry=)";
      return signalPassFailure();
    }
    if (module.lookupSymbol(name)) {
      module.emitError() << "the module already has a symbol @" << name
                         << "; choose another name= for the optimizer";
      return signalPassFailure();
    }
    SmallVector<Param> params;
    if (failed(collectParams(module, entryFn, entry, params)))
      return signalPassFailure();

    Hyper h{kind, momentum, beta1, beta2, eps, weightDecay};
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = entryFn.getLoc();
    SmallVector<StringRef> suffixes = stateSuffixes(kind);
    func::FuncOp fn = declareOptimizer(b, loc, name, kind, params, suffixes);

    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    StepScalars s = loadStepScalars(b, loc, body->getArguments().back(), h);
    size_t n = params.size();
    for (size_t i = 0; i < n; ++i) {
      Value grad = body->getArgument(n + i);
      SmallVector<Value> outs = {body->getArgument(i)};
      for (size_t k = 0; k < suffixes.size(); ++k)
        outs.push_back(body->getArgument(2 * n + i * suffixes.size() + k));
      emitUpdate(b, loc, h, s, grad, outs, params[i].type.getRank());
    }
    func::ReturnOp::create(b, loc);
  }
};
} // namespace
} // namespace dualpipe
