//===- Rules.h - reverse-mode rules of the autodiff pass --------*- C++ -*-===//
//
// The reverse sweep over a stage body and the rules it dispatches to, one
// file per family: scalar bodies (ScalarRules.cpp), linalg structured ops
// (LinalgRules.cpp), tensor ops (TensorRules.cpp); built-in losses live in
// Losses.cpp. Private to lib/Autodiff.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_LIB_AUTODIFF_RULES_H
#define DUALPIPE_LIB_AUTODIFF_RULES_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

#include <optional>
#include <string>

namespace dualpipe::autodiff {

/// State of one reverse sweep: which primal values are active (depend on a
/// differentiated argument) and the adjoint accumulated so far for each.
/// New ops go where `builder()` points (after the primal ops).
class ReverseSweep {
public:
  ReverseSweep(mlir::OpBuilder &builder, llvm::DenseSet<mlir::Value> active)
      : b(builder), active(std::move(active)) {}

  mlir::OpBuilder &builder() { return b; }
  bool isActive(mlir::Value v) const { return active.contains(v); }
  /// The adjoint of `v`, or null when no gradient has reached it.
  mlir::Value getAdjoint(mlir::Value v) const { return adjoints.lookup(v); }
  /// The adjoint of `v`, a zero tensor when no gradient has reached it.
  mlir::Value getAdjointOrZeros(mlir::Value v, mlir::Location loc);
  /// Adds `contribution` to the adjoint of `v`; ignored for inactive `v`.
  void accumulate(mlir::Value v, mlir::Value contribution, mlir::Location loc);

private:
  mlir::OpBuilder &b;
  llvm::DenseSet<mlir::Value> active;
  llvm::DenseMap<mlir::Value, mlir::Value> adjoints;
};

//===- Helpers shared by the rules ----------------------------------------===//

/// `tensor.empty` of `type` (a static ranked tensor type).
mlir::Value emptyLike(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type);
/// A tensor of `type` filled with `value` (linalg.fill of tensor.empty).
mlir::Value filled(mlir::OpBuilder &b, mlir::Location loc, mlir::Type type,
                   double value);
/// A scalar float constant of type `type`.
mlir::Value scalarConst(mlir::OpBuilder &b, mlir::Location loc,
                        mlir::Type type, double value);
/// `a + b` elementwise (linalg.add into tensor.empty).
mlir::Value addTensors(mlir::OpBuilder &b, mlir::Location loc, mlir::Value a,
                       mlir::Value c);
/// Erases trivially dead ops in the body of `op`, then removes the `ins`
/// whose block arguments the body does not use, except those whose maps
/// are still needed to determine the loop bounds. Returns the (possibly
/// new) op.
mlir::linalg::GenericOp pruneGeneric(mlir::OpBuilder &b,
                                     mlir::linalg::GenericOp op);

//===- Scalar bodies (ScalarRules.cpp) ------------------------------------===//

/// Applies the rule of the scalar op `op`: given the adjoints of its results
/// (null: none), emits at `b` the adjoint contributions to its operands
/// (null: none or not differentiable). Fails with a diagnostic at
/// `diagLoc` for a float-producing op without a rule.
mlir::LogicalResult
scalarAdjoint(mlir::OpBuilder &b, mlir::Operation *op,
              llvm::ArrayRef<mlir::Value> resultAdjoints,
              llvm::SmallVectorImpl<mlir::Value> &operandAdjoints,
              mlir::Operation *diagOp);

/// Reverse mode through the straight-line scalar ops `ops` (already cloned
/// into the body being built): `seeds` maps values to their adjoints; on
/// return it holds the adjoint of every value the seeds reach.
mlir::LogicalResult
scalarReverse(mlir::OpBuilder &b, llvm::ArrayRef<mlir::Operation *> ops,
              llvm::DenseMap<mlir::Value, mlir::Value> &seeds,
              mlir::Operation *diagOp);

/// The scalar ops with rules, for diagnostics.
std::string supportedScalarOps();

/// True for a scalar op cheap enough to recompute (arith, math).
bool isCheapScalarOp(mlir::Operation *op);

//===- Families of tensor-level rules -------------------------------------===//

/// Each returns std::nullopt when `op` is not of its family, otherwise the
/// outcome of applying its rule.
std::optional<mlir::LogicalResult> differentiateLinalg(mlir::Operation *op,
                                                       ReverseSweep &sweep);
std::optional<mlir::LogicalResult> differentiateTensor(mlir::Operation *op,
                                                       ReverseSweep &sweep);
std::optional<mlir::LogicalResult>
differentiateElementwise(mlir::Operation *op, ReverseSweep &sweep);

/// Differentiates one top-level op, or emits "no rule for <op>" listing
/// what is supported.
mlir::LogicalResult differentiateOp(mlir::Operation *op, ReverseSweep &sweep);

/// True when `op` computes its results elementwise from its operands with a
/// cheap body (the candidates of recompute=elementwise).
bool isCheapElementwise(mlir::Operation *op);

//===- Losses (Losses.cpp) ------------------------------------------------===//

/// Builds the built-in loss `name` (mse, cross_entropy) of `output` against
/// `label` at `b`; returns a rank-0 tensor.
mlir::FailureOr<mlir::Value> buildBuiltinLoss(mlir::OpBuilder &b,
                                              mlir::Location loc,
                                              llvm::StringRef name,
                                              mlir::Value output,
                                              mlir::Value label);

} // namespace dualpipe::autodiff

#endif // DUALPIPE_LIB_AUTODIFF_RULES_H
