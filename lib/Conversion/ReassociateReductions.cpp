//===- ReassociateReductions.cpp - vectorizable sum reductions ------------===//
//
// Implements --dualpipe-reassociate-reductions: the combiner of every sum or
// product reduction in a linalg op gets arith's `reassoc` fast-math flag,
// so LLVM's loop vectorizer may keep partial sums per lane (see the pass
// description in include/dualpipe/Conversion/Passes.td).
//
// Upstream has no pass that sets fast-math flags by role: the flags are an
// attribute of each arith op (arith::ArithFastMathInterface), and which op
// is a reduction's combiner is a linalg-level fact, found here from the
// yield and the output block arguments.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEREASSOCIATEREDUCTIONS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// Adds `reassoc` to `op`'s fast-math flags.
void addReassoc(arith::ArithFastMathInterface op) {
  arith::FastMathFlags flags = op.getFastMathFlagsAttr()
                                   ? op.getFastMathFlagsAttr().getValue()
                                   : arith::FastMathFlags::none;
  op->setAttr(op.getFastMathAttrName(),
              arith::FastMathFlagsAttr::get(
                  op->getContext(), flags | arith::FastMathFlags::reassoc));
}

struct ReassociateReductionsPass
    : impl::DualPipeReassociateReductionsBase<ReassociateReductionsPass> {
  void runOnOperation() override {
    getOperation()->walk([](linalg::LinalgOp op) {
      if (op.getNumReductionLoops() == 0 || op->getNumRegions() != 1 ||
          op->getRegion(0).empty())
        return;
      Block *body = &op->getRegion(0).front();
      auto yield = dyn_cast<linalg::YieldOp>(body->getTerminator());
      if (!yield)
        return;
      for (OpOperand &init : op.getDpsInitsMutable()) {
        BlockArgument acc = op.getMatchingBlockArgument(&init);
        unsigned result = init.getOperandNumber() - op.getNumDpsInputs();
        if (result >= yield.getNumOperands())
          continue;
        Operation *combiner = yield.getOperand(result).getDefiningOp();
        if (!combiner || combiner->getBlock() != body ||
            !isa<arith::AddFOp, arith::MulFOp>(combiner) ||
            !llvm::is_contained(combiner->getOperands(), Value(acc)))
          continue;
        addReassoc(cast<arith::ArithFastMathInterface>(combiner));
      }
    });
  }
};

} // namespace
} // namespace dualpipe
