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
      for (unsigned i = 0; i < fn.getNumArguments(); ++i)
        if (isa<TensorType>(fn.getArgument(i).getType()) &&
            !fn.getArgAttr(i, "bufferization.writable"))
          fn.setArgAttr(i, "bufferization.writable", b.getBoolAttr(false));
    });
  }
};
} // namespace
} // namespace dualpipe
