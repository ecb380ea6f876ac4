//===- ScfToCf.cpp - structured control flow to blocks in linear time ----===//
//
// Implements --dualpipe-scf-to-cf: upstream's SCF-to-ControlFlow patterns,
// applied one top-level loop nest at a time, last nest first.
//
// Upstream's convert-scf-to-cf converts a function's loops in program order.
// Lowering a loop splits its block at the loop, moving every op after it
// into a new block; in a function of k consecutive loop nests (a stage's
// forward and backward code: one nest per linalg op) that moves O(k) ops k
// times, so the pass is quadratic in the function's size (a 6-layer GPT
// spent a third of its MLIR lowering there). Converting the last nest first
// only ever moves the ops between one nest and the next.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/DialectConversion.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPESCFTOCF
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {
struct ScfToCfPass : impl::DualPipeScfToCfBase<ScfToCfPass> {
  LogicalResult initialize(MLIRContext *ctx) override {
    RewritePatternSet set(ctx);
    populateSCFToControlFlowConversionPatterns(set);
    patterns = FrozenRewritePatternSet(std::move(set));
    return success();
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    ConversionTarget target(*ctx);
    target.addIllegalDialect<scf::SCFDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });

    // The outermost SCF ops, in program order.
    SmallVector<Operation *> roots;
    getOperation()->walk<WalkOrder::PreOrder>([&](Operation *op) {
      if (isa<scf::SCFDialect>(op->getDialect())) {
        roots.push_back(op);
        return WalkResult::skip();
      }
      return WalkResult::advance();
    });
    for (Operation *root : llvm::reverse(roots))
      if (failed(applyPartialConversion(root, target, patterns)))
        return signalPassFailure();
  }

  FrozenRewritePatternSet patterns;
};
} // namespace
} // namespace dualpipe
