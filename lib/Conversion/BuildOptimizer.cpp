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

    struct Param {
      std::string name;
      MemRefType type;
    };
    SmallVector<Param> params;
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
        return signalPassFailure();
      }
      params.push_back({n.getValue().str(),
                        MemRefType::get(shaped.getShape(), Builder(module)
                                                               .getF32Type())});
    }
    if (params.empty()) {
      entryFn.emitError() << "@" << entry
                          << " has no dualpipe.param arguments: nothing for "
                             "an optimizer to update";
      return signalPassFailure();
    }

    MLIRContext *ctx = module.getContext();
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = entryFn.getLoc();
    SmallVector<StringRef> suffixes = stateSuffixes(kind);
    SmallVector<Type> argTypes;
    for (const Param &p : params)
      argTypes.push_back(p.type);
    for (const Param &p : params)
      argTypes.push_back(p.type);
    for (const Param &p : params)
      for (size_t k = 0; k < suffixes.size(); ++k)
        argTypes.push_back(p.type);
    Type f32 = b.getF32Type(), f64 = b.getF64Type();
    argTypes.push_back(MemRefType::get({2}, f32));

    auto fn = func::FuncOp::create(b, loc, name,
                                   FunctionType::get(ctx, argTypes, {}));
    fn->setAttr("llvm.emit_c_interface", b.getUnitAttr());
    fn->setAttr(kOptimizerAttr, b.getStringAttr(kind));
    size_t n = params.size();
    for (size_t i = 0; i < n; ++i) {
      fn.setArgAttr(i, kParamAttr, b.getStringAttr(params[i].name));
      fn.setArgAttr(n + i, kGradOfAttr, b.getStringAttr(params[i].name));
      for (size_t k = 0; k < suffixes.size(); ++k)
        fn.setArgAttr(2 * n + i * suffixes.size() + k, kStateAttr,
                      b.getStringAttr(params[i].name + "." +
                                      suffixes[k].str()));
    }
    fn.setArgAttr(argTypes.size() - 1, kScalarsAttr,
                  b.getStringAttr("lr,t"));

    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    Value scalars = body->getArguments().back();
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
    Value lr = memref::LoadOp::create(b, loc, scalars, ValueRange{index(0)});
    Value t = memref::LoadOp::create(b, loc, scalars, ValueRange{index(1)});

    // Step-wide scalars (bias corrections in f64, as Python computes them).
    Value stepSize, sqrtBc2, decay;
    if (kind == "adamw") {
      Value t64 = arith::ExtFOp::create(b, loc, f64, t);
      Value lr64 = arith::ExtFOp::create(b, loc, f64, lr);
      Value bc1 = arith::SubFOp::create(
          b, loc, c64(1.0), math::PowFOp::create(b, loc, c64(beta1), t64));
      Value bc2 = arith::SubFOp::create(
          b, loc, c64(1.0), math::PowFOp::create(b, loc, c64(beta2), t64));
      stepSize = arith::TruncFOp::create(
          b, loc, f32, arith::DivFOp::create(b, loc, lr64, bc1));
      sqrtBc2 = arith::TruncFOp::create(b, loc, f32,
                                        math::SqrtOp::create(b, loc, bc2));
      decay = arith::SubFOp::create(
          b, loc, c32(1.0),
          arith::MulFOp::create(b, loc, lr, c32(weightDecay)));
    }

    for (size_t i = 0; i < n; ++i) {
      Value param = body->getArgument(i);
      Value grad = body->getArgument(n + i);
      SmallVector<Value> outs = {param};
      for (size_t k = 0; k < suffixes.size(); ++k)
        outs.push_back(body->getArgument(2 * n + i * suffixes.size() + k));
      int64_t rank = params[i].type.getRank();
      SmallVector<AffineMap> maps(1 + outs.size(),
                                  b.getMultiDimIdentityMap(rank));
      SmallVector<utils::IteratorType> iterators(
          rank, utils::IteratorType::parallel);
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
            if (kind == "sgd" || kind == "momentum") {
              if (weightDecay != 0.0)
                g = add(g, mul(k32(weightDecay), p));
              if (kind == "sgd") {
                linalg::YieldOp::create(nb, l, ValueRange{sub(p, mul(lr, g))});
                return;
              }
              Value buf = add(mul(k32(momentum), args[2]), g);
              linalg::YieldOp::create(nb, l,
                                      ValueRange{sub(p, mul(lr, buf)), buf});
              return;
            }
            // AdamW, in torch.optim.AdamW's order of operations.
            Value pd = mul(p, decay);
            Value m = add(mul(k32(beta1), args[2]), mul(k32(1.0 - beta1), g));
            Value v = add(mul(k32(beta2), args[3]),
                          mul(k32(1.0 - beta2), mul(g, g)));
            Value denom = add(
                arith::DivFOp::create(nb, l, math::SqrtOp::create(nb, l, v),
                                      sqrtBc2),
                k32(eps));
            Value upd = mul(stepSize, arith::DivFOp::create(nb, l, m, denom));
            linalg::YieldOp::create(nb, l, ValueRange{sub(pd, upd), m, v});
          });
    }
    func::ReturnOp::create(b, loc);
  }
};
} // namespace
} // namespace dualpipe
