//===- MathApproximation.cpp - f32 transcendentals as polynomials --------===//
//
// Implements --dualpipe-math-approximation: upstream MLIR's polynomial
// approximation patterns (mlir/Dialect/Math/Transforms/Passes.h) for the
// f32 transcendentals a training step uses, applied greedily.
//
// Upstream has these patterns but only a test pass
// (-test-math-polynomial-approximation, in mlir/test/lib, not installed), so
// the cpu lowering needs its own pass to run them. Without it every
// math.tanh / math.exp / math.log on f32 becomes an llvm intrinsic that the
// x86 back end turns into one libm call per element (tanhf, expf, logf):
// a third of a 1-rank MLP step's instructions, and a call the LLVM loop
// vectorizer cannot widen. The polynomials are plain arith/math.fma code
// that it can.
//
// Only f32 (and f16/bf16, widened to f32 by upstream's F32 expansion) is
// rewritten; f64 keeps libm. The set is the functions whose approximation
// was checked against libm (test/Conversion/math-approximation-accuracy.mlir
// states the bounds); sin/cos (no range reduction for large arguments),
// atan/asin/acos and cbrt are left to libm.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEMATHAPPROXIMATION
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {
/// The math ops whose f32 polynomial approximation replaces libm.
bool isApproximated(StringRef name) {
  return llvm::is_contained(
      {math::TanhOp::getOperationName(), math::ExpOp::getOperationName(),
       math::ExpM1Op::getOperationName(), math::LogOp::getOperationName(),
       math::Log1pOp::getOperationName(), math::Log2Op::getOperationName(),
       math::ErfOp::getOperationName()},
      name);
}

struct MathApproximationPass
    : impl::DualPipeMathApproximationBase<MathApproximationPass> {
  LogicalResult initialize(MLIRContext *ctx) override {
    RewritePatternSet set(ctx);
    populateMathF32ExpansionPatterns(set, isApproximated);
    populateMathPolynomialApproximationPatterns(set, isApproximated);
    patterns = FrozenRewritePatternSet(std::move(set));
    return success();
  }

  void runOnOperation() override {
    if (failed(applyPatternsGreedily(getOperation(), patterns)))
      return signalPassFailure();
  }

  FrozenRewritePatternSet patterns;
};
} // namespace
} // namespace dualpipe
