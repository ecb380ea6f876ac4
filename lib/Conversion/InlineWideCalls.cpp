//===- InlineWideCalls.cpp - wide single calls into the rank program -----===//
//
// Implements --dualpipe-inline-wide-calls: in a rank program, a call with
// more than `min-values` operands and results together, of a private
// function nothing else calls, is inlined (upstream's inlineCall). The
// single-device reference's one stage is such a call twice per micro-batch:
// its forward returns every saved buffer of every layer to the loop, and
// its backward takes them back (1,300 of each at 48 layers). One-shot
// bufferization's analysis of a call is quadratic in its operands and
// results (bench/REPORT.md §1e): inlined, the loop body calls the block
// functions, each with a few dozen.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/Inliner.h"
#include "mlir/Transforms/InliningUtils.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEINLINEWIDECALLS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

bool isRankProgram(func::FuncOp fn) { return fn->hasAttr(kRankAttr); }

struct InlineWideCallsPass
    : impl::DualPipeInlineWideCallsBase<InlineWideCallsPass> {
  using DualPipeInlineWideCallsBase::DualPipeInlineWideCallsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTableCollection symbols;
    SymbolUserMap users(symbols, module);
    struct Wide {
      func::CallOp call;
      func::FuncOp callee;
      /// Stage functions whose dualpipe.autodiff record names the callee.
      SmallVector<Operation *> records;
    };
    SmallVector<Wide> wide;
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (!isRankProgram(fn))
        continue;
      fn.walk([&](func::CallOp call) {
        if (call->getNumOperands() + call->getNumResults() <= minValues)
          return;
        auto callee = symbols.lookupNearestSymbolFrom<func::FuncOp>(
            call, call.getCalleeAttr());
        if (!callee || callee.isExternal() || !callee.isPrivate())
          return;
        // The one call, and at most the stage's record of its derivative
        // functions, which nothing reads once the schedule is lowered.
        Wide w{call, callee, {}};
        for (Operation *user : users.getUsers(callee)) {
          if (user == call.getOperation())
            continue;
          if (isa<func::CallOp>(user) || !user->hasAttr(kAutodiffAttr))
            return;
          w.records.push_back(user);
        }
        wide.push_back(std::move(w));
      });
    }
    InlinerInterface interface(&getContext());
    InlinerConfig config;
    for (Wide &w : wide) {
      if (failed(inlineCall(interface, config.getCloneCallback(), w.call,
                            w.callee, &w.callee.getBody())))
        continue; // an op that may not be inlined: the call stays
      w.call.erase();
      for (Operation *record : w.records)
        record->removeAttr(kAutodiffAttr);
      w.callee.erase();
    }
  }
};

} // namespace
} // namespace dualpipe
