//===- ScheduleIR.cpp - between dualpipe.schedule and lib/Schedule -------===//
#include "ScheduleIR.h"

#include "dualpipe/Schedule/TextForm.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

namespace dualpipe {

sched::Placement placementOf(PipelineOp pipeline, int64_t microbatches) {
  sched::Placement p;
  int64_t stages = pipeline.getNumStages(), ranks = pipeline.getNumRanks();
  p.numStages = stages;
  p.chunksPerRank = std::max<int64_t>(1, stages / ranks);
  for (int64_t r : pipeline.getOn())
    p.stageToRank.push_back(r);
  auto line = [](int64_t first, int64_t count, int64_t mb0, int64_t mbs) {
    sched::Pipeline pipe;
    for (int64_t s = first; s < first + count; ++s)
      pipe.stages.push_back(s);
    pipe.firstMicrobatch = mb0;
    pipe.numMicrobatches = mbs;
    return pipe;
  };
  if (pipeline.getPlacement() == Placement::DualPipe) {
    p.pipelines.push_back(line(0, ranks, 0, microbatches / 2));
    p.pipelines.push_back(
        line(ranks, ranks, microbatches / 2, microbatches - microbatches / 2));
  } else {
    p.pipelines.push_back(line(0, stages, 0, microbatches));
  }
  return p;
}

static sched::Action actionOf(ComputeOp op) {
  return {toEngine(op.getKind()), static_cast<int>(op.getStageIndex()),
          static_cast<int>(op.getMicrobatchIndex())};
}

FailureOr<sched::Schedule> scheduleFromIR(ScheduleOp op) {
  PipelineOp pipeline = lookupPipeline(op->getParentOfType<ModuleOp>());
  if (!pipeline)
    return op.emitOpError() << "needs the module's dualpipe.pipeline op to "
                               "know where each stage runs";
  if (pipeline.getNumRanks() != op.getNumRanks())
    return op.emitOpError() << "has " << op.getNumRanks()
                            << " ranks but the pipeline has "
                            << pipeline.getNumRanks();
  sched::Schedule s;
  s.kind = toEngine(op.getKind());
  s.numRanks = op.getNumRanks();
  s.numMicrobatches = op.getNumMicrobatches();
  sched::Placement p = placementOf(pipeline, s.numMicrobatches);
  s.numStages = p.numStages;
  s.chunksPerRank = p.chunksPerRank;
  s.stageToRank = p.stageToRank;
  s.pipelines = p.pipelines;
  s.ranks.resize(s.numRanks);
  for (auto program : op.getBody().front().getOps<ProgramOp>()) {
    auto &actions = s.ranks[program.getRankValue()];
    for (Operation &inner : program.getBody().front()) {
      if (auto compute = dyn_cast<ComputeOp>(inner)) {
        actions.push_back(actionOf(compute));
      } else if (auto pair = dyn_cast<OverlapOp>(inner)) {
        auto parts = pair.getBody().front().getOps<ComputeOp>();
        auto it = parts.begin();
        sched::Action f = actionOf(*it++), b = actionOf(*it);
        actions.push_back(sched::Action::pair(f.stage, f.microbatch, b.stage,
                                              b.microbatch));
      }
    }
  }
  return s;
}

func::FuncOp stageFunction(PipelineOp pipeline, int64_t s) {
  auto ref = cast<FlatSymbolRefAttr>(pipeline.getStages()[s]);
  return pipeline->getParentOfType<ModuleOp>().lookupSymbol<func::FuncOp>(
      ref.getValue());
}

SmallVector<Type> messageTypes(PipelineOp pipeline, int64_t stage,
                               bool gradient) {
  func::FuncOp fn = stageFunction(pipeline, stage);
  SmallVector<Type> types;
  if (!fn)
    return types;
  if (!gradient) {
    llvm::append_range(types, fn.getFunctionType().getResults());
    return types;
  }
  for (unsigned i = 0; i < fn.getNumArguments(); ++i)
    if (fn.getArgAttr(i, kFromStageAttr))
      types.push_back(fn.getArgument(i).getType());
  return types;
}

/// Writes `schedule` as the CSV of docs/schedules/contract.md to `path`.
LogicalResult writeScheduleCSV(Operation *anchor, const sched::Schedule &schedule,
                       StringRef path) {
  std::string error;
  auto out = openOutputFile(path, &error);
  if (!out)
    return anchor->emitError() << "cannot write the schedule to '" << path
                               << "': " << error;
  out->os() << sched::toCSV(schedule);
  out->keep();
  return success();
}

} // namespace dualpipe
