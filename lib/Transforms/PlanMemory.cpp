//===- PlanMemory.cpp - static buffers and exact peak bytes per rank -----===//
//
// Implements --dualpipe-plan-memory on a dualpipe.schedule.
//
//===----------------------------------------------------------------------===//
#include "ScheduleIR.h"
#include "dualpipe/Transforms/Passes.h"

#include "dualpipe/Schedule/Simulator.h"

#include "mlir/IR/Builders.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEPLANMEMORY
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

namespace {

int64_t bytesOf(Type t) {
  auto shaped = dyn_cast<ShapedType>(t);
  if (!shaped || !shaped.hasStaticShape())
    return 0;
  Type e = shaped.getElementType();
  int64_t bits = e.isIntOrFloat() ? e.getIntOrFloatBitWidth() : 64;
  return shaped.getNumElements() * ((bits + 7) / 8);
}

/// Bytes of the values one stage keeps per micro-batch.
struct StageSizes {
  int64_t output = 0;   ///< F's activations sent on (or the loss).
  int64_t saved = 0;    ///< F's values kept for B/I.
  int64_t inputGrad = 0;///< B/I's gradient sent back.
  int64_t wsaved = 0;   ///< I's values kept for W.
  bool exact = false;   ///< Saved sizes come from autodiff.
};

StageSizes sizesOf(ModuleOp module, func::FuncOp stage) {
  StageSizes s;
  for (Type t : stage.getFunctionType().getResults())
    s.output += bytesOf(t);
  for (unsigned i = 0; i < stage.getNumArguments(); ++i)
    if (stage.getArgAttr(i, kFromStageAttr))
      s.inputGrad += bytesOf(stage.getArgument(i).getType());
  AutodiffAttr autodiff = getAutodiff(stage);
  auto lookup = [&](FlatSymbolRefAttr ref) -> func::FuncOp {
    return ref ? module.lookupSymbol<func::FuncOp>(ref.getValue())
               : func::FuncOp();
  };
  func::FuncOp fwd = autodiff ? lookup(autodiff.getForward()) : func::FuncOp();
  func::FuncOp bwdI =
      autodiff ? lookup(autodiff.getBackwardInput()) : func::FuncOp();
  if (fwd && bwdI) {
    s.exact = true;
    // Autodiff may save parameters too (dx = dy W^T needs W); they are not
    // copies, so its own count, which leaves them out, is preferred.
    if (auto bytes = fwd->getAttrOfType<IntegerAttr>(kSavedBytesAttr))
      s.saved = bytes.getInt();
    else
      for (unsigned i = 0; i < fwd.getNumResults(); ++i)
        if (fwd.getResultAttr(i, kSavedAttr))
          s.saved += bytesOf(fwd.getFunctionType().getResult(i));
    for (unsigned i = 0; i < bwdI.getNumResults(); ++i)
      if (bwdI.getResultAttr(i, kWSavedAttr))
        s.wsaved += bytesOf(bwdI.getFunctionType().getResult(i));
    return s;
  }
  // Before autodiff the backward must at least keep the stage's inputs.
  for (unsigned i = 0; i < stage.getNumArguments(); ++i)
    if (!stage.getArgAttr(i, kParamAttr))
      s.saved += bytesOf(stage.getArgument(i).getType());
  return s;
}

/// One buffer: live over program steps [start, end], inclusive.
struct Buffer {
  int64_t bytes = 0, start = 0, end = -1, offset = -1;
  Operation *owner = nullptr;
};

struct RankPlan {
  int64_t peakBytes = 0, arenaBytes = 0, peakMicrobatches = 0;
  int64_t predictedMicrobatches = 0;
  std::vector<Buffer> buffers;
};

/// First fit, largest buffer first: each buffer takes the lowest offset that
/// does not overlap a placed buffer alive at the same time.
int64_t pack(std::vector<Buffer> &buffers) {
  std::vector<size_t> order(buffers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  llvm::stable_sort(order, [&](size_t a, size_t b) {
    return buffers[a].bytes > buffers[b].bytes;
  });
  std::vector<size_t> placed;
  int64_t arena = 0;
  for (size_t i : order) {
    Buffer &buf = buffers[i];
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t j : placed) {
      const Buffer &o = buffers[j];
      if (o.start <= buf.end && buf.start <= o.end)
        busy.push_back({o.offset, o.offset + o.bytes});
    }
    llvm::sort(busy);
    int64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (offset + buf.bytes <= lo)
        break;
      offset = std::max(offset, hi);
    }
    buf.offset = offset;
    arena = std::max(arena, offset + buf.bytes);
    placed.push_back(i);
  }
  return arena;
}

struct PlanMemoryPass : impl::DualPipePlanMemoryBase<PlanMemoryPass> {
  using DualPipePlanMemoryBase::DualPipePlanMemoryBase;

  RankPlan planRank(ProgramOp program, PipelineOp pipeline,
                    ArrayRef<StageSizes> sizes,
                    const std::vector<sched::StageLinks> &links,
                    ArrayRef<int64_t> stageToRank) {
    RankPlan plan;
    int64_t r = program.getRankValue();
    // Open buffers by what ends them.
    std::map<std::tuple<char, int64_t, int64_t>, size_t> open;
    auto openBuffer = [&](char key, int64_t s, int64_t m, int64_t bytes,
                          int64_t t, Operation *owner) {
      if (bytes == 0)
        return;
      open[{key, s, m}] = plan.buffers.size();
      plan.buffers.push_back({bytes, t, t, -1, owner});
    };
    auto close = [&](char key, int64_t s, int64_t m, int64_t t) {
      auto it = open.find({key, s, m});
      if (it == open.end())
        return;
      plan.buffers[it->second].end = t;
      open.erase(it);
    };
    int64_t live = 0;
    auto compute = [&](ComputeOp c, int64_t t) {
      int64_t s = c.getStageIndex(), m = c.getMicrobatchIndex();
      ActionKind k = c.getKind();
      const StageSizes &z = sizes[s];
      if (k == ActionKind::Forward) {
        // Its input: a local hand-off or a received activation.
        if (links[s].prev >= 0)
          close(stageToRank[links[s].prev] == r ? 'a' : 'r', links[s].prev, m,
                t);
        openBuffer('a', s, m, links[s].next >= 0 ? z.output : 0, t, c);
        openBuffer('s', s, m, z.saved, t, c);
        ++live;
        plan.peakMicrobatches = std::max(plan.peakMicrobatches, live);
        return;
      }
      if (k == ActionKind::BackwardWeight) {
        close('w', s, m, t);
        return;
      }
      if (links[s].next >= 0)
        close(stageToRank[links[s].next] == r ? 'g' : 'q', links[s].next, m,
              t);
      close('s', s, m, t);
      openBuffer('g', s, m, links[s].prev >= 0 ? z.inputGrad : 0, t, c);
      if (k == ActionKind::BackwardInput)
        openBuffer('w', s, m, z.wsaved, t, c);
      --live;
    };
    int64_t t = 0;
    for (Operation &op : program.getBody().front()) {
      if (auto c = dyn_cast<ComputeOp>(op)) {
        compute(c, t);
      } else if (auto pair = dyn_cast<OverlapOp>(op)) {
        for (auto c : pair.getBody().front().getOps<ComputeOp>())
          compute(c, t);
      } else if (auto group = dyn_cast<P2PGroupOp>(op)) {
        for (Operation &inner : group.getBody().front()) {
          if (auto snd = dyn_cast<ISendOp>(inner)) {
            close(snd.isGradient() ? 'g' : 'a', snd.getStageIndex(),
                  snd.getMicrobatchIndex(), t);
          } else {
            auto rcv = cast<IRecvOp>(inner);
            int64_t bytes = 0;
            for (Attribute ty : rcv.getTypes())
              bytes += bytesOf(cast<TypeAttr>(ty).getValue());
            openBuffer(rcv.isGradient() ? 'q' : 'r', rcv.getStageIndex(),
                       rcv.getMicrobatchIndex(), bytes, t, rcv);
          }
        }
      }
      ++t;
    }
    // Anything still open lives to the end of the step.
    for (auto &[key, index] : open)
      plan.buffers[index].end = t;

    // Exact peak: the largest sum over buffers alive at one step.
    for (int64_t step = 0; step <= t; ++step) {
      int64_t sum = 0;
      for (const Buffer &b : plan.buffers)
        if (b.start <= step && step <= b.end)
          sum += b.bytes;
      plan.peakBytes = std::max(plan.peakBytes, sum);
    }
    plan.arenaBytes = pack(plan.buffers);
    return plan;
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto ops = module.getOps<ScheduleOp>();
    if (ops.empty()) {
      module.emitError() << "no dualpipe.schedule to plan; run "
                            "--dualpipe-schedule first";
      return signalPassFailure();
    }
    ScheduleOp schedule = *ops.begin();
    PipelineOp pipeline = lookupPipeline(module);
    FailureOr<sched::Schedule> engine = scheduleFromIR(schedule);
    if (failed(engine))
      return signalPassFailure();
    std::vector<sched::StageLinks> links = sched::stageLinks(*engine);
    std::vector<int> predicted = sched::peakActivations(*engine);
    SmallVector<StageSizes> sizes;
    for (int64_t s = 0; s < pipeline.getNumStages(); ++s)
      sizes.push_back(sizesOf(module, stageFunction(pipeline, s)));
    SmallVector<int64_t> stageToRank(pipeline.getOn());

    llvm::json::Array report;
    Builder b(module.getContext());
    for (auto program : schedule.getBody().front().getOps<ProgramOp>()) {
      RankPlan plan = planRank(program, pipeline, sizes, links, stageToRank);
      int64_t r = program.getRankValue();
      plan.predictedMicrobatches = predicted[r];
      program->setAttr(kPeakBytesAttr, b.getI64IntegerAttr(plan.peakBytes));
      program->setAttr(kArenaBytesAttr,
                       b.getI64IntegerAttr(plan.arenaBytes));
      program->setAttr(kPeakMicrobatchesAttr,
                       b.getI64IntegerAttr(plan.peakMicrobatches));
      DenseMap<Operation *, SmallVector<int64_t>> offsets;
      for (const Buffer &buf : plan.buffers)
        offsets[buf.owner].push_back(buf.offset);
      for (auto &[owner, list] : offsets)
        owner->setAttr(kOffsetsAttr, b.getDenseI64ArrayAttr(list));
      mlir::emitRemark(program.getLoc())
          << "rank " << r << ": peak " << plan.peakMicrobatches
          << " micro-batches of activations (the schedule engine predicts "
          << plan.predictedMicrobatches << "), " << plan.peakBytes
          << " bytes live at peak, arena " << plan.arenaBytes << " bytes"
          << (sizes.empty() || sizes[0].exact
                  ? ""
                  : " (no autodiff yet: saved values counted as the stage "
                    "inputs)");
      report.push_back(llvm::json::Object{
          {"rank", r},
          {"peak_microbatches", plan.peakMicrobatches},
          {"predicted_microbatches", plan.predictedMicrobatches},
          {"peak_bytes", plan.peakBytes},
          {"arena_bytes", plan.arenaBytes},
          {"buffers", static_cast<int64_t>(plan.buffers.size())}});
    }
    if (!report.empty() && !this->report.empty()) {
      std::string error;
      auto out = openOutputFile(this->report, &error);
      if (!out) {
        schedule.emitError() << "cannot write '" << this->report.getValue()
                             << "': " << error;
        return signalPassFailure();
      }
      out->os() << llvm::formatv("{0:2}", llvm::json::Value(llvm::json::Object{
                                              {"ranks", std::move(report)}}))
                << "\n";
      out->keep();
    }
  }
};
} // namespace
} // namespace dualpipe
