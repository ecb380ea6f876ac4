//===- DualPipeScheduleOps.cpp - verifiers of the schedule ops -----------===//
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "llvm/ADT/DenseSet.h"

#include <limits>

using namespace mlir;
using namespace dualpipe;

/// The rank of the program `op` sits in, or -1.
static int64_t programRank(Operation *op) {
  auto program = op->getParentOfType<ProgramOp>();
  return program ? program.getRankValue() : -1;
}

/// Checks a peer rank against the schedule's rank count and the program's
/// own rank.
static LogicalResult verifyPeer(Operation *op, int64_t peer) {
  auto schedule = op->getParentOfType<ScheduleOp>();
  int64_t ranks = schedule ? schedule.getNumRanks() : 0;
  if (peer < 0 || (schedule && peer >= ranks))
    return op->emitOpError() << "names rank " << peer
                             << ", but the schedule has " << ranks
                             << " ranks (0.." << ranks - 1 << ")";
  if (peer == programRank(op))
    return op->emitOpError()
           << "names rank " << peer
           << ", the rank of its own program; a message needs another rank";
  return success();
}

/// Checks a stage and micro-batch against the enclosing schedule. The
/// stage's upper bound comes from the pipeline, which only the schedule
/// knows: ScheduleOp::verifyRegions checks it once for all its ops.
static LogicalResult verifyMicrobatch(Operation *op, int64_t stage,
                                      int64_t microbatch) {
  if (stage < 0)
    return op->emitOpError() << "stage must be non-negative, got " << stage;
  auto schedule = op->getParentOfType<ScheduleOp>();
  if (microbatch < 0 ||
      (schedule && microbatch >= schedule.getNumMicrobatches()))
    return op->emitOpError()
           << "micro-batch " << microbatch << " is out of range: the schedule "
           << "has " << (schedule ? schedule.getNumMicrobatches() : 0)
           << " micro-batches";
  return success();
}

/// The stage an action or message names, for the stage-range check.
static std::optional<int64_t> namedStage(Operation &op) {
  if (auto c = dyn_cast<ComputeOp>(op))
    return c.getStageIndex();
  if (auto m = dyn_cast<ISendOp>(op))
    return m.getStageIndex();
  if (auto m = dyn_cast<IRecvOp>(op))
    return m.getStageIndex();
  if (auto m = dyn_cast<WaitRecvOp>(op))
    return m.getStageIndex();
  return std::nullopt;
}

LogicalResult ScheduleOp::verifyRegions() {
  PipelineOp pipeline = lookupPipeline((*this)->getParentOfType<ModuleOp>());
  if (!pipeline)
    return success();
  int64_t stages = pipeline.getNumStages();
  WalkResult result = walk([&](Operation *op) {
    std::optional<int64_t> stage = namedStage(*op);
    if (stage && *stage >= stages) {
      op->emitOpError() << "stage " << *stage << " does not exist: the "
                        << "pipeline has " << stages << " stages";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

LogicalResult ScheduleOp::verify() {
  int64_t ranks = getNumRanks();
  if (ranks < 1)
    return emitOpError() << "needs at least one rank, got " << ranks;
  if (getNumMicrobatches() < 1)
    return emitOpError() << "needs at least one micro-batch, got "
                         << getNumMicrobatches();
  // The schedule engine (dualpipe/Schedule) counts ranks, stages and
  // micro-batches in int: larger counts would wrap there.
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  if (ranks > kMax || getNumMicrobatches() > kMax)
    return emitOpError() << "has " << ranks << " ranks and "
                         << getNumMicrobatches()
                         << " micro-batches; the schedule engine takes at most "
                         << kMax << " of each";
  int64_t expected = 0;
  for (Operation &op : getBody().front()) {
    auto program = dyn_cast<ProgramOp>(op);
    if (!program)
      return op.emitOpError() << "cannot sit in a schedule; only "
                                 "dualpipe.program ops can";
    if (program.getRankValue() != expected)
      return program.emitOpError()
             << "is for rank " << program.getRankValue() << ", but rank "
             << expected << " comes next: list one program per rank, rank 0 "
                            "first";
    ++expected;
  }
  if (expected != ranks)
    return emitOpError() << "has " << expected << " programs for " << ranks
                         << " ranks; give one program per rank";
  return success();
}

LogicalResult ComputeOp::verify() {
  return verifyMicrobatch(*this, getStageIndex(), getMicrobatchIndex());
}

LogicalResult OverlapOp::verify() {
  Block &body = getBody().front();
  SmallVector<ComputeOp> parts;
  for (Operation &op : body) {
    auto compute = dyn_cast<ComputeOp>(op);
    if (!compute)
      return op.emitOpError() << "cannot sit in an overlapped pair; only "
                                 "dualpipe.compute ops can";
    parts.push_back(compute);
  }
  if (parts.size() != 2 || parts[0].getKind() != ActionKind::Forward ||
      parts[1].getKind() != ActionKind::Backward)
    return emitOpError() << "must hold exactly a forward (F) then a full "
                            "backward (B)";
  if (parts[0].getStageIndex() == parts[1].getStageIndex())
    return emitOpError() << "overlaps two actions of stage "
                         << parts[0].getStageIndex()
                         << "; a pair joins two different chunks";
  return success();
}

LogicalResult P2PGroupOp::verify() {
  Block &body = getBody().front();
  if (body.empty())
    return emitOpError() << "is empty; drop it";
  for (Operation &op : body)
    if (!isa<ISendOp, IRecvOp>(op))
      return op.emitOpError() << "cannot sit in a p2p group; only "
                                 "dualpipe.isend and dualpipe.irecv can";
  return success();
}

template <typename OpTy>
static LogicalResult verifyMessage(OpTy op) {
  if (failed(verifyMicrobatch(op, op.getStageIndex(), op.getMicrobatchIndex())))
    return failure();
  return verifyPeer(op, op.getPeerRank());
}

static LogicalResult verifyTypes(Operation *op, ArrayAttr types) {
  if (types.empty())
    return op->emitOpError() << "carries no tensors";
  for (Attribute a : types) {
    auto t = dyn_cast<RankedTensorType>(cast<TypeAttr>(a).getValue());
    if (!t || !t.hasStaticShape())
      return op->emitOpError() << "can only carry ranked tensors of static "
                                  "shape, got "
                               << cast<TypeAttr>(a).getValue();
  }
  return success();
}

LogicalResult ISendOp::verify() {
  if (failed(verifyMessage(*this)))
    return failure();
  return verifyTypes(*this, getTypes());
}
LogicalResult IRecvOp::verify() {
  if (failed(verifyMessage(*this)))
    return failure();
  return verifyTypes(*this, getTypes());
}
LogicalResult WaitRecvOp::verify() { return verifyMessage(*this); }

LogicalResult AllReduceGradsOp::verify() {
  ArrayRef<int64_t> ranks = getRanks();
  if (ranks.size() < 2)
    return emitOpError() << "needs a group of at least two ranks";
  llvm::DenseSet<int64_t> seen;
  auto schedule = (*this)->getParentOfType<ScheduleOp>();
  for (int64_t r : ranks) {
    if (!seen.insert(r).second)
      return emitOpError() << "lists rank " << r << " twice";
    if (r < 0 || (schedule && r >= schedule.getNumRanks()))
      return emitOpError() << "names rank " << r << ", but the schedule has "
                           << schedule.getNumRanks() << " ranks";
  }
  if (!seen.contains(programRank(*this)))
    return emitOpError() << "runs on rank " << programRank(*this)
                         << ", which is not in its group";
  return success();
}
