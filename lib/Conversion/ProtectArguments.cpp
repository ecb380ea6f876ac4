//===- ProtectArguments.cpp - tensor arguments are read-only -------------===//
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
        if (isa<TensorType>(fn.getArgument(i).getType()))
          fn.setArgAttr(i, "bufferization.writable", b.getBoolAttr(false));
    });
  }
};
} // namespace
} // namespace dualpipe
