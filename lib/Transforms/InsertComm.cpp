//===- InsertComm.cpp - every cross-rank edge becomes a message ----------===//
//
// Implements --dualpipe-insert-comm on a dualpipe.schedule: the grouping is
// lib/Schedule's commGroups(), the one its deadlock check proves.
//
//===----------------------------------------------------------------------===//
#include "ScheduleIR.h"
#include "dualpipe/Transforms/Passes.h"

#include "dualpipe/Schedule/Validator.h"

#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEINSERTCOMM
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

namespace {

ArrayAttr typesAttr(OpBuilder &b, PipelineOp pipeline,
                    const sched::Message &m) {
  SmallVector<Attribute> types;
  for (Type t : messageTypes(pipeline, m.fromStage, m.gradient))
    types.push_back(TypeAttr::get(t));
  return b.getArrayAttr(types);
}

void buildGroup(OpBuilder &b, Location loc, PipelineOp pipeline,
                const sched::CommGroup &group) {
  if (group.sends.empty() && group.postRecvs.empty())
    return;
  auto op = P2PGroupOp::create(b, loc);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(b.createBlock(&op.getBody()));
  for (const sched::Message &m : group.sends)
    ISendOp::create(b, loc, payloadOf(m.gradient), m.fromStage,
                    m.microbatch, m.toRank, typesAttr(b, pipeline, m));
  for (const sched::Message &m : group.postRecvs)
    IRecvOp::create(b, loc, payloadOf(m.gradient), m.fromStage,
                    m.microbatch, m.fromRank, typesAttr(b, pipeline, m));
}

/// Stage functions whose parameter gradients DualPipe must sum across the
/// mirror pair, with the index of the last action on this rank that
/// finishes weight gradients of that function.
struct Mirror {
  FlatSymbolRefAttr function;
  int64_t lastAction = -1;
};

SmallVector<Mirror> mirrorsOf(PipelineOp pipeline,
                              const std::vector<sched::Action> &actions) {
  llvm::MapVector<Attribute, int64_t> last;
  for (auto [i, a] : llvm::enumerate(actions))
    for (int p = 0; p < a.numParts(); ++p) {
      sched::Action single = a.part(p);
      if (single.kind != sched::ActionKind::Backward &&
          single.kind != sched::ActionKind::BackwardWeight)
        continue;
      Attribute fn = pipeline.getStages()[single.stage];
      last[fn] = std::max<int64_t>(last.lookup(fn), i);
    }
  SmallVector<Mirror> mirrors;
  for (auto &[fn, index] : last)
    mirrors.push_back({cast<FlatSymbolRefAttr>(fn), index});
  // Same order on both ranks of a pair: by the function's first stage index.
  auto firstStage = [&](FlatSymbolRefAttr fn) {
    return llvm::find(pipeline.getStages(), fn) - pipeline.getStages().begin();
  };
  llvm::sort(mirrors, [&](const Mirror &a, const Mirror &b) {
    return firstStage(a.function) < firstStage(b.function);
  });
  return mirrors;
}

struct InsertCommPass : impl::DualPipeInsertCommBase<InsertCommPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto schedules = module.getOps<ScheduleOp>();
    if (schedules.empty()) {
      module.emitError() << "no dualpipe.schedule; run --dualpipe-schedule "
                            "first";
      return signalPassFailure();
    }
    ScheduleOp op = *schedules.begin();
    WalkResult has = op.walk([](Operation *inner) {
      return isa<P2PGroupOp, WaitRecvOp, AllReduceGradsOp>(inner)
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    });
    if (has.wasInterrupted()) {
      mlir::emitError(op.getLoc()) << "the schedule already has "
                                      "communication; run "
                                      "--dualpipe-insert-comm once";
      return signalPassFailure();
    }
    FailureOr<sched::Schedule> schedule = scheduleFromIR(op);
    if (failed(schedule))
      return signalPassFailure();
    sched::ValidationReport report = sched::validate(*schedule);
    if (!report.ok()) {
      mlir::emitError(op.getLoc())
          << "the schedule is not valid, so its messages are not defined:\n"
                     << report.str(*schedule, 5);
      return signalPassFailure();
    }
    PipelineOp pipeline = lookupPipeline(module);
    auto groups = sched::commGroups(*schedule);
    bool mirror = pipeline.getPlacement() == Placement::DualPipe;
    int64_t n = schedule->numRanks;

    for (auto program : op.getBody().front().getOps<ProgramOp>()) {
      int64_t r = program.getRankValue();
      Block &body = program.getBody().front();
      SmallVector<Operation *> actions;
      for (Operation &inner : body)
        actions.push_back(&inner);
      SmallVector<Mirror> mirrors;
      if (mirror)
        mirrors = mirrorsOf(pipeline, schedule->ranks[r]);
      size_t nextMirror = 0;

      OpBuilder b(program.getContext());
      Location loc = program.getLoc();
      auto locBefore = [&](size_t i) -> Location {
        return NameLoc::get(
            b.getStringAttr("rank " + Twine(r) + ", before action " + Twine(i)),
            program.getLoc());
      };
      auto emitWaits = [&](const sched::CommGroup &g) {
        for (const sched::Message &m : g.waitRecvs)
          WaitRecvOp::create(b, loc, payloadOf(m.gradient), m.fromStage,
                             m.microbatch, m.fromRank);
      };
      for (size_t i = 0; i <= actions.size(); ++i) {
        const sched::CommGroup &g = groups[r][i];
        if (i < actions.size())
          b.setInsertionPoint(actions[i]);
        else
          b.setInsertionPointToEnd(&body);
        loc = locBefore(i);
        buildGroup(b, loc, pipeline, g);
        emitWaits(g);
        // All-reduces go after the group that sends the results of the last
        // action finishing their function's weight gradients, in function
        // order (a later one waits for the earlier one).
        while (nextMirror < mirrors.size() &&
               mirrors[nextMirror].lastAction < static_cast<int64_t>(i)) {
          AllReduceGradsOp::create(
              b, loc, mirrors[nextMirror].function,
              b.getDenseI64ArrayAttr({std::min(r, n - 1 - r),
                                      std::max(r, n - 1 - r)}));
          ++nextMirror;
        }
      }
    }
  }
};
} // namespace
} // namespace dualpipe
