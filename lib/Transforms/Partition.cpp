//===- Partition.cpp - cut the model into pipeline stages ----------------===//
//
// Implements --dualpipe-partition: the model function is cut at its
// dualpipe.stage_boundary markers into one func.func per stage.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEPARTITION
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

namespace {

/// Ops with no operands, no regions and no side effects (constants,
/// tensor.empty) are cheaper to recreate in each stage than to transfer.
bool isRematerializable(Operation *op) {
  return op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
         isMemoryEffectFree(op);
}

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

Cut analyze(func::FuncOp model, int64_t numStages) {
  Cut cut;
  cut.numStages = numStages;
  cut.crossing.resize(numStages > 0 ? numStages - 1 : 0);
  cut.argsUsed.resize(numStages);
  cut.rematUsed.resize(numStages);
  Block &body = model.getBody().front();

  int64_t current = 0;
  for (Operation &op : body) {
    if (isa<StageBoundaryOp>(op)) {
      ++current;
      continue;
    }
    cut.stageOf[&op] = current;
  }

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
    fn.setArgAttr(i, "dualpipe.from_stage", builder.getI64IntegerAttr(s - 1));
  for (auto [i, a] : llvm::enumerate(cut.argsUsed[s])) {
    unsigned idx = in.size() + i;
    if (DictionaryAttr attrs = model.getArgAttrDict(a.getArgNumber()))
      for (NamedAttribute na : attrs)
        fn.setArgAttr(idx, na.getName(), na.getValue());
    fn.setArgAttr(idx, "dualpipe.arg_index",
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

struct PartitionPass : impl::DualPipePartitionBase<PartitionPass> {
  using DualPipePartitionBase::DualPipePartitionBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp model;
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (!fn->hasAttr(kModelAttr))
        continue;
      if (model) {
        fn.emitError() << "a second function is marked " << kModelAttr
                       << "; mark exactly one model per module";
        return signalPassFailure();
      }
      model = fn;
    }
    if (!model) {
      module.emitError() << "no func.func is marked " << kModelAttr
                         << "; add `attributes {" << kModelAttr
                         << "}` to the model function";
      return signalPassFailure();
    }
    if (auto existing = lookupPipeline(module)) {
      existing.emitError() << "the module is already partitioned; run "
                              "--dualpipe-partition once";
      return signalPassFailure();
    }
    if (!model.getBody().hasOneBlock()) {
      model.emitError() << "the model function has "
                        << model.getBody().getBlocks().size()
                        << " blocks; the partitioner needs a single block "
                           "(structured control flow only)";
      return signalPassFailure();
    }

    int64_t markers = 0;
    WalkResult walk = model.walk([&](StageBoundaryOp marker) {
      if (marker->getParentOp() != model) {
        marker.emitError() << "a stage boundary must be at the top level of "
                              "the model function, not inside "
                           << marker->getParentOp()->getName();
        return WalkResult::interrupt();
      }
      ++markers;
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return signalPassFailure();

    int64_t numStages = markers + 1;
    if (stages != 0 && stages != numStages) {
      model.emitError() << "stages=" << stages.getValue() << " was asked for, but the "
                        << "model has " << markers
                        << " dualpipe.stage_boundary markers ("
                        << numStages << " stages); automatic cutting needs "
                           "the cost model (not yet built): add or remove "
                           "markers, or omit stages=";
      return signalPassFailure();
    }

    StringRef rule = placement;
    int64_t numRanks = ranks;
    SmallVector<int64_t> pipelineStages; // index into the stage functions
    if (rule == "dualpipe") {
      if (numRanks == 0)
        numRanks = numStages;
      if (numRanks != numStages) {
        model.emitError() << "placement=dualpipe runs the " << numStages
                          << " stages on as many ranks, but ranks="
                          << numRanks << " was asked for";
        return signalPassFailure();
      }
      for (int copy = 0; copy < 2; ++copy)
        for (int64_t s = 0; s < numStages; ++s)
          pipelineStages.push_back(s);
    } else {
      if (numRanks == 0)
        numRanks = rule == "dualpipev" ? numStages / 2 : numStages;
      for (int64_t s = 0; s < numStages; ++s)
        pipelineStages.push_back(s);
    }
    int64_t total = pipelineStages.size();
    if (placementRank(rule, 0, total, std::max<int64_t>(numRanks, 1)) < 0) {
      model.emitError() << "unknown placement '" << rule
                        << "'; use linear, interleaved, dualpipe or dualpipev";
      return signalPassFailure();
    }
    if (numRanks < 1 || numRanks > total ||
        (rule == "dualpipev" && total != 2 * numRanks)) {
      model.emitError() << "cannot place " << total << " stages on "
                        << numRanks << " ranks with placement '" << rule
                        << "'" << (rule == "dualpipev"
                                       ? " (it needs 2 stages per rank)"
                                       : " (every rank needs a stage)");
      return signalPassFailure();
    }

    Cut cut = analyze(model, numStages);
    OpBuilder builder(module.getContext());
    builder.setInsertionPointAfter(model);
    SmallVector<func::FuncOp> fns;
    for (int64_t s = 0; s < numStages; ++s) {
      fns.push_back(buildStage(model, cut, s, builder));
      builder.setInsertionPointAfter(fns.back());
    }

    // The model stays as the single-device reference, without markers.
    for (auto marker :
         llvm::make_early_inc_range(model.getOps<StageBoundaryOp>())) {
      marker.replaceAllUsesWith(marker.getInputs());
      marker.erase();
    }

    SmallVector<Attribute> refs;
    SmallVector<int64_t> on;
    for (auto [i, s] : llvm::enumerate(pipelineStages)) {
      refs.push_back(FlatSymbolRefAttr::get(fns[s].getSymNameAttr()));
      on.push_back(placementRank(rule, i, total, numRanks));
    }
    builder.setInsertionPointToEnd(module.getBody());
    PipelineOp::create(builder, model.getLoc(), builder.getStringAttr(rule),
                       builder.getI64IntegerAttr(numRanks),
                       builder.getArrayAttr(refs),
                       builder.getDenseI64ArrayAttr(on),
                       FlatSymbolRefAttr::get(model.getSymNameAttr()));
  }
};
} // namespace
} // namespace dualpipe
