//===- Autodiff.cpp - forward, backward-input and backward-weight --------===//
//
// Implements --dualpipe-autodiff: every distinct stage function of the
// pipeline goes through the Differentiator (Differentiator.h), which also
// differentiates each block function the stages call, once per calling
// convention.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Autodiff/Passes.h"

#include "Differentiator.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEAUTODIFF
#include "dualpipe/Autodiff/Passes.h.inc"

using namespace mlir;
using namespace dualpipe::autodiff;

namespace {
struct AutodiffPass : impl::DualPipeAutodiffBase<AutodiffPass> {
  using DualPipeAutodiffBase::DualPipeAutodiffBase;
  void runOnOperation() override;
};
} // namespace

namespace autodiff {

LogicalResult Differentiator::differentiate(StageGrad &sg) {
  LogicalResult ok = buildScratch(sg);
  if (succeeded(ok)) {
    OpBuilder b = OpBuilder::atBlockEnd(&sg.body());
    func::ReturnOp::create(b, sg.stage.getLoc(), ValueRange());
    choosePolicy(sg);
  }
  return ok;
}

LogicalResult Differentiator::differentiateStage(func::FuncOp stage,
                                                 bool last) {
  StageGrad sg;
  sg.stage = stage;
  sg.last = last;
  sg.base = stage.getSymName().str();
  LogicalResult ok = classifyStageArguments(sg);
  if (succeeded(ok))
    ok = differentiate(sg);
  if (succeeded(ok))
    ok = emitFunctions(sg, /*block=*/nullptr);
  if (sg.scratch)
    sg.scratch.erase();
  return ok;
}

FailureOr<const BlockGrad *>
Differentiator::differentiateBlock(func::FuncOp callee,
                                   const CallConvention &convention,
                                   Operation *site) {
  auto key = std::make_pair(callee.getOperation(), convention);
  if (auto it = blocks.find(key); it != blocks.end())
    return static_cast<const BlockGrad *>(it->second.get());
  if (!inProgress.insert(callee).second)
    return site->emitError() << "calls @" << callee.getSymName()
                             << " from inside itself; block functions "
                                "cannot be recursive";
  StageGrad sg;
  sg.stage = callee;
  sg.block = true;
  unsigned variant = ++variants[callee];
  sg.base = callee.getSymName().str() +
            (variant == 1 ? "" : "_v" + std::to_string(variant));
  for (auto [i, t] : llvm::enumerate(callee.getArgumentTypes())) {
    if (!convention.active[i])
      continue;
    if (!isa<FloatType>(getElementTypeOrSelf(t)))
      return site->emitError() << "passes a gradient into argument #" << i
                               << " of @" << callee.getSymName()
                               << ", which is not a float tensor";
    (convention.weight[i] ? sg.paramArgs : sg.actArgs).push_back(i);
  }
  auto grad = std::make_unique<BlockGrad>();
  LogicalResult ok = differentiate(sg);
  if (succeeded(ok))
    ok = emitFunctions(sg, grad.get());
  if (sg.scratch)
    sg.scratch.erase();
  inProgress.erase(callee);
  if (failed(ok))
    return failure();
  return static_cast<const BlockGrad *>(
      (blocks[key] = std::move(grad)).get());
}

} // namespace autodiff

void AutodiffPass::runOnOperation() {
  ModuleOp module = getOperation();
  PipelineOp pipe = lookupPipeline(module);
  if (!pipe) {
    module.emitError() << "no dualpipe.pipeline op: run --dualpipe-partition "
                          "before --dualpipe-autodiff";
    return signalPassFailure();
  }
  if (microbatches < 1) {
    pipe.emitError() << "microbatches=" << microbatches.getValue()
                     << " is not a micro-batch count; use an integer >= 1";
    return signalPassFailure();
  }
  if (recompute != "none" && recompute != "elementwise") {
    pipe.emitError() << "unknown recompute policy '" << recompute.getValue()
                     << "'; use recompute=none or recompute=elementwise";
    return signalPassFailure();
  }
  func::FuncOp lossFn;
  if (loss.empty()) {
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn->hasAttr(kLossAttr))
        lossFn = fn;
    if (!lossFn) {
      pipe.emitError() << "the last stage needs a loss: mark a func.func "
                          "with dualpipe.loss, or pass loss=mse or "
                          "loss=cross_entropy";
      return signalPassFailure();
    }
  } else if (loss != "mse" && loss != "cross_entropy") {
    pipe.emitError() << "unknown loss '" << loss.getValue()
                     << "'; use loss=mse or loss=cross_entropy, or omit "
                        "loss= to use the module's dualpipe.loss function";
    return signalPassFailure();
  }

  SmallVector<func::FuncOp> stages;
  for (Attribute ref : pipe.getStages()) {
    auto fn = module.lookupSymbol<func::FuncOp>(
        cast<FlatSymbolRefAttr>(ref).getValue());
    if (!fn) {
      pipe.emitError() << "stage " << ref << " is not a func.func";
      return signalPassFailure();
    }
    if (!llvm::is_contained(stages, fn))
      stages.push_back(fn);
  }
  auto lastRef = cast<FlatSymbolRefAttr>(pipe.getStages().getValue().back());

  Differentiator differentiator(
      module, {loss.getValue(), microbatches.getValue(), recompute.getValue()},
      lossFn);
  for (func::FuncOp stage : stages)
    if (failed(differentiator.differentiateStage(
            stage, stage.getSymName() == lastRef.getValue())))
      return signalPassFailure();
}

} // namespace dualpipe
