//===- CostModel.h - FLOPs, bytes and roofline time of a model --*- C++ -*-===//
//
// The cost analysis the partitioner balances: per op FLOPs and bytes moved,
// a roofline time on a device profile, the parameters each op reads, and the
// activation bytes crossing every possible cut of the model function.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_ANALYSIS_COSTMODEL_H
#define DUALPIPE_ANALYSIS_COSTMODEL_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace dualpipe {

/// A roofline: an op takes max(FLOPs / peak, bytes / bandwidth).
struct DeviceProfile {
  std::string name;
  /// Peak FLOP/s of contractions (matmul, convolution) on 32-bit and on
  /// 16-bit-or-narrower floats, and of everything else.
  double matmulFlops32 = 0, matmulFlops16 = 0, vectorFlops = 0;
  /// Memory bandwidth in bytes/s.
  double bytesPerSecond = 0;
  /// Where the numbers come from.
  std::string source;
};

/// The built-in profiles: `cpu` (measured on the build machine) and `h200`.
std::optional<DeviceProfile> lookupDeviceProfile(llvm::StringRef name);
llvm::ArrayRef<llvm::StringLiteral> deviceProfileNames();

/// Work of one op.
struct OpCost {
  double flops = 0;
  double bytes = 0;
  /// Runs at the contraction peak (a matmul or convolution).
  bool contraction = false;
  /// Bit width of the element type the peak is chosen by.
  unsigned elementBits = 32;
};

/// Bytes of a statically shaped ranked tensor or memref; 0 otherwise.
int64_t tensorBytes(mlir::Type type);

/// FLOPs and bytes of `op`: linalg ops from their iteration domain and body
/// (named ops included), elementwise arith/math on tensors per element,
/// reshapes as free, a call of a function the module defines (a block) as
/// the sum of the callee's ops, other ops from the bytes of their operands
/// and results.
OpCost estimateOpCost(mlir::Operation *op);

/// Roofline time of `op` on `profile`: estimateSeconds of its cost, or for
/// a call of a block the sum over the block's ops (each at its own
/// roofline).
double estimateOpSeconds(mlir::Operation *op, const DeviceProfile &profile);

/// Roofline time of `cost` on `profile`, in seconds.
double estimateSeconds(const OpCost &cost, const DeviceProfile &profile);

/// Ops with no operands, no regions and no side effects (constants,
/// tensor.empty): recreated in each stage that needs them, never a cut.
bool isRematerializable(mlir::Operation *op);

/// The cost of a `dualpipe.model` function, op by op in body order.
///
/// A *unit* is a top-level op other than a marker, the terminator or a
/// rematerializable op. Boundary c (0 <= c <= n) lies before unit c; the
/// stage_boundary markers make their boundaries mandatory.
class ModelCost {
public:
  struct Unit {
    mlir::Operation *op;
    OpCost cost;
    double seconds;
    /// Model arguments marked dualpipe.param that the op reads.
    llvm::SmallVector<unsigned> params;
  };

  ModelCost(mlir::func::FuncOp model, const DeviceProfile &profile,
            mlir::func::FuncOp loss = nullptr);

  llvm::ArrayRef<Unit> units() const { return unitList; }
  int64_t numUnits() const { return unitList.size(); }
  /// Bytes of the values crossing boundary c (values a later stage needs).
  int64_t cutBytes(int64_t c) const { return cutByteList[c]; }
  llvm::ArrayRef<int64_t> allCutBytes() const { return cutByteList; }
  /// Boundaries fixed by markers, in order (duplicates kept).
  llvm::ArrayRef<int64_t> markerBoundaries() const { return markers; }
  /// Unit index of a top-level op, or -1.
  int64_t unitIndex(mlir::Operation *op) const {
    return indexOf.lookup(op) - 1;
  }
  /// Bytes of model argument `i` (0 when it is not a static tensor).
  int64_t argBytes(unsigned i) const { return argByteList[i]; }
  /// The loss function's cost (zero without one); it runs in the last stage.
  const OpCost &lossCost() const { return loss; }
  double lossSeconds() const { return lossTime; }
  const DeviceProfile &profile() const { return device; }
  mlir::func::FuncOp model() const { return fn; }

  double totalFlops() const;
  double totalSeconds() const;

private:
  mlir::func::FuncOp fn;
  DeviceProfile device;
  llvm::SmallVector<Unit> unitList;
  llvm::DenseMap<mlir::Operation *, int64_t> indexOf; // index + 1
  llvm::SmallVector<int64_t> cutByteList, markers, argByteList;
  OpCost loss;
  double lossTime = 0;
};

/// Integer cost of a time for the partition solver (picoseconds, at least 1
/// for an op that does any work).
int64_t toSolverCost(double seconds);

} // namespace dualpipe

#endif // DUALPIPE_ANALYSIS_COSTMODEL_H
