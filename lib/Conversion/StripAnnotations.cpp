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
    // Each function's argument and result attributes are rebuilt once, as
    // whole arrays: setting them one index at a time rebuilds the array
    // per argument, quadratic in a rank program's thousands of arguments
    // (1.8 s of a 96-layer compile).
    module.walk([](FunctionOpInterface fn) {
      for (NamedAttribute a : llvm::to_vector(fn->getDiscardableAttrs()))
        if (isOurs(a))
          fn->removeAttr(a.getName());
      auto strip = [](ArrayAttr all, SmallVectorImpl<DictionaryAttr> &out) {
        bool changed = false;
        for (Attribute a : all) {
          auto attrs = cast<DictionaryAttr>(a);
          out.push_back(withoutOurs(attrs));
          changed |= out.back() != attrs;
        }
        return changed;
      };
      SmallVector<DictionaryAttr> attrs;
      if (ArrayAttr all = fn.getAllArgAttrs(); all && strip(all, attrs))
        fn.setAllArgAttrs(attrs);
      attrs.clear();
      if (ArrayAttr all = fn.getAllResultAttrs(); all && strip(all, attrs))
        fn.setAllResultAttrs(attrs);
    });
  }
};
} // namespace
} // namespace dualpipe
