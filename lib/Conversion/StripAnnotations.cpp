//===- StripAnnotations.cpp - drop dualpipe records before translation ---===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Interfaces/FunctionInterfaces.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPESTRIPANNOTATIONS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {
bool isOurs(NamedAttribute a) {
  return a.getName().getValue().starts_with("dualpipe.");
}

/// `attrs` without the dualpipe.* entries.
DictionaryAttr withoutOurs(DictionaryAttr attrs) {
  SmallVector<NamedAttribute> kept;
  for (NamedAttribute a : attrs)
    if (!isOurs(a))
      kept.push_back(a);
  return DictionaryAttr::get(attrs.getContext(), kept);
}

struct StripAnnotationsPass
    : impl::DualPipeStripAnnotationsBase<StripAnnotationsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto pipeline : llvm::make_early_inc_range(module.getOps<PipelineOp>()))
      pipeline.erase();
    WalkResult leftover = module.walk([](Operation *op) {
      if (isa<DualPipeDialect>(op->getDialect())) {
        op->emitError() << "was not lowered; the pass chain has no lowering "
                           "for it on this target";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (leftover.wasInterrupted())
      return signalPassFailure();
    module.walk([](FunctionOpInterface fn) {
      for (NamedAttribute a : fn->getDiscardableAttrs())
        if (isOurs(a))
          fn->removeAttr(a.getName());
      for (unsigned i = 0; i < fn.getNumArguments(); ++i)
        if (DictionaryAttr attrs = fn.getArgAttrDict(i))
          fn.setArgAttrs(i, withoutOurs(attrs));
      for (unsigned i = 0; i < fn.getNumResults(); ++i)
        if (DictionaryAttr attrs = fn.getResultAttrDict(i))
          fn.setResultAttrs(i, withoutOurs(attrs));
    });
  }
};
} // namespace
} // namespace dualpipe
