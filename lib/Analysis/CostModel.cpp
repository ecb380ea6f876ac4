//===- CostModel.cpp - FLOPs, bytes and roofline time of a model ---------===//
//
// Linalg ops are costed from their iteration domain: FLOPs are the loop trip
// count times the arithmetic ops in the body, bytes are every input read
// once, every output written once (and read when the body reads it), plus
// one element per iteration for each tensor.extract from a captured tensor
// (a gather). Contractions run at the device's matmul peak.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Analysis/CostModel.h"

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

#include <cmath>

using namespace mlir;
using namespace dualpipe;

//===----------------------------------------------------------------------===//
// Device profiles
//===----------------------------------------------------------------------===//

static const llvm::StringLiteral kProfileNames[] = {"cpu", "h200"};

llvm::ArrayRef<llvm::StringLiteral> dualpipe::deviceProfileNames() {
  return kProfileNames;
}

std::optional<DeviceProfile> dualpipe::lookupDeviceProfile(StringRef name) {
  if (name == "cpu") {
    // Measured once on the build machine (AMD EPYC with AVX-512, one of its
    // two cores) with bench-cpu-profile (bench/partition/
    // MeasureCpuProfile.cpp), best of three runs; see docs/partition.md.
    DeviceProfile p;
    p.name = "cpu";
    p.matmulFlops32 = 1.0e11;  // OpenBLAS sgemm 1024^3, 1 thread
    p.matmulFlops16 = 1.0e11;  // no faster 16-bit path assumed
    p.vectorFlops = 4.4e10;    // fused multiply-add loop in L1
    p.bytesPerSecond = 3.0e10; // STREAM-style triad over 3 x 64 MiB
    p.source = "measured on the build machine (1 core, "
               "bench/partition/MeasureCpuProfile.cpp)";
    return p;
  }
  if (name == "h200") {
    // NVIDIA H200 SXM datasheet, dense (no sparsity): TF32 tensor cores for
    // f32 contractions, BF16/FP16 tensor cores for 16-bit, FP32 CUDA cores
    // for the rest; HBM3e 4.8 TB/s.
    DeviceProfile p;
    p.name = "h200";
    p.matmulFlops32 = 494.7e12;
    p.matmulFlops16 = 989.4e12;
    p.vectorFlops = 67e12;
    p.bytesPerSecond = 4.8e12;
    p.source = "NVIDIA H200 SXM datasheet (dense TF32/BF16 tensor cores, "
               "FP32 cores, HBM3e)";
    return p;
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Per-op cost
//===----------------------------------------------------------------------===//

static int64_t elementBytes(Type t) {
  if (isa<IndexType>(t))
    return 8;
  if (auto c = dyn_cast<ComplexType>(t))
    return 2 * elementBytes(c.getElementType());
  if (t.isIntOrFloat())
    return (t.getIntOrFloatBitWidth() + 7) / 8;
  return 0;
}

int64_t dualpipe::tensorBytes(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped || !shaped.hasStaticShape())
    return 0;
  return shaped.getNumElements() * elementBytes(shaped.getElementType());
}

static int64_t numElements(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  return shaped && shaped.hasStaticShape() ? shaped.getNumElements() : 0;
}

static unsigned bitsOf(Type type) {
  Type e = getElementTypeOrSelf(type);
  return e.isIntOrFloat() ? e.getIntOrFloatBitWidth() : 32;
}

/// Arithmetic in a linalg body: every arith and math op but constants, index
/// casts and bitcasts.
static bool countsAsFlop(Operation &op) {
  if (isa<arith::ConstantOp, arith::IndexCastOp, arith::IndexCastUIOp,
          arith::BitcastOp>(op))
    return false;
  StringRef ns = op.getDialect() ? op.getDialect()->getNamespace() : "";
  return ns == "arith" || ns == "math";
}

static OpCost linalgCost(linalg::LinalgOp op) {
  OpCost cost;
  double iterations = 1;
  for (int64_t range : op.getStaticLoopRanges())
    if (!ShapedType::isDynamic(range))
      iterations *= range;
  double perIteration = 0, gatherBytes = 0;
  Block *body = op.getBlock();
  body->walk([&](Operation *inner) {
    if (countsAsFlop(*inner))
      perIteration += 1;
    // A gather: one element of a tensor defined outside per iteration.
    if (auto extract = dyn_cast<tensor::ExtractOp>(inner))
      if (!body->getParent()->isAncestor(
              extract.getTensor().getParentRegion()))
        gatherBytes += elementBytes(extract.getType());
  });
  cost.flops = iterations * perIteration;
  cost.bytes = iterations * gatherBytes;
  for (OpOperand *in : op.getDpsInputOperands())
    cost.bytes += tensorBytes(in->get().getType());
  for (OpOperand &init : op.getDpsInitsMutable()) {
    int64_t b = tensorBytes(init.get().getType());
    cost.bytes += b;
    if (op.payloadUsesValueFromOperand(&init))
      cost.bytes += b;
  }
  cost.contraction = linalg::isaContractionOpInterface(op) ||
                     linalg::isaConvolutionOpInterface(op);
  if (op.getNumDpsInits() > 0)
    cost.elementBits = bitsOf(op.getDpsInitOperand(0)->get().getType());
  return cost;
}

/// The function a call names, if the module defines it.
static func::FuncOp calleeOf(Operation *op) {
  auto call = dyn_cast<func::CallOp>(op);
  if (!call)
    return {};
  auto fn = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, call.getCalleeAttr());
  return fn && !fn.isExternal() ? fn : func::FuncOp();
}

/// The ops of a function's body that do work.
static SmallVector<Operation *> costedOps(func::FuncOp fn) {
  SmallVector<Operation *> ops;
  for (Operation &op : fn.getBody().front())
    if (!op.hasTrait<OpTrait::IsTerminator>() && !isRematerializable(&op))
      ops.push_back(&op);
  return ops;
}

OpCost dualpipe::estimateOpCost(Operation *op) {
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op))
    return linalgCost(linalgOp);
  // A call of a block function costs what the block's ops cost.
  if (func::FuncOp callee = calleeOf(op)) {
    OpCost cost;
    for (Operation *inner : costedOps(callee)) {
      OpCost c = estimateOpCost(inner);
      cost.flops += c.flops;
      cost.bytes += c.bytes;
      cost.contraction |= c.contraction;
    }
    return cost;
  }
  OpCost cost;
  if (op->getNumResults() > 0)
    cost.elementBits = bitsOf(op->getResult(0).getType());
  // Reshapes and casts are views: no work.
  if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::CastOp,
          tensor::BitcastOp, tensor::ReshapeOp, tensor::DimOp,
          tensor::ExtractOp>(op))
    return cost;
  if (auto softmax = dyn_cast<linalg::SoftmaxOp>(op)) {
    // max, subtract, exp, sum, divide per element.
    cost.flops = 5.0 * numElements(softmax.getInput().getType());
    cost.bytes = tensorBytes(softmax.getInput().getType()) +
                 tensorBytes(softmax.getOutput().getType());
    return cost;
  }
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op)) {
    cost.bytes = 2.0 * tensorBytes(slice.getType());
    return cost;
  }
  if (auto insert = dyn_cast<tensor::InsertSliceOp>(op)) {
    cost.bytes = 2.0 * tensorBytes(insert.getSourceType());
    return cost;
  }
  // Elementwise arith/math on tensors: one FLOP per element; anything else:
  // a copy of its results. Both read every operand and write every result.
  for (Value v : op->getOperands())
    cost.bytes += tensorBytes(v.getType());
  for (Value v : op->getResults())
    cost.bytes += tensorBytes(v.getType());
  StringRef ns = op->getDialect() ? op->getDialect()->getNamespace() : "";
  if (ns == "arith" || ns == "math")
    for (Value v : op->getResults())
      cost.flops += numElements(v.getType());
  return cost;
}

double dualpipe::estimateSeconds(const OpCost &cost,
                                 const DeviceProfile &profile) {
  double peak = !cost.contraction        ? profile.vectorFlops
                : cost.elementBits <= 16 ? profile.matmulFlops16
                                         : profile.matmulFlops32;
  double compute = peak > 0 ? cost.flops / peak : 0;
  double memory =
      profile.bytesPerSecond > 0 ? cost.bytes / profile.bytesPerSecond : 0;
  return std::max(compute, memory);
}

double dualpipe::estimateOpSeconds(Operation *op,
                                   const DeviceProfile &profile) {
  func::FuncOp callee = calleeOf(op);
  if (!callee)
    return estimateSeconds(estimateOpCost(op), profile);
  // Each op of the block at its own roofline, not the block as one op.
  double seconds = 0;
  for (Operation *inner : costedOps(callee))
    seconds += estimateOpSeconds(inner, profile);
  return seconds;
}

bool dualpipe::isRematerializable(Operation *op) {
  return op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
         isMemoryEffectFree(op);
}

int64_t dualpipe::toSolverCost(double seconds) {
  int64_t ps = std::llround(seconds * 1e12);
  return seconds > 0 && ps == 0 ? 1 : ps;
}

//===----------------------------------------------------------------------===//
// ModelCost
//===----------------------------------------------------------------------===//

/// Looks through markers: a marker's result is its operand.
static Value throughMarkers(Value v) {
  while (auto b = v.getDefiningOp<StageBoundaryOp>())
    v = b.getInputs()[cast<OpResult>(v).getResultNumber()];
  return v;
}

/// Values an op reads, including inside its regions.
static llvm::SetVector<Value> usedValues(Operation &op) {
  llvm::SetVector<Value> values;
  for (Value v : op.getOperands())
    values.insert(throughMarkers(v));
  llvm::SetVector<Value> above;
  getUsedValuesDefinedAbove(op.getRegions(), above);
  for (Value v : above)
    values.insert(throughMarkers(v));
  return values;
}

ModelCost::ModelCost(func::FuncOp model, const DeviceProfile &profile,
                     func::FuncOp lossFn)
    : fn(model), device(profile) {
  Block &body = model.getBody().front();
  for (BlockArgument a : body.getArguments())
    argByteList.push_back(tensorBytes(a.getType()));

  for (Operation &op : body) {
    if (isa<StageBoundaryOp>(op)) {
      markers.push_back(unitList.size());
      continue;
    }
    if (op.hasTrait<OpTrait::IsTerminator>() || isRematerializable(&op))
      continue;
    Unit unit{&op, estimateOpCost(&op), 0, {}};
    unit.seconds = estimateOpSeconds(&op, profile);
    for (Value v : usedValues(op))
      if (auto arg = dyn_cast<BlockArgument>(v))
        if (arg.getOwner() == &body &&
            model.getArgAttr(arg.getArgNumber(), kParamAttr))
          unit.params.push_back(arg.getArgNumber());
    llvm::sort(unit.params);
    unitList.push_back(std::move(unit));
    indexOf[&op] = unitList.size();
  }

  // Bytes crossing each boundary: a value made by unit d and last read by
  // unit e (the terminator reads in the last unit's stage) crosses d+1..e.
  int64_t n = unitList.size();
  DenseMap<Value, int64_t> lastUse;
  for (Operation &op : body) {
    int64_t at;
    if (op.hasTrait<OpTrait::IsTerminator>())
      at = n - 1;
    else if (int64_t i = unitIndex(&op); i >= 0)
      at = i;
    else
      continue;
    for (Value v : usedValues(op)) {
      auto [it, inserted] = lastUse.try_emplace(v, at);
      if (!inserted)
        it->second = std::max(it->second, at);
    }
  }
  SmallVector<int64_t> diff(n + 2, 0);
  for (auto [d, unit] : llvm::enumerate(unitList))
    for (Value r : unit.op->getResults()) {
      auto it = lastUse.find(r);
      if (it == lastUse.end() || it->second <= (int64_t)d)
        continue;
      int64_t b = tensorBytes(r.getType());
      diff[d + 1] += b;
      diff[it->second + 1] -= b;
    }
  cutByteList.assign(n + 1, 0);
  int64_t run = 0;
  for (int64_t c = 0; c <= n; ++c) {
    run += diff[c];
    cutByteList[c] = (c == 0 || c == n) ? 0 : run;
  }

  if (lossFn && !lossFn.getBody().empty())
    for (Operation &op : lossFn.getBody().front()) {
      if (op.hasTrait<OpTrait::IsTerminator>() || isRematerializable(&op))
        continue;
      OpCost c = estimateOpCost(&op);
      loss.flops += c.flops;
      loss.bytes += c.bytes;
      lossTime += estimateOpSeconds(&op, profile);
    }
}

double ModelCost::totalFlops() const {
  double sum = loss.flops;
  for (const Unit &u : unitList)
    sum += u.cost.flops;
  return sum;
}

double ModelCost::totalSeconds() const {
  double sum = lossTime;
  for (const Unit &u : unitList)
    sum += u.seconds;
  return sum;
}
