//===- ProtectArguments.cpp - tensor arguments are read-only -------------===//
//
// Every tensor argument of a defined function gets bufferization.writable =
// false, unless it already says (the gradient accumulators that
// --dualpipe-lower-schedule passes to `<callee>_acc` are writable).
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEPROTECTARGUMENTS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {
struct ProtectArgumentsPass
    : impl::DualPipeProtectArgumentsBase<ProtectArgumentsPass> {
  void runOnOperation() override {
    Builder b(&getContext());
    getOperation().walk([&](func::FuncOp fn) {
      if (fn.isExternal())
        return;
      // The argument attributes rebuilt once as a whole: one setArgAttr
      // per argument rebuilds the array each time (quadratic in a rank
      // program's thousands of arguments).
      SmallVector<DictionaryAttr> attrs;
      fn.getAllArgAttrs(attrs);
      bool changed = false;
      for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
        if (!isa<TensorType>(fn.getArgument(i).getType()) ||
            attrs[i].get("bufferization.writable"))
          continue;
        NamedAttrList list(attrs[i]);
        list.set("bufferization.writable", b.getBoolAttr(false));
        attrs[i] = list.getDictionary(&getContext());
        changed = true;
      }
      if (changed)
        fn.setAllArgAttrs(attrs);
    });
  }
};
} // namespace
} // namespace dualpipe
