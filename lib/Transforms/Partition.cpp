//===- Partition.cpp - cut the model into pipeline stages ----------------===//
//
// Implements --dualpipe-partition. The cuts are the model's
// dualpipe.stage_boundary markers plus, when more stages are asked for, the
// cuts the partition solver chooses over the cost model (lib/Analysis).
// Then one func.func is built per stage and the dualpipe.pipeline op records
// the stages, their ranks and the tensors crossing each cut.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Transforms/Passes.h"

#include "dualpipe/Analysis/CostModel.h"
#include "dualpipe/Analysis/PartitionSearch.h"
#include "dualpipe/Analysis/PartitionSolver.h"
#include "dualpipe/Schedule/Generators.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEPARTITION
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

/// `--dualpipe-partition-report=FILE`: the report option of the pass as a
/// flag of its own, for drivers that build the pass with default options.
static llvm::cl::opt<std::string> reportFlag(
    "dualpipe-partition-report",
    llvm::cl::desc("Write the JSON report of --dualpipe-partition to this file"),
    llvm::cl::value_desc("FILE"), llvm::cl::init(""));

namespace {

/// The cut of a model function: which stage each top-level op belongs to and
/// which values cross each cut.
struct Cut {
  int64_t numStages = 1;
  DenseMap<Operation *, int64_t> stageOf;
  /// Values defined in stage <= c and used in a stage > c, for each cut c,
  /// in definition order.
  SmallVector<SmallVector<Value>> crossing;
  /// Per stage: model arguments it uses (in argument order) and
  /// rematerializable ops it needs (in body order).
  SmallVector<SmallVector<BlockArgument>> argsUsed;
  SmallVector<SmallVector<Operation *>> rematUsed;
};

/// Looks through markers: a marker's result is its operand.
Value resolve(Value v) {
  while (auto b = v.getDefiningOp<StageBoundaryOp>())
    v = b.getInputs()[cast<OpResult>(v).getResultNumber()];
  return v;
}

/// Assigns each top-level op a stage: at the markers, or from the solver's
/// boundaries over the cost model's units (`bounds` non-empty).
DenseMap<Operation *, int64_t> assignStages(func::FuncOp model,
                                            const ModelCost *cost,
                                            ArrayRef<int64_t> bounds) {
  DenseMap<Operation *, int64_t> stageOf;
  int64_t current = 0, last = 0;
  for (Operation &op : model.getBody().front()) {
    if (isa<StageBoundaryOp>(op)) {
      ++current;
      continue;
    }
    int64_t s = current;
    if (!bounds.empty()) {
      if (op.hasTrait<OpTrait::IsTerminator>()) {
        s = bounds.size() - 2;
      } else if (int64_t u = cost->unitIndex(&op); u >= 0) {
        s = llvm::upper_bound(bounds, u) - bounds.begin() - 1;
        last = s;
      } else {
        s = last; // rematerializable: recreated where used anyway
      }
    }
    stageOf[&op] = s;
  }
  return stageOf;
}

Cut analyze(func::FuncOp model, int64_t numStages,
            DenseMap<Operation *, int64_t> stageOf) {
  Cut cut;
  cut.numStages = numStages;
  cut.stageOf = std::move(stageOf);
  cut.crossing.resize(numStages > 0 ? numStages - 1 : 0);
  cut.argsUsed.resize(numStages);
  cut.rematUsed.resize(numStages);
  Block &body = model.getBody().front();

  // Last stage that uses each value, and what each stage uses.
  DenseMap<Value, int64_t> lastUse;
  SmallVector<llvm::SetVector<Value>> used(numStages);
  for (Operation &op : body) {
    if (isa<StageBoundaryOp>(op))
      continue;
    int64_t s = cut.stageOf[&op];
    llvm::SetVector<Value> values;
    for (Value v : op.getOperands())
      values.insert(v);
    getUsedValuesDefinedAbove(op.getRegions(), values);
    for (Value v : values) {
      v = resolve(v);
      used[s].insert(v);
      auto [it, inserted] = lastUse.try_emplace(v, s);
      if (!inserted)
        it->second = std::max(it->second, s);
    }
  }

  for (BlockArgument arg : body.getArguments())
    for (int64_t s = 0; s < numStages; ++s)
      if (used[s].contains(arg))
        cut.argsUsed[s].push_back(arg);

  for (Operation &op : body) {
    if (isa<StageBoundaryOp>(op) || op.hasTrait<OpTrait::IsTerminator>())
      continue;
    if (isRematerializable(&op)) {
      for (int64_t s = 0; s < numStages; ++s)
        if (llvm::any_of(op.getResults(),
                         [&](Value r) { return used[s].contains(r); }))
          cut.rematUsed[s].push_back(&op);
      continue;
    }
    int64_t def = cut.stageOf[&op];
    for (Value r : op.getResults()) {
      auto it = lastUse.find(r);
      if (it == lastUse.end())
        continue;
      for (int64_t c = def; c < it->second; ++c)
        cut.crossing[c].push_back(r);
    }
  }
  return cut;
}

/// Builds the function of stage `s`.
func::FuncOp buildStage(func::FuncOp model, const Cut &cut, int64_t s,
                        OpBuilder &builder) {
  MLIRContext *ctx = model.getContext();
  Block &body = model.getBody().front();
  ArrayRef<Value> in = s > 0 ? ArrayRef<Value>(cut.crossing[s - 1])
                             : ArrayRef<Value>();
  bool last = s == cut.numStages - 1;
  auto ret = cast<func::ReturnOp>(body.getTerminator());

  SmallVector<Type> argTypes, resultTypes;
  for (Value v : in)
    argTypes.push_back(v.getType());
  for (BlockArgument a : cut.argsUsed[s])
    argTypes.push_back(a.getType());
  SmallVector<Value> outs;
  if (last)
    llvm::append_range(outs, ret.getOperands());
  else
    llvm::append_range(outs, cut.crossing[s]);
  for (Value &v : outs)
    v = resolve(v);
  for (Value v : outs)
    resultTypes.push_back(v.getType());

  std::string name = (model.getSymName() + "_stage" + Twine(s)).str();
  auto fn = func::FuncOp::create(builder, model.getLoc(), name,
                                 FunctionType::get(ctx, argTypes, resultTypes));
  fn->setAttr(kStageAttr, builder.getI64IntegerAttr(s));
  for (size_t i = 0; i < in.size(); ++i)
    fn.setArgAttr(i, kFromStageAttr, builder.getI64IntegerAttr(s - 1));
  for (auto [i, a] : llvm::enumerate(cut.argsUsed[s])) {
    unsigned idx = in.size() + i;
    if (DictionaryAttr attrs = model.getArgAttrDict(a.getArgNumber()))
      for (NamedAttribute na : attrs)
        fn.setArgAttr(idx, na.getName(), na.getValue());
    fn.setArgAttr(idx, kArgIndexAttr,
                  builder.getI64IntegerAttr(a.getArgNumber()));
  }

  Block *entry = fn.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(entry);
  IRMapping map;
  for (auto [i, v] : llvm::enumerate(in))
    map.map(v, entry->getArgument(i));
  for (auto [i, a] : llvm::enumerate(cut.argsUsed[s]))
    map.map(Value(a), entry->getArgument(in.size() + i));
  for (Operation *op : cut.rematUsed[s])
    b.clone(*op, map);
  for (Operation &op : body)
    if (auto marker = dyn_cast<StageBoundaryOp>(op))
      for (Value r : marker.getResults())
        if (Value mapped = map.lookupOrNull(resolve(r)))
          map.map(r, mapped);
  for (Operation &op : body) {
    if (isa<StageBoundaryOp>(op) || isRematerializable(&op) ||
        op.hasTrait<OpTrait::IsTerminator>())
      continue;
    if (cut.stageOf.lookup(&op) == s)
      b.clone(op, map);
  }
  SmallVector<Value> results;
  for (Value v : outs)
    results.push_back(map.lookup(v));
  func::ReturnOp::create(b, ret.getLoc(), results);
  return fn;
}

/// A parameter read by two stages (tied weights) would need its gradient
/// summed across stages, which nothing downstream does yet.
LogicalResult checkTiedParams(func::FuncOp model, const Cut &cut) {
  DenseMap<unsigned, int64_t> firstStage;
  for (int64_t s = 0; s < cut.numStages; ++s)
    for (BlockArgument a : cut.argsUsed[s]) {
      auto name = model.getArgAttrOfType<StringAttr>(a.getArgNumber(),
                                                     kParamAttr);
      if (!name)
        continue;
      auto [it, inserted] = firstStage.try_emplace(a.getArgNumber(), s);
      if (inserted)
        continue;
      // Point at the first op of the later stage that reads it.
      Operation *user = nullptr;
      for (Operation &op : model.getBody().front())
        if (cut.stageOf.lookup(&op) == s &&
            !isa<StageBoundaryOp>(op) && !user) {
          llvm::SetVector<Value> vals;
          for (Value v : op.getOperands())
            vals.insert(v);
          getUsedValuesDefinedAbove(op.getRegions(), vals);
          if (vals.contains(a))
            user = &op;
        }
      InFlightDiagnostic d = user ? user->emitError() : model.emitError();
      d << "parameter '" << name.getValue() << "' (argument #"
        << a.getArgNumber() << ") is used by stage " << it->second
        << " and stage " << s
        << "; tied weights across stages are not supported: give each use "
           "its own parameter, or keep its uses in one stage with "
           "dualpipe.stage_boundary markers";
      return failure();
    }
  return success();
}

/// Per-stage sums of the cost model's units, and which units each holds.
struct StageLoads {
  SmallVector<double> time, flops, activation;
  SmallVector<int64_t> firstOp, lastOp;
};

StageLoads computeStageLoads(const ModelCost &cost, const Cut &cut) {
  int64_t K = cut.numStages;
  StageLoads l;
  l.time.assign(K, 0);
  l.flops.assign(K, 0);
  l.activation.assign(K, 0);
  l.firstOp.assign(K, -1);
  l.lastOp.assign(K, -1);
  for (auto [i, unit] : llvm::enumerate(cost.units())) {
    int64_t s = cut.stageOf.lookup(unit.op);
    l.time[s] += unit.seconds;
    l.flops[s] += unit.cost.flops;
    for (Value r : unit.op->getResults())
      l.activation[s] += tensorBytes(r.getType());
    if (l.firstOp[s] < 0)
      l.firstOp[s] = i;
    l.lastOp[s] = i;
  }
  l.time[K - 1] += cost.lossSeconds();
  l.flops[K - 1] += cost.lossCost().flops;
  return l;
}

/// Bytes of the tensors crossing cut `c`.
int64_t crossingBytes(const Cut &cut, int64_t c) {
  int64_t sum = 0;
  for (Value v : cut.crossing[c])
    sum += tensorBytes(v.getType());
  return sum;
}

/// The report's "stages" array.
llvm::json::Array stagesReport(func::FuncOp model, const ModelCost &cost,
                               const Cut &cut, const StageLoads &l,
                               ArrayRef<int64_t> pipelineStages,
                               ArrayRef<int64_t> on) {
  using llvm::json::Array;
  using llvm::json::Object;
  int64_t K = cut.numStages;
  Array stages;
  for (int64_t s = 0; s < K; ++s) {
    int64_t paramBytes = 0;
    Array params;
    for (BlockArgument a : cut.argsUsed[s])
      if (auto name = model.getArgAttrOfType<StringAttr>(a.getArgNumber(),
                                                         kParamAttr)) {
        paramBytes += cost.argBytes(a.getArgNumber());
        params.push_back(name.getValue());
      }
    Array ranksOf;
    for (auto [i, st] : llvm::enumerate(pipelineStages))
      if (st == s)
        ranksOf.push_back(on[i]);
    stages.push_back(Object{
        {"stage", s},
        {"function", (model.getSymName() + "_stage" + Twine(s)).str()},
        {"ops", Array{l.firstOp[s], l.lastOp[s]}},
        {"flops", l.flops[s]},
        {"time_s", l.time[s]},
        {"param_bytes", paramBytes},
        {"params", std::move(params)},
        {"activation_bytes", l.activation[s]},
        {"recv_bytes", s > 0 ? crossingBytes(cut, s - 1) : 0},
        {"send_bytes", s < K - 1 ? crossingBytes(cut, s) : 0},
        {"ranks", std::move(ranksOf)},
    });
  }
  return stages;
}

/// The report's "ranks" array; `maxLoad` gets the largest rank load.
llvm::json::Array ranksReport(ArrayRef<double> time, int64_t numRanks,
                              ArrayRef<int64_t> pipelineStages,
                              ArrayRef<int64_t> on, double copies,
                              double &maxLoad) {
  using llvm::json::Array;
  using llvm::json::Object;
  SmallVector<double> rankLoad(numRanks, 0);
  SmallVector<SmallVector<int64_t>> rankStages(numRanks);
  for (auto [i, s] : llvm::enumerate(pipelineStages)) {
    rankLoad[on[i]] += time[s];
    rankStages[on[i]].push_back(s);
  }
  Array ranks;
  maxLoad = 0;
  for (int64_t r = 0; r < numRanks; ++r) {
    maxLoad = std::max(maxLoad, rankLoad[r]);
    Array st;
    for (int64_t s : rankStages[r])
      st.push_back(s);
    ranks.push_back(Object{{"rank", r},
                           {"stages", std::move(st)},
                           {"load_s", rankLoad[r]},
                           {"load_per_microbatch_s", rankLoad[r] / copies}});
  }
  return ranks;
}

/// The report's "cuts" array.
llvm::json::Array cutsReport(const Cut &cut, ArrayRef<int64_t> bounds) {
  using llvm::json::Array;
  using llvm::json::Object;
  Array cuts;
  for (int64_t c = 0; c + 1 < cut.numStages; ++c) {
    Array types;
    for (Value v : cut.crossing[c]) {
      std::string text;
      llvm::raw_string_ostream(text) << v.getType();
      types.push_back(text);
    }
    cuts.push_back(Object{{"cut", c},
                          {"before_op", bounds[c + 1]},
                          {"bytes", crossingBytes(cut, c)},
                          {"tensors", std::move(types)}});
  }
  return cuts;
}

/// The cuts the solver chose, and the best linear partition on as many
/// ranks for the report.
struct SolvedCuts {
  SmallVector<int64_t> bounds;
  bool tieBreakExact = true;
  std::optional<PartitionSolution> linear;
  /// The best contiguous cut into as many stages (least largest stage).
  std::optional<PartitionSolution> contiguous;
  /// Step-time objective (dualpipe, dualpipev): the search, the schedule it
  /// simulated and, for comparison, the cut of least largest rank load.
  std::optional<StepTimeSolution> search;
  std::optional<StepTimeEval> pairBalanced;
  std::string scheduleName;
  int64_t microbatches = 0;
};

/// What the step-time objective needs from the cost model.
StepTimeProblem stepTimeProblem(const ModelCost &cost,
                                const PartitionProblem &problem) {
  StepTimeProblem st;
  st.base = problem;
  for (const ModelCost::Unit &u : cost.units()) {
    st.unitSeconds.push_back(u.seconds);
    double act = 0, params = 0;
    for (Value r : u.op->getResults())
      act += tensorBytes(r.getType());
    for (unsigned a : u.params)
      params += cost.argBytes(a);
    st.unitActivationBytes.push_back(act);
    st.unitParamBytes.push_back(params);
  }
  if (!st.unitSeconds.empty())
    st.unitSeconds.back() += cost.lossSeconds();
  return st;
}

/// Chooses the cuts of `numStages` stages over the cost model, keeping the
/// markers' cuts.
/// Stage loads, rank loads and cut traffic of a partition, as JSON.
llvm::json::Object buildReport(func::FuncOp model, const ModelCost &cost,
                               const Cut &cut, ArrayRef<int64_t> bounds,
                               StringRef placement, int64_t numRanks,
                               ArrayRef<int64_t> pipelineStages,
                               ArrayRef<int64_t> on, bool chosenBySolver,
                               const SolvedCuts &solved) {
  bool tieBreakExact = solved.tieBreakExact;
  const std::optional<PartitionSolution> &linear = solved.linear;
  using llvm::json::Array;
  using llvm::json::Object;
  int64_t K = cut.numStages;
  StageLoads loads = computeStageLoads(cost, cut);
  Array stages = stagesReport(model, cost, cut, loads, pipelineStages, on);

  // A DualPipe rank runs each of its two stages for half the micro-batches.
  double copies = placement == "dualpipe" ? 2.0 : 1.0;
  double maxLoad = 0;
  Array ranks =
      ranksReport(loads.time, numRanks, pipelineStages, on, copies, maxLoad);
  Array cuts = cutsReport(cut, bounds);
  const DeviceProfile &p = cost.profile();
  Object report{
      {"model", model.getSymName()},
      {"device", Object{{"name", p.name},
                        {"matmul_flops_f32", p.matmulFlops32},
                        {"matmul_flops_16bit", p.matmulFlops16},
                        {"vector_flops", p.vectorFlops},
                        {"bytes_per_second", p.bytesPerSecond},
                        {"source", p.source}}},
      {"placement", placement},
      {"num_stages", K},
      {"num_ranks", numRanks},
      {"num_ops", cost.numUnits()},
      {"cuts_chosen_by", chosenBySolver ? "solver" : "markers"},
      {"tie_break_exact", tieBreakExact},
      {"total_time_s", cost.totalSeconds()},
      {"total_flops", cost.totalFlops()},
      {"loss_time_s", cost.lossSeconds()},
      {"max_rank_load_s", maxLoad},
      {"max_rank_load_per_microbatch_s", maxLoad / copies},
      {"stages", std::move(stages)},
      {"ranks", std::move(ranks)},
      {"cuts", std::move(cuts)},
  };
  double maxStage = 0;
  for (double t : loads.time)
    maxStage = std::max(maxStage, t);
  report["max_stage_s"] = maxStage;
  auto boundsJson = [](ArrayRef<int64_t> bounds) {
    Array b;
    for (int64_t x : bounds)
      b.push_back(x);
    return b;
  };
  if (solved.contiguous) {
    double best = solved.contiguous->maxRankLoad * 1e-12;
    report["best_contiguous"] = Object{
        {"num_stages", K},
        {"bounds", boundsJson(solved.contiguous->bounds)},
        {"max_stage_s", best}};
    report["max_stage_over_best_contiguous"] = best > 0 ? maxStage / best : 0;
  }
  report["objective"] = solved.search ? "simulated_step_time"
                        : chosenBySolver
                            ? (placement == "linear" ? "max_stage"
                                                     : "max_rank_load")
                            : "markers";
  if (solved.search) {
    const StepTimeSolution &st = *solved.search;
    Array peak, busy;
    for (double b : st.best.rankPeakBytes)
      peak.push_back(b);
    for (double b : st.best.rankBusy)
      busy.push_back(b);
    Object sim{{"schedule", solved.scheduleName},
               {"microbatches", solved.microbatches},
               {"costs", "per stage: F = forward time (cost model), B = 2F, "
                         "W = I = F, F&B pair = F + B"},
               {"step_time_s", st.best.stepTime},
               {"rank_busy_s", std::move(busy)},
               {"rank_peak_bytes", std::move(peak)},
               {"peak_bytes_counts", "parameters + gradients + peak live "
                                     "activations of the schedule"},
               {"search", st.search},
               {"candidates", st.candidates},
               {"simulations", st.simulations},
               {"over_budget", st.overBudget}};
    if (solved.pairBalanced) {
      Array st2;
      for (double t : solved.pairBalanced->stageSeconds)
        st2.push_back(t);
      Array peak2;
      for (double b : solved.pairBalanced->rankPeakBytes)
        peak2.push_back(b);
      sim["least_max_rank_load_cut"] =
          Object{{"bounds", boundsJson(solved.pairBalanced->bounds)},
                 {"stage_time_s", std::move(st2)},
                 {"step_time_s", solved.pairBalanced->stepTime},
                 {"rank_peak_bytes", std::move(peak2)}};
    }
    report["simulated"] = std::move(sim);
  }
  if (linear) {
    Array b;
    for (int64_t x : linear->bounds)
      b.push_back(x);
    report["best_linear_same_ranks"] = Object{
        {"num_stages", (int64_t)linear->bounds.size() - 1},
        {"bounds", std::move(b)},
        {"max_rank_load_s", linear->maxRankLoad * 1e-12},
        {"total_cut_bytes", linear->totalCutBytes}};
  }
  return report;
}

/// Finds the one function marked as the model (and the first loss function)
/// and checks the model can be partitioned.
LogicalResult findModel(ModuleOp module, func::FuncOp &model,
                        func::FuncOp &lossFn) {
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (fn->hasAttr(kLossAttr) && !lossFn)
      lossFn = fn;
    if (!fn->hasAttr(kModelAttr))
      continue;
    if (model) {
      fn.emitError() << "a second function is marked " << kModelAttr
                     << "; mark exactly one model per module";
      return failure();
    }
    model = fn;
  }
  if (!model) {
    module.emitError() << "no func.func is marked " << kModelAttr
                       << "; add `attributes {" << kModelAttr
                       << "}` to the model function";
    return failure();
  }
  if (auto existing = lookupPipeline(module)) {
    existing.emitError() << "the module is already partitioned; run "
                            "--dualpipe-partition once";
    return failure();
  }
  // Stage functions or a schedule without their pipeline: a partitioned
  // module cut down; a second pipeline would not match their stages.
  for (Operation &op : module.getBody()->getOperations())
    if (op.hasAttr(kStageAttr) || isa<ScheduleOp>(op)) {
      op.emitError() << "the module is already partitioned (it holds "
                     << (isa<ScheduleOp>(op) ? "a dualpipe.schedule"
                                             : "a stage function")
                     << " but no dualpipe.pipeline); partition a module "
                        "that holds the model and its loss only";
      return failure();
    }
  if (!model.getBody().hasOneBlock()) {
    model.emitError() << "the model function has "
                      << model.getBody().getBlocks().size()
                      << " blocks; the partitioner needs a single block "
                         "(structured control flow only)";
    return failure();
  }
  return success();
}

/// The model's dualpipe.stage_boundary markers, each at its top level.
LogicalResult collectMarkers(func::FuncOp model,
                             SmallVectorImpl<StageBoundaryOp> &markerOps) {
  WalkResult walk = model.walk([&](StageBoundaryOp marker) {
    if (marker->getParentOp() != model) {
      marker.emitError() << "a stage boundary must be at the top level of "
                            "the model function, not inside "
                         << marker->getParentOp()->getName();
      return WalkResult::interrupt();
    }
    markerOps.push_back(marker);
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

/// Which stage functions the pipeline runs, and on how many ranks.
struct Layout {
  Placement rule;
  StringRef ruleName;
  int64_t numRanks;
  SmallVector<int64_t> pipelineStages; // index into the stage functions
};

/// Resolves the placement and rank count of `numStages` stages, and checks
/// the solver (`solve`) can choose cuts for that placement.
FailureOr<Layout> planLayout(func::FuncOp model, StringRef placement,
                             int64_t ranks, int64_t numStages, bool solve) {
  std::optional<Placement> parsedRule = symbolizePlacement(placement);
  if (!parsedRule) {
    model.emitError() << "unknown placement '" << placement
                      << "'; use linear, interleaved, dualpipe or dualpipev";
    return failure();
  }
  Layout l;
  l.rule = *parsedRule;
  Placement rule = l.rule;
  l.ruleName = stringifyPlacement(rule);
  int64_t &numRanks = l.numRanks;
  numRanks = ranks;
  SmallVector<int64_t> &pipelineStages = l.pipelineStages;
  if (rule == Placement::DualPipe) {
    if (numRanks == 0)
      numRanks = numStages;
    if (numRanks != numStages) {
      model.emitError() << "placement=dualpipe runs the " << numStages
                        << " stages on as many ranks, but ranks="
                        << numRanks << " was asked for";
      return failure();
    }
    for (int copy = 0; copy < 2; ++copy)
      for (int64_t s = 0; s < numStages; ++s)
        pipelineStages.push_back(s);
  } else {
    if (numRanks == 0)
      numRanks = rule == Placement::DualPipeV ? numStages / 2 : numStages;
    for (int64_t s = 0; s < numStages; ++s)
      pipelineStages.push_back(s);
  }
  int64_t total = pipelineStages.size();
  if (numRanks < 1 || numRanks > total ||
      (rule == Placement::DualPipeV && total != 2 * numRanks)) {
    model.emitError() << "cannot place " << total << " stages on "
                      << numRanks << " ranks with placement '" << l.ruleName
                      << "'" << (rule == Placement::DualPipeV
                                     ? " (it needs 2 stages per rank)"
                                     : " (every rank needs a stage)");
    return failure();
  }
  if (solve && (rule == Placement::Interleaved ||
                (rule == Placement::Linear && numRanks != numStages))) {
    model.emitError() << "the partitioner chooses cuts for one stage per "
                         "rank (linear) or two (dualpipe, dualpipev); with "
                         "placement '"
                      << l.ruleName << "' on " << numRanks
                      << " ranks, place all " << numStages - 1
                      << " cuts with dualpipe.stage_boundary markers";
    return failure();
  }
  return l;
}

struct SearchOptions {
  int64_t microbatches = 0;
  bool allowEmptyStages = false;
  int64_t memoryBudget = 0;
};

LogicalResult solveCuts(func::FuncOp model, const ModelCost &cost,
                        MutableArrayRef<StageBoundaryOp> markerOps,
                        int64_t numStages, const Layout &layout,
                        const SearchOptions &opts, SolvedCuts &out) {
  int64_t markers = markerOps.size();
  int64_t n = cost.numUnits();
  PartitionProblem problem;
  for (const ModelCost::Unit &u : cost.units())
    problem.unitCost.push_back(toSolverCost(u.seconds));
  if (n > 0)
    problem.unitCost.back() += toSolverCost(cost.lossSeconds());
  llvm::append_range(problem.cutBytes, cost.allCutBytes());
  problem.mandatory.assign(n + 1, false);
  for (auto [marker, c] : llvm::zip_equal(markerOps, cost.markerBoundaries())) {
    if (c == 0 || c == n || problem.mandatory[c]) {
      marker.emitError()
          << "this marker leaves a stage without ops ("
          << (c == 0 ? "nothing costs anything before it"
              : c == n ? "nothing costs anything after it"
                       : "another marker is right before it")
          << "); the partitioner needs ops in every stage: remove it";
      return failure();
    }
    problem.mandatory[c] = true;
  }
  problem.numStages = numStages;
  problem.pairing =
      layout.rule == Placement::Linear ? Pairing::Linear : Pairing::Nested;
  std::string whyNot;
  auto cannotCut = [&]() {
    model.emitError() << "stages=" << numStages
                      << " was asked for, but the model has " << markers
                      << " dualpipe.stage_boundary markers (" << markers + 1
                      << " stages) and the cost model "
                      << "cannot cut the rest: " << whyNot
                      << "; ask for fewer stages";
    return failure();
  };
  // Two stages per rank: the cut of least simulated step time, when a
  // schedule runs the placement (DualPipe needs an even N).
  std::optional<sched::ScheduleKind> kind;
  if (layout.rule == Placement::DualPipe && layout.numRanks % 2 == 0)
    kind = sched::ScheduleKind::DualPipe;
  if (layout.rule == Placement::DualPipeV)
    kind = sched::ScheduleKind::DualPipeV;
  std::optional<StepTimeSolution> found;
  StepTimeProblem st;
  if (kind) {
    st = stepTimeProblem(cost, problem);
    st.kind = *kind;
    st.numRanks = layout.numRanks;
    st.numMicrobatches = opts.microbatches;
    if (st.numMicrobatches == 0)
      if (auto rule = sched::microbatchRule(*kind, layout.numRanks))
        st.numMicrobatches = rule->min;
    st.allowEmptyStages = opts.allowEmptyStages;
    st.memoryBudget = opts.memoryBudget;
    found = solveStepTime(st, &whyNot);
    if (!found && whyNot.find("memory budget") != std::string::npos) {
      model.emitError() << "placement=" << layout.ruleName << " on "
                        << layout.numRanks << " ranks: " << whyNot;
      return failure();
    }
    if (!found)
      return cannotCut();
  }
  std::optional<PartitionSolution> sol = solvePartition(problem, &whyNot);
  if (!sol)
    return cannotCut();
  out.bounds.assign(sol->bounds.begin(), sol->bounds.end());
  out.tieBreakExact = sol->tieBreakExact;
  if (found) {
    out.bounds.assign(found->best.bounds.begin(), found->best.bounds.end());
    out.tieBreakExact = true;
    if (auto e = evaluateCut(st, sol->bounds))
      out.pairBalanced = e.value();
    out.search = std::move(found);
    out.scheduleName = sched::scheduleName(*kind);
    out.microbatches = st.numMicrobatches;
  }
  {
    PartitionProblem lin = problem;
    lin.pairing = Pairing::Linear;
    out.contiguous = solvePartition(lin);
  }
  if (layout.rule != Placement::Linear && layout.numRanks - 1 >= markers) {
    PartitionProblem lin = problem;
    lin.numStages = layout.numRanks;
    lin.pairing = Pairing::Linear;
    out.linear = solvePartition(lin);
  }
  return success();
}

/// Writes the JSON report of the partition to `reportFile`.
LogicalResult writeReport(func::FuncOp model, const ModelCost &cost,
                          const Cut &cut, const Layout &layout,
                          ArrayRef<int64_t> on, bool solve,
                          const SolvedCuts &solved, StringRef reportFile) {
  SmallVector<int64_t> cutAt = solved.bounds;
  if (cutAt.empty()) { // at the markers
    cutAt.push_back(0);
    llvm::append_range(cutAt, cost.markerBoundaries());
    cutAt.push_back(cost.numUnits());
  }
  llvm::json::Object json = buildReport(
      model, cost, cut, cutAt, layout.ruleName, layout.numRanks,
      layout.pipelineStages, on, solve, solved);
  std::error_code ec;
  llvm::raw_fd_ostream os(reportFile, ec, llvm::sys::fs::OF_Text);
  if (ec) {
    model.emitError() << "cannot write the partition report to "
                      << reportFile << ": " << ec.message();
    return failure();
  }
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(json))) << "\n";
  return success();
}

struct PartitionPass : impl::DualPipePartitionBase<PartitionPass> {
  using DualPipePartitionBase::DualPipePartitionBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp model, lossFn;
    if (failed(findModel(module, model, lossFn)))
      return signalPassFailure();
    SmallVector<StageBoundaryOp> markerOps;
    if (failed(collectMarkers(model, markerOps)))
      return signalPassFailure();
    int64_t markers = markerOps.size();

    int64_t numStages = stages != 0 ? int64_t(stages) : markers + 1;
    if (numStages < markers + 1) {
      model.emitError() << "stages=" << numStages
                        << " was asked for, but the model has " << markers
                        << " dualpipe.stage_boundary markers (" << markers + 1
                        << " stages); remove markers or ask for more stages";
      return signalPassFailure();
    }
    bool solve = numStages > markers + 1;
    FailureOr<Layout> layout =
        planLayout(model, placement, ranks, numStages, solve);
    if (failed(layout))
      return signalPassFailure();

    std::string reportFile = !report.empty() ? std::string(report)
                                             : std::string(reportFlag);
    std::optional<ModelCost> cost;
    if (solve || !reportFile.empty() || stageCosts) {
      std::optional<DeviceProfile> profile = lookupDeviceProfile(device);
      if (!profile) {
        model.emitError() << "unknown device profile '" << device
                          << "'; use cpu or h200";
        return signalPassFailure();
      }
      cost.emplace(model, *profile, lossFn);
    }

    // Where the cuts go.
    SolvedCuts solved;
    SearchOptions opts{microbatches, allowEmptyStages, memoryBudget};
    if (solve && failed(solveCuts(model, *cost, markerOps, numStages, *layout,
                                  opts, solved)))
      return signalPassFailure();
    Cut cut = analyze(model, numStages,
                      assignStages(model, cost ? &*cost : nullptr,
                                   solved.bounds));
    if (failed(checkTiedParams(model, cut)))
      return signalPassFailure();
    // A cut nothing crosses would be a message without tensors between the
    // two stages (insert-comm's dualpipe.send/irecv need at least one).
    for (auto [c, values] : llvm::enumerate(cut.crossing)) {
      if (!values.empty())
        continue;
      Location loc = !solve && c < markerOps.size() ? markerOps[c].getLoc()
                                                    : model.getLoc();
      emitError(loc) << "stage " << c + 1 << " receives nothing from stage "
                     << c << ": no value computed before this cut is used "
                     << "after it (a dualpipe.stage_boundary on a function "
                        "argument, or on a value only later stages' "
                        "arguments feed); put the boundary on a tensor "
                        "computed by the model that the next stage uses";
      return signalPassFailure();
    }

    // Stage s becomes @<model>_stage<s>: a symbol of that name already in
    // the module would be defined twice.
    for (int64_t s = 0; s < numStages; ++s) {
      std::string name = (model.getSymName() + "_stage" + Twine(s)).str();
      if (Operation *taken = module.lookupSymbol(name)) {
        taken->emitError() << "cannot create @" << name << " for stage " << s
                           << " of @" << model.getSymName()
                           << ": the name is taken by this symbol; rename it";
        return signalPassFailure();
      }
    }

    OpBuilder builder(module.getContext());
    builder.setInsertionPointAfter(model);
    SmallVector<func::FuncOp> fns;
    for (int64_t s = 0; s < numStages; ++s) {
      fns.push_back(buildStage(model, cut, s, builder));
      builder.setInsertionPointAfter(fns.back());
    }

    // The cost model's figures per stage, for the schedule's auto.
    if (stageCosts) {
      StageLoads loads = computeStageLoads(*cost, cut);
      MLIRContext *ctx = module.getContext();
      for (int64_t s = 0; s < numStages; ++s) {
        int64_t paramBytes = 0;
        for (BlockArgument a : cut.argsUsed[s])
          if (model.getArgAttrOfType<StringAttr>(a.getArgNumber(), kParamAttr))
            paramBytes += cost->argBytes(a.getArgNumber());
        NamedAttribute fields[] = {
            builder.getNamedAttr(
                "activation_bytes",
                builder.getI64IntegerAttr(int64_t(loads.activation[s]))),
            builder.getNamedAttr("forward_s",
                                 builder.getF64FloatAttr(loads.time[s])),
            builder.getNamedAttr("parameter_bytes",
                                 builder.getI64IntegerAttr(paramBytes)),
        };
        fns[s]->setAttr(kStageCostAttr, DictionaryAttr::get(ctx, fields));
      }
    }

    SmallVector<Attribute> refs;
    SmallVector<int64_t> on;
    int64_t total = layout->pipelineStages.size();
    for (auto [i, s] : llvm::enumerate(layout->pipelineStages)) {
      refs.push_back(FlatSymbolRefAttr::get(fns[s].getSymNameAttr()));
      on.push_back(placementRank(layout->rule, i, total, layout->numRanks));
    }
    SmallVector<Attribute> cutTypes;
    for (ArrayRef<Value> values : cut.crossing) {
      SmallVector<Attribute> types;
      for (Value v : values)
        types.push_back(TypeAttr::get(v.getType()));
      cutTypes.push_back(builder.getArrayAttr(types));
    }

    if (!reportFile.empty() && failed(writeReport(model, *cost, cut, *layout,
                                                  on, solve, solved,
                                                  reportFile)))
      return signalPassFailure();

    // The model stays as the single-device reference, without markers.
    for (StageBoundaryOp marker : markerOps) {
      marker.replaceAllUsesWith(marker.getInputs());
      marker.erase();
    }

    builder.setInsertionPointToEnd(module.getBody());
    PipelineOp::create(builder, model.getLoc(),
                       PlacementAttr::get(builder.getContext(), layout->rule),
                       builder.getI64IntegerAttr(layout->numRanks),
                       builder.getArrayAttr(refs),
                       builder.getDenseI64ArrayAttr(on),
                       FlatSymbolRefAttr::get(model.getSymNameAttr()),
                       builder.getArrayAttr(cutTypes));
  }
};
} // namespace
} // namespace dualpipe
