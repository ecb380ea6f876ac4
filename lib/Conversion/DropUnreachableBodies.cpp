//===- DropUnreachableBodies.cpp - Bodies no call reaches, dropped --------===//
//
// See Passes.td (DualPipeDropUnreachableBodies). Upstream's symbol-dce
// would keep these functions: the pipeline and autodiff records name them.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEDROPUNREACHABLEBODIES
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {
struct DropUnreachableBodiesPass
    : impl::DualPipeDropUnreachableBodiesBase<DropUnreachableBodiesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable table(module);
    llvm::SmallPtrSet<Operation *, 32> reached;
    SmallVector<Operation *> work;
    bool unsure = false;
    auto reach = [&](Operation *fn) {
      if (reached.insert(fn).second)
        work.push_back(fn);
    };
    // Roots: every symbol that is not a private func.func (public
    // functions, globals and anything else the module holds).
    for (Operation &op : module.getBody()->getOperations())
      if (auto fn = dyn_cast<func::FuncOp>(op); !fn || !fn.isPrivate())
        if (isa<SymbolOpInterface>(op))
          reach(&op);
    while (!work.empty()) {
      Operation *op = work.pop_back_val();
      // Every symbol named inside op (calls and any other reference).
      op->walk([&](Operation *inner) {
        std::optional<SymbolTable::UseRange> uses =
            SymbolTable::getSymbolUses(inner);
        if (!uses) { // an op that cannot say: keep everything
          unsure = true;
          return WalkResult::interrupt();
        }
        for (const SymbolTable::SymbolUse &use : *uses)
          if (Operation *target =
                  table.lookup(use.getSymbolRef().getRootReference()))
            reach(target);
        return WalkResult::advance();
      });
    }
    if (unsure)
      return;
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn.isPrivate() && !fn.isExternal() && !reached.contains(fn))
        fn.eraseBody();
  }
};
} // namespace
} // namespace dualpipe
