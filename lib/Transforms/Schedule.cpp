//===- Schedule.cpp - materialize the step's schedule in IR --------------===//
//
// Implements --dualpipe-schedule: the schedule engine's schedule for the
// pipeline, one dualpipe.program of compute actions per rank.
//
//===----------------------------------------------------------------------===//
#include "ScheduleIR.h"
#include "dualpipe/Transforms/Passes.h"

#include "dualpipe/Schedule/Analysis.h"
#include "dualpipe/Schedule/Generators.h"
#include "dualpipe/Schedule/Render.h"
#include "dualpipe/Schedule/Simulator.h"
#include "dualpipe/Schedule/TextForm.h"

#include "mlir/IR/Builders.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPESCHEDULE
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

namespace {

/// The placement each schedule family needs from the partitioner.
Placement requiredPlacement(sched::ScheduleKind kind) {
  return fromEngine(sched::placementKindOf(kind));
}

/// The function realising an action of `kind` on `stage`, from the stage
/// function's autodiff attribute, or null before autodiff.
FlatSymbolRefAttr calleeFor(PipelineOp pipeline, int64_t stage,
                            ActionKind kind) {
  AutodiffAttr autodiff = getAutodiff(stageFunction(pipeline, stage));
  return autodiff ? autodiff.getFunction(kind) : FlatSymbolRefAttr();
}

void buildCompute(OpBuilder &b, Location loc, PipelineOp pipeline,
                  const sched::Action &a) {
  ActionKind kind = fromEngine(a.kind);
  ComputeOp::create(b, loc, ActionKindAttr::get(b.getContext(), kind),
                    b.getI64IntegerAttr(a.stage),
                    b.getI64IntegerAttr(a.microbatch),
                    calleeFor(pipeline, a.stage, kind));
}

struct SchedulePass : impl::DualPipeScheduleBase<SchedulePass> {
  using DualPipeScheduleBase::DualPipeScheduleBase;

  /// Generates `kind`, or reports why it cannot run here.
  FailureOr<sched::Schedule> generateFor(PipelineOp pipeline,
                                         sched::ScheduleKind kind,
                                         int64_t numRanks) {
    StringRef need = stringifyPlacement(requiredPlacement(kind));
    if (pipeline.getPlacement() != requiredPlacement(kind))
      return pipeline.emitError()
             << "schedule '" << sched::scheduleName(kind) << "' needs stages "
             << "placed '" << need << "' (--dualpipe-partition=\"placement="
             << need << "\"), but the pipeline is '"
             << stringifyPlacement(pipeline.getPlacement()) << "'";
    sched::ScheduleConfig config;
    config.kind = kind;
    config.numRanks = numRanks;
    config.numMicrobatches = microbatches;
    config.chunks = std::max<int64_t>(1, pipeline.getNumStages() / numRanks);
    auto generated = sched::generate(config);
    if (!generated)
      return pipeline.emitError() << generated.error().message;
    if (generated->numStages != pipeline.getNumStages())
      return pipeline.emitError()
             << "schedule '" << sched::scheduleName(kind) << "' on "
             << numRanks << " ranks has " << generated->numStages
             << " stages, but the pipeline has " << pipeline.getNumStages();
    return std::move(*generated);
  }

  /// A user-supplied schedule (schedule=FILE.csv): read under the
  /// pipeline's placement, checked against its ranks, stages and M, and
  /// validated (readScheduleForCompile); its own non-compute actions, if
  /// any, are dropped after validation (--dualpipe-insert-comm places the
  /// step's messages).
  FailureOr<sched::Schedule> readFile(PipelineOp pipeline, StringRef path,
                                      int64_t numRanks) {
    std::string error;
    std::unique_ptr<llvm::MemoryBuffer> file = openInputFile(path, &error);
    if (!file)
      return pipeline.emitError()
             << "schedule=" << this->schedule.getValue()
             << ": cannot read the schedule file: " << error;
    sched::CompileScheduleRequest request;
    request.numRanks = static_cast<int>(numRanks);
    request.numMicrobatches = static_cast<int>(microbatches.getValue());
    request.placement = toEngine(pipeline.getPlacement());
    sched::Expected<sched::Schedule> s =
        sched::readScheduleForCompile(file->getBuffer().str(), request);
    if (!s)
      return pipeline.emitError() << path << ": " << s.error().message;
    sched::Placement want = placementOf(pipeline, microbatches.getValue());
    bool same = s->numStages == want.numStages &&
                s->stageToRank == want.stageToRank &&
                s->pipelines.size() == want.pipelines.size();
    for (size_t p = 0; same && p < want.pipelines.size(); ++p)
      same = s->pipelines[p].stages == want.pipelines[p].stages &&
             s->pipelines[p].firstMicrobatch ==
                 want.pipelines[p].firstMicrobatch &&
             s->pipelines[p].numMicrobatches ==
                 want.pipelines[p].numMicrobatches;
    if (!same)
      return pipeline.emitError()
             << path << ": the file's schedule has " << s->numStages
             << " stages placed '"
             << sched::placementName(toEngine(pipeline.getPlacement()))
             << "', but the pipeline has " << want.numStages
             << "; partition the model into the file's stages "
                "(--dualpipe-partition=\"stages=... placement=...\")";
    s->comms.clear();
    return std::move(*s);
  }

  /// The partition's per-stage costs (dualpipe.stage_cost on every stage
  /// function), in microseconds and bytes; nullopt when a stage has none.
  std::optional<sched::CostModel> partitionCosts(PipelineOp pipeline) {
    sched::CostModel cost;
    cost.fb = -1; // a pair runs its halves one after the other
    for (int64_t t = 0; t < pipeline.getNumStages(); ++t) {
      func::FuncOp fn = stageFunction(pipeline, t);
      auto attr = fn ? fn->getAttrOfType<DictionaryAttr>(kStageCostAttr)
                     : DictionaryAttr();
      if (!attr)
        return std::nullopt;
      double f = attr.getAs<FloatAttr>("forward_s").getValueAsDouble() * 1e6;
      cost.perStage.push_back(sched::StageCost{f, 2 * f, f, -1});
      cost.activationBytes.push_back(double(
          attr.getAs<IntegerAttr>("activation_bytes").getValue().getSExtValue()));
      // Parameters and their gradients, as the partition counts them.
      cost.parameterBytes.push_back(
          2.0 * double(attr.getAs<IntegerAttr>("parameter_bytes")
                           .getValue()
                           .getSExtValue()));
    }
    return cost;
  }

  /// `auto`: the engine's chooseAuto (the one dualpipe-sched uses) among
  /// the schedules of the placement, under the partition's per-stage costs
  /// when the stages carry them, else at the reference costs of
  /// docs/schedules/contract.md.
  FailureOr<sched::Schedule> chooseAuto(PipelineOp pipeline, int64_t numRanks) {
    sched::AutoRequest request;
    request.numRanks = static_cast<int>(numRanks);
    request.numMicrobatches = static_cast<int>(microbatches.getValue());
    request.chunks = static_cast<int>(
        std::max<int64_t>(1, pipeline.getNumStages() / numRanks));
    std::optional<sched::CostModel> partitioned = partitionCosts(pipeline);
    if (partitioned) {
      request.cost = std::move(*partitioned);
      request.memoryBudget = double(memoryBudget.getValue());
    } else {
      if (memoryBudget > 0)
        return pipeline.emitError()
               << "schedule=auto memory-budget=" << memoryBudget.getValue()
               << " needs the stages' costs: partition with "
                  "--dualpipe-partition=\"stage-costs=1\" (dualpipe-compile "
                  "does)";
      request.cost.uniform = {1, 2, 1};
      request.cost.fb = 3;
    }
    request.costs = sched::AutoCosts::AsGiven;
    for (sched::ScheduleKind kind : sched::allScheduleKinds()) {
      if (requiredPlacement(kind) != pipeline.getPlacement())
        continue;
      sched::ScheduleConfig config{kind, request.numRanks,
                                   *request.numMicrobatches};
      config.chunks = request.chunks;
      auto s = sched::generate(config);
      if (s && s->numStages == pipeline.getNumStages())
        request.kinds.push_back(kind);
    }
    if (request.kinds.empty())
      return pipeline.emitError()
             << "no schedule fits placement '"
             << stringifyPlacement(pipeline.getPlacement())
             << "' with " << microbatches.getValue() << " micro-batches on "
             << numRanks << " ranks";
    sched::Expected<sched::AutoChoice> choice = sched::chooseAuto(request);
    if (!choice)
      return pipeline.emitError()
             << "schedule=auto: " << choice.error().message;
    std::string why;
    for (const sched::AutoCandidate &c : choice->candidates) {
      why += std::string(sched::scheduleName(c.kind)) + " " +
             sched::formatNumber(c.stepTime);
      if (partitioned)
        why += " us, peak " + sched::formatNumber(c.peakMemory) + " B" +
               (c.fits ? "" : " (over budget)");
      why += "; ";
    }
    if (partitioned) {
      std::string costs;
      for (size_t t = 0; t < request.cost.perStage.size(); ++t)
        costs += (t ? "," : "") + sched::formatNumber(request.cost.perStage[t].f);
      pipeline.emitRemark()
          << "schedule=auto chose " << sched::scheduleName(choice->kind)
          << ": least simulated step time under the partition's per-stage "
             "costs (F = " << costs << " us, B = 2F, W = F)"
          << (memoryBudget > 0 ? " within the memory budget of " +
                                     std::to_string(memoryBudget.getValue()) +
                                     " bytes per rank"
                               : std::string())
          << " among " << why;
    } else {
      pipeline.emitRemark() << "schedule=auto chose "
                            << sched::scheduleName(choice->kind)
                            << ": least simulated step time at F=1, B=2, W=1, "
                               "F&B=3 among "
                            << why;
    }
    return std::move(choice->schedule);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    PipelineOp pipeline = lookupPipeline(module);
    if (!pipeline) {
      module.emitError() << "no dualpipe.pipeline op; run --dualpipe-partition "
                            "first";
      return signalPassFailure();
    }
    if (!module.getOps<ScheduleOp>().empty()) {
      module.emitError() << "the module already has a dualpipe.schedule; run "
                            "--dualpipe-schedule once";
      return signalPassFailure();
    }
    int64_t numRanks = ranks ? ranks.getValue() : pipeline.getNumRanks();
    if (numRanks != pipeline.getNumRanks()) {
      pipeline.emitError() << "ranks=" << numRanks << " was asked for, but "
                           << "the stages were placed on "
                           << pipeline.getNumRanks() << " ranks";
      return signalPassFailure();
    }
    if (microbatches < 1) {
      module.emitError() << "microbatches=M is required (M >= 1)";
      return signalPassFailure();
    }
    // Every action of every micro-batch becomes ops here and code later
    // (about 3 x stages x M calls per step): bound it before generating.
    constexpr int64_t kMaxActions = int64_t(1) << 24;
    int64_t actions = 3 * pipeline.getNumStages() * microbatches.getValue();
    if (microbatches > INT32_MAX || actions > kMaxActions) {
      module.emitError() << "microbatches=" << microbatches.getValue()
                         << " on " << pipeline.getNumStages()
                         << " stages makes about " << actions
                         << " actions, more than the " << kMaxActions
                         << " a compiled step can hold (each becomes ops, "
                            "then code); use fewer micro-batches and run "
                            "more steps";
      return signalPassFailure();
    }

    FailureOr<sched::Schedule> schedule = failure();
    if (std::optional<std::string> path =
            sched::scheduleFilePath(this->schedule.getValue())) {
      schedule = readFile(pipeline, *path, numRanks);
    } else if (this->schedule.getValue() == "auto") {
      schedule = chooseAuto(pipeline, numRanks);
    } else {
      auto kind = sched::parseScheduleName(this->schedule);
      if (!kind) {
        pipeline.emitError() << "unknown schedule '" << this->schedule.getValue()
                             << "'; use dualpipe, dualpipev, 1f1b, zb1p, zbv, "
                                "gpipe, interleaved or auto, or a schedule "
                                "file FILE.csv (file:PATH)";
        return signalPassFailure();
      }
      schedule = generateFor(pipeline, *kind, numRanks);
    }
    if (failed(schedule))
      return signalPassFailure();

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = pipeline.getLoc();
    auto op = ScheduleOp::create(
        b, loc, ScheduleKindAttr::get(b.getContext(), fromEngine(schedule->kind)),
        b.getI64IntegerAttr(numRanks),
        b.getI64IntegerAttr(microbatches.getValue()));
    Block *body = b.createBlock(&op.getBody());
    for (int64_t r = 0; r < numRanks; ++r) {
      b.setInsertionPointToEnd(body);
      auto program = ProgramOp::create(
          b, NameLoc::get(b.getStringAttr("rank " + Twine(r)), loc), r);
      b.setInsertionPointToEnd(b.createBlock(&program.getBody()));
      for (auto [i, a] : llvm::enumerate(schedule->ranks[r])) {
        // Diagnostics about an action name it the way the CSV does.
        Location loc = NameLoc::get(
            b.getStringAttr("rank " + Twine(r) + ", action " + Twine(i) + " (" +
                            sched::formatAction(a) + ")"),
            pipeline.getLoc());
        if (!a.isPair()) {
          buildCompute(b, loc, pipeline, a);
          continue;
        }
        auto pair = OverlapOp::create(b, loc);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToEnd(b.createBlock(&pair.getBody()));
        buildCompute(b, loc, pipeline, a.forwardPart());
        buildCompute(b, loc, pipeline, a.backwardPart());
      }
    }
    if (!emit.empty() && failed(writeScheduleCSV(op, *schedule, emit)))
      return signalPassFailure();
  }
};

} // namespace

} // namespace dualpipe
