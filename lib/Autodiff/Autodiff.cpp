//===- Autodiff.cpp - forward, backward-input and backward-weight --------===//
//
// Implements --dualpipe-autodiff. For each stage function the pass builds
// one scratch function holding the primal ops (plus the loss on the last
// stage) followed by their adjoints, then carves it into the functions of
// the contract (Passes.td): the forward with its saved values, the full
// backward, and the backward split into the part that produces activation
// gradients (I) and the part only parameter gradients need (W).
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Autodiff/Passes.h"

#include "Rules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEAUTODIFF
#include "dualpipe/Autodiff/Passes.h.inc"

using namespace mlir;
using namespace dualpipe::autodiff;

namespace {


/// Every value an op uses, including inside its regions, that is defined
/// outside it.
SmallVector<Value> usedValues(Operation *op) {
  llvm::SetVector<Value> used(op->operand_begin(), op->operand_end());
  getUsedValuesDefinedAbove(op->getRegions(), used);
  return used.takeVector();
}

/// Ops of `block` that `roots` need, stopping at `leaves`.
llvm::DenseSet<Operation *> sliceOf(ArrayRef<Value> roots, Block &block,
                                    const llvm::DenseSet<Value> &leaves) {
  llvm::DenseSet<Operation *> ops;
  SmallVector<Value> work(roots.begin(), roots.end());
  while (!work.empty()) {
    Value v = work.pop_back_val();
    if (leaves.contains(v))
      continue;
    Operation *def = v.getDefiningOp();
    if (!def || def->getBlock() != &block || !ops.insert(def).second)
      continue;
    llvm::append_range(work, usedValues(def));
  }
  return ops;
}

/// Ops of `block` in `set`, in block order.
SmallVector<Operation *> inOrder(Block &block,
                                 const llvm::DenseSet<Operation *> &set) {
  SmallVector<Operation *> ops;
  for (Operation &op : block)
    if (set.contains(&op))
      ops.push_back(&op);
  return ops;
}

/// Cheaper to recreate than to keep: constants, tensor.empty, and
/// linalg.fill of those.
bool isRematerializable(Operation *op) {
  if (!isMemoryEffectFree(op))
    return false;
  if (op->getNumOperands() == 0 && op->getNumRegions() == 0)
    return true;
  if (isa<linalg::FillOp>(op))
    return llvm::all_of(op->getOperands(), [](Value v) {
      Operation *d = v.getDefiningOp();
      return d && isRematerializable(d);
    });
  return false;
}

int64_t bytesOf(Type t) {
  auto st = dyn_cast<ShapedType>(t);
  if (!st || !st.hasStaticShape())
    return 0;
  return st.getNumElements() *
         ((st.getElementTypeBitWidth() + 7) / 8);
}

/// The stage function `fn` differentiated in one scratch function.
struct StageGrad {
  func::FuncOp stage;
  bool last = false;
  func::FuncOp scratch;
  unsigned numStageArgs = 0;
  /// Label argument types and attributes (last stage only).
  SmallVector<Type> labelTypes;
  SmallVector<DictionaryAttr> labelAttrs;
  unsigned numGradArgs = 0;
  SmallVector<unsigned> actArgs, paramArgs;
  SmallVector<Operation *> primalOps;
  SmallVector<Value> primalOuts, actGrads, paramGrads;
  /// Policy outcome.
  llvm::SetVector<Value> saved;
  int64_t savedBytes = 0, savedBytesNoRecompute = 0;

  Block &body() { return scratch.getBody().front(); }
  bool isGradArg(Value v) {
    auto a = dyn_cast<BlockArgument>(v);
    return a && a.getOwner() == &body() &&
           a.getArgNumber() >= numStageArgs + labelTypes.size();
  }
  bool isParamArg(Value v) {
    auto a = dyn_cast<BlockArgument>(v);
    return a && a.getOwner() == &body() &&
           llvm::is_contained(paramArgs, a.getArgNumber());
  }
};

struct AutodiffPass : impl::DualPipeAutodiffBase<AutodiffPass> {
  using DualPipeAutodiffBase::DualPipeAutodiffBase;

  void runOnOperation() override;

private:
  LogicalResult buildScratch(StageGrad &sg, func::FuncOp lossFn);
  void choosePolicy(StageGrad &sg);
  LogicalResult emitFunctions(StageGrad &sg);
};

/// Builds the scratch function: stage args, labels, output gradients; the
/// primal ops; the loss (last stage); then the reverse sweep.
LogicalResult AutodiffPass::buildScratch(StageGrad &sg, func::FuncOp lossFn) {
  func::FuncOp stage = sg.stage;
  MLIRContext *ctx = stage.getContext();
  Location loc = stage.getLoc();
  if (!stage.getBody().hasOneBlock())
    return stage.emitError() << "stage function has "
                             << stage.getBody().getBlocks().size()
                             << " blocks; autodiff needs a single block";
  sg.numStageArgs = stage.getNumArguments();
  for (unsigned i = 0; i < sg.numStageArgs; ++i) {
    bool floatTensor = isa<FloatType>(
        getElementTypeOrSelf(stage.getArgument(i).getType()));
    if (stage.getArgAttr(i, kFromStageAttr) && floatTensor)
      sg.actArgs.push_back(i);
    else if (stage.getArgAttr(i, kFromStageAttr))
      return stage.emitError() << "activation argument #" << i
                               << " is not a float tensor; only float "
                                  "activations can carry gradients";
    if (stage.getArgAttr(i, kParamAttr)) {
      if (!floatTensor)
        return stage.emitError() << "parameter argument #" << i
                                 << " is not a float tensor";
      sg.paramArgs.push_back(i);
    }
  }
  auto resultTypes = stage.getFunctionType().getResults();
  if (sg.last) {
    if (lossFn) {
      if (lossFn.getNumArguments() < resultTypes.size() ||
          lossFn.getFunctionType().getInputs().take_front(resultTypes.size()) !=
              resultTypes ||
          lossFn.getNumResults() != 1 || !lossFn.getBody().hasOneBlock())
        return lossFn.emitError()
               << "the loss function must take the model outputs ("
               << resultTypes.size()
               << ") then the labels, and return one scalar tensor";
      for (unsigned i = resultTypes.size(); i < lossFn.getNumArguments();
           ++i) {
        sg.labelTypes.push_back(lossFn.getArgument(i).getType());
        sg.labelAttrs.push_back(lossFn.getArgAttrDict(i));
      }
    } else {
      if (resultTypes.size() != 1)
        return stage.emitError()
               << "the built-in loss '" << loss.getValue()
               << "' needs exactly one model output, the last stage has "
               << resultTypes.size()
               << "; write a function marked dualpipe.loss instead";
      sg.labelTypes.push_back(resultTypes[0]);
      sg.labelAttrs.push_back(DictionaryAttr::get(
          ctx, {NamedAttribute(StringAttr::get(ctx, kLabelAttr),
                               StringAttr::get(ctx, "y"))}));
    }
  } else {
    sg.numGradArgs = resultTypes.size();
  }

  SmallVector<Type> argTypes(stage.getFunctionType().getInputs());
  llvm::append_range(argTypes, sg.labelTypes);
  if (!sg.last)
    llvm::append_range(argTypes, resultTypes);
  OpBuilder mb(ctx);
  mb.setInsertionPointAfter(stage);
  sg.scratch = func::FuncOp::create(
      mb, loc, (stage.getSymName() + "_autodiff_scratch").str(),
      FunctionType::get(ctx, argTypes, {}));
  Block *entry = sg.scratch.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockEnd(entry);

  IRMapping map;
  Block &stageBody = stage.getBody().front();
  for (unsigned i = 0; i < sg.numStageArgs; ++i)
    map.map(stageBody.getArgument(i), entry->getArgument(i));
  for (Operation &op : stageBody.without_terminator())
    b.clone(op, map);
  for (Value v : stageBody.getTerminator()->getOperands())
    sg.primalOuts.push_back(map.lookupOrDefault(v));

  if (sg.last) {
    SmallVector<Value> labels;
    for (unsigned i = 0; i < sg.labelTypes.size(); ++i)
      labels.push_back(entry->getArgument(sg.numStageArgs + i));
    Value lossValue;
    if (lossFn) {
      IRMapping lmap;
      Block &lbody = lossFn.getBody().front();
      for (auto [i, out] : llvm::enumerate(sg.primalOuts))
        lmap.map(lbody.getArgument(i), out);
      for (auto [i, l] : llvm::enumerate(labels))
        lmap.map(lbody.getArgument(sg.primalOuts.size() + i), l);
      for (Operation &op : lbody.without_terminator())
        b.clone(op, lmap);
      lossValue = lmap.lookupOrDefault(lbody.getTerminator()->getOperand(0));
    } else {
      FailureOr<Value> l = buildBuiltinLoss(b, loc, loss, sg.primalOuts[0],
                                            labels[0]);
      if (failed(l))
        return failure();
      lossValue = *l;
    }
    auto lt = dyn_cast<RankedTensorType>(lossValue.getType());
    if (!lt || lt.getRank() != 0 || !isa<FloatType>(lt.getElementType()))
      return (lossFn ? lossFn.emitError() : stage.emitError())
             << "the loss must be a rank-0 float tensor, got "
             << lossValue.getType();
    sg.primalOuts.assign({lossValue});
  }
  for (Operation &op : *entry)
    sg.primalOps.push_back(&op);

  // Activity: what depends on an activation or a parameter.
  llvm::DenseSet<Value> active;
  for (unsigned i : sg.actArgs)
    active.insert(entry->getArgument(i));
  for (unsigned i : sg.paramArgs)
    active.insert(entry->getArgument(i));
  for (Operation *op : sg.primalOps) {
    bool in = llvm::any_of(usedValues(op),
                           [&](Value v) { return active.contains(v); });
    if (!in)
      continue;
    for (Value r : op->getResults())
      if (isa<FloatType>(getElementTypeOrSelf(r.getType())))
        active.insert(r);
  }

  ReverseSweep sweep(b, std::move(active));
  if (sg.last) {
    auto lt = cast<RankedTensorType>(sg.primalOuts[0].getType());
    double seed = 1.0 / double(microbatches);
    Value c = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(lt, b.getFloatAttr(lt.getElementType(), seed)));
    sweep.accumulate(sg.primalOuts[0], c, loc);
  } else {
    for (auto [j, out] : llvm::enumerate(sg.primalOuts))
      sweep.accumulate(out, entry->getArgument(sg.numStageArgs + j), loc);
  }
  for (Operation *op : llvm::reverse(sg.primalOps)) {
    if (llvm::none_of(op->getResults(),
                      [&](Value r) { return sweep.getAdjoint(r); }))
      continue;
    if (failed(differentiateOp(op, sweep)))
      return failure();
  }
  for (unsigned i : sg.actArgs)
    sg.actGrads.push_back(sweep.getAdjointOrZeros(entry->getArgument(i), loc));
  for (unsigned i : sg.paramArgs)
    sg.paramGrads.push_back(
        sweep.getAdjointOrZeros(entry->getArgument(i), loc));
  return success();
}

/// Decides what the forward saves and what the backward recreates or
/// recomputes; fills `sg.saved` and the byte counts.
void AutodiffPass::choosePolicy(StageGrad &sg) {
  Block &body = sg.body();
  llvm::DenseSet<Operation *> primal(sg.primalOps.begin(), sg.primalOps.end());
  // Primal values the adjoint ops use.
  llvm::SetVector<Value> needed;
  auto notePrimal = [&](Value v) {
    if (sg.isGradArg(v))
      return;
    if (auto a = dyn_cast<BlockArgument>(v)) {
      if (a.getOwner() == &body)
        needed.insert(v);
      return;
    }
    if (primal.contains(v.getDefiningOp()))
      needed.insert(v);
  };
  for (Operation &op : body)
    if (!primal.contains(&op))
      for (Value v : usedValues(&op))
        notePrimal(v);
  for (Value v : sg.actGrads)
    notePrimal(v);
  for (Value v : sg.paramGrads)
    notePrimal(v);

  // The values kept when the ops in `recomputed` are recomputed.
  auto savedFor = [&](const llvm::DenseSet<Operation *> &recomputed) {
    llvm::DenseSet<Value> kept;
    llvm::DenseSet<Value> seen;
    SmallVector<Value> work(needed.begin(), needed.end());
    while (!work.empty()) {
      Value v = work.pop_back_val();
      if (!seen.insert(v).second)
        continue;
      Operation *def = v.getDefiningOp();
      if (def && (isRematerializable(def) || recomputed.contains(def))) {
        llvm::append_range(work, usedValues(def));
        continue;
      }
      kept.insert(v);
    }
    return kept;
  };
  auto activationBytes = [&](const llvm::DenseSet<Value> &kept) {
    int64_t n = 0;
    for (Value v : kept)
      if (!sg.isParamArg(v))
        n += bytesOf(v.getType());
    return n;
  };

  llvm::DenseSet<Operation *> recomputed;
  llvm::DenseSet<Value> kept = savedFor(recomputed);
  sg.savedBytesNoRecompute = activationBytes(kept);
  if (recompute == "elementwise") {
    // Greedy, latest op first: recompute an elementwise op when that does
    // not grow the saved activation bytes.
    bool changed = true;
    while (changed) {
      changed = false;
      for (Operation *op : llvm::reverse(sg.primalOps)) {
        if (recomputed.contains(op) || !isCheapElementwise(op) ||
            llvm::none_of(op->getResults(),
                          [&](Value r) { return kept.contains(r); }))
          continue;
        recomputed.insert(op);
        llvm::DenseSet<Value> trial = savedFor(recomputed);
        if (activationBytes(trial) < activationBytes(kept)) {
          kept = std::move(trial);
          changed = true;
        } else {
          recomputed.erase(op);
        }
      }
    }
  }
  // Saved values in definition order: arguments, then op results.
  for (BlockArgument a : body.getArguments())
    if (kept.contains(a))
      sg.saved.insert(a);
  for (Operation *op : sg.primalOps)
    for (Value r : op->getResults())
      if (kept.contains(r))
        sg.saved.insert(r);
  sg.savedBytes = activationBytes(kept);
}

/// Creates @S_fwd, @S_bwd, @S_bwd_i, @S_bwd_w from the scratch function.
LogicalResult AutodiffPass::emitFunctions(StageGrad &sg) {
  func::FuncOp stage = sg.stage;
  MLIRContext *ctx = stage.getContext();
  Location loc = stage.getLoc();
  ModuleOp module = getOperation();
  Block &body = sg.body();
  std::string base = stage.getSymName().str();
  for (StringRef suffix : {"_fwd", "_bwd_i", "_bwd_w", "_bwd"})
    if (module.lookupSymbol(base + suffix.str()))
      return stage.emitError() << "cannot create @" << base << suffix
                               << ": the name is taken (was the module "
                                  "differentiated already?)";
  Builder attrs(ctx);
  auto setCommon = [&](func::FuncOp fn, StringRef role) {
    fn->setAttr(kStageAttr, stage->getAttr(kStageAttr));
    fn->setAttr(kRoleAttr, attrs.getStringAttr(role));
  };
  OpBuilder mb(ctx);
  mb.setInsertionPointAfter(stage);

  //--- forward --------------------------------------------------------------
  unsigned numFwdArgs = sg.numStageArgs + sg.labelTypes.size();
  SmallVector<Type> fwdArgTypes;
  for (unsigned i = 0; i < numFwdArgs; ++i)
    fwdArgTypes.push_back(body.getArgument(i).getType());
  SmallVector<Value> fwdRoots(sg.primalOuts);
  llvm::append_range(fwdRoots, sg.saved);
  SmallVector<Type> fwdResultTypes;
  for (Value v : fwdRoots)
    fwdResultTypes.push_back(v.getType());
  auto fwd = func::FuncOp::create(
      mb, loc, base + "_fwd", FunctionType::get(ctx, fwdArgTypes, fwdResultTypes));
  mb.setInsertionPointAfter(fwd);
  setCommon(fwd, "forward");
  for (unsigned i = 0; i < sg.numStageArgs; ++i)
    if (DictionaryAttr d = stage.getArgAttrDict(i))
      fwd.setArgAttrs(i, d);
  for (auto [i, d] : llvm::enumerate(sg.labelAttrs))
    if (d)
      fwd.setArgAttrs(sg.numStageArgs + i, d);
  for (unsigned i = sg.primalOuts.size(); i < fwdRoots.size(); ++i)
    fwd.setResultAttr(i, kSavedAttr, UnitAttr::get(ctx));
  fwd->setAttr(kSavedBytesAttr, attrs.getI64IntegerAttr(sg.savedBytes));
  if (recompute == "elementwise")
    fwd->setAttr(kSavedBytesNoRecomputeAttr,
                 attrs.getI64IntegerAttr(sg.savedBytesNoRecompute));
  {
    Block *entry = fwd.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockEnd(entry);
    IRMapping map;
    for (unsigned i = 0; i < numFwdArgs; ++i)
      map.map(body.getArgument(i), entry->getArgument(i));
    llvm::DenseSet<Operation *> primalSet(sg.primalOps.begin(),
                                          sg.primalOps.end());
    for (Operation *op : inOrder(body, sliceOf(fwdRoots, body, {})))
      if (primalSet.contains(op))
        b.clone(*op, map);
    SmallVector<Value> results;
    for (Value v : fwdRoots)
      results.push_back(map.lookupOrDefault(v));
    func::ReturnOp::create(b, loc, results);
  }

  //--- full backward ----------------------------------------------------------
  SmallVector<Value> bwdArgs;
  for (unsigned j = 0; j < sg.numGradArgs; ++j)
    bwdArgs.push_back(body.getArgument(numFwdArgs + j));
  llvm::append_range(bwdArgs, sg.saved);
  SmallVector<Value> bwdRoots(sg.actGrads);
  llvm::append_range(bwdRoots, sg.paramGrads);
  SmallVector<Type> bwdArgTypes, bwdResultTypes;
  for (Value v : bwdArgs)
    bwdArgTypes.push_back(v.getType());
  for (Value v : bwdRoots)
    bwdResultTypes.push_back(v.getType());
  unsigned numAct = sg.actGrads.size();
  auto setGradAttrs = [&](func::FuncOp fn, unsigned firstParamResult) {
    for (auto [k, i] : llvm::enumerate(sg.paramArgs))
      fn.setResultAttr(firstParamResult + k, kGradOfAttr,
                       stage.getArgAttr(i, kParamAttr));
  };
  auto bwd = func::FuncOp::create(
      mb, loc, base + "_bwd", FunctionType::get(ctx, bwdArgTypes, bwdResultTypes));
  setCommon(bwd, "backward");
  for (auto [k, i] : llvm::enumerate(sg.actArgs))
    bwd.setResultAttr(k, kGradOfArgAttr, attrs.getI64IntegerAttr(i));
  setGradAttrs(bwd, numAct);
  for (unsigned j = sg.numGradArgs; j < bwdArgs.size(); ++j)
    bwd.setArgAttr(j, kSavedAttr, UnitAttr::get(ctx));
  {
    Block *entry = bwd.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockEnd(entry);
    IRMapping map;
    llvm::DenseSet<Value> leaves;
    for (auto [i, v] : llvm::enumerate(bwdArgs)) {
      map.map(v, entry->getArgument(i));
      leaves.insert(v);
    }
    for (Operation *op : inOrder(body, sliceOf(bwdRoots, body, leaves)))
      b.clone(*op, map);
    SmallVector<Value> results;
    for (Value v : bwdRoots)
      results.push_back(map.lookupOrDefault(v));
    func::ReturnOp::create(b, loc, results);
  }

  //--- split: backward-input and backward-weight ----------------------------
  Block &bbody = bwd.getBody().front();
  auto ret = cast<func::ReturnOp>(bbody.getTerminator());
  SmallVector<Value> actRoots(ret.getOperands().take_front(numAct));
  SmallVector<Value> paramRoots(ret.getOperands().drop_front(numAct));
  llvm::DenseSet<Operation *> iSet = sliceOf(actRoots, bbody, {});
  // W: what the parameter gradients need beyond I's ops; constants and
  // zeros are recreated rather than passed.
  llvm::DenseSet<Operation *> wSet;
  {
    SmallVector<Value> work(paramRoots);
    while (!work.empty()) {
      Operation *def = work.pop_back_val().getDefiningOp();
      if (!def || (iSet.contains(def) && !isRematerializable(def)) ||
          !wSet.insert(def).second)
        continue;
      llvm::append_range(work, usedValues(def));
    }
  }
  // What W uses from outside itself, in definition order.
  llvm::DenseSet<Value> wNeeds;
  for (Operation *op : wSet)
    for (Value v : usedValues(op))
      if (!wSet.contains(v.getDefiningOp()))
        wNeeds.insert(v);
  for (Value v : paramRoots)
    if (!wSet.contains(v.getDefiningOp()))
      wNeeds.insert(v);
  SmallVector<Value> wsaved;
  for (BlockArgument a : bbody.getArguments())
    if (wNeeds.contains(a))
      wsaved.push_back(a);
  for (Operation &op : bbody)
    for (Value r : op.getResults())
      if (wNeeds.contains(r))
        wsaved.push_back(r);

  mb.setInsertionPoint(bwd);
  SmallVector<Type> iResultTypes(ValueRange(actRoots).getTypes());
  SmallVector<Type> wArgTypes;
  for (Value v : wsaved) {
    iResultTypes.push_back(v.getType());
    wArgTypes.push_back(v.getType());
  }
  auto bwdI = func::FuncOp::create(
      mb, loc, base + "_bwd_i", FunctionType::get(ctx, bwdArgTypes, iResultTypes));
  setCommon(bwdI, "backward_input");
  for (auto [k, i] : llvm::enumerate(sg.actArgs))
    bwdI.setResultAttr(k, kGradOfArgAttr, attrs.getI64IntegerAttr(i));
  for (unsigned k = 0; k < wsaved.size(); ++k)
    bwdI.setResultAttr(numAct + k, kWSavedAttr, UnitAttr::get(ctx));
  for (unsigned j = sg.numGradArgs; j < bwdArgs.size(); ++j)
    bwdI.setArgAttr(j, kSavedAttr, UnitAttr::get(ctx));
  {
    Block *entry = bwdI.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockEnd(entry);
    IRMapping map;
    for (auto [old, fresh] :
         llvm::zip(bbody.getArguments(), entry->getArguments()))
      map.map(old, fresh);
    llvm::DenseSet<Operation *> needed = iSet;
    for (Value v : wsaved)
      for (Operation *op : sliceOf({v}, bbody, {}))
        needed.insert(op);
    for (Operation *op : inOrder(bbody, needed))
      b.clone(*op, map);
    SmallVector<Value> results;
    for (Value v : actRoots)
      results.push_back(map.lookupOrDefault(v));
    for (Value v : wsaved)
      results.push_back(map.lookupOrDefault(v));
    func::ReturnOp::create(b, loc, results);
  }
  auto bwdW = func::FuncOp::create(
      mb, loc, base + "_bwd_w",
      FunctionType::get(ctx, wArgTypes, ValueRange(paramRoots).getTypes()));
  setCommon(bwdW, "backward_weight");
  setGradAttrs(bwdW, 0);
  for (unsigned k = 0; k < wsaved.size(); ++k)
    bwdW.setArgAttr(k, kWSavedAttr, UnitAttr::get(ctx));
  {
    Block *entry = bwdW.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockEnd(entry);
    IRMapping map;
    for (auto [i, v] : llvm::enumerate(wsaved))
      map.map(v, entry->getArgument(i));
    for (Operation *op : inOrder(bbody, wSet))
      b.clone(*op, map);
    SmallVector<Value> results;
    for (Value v : paramRoots)
      results.push_back(map.lookupOrDefault(v));
    func::ReturnOp::create(b, loc, results);
  }

  stage->setAttr(kAutodiffAttr,
                 AutodiffAttr::get(ctx, FlatSymbolRefAttr::get(fwd.getSymNameAttr()),
                                   FlatSymbolRefAttr::get(bwd.getSymNameAttr()),
                                   FlatSymbolRefAttr::get(bwdI.getSymNameAttr()),
                                   FlatSymbolRefAttr::get(bwdW.getSymNameAttr())));
  return success();
}

void AutodiffPass::runOnOperation() {
  ModuleOp module = getOperation();
  PipelineOp pipe = lookupPipeline(module);
  if (!pipe) {
    module.emitError() << "no dualpipe.pipeline op: run --dualpipe-partition "
                          "before --dualpipe-autodiff";
    return signalPassFailure();
  }
  if (microbatches < 1) {
    pipe.emitError() << "microbatches=" << microbatches.getValue()
                     << " is not a micro-batch count; use an integer >= 1";
    return signalPassFailure();
  }
  if (recompute != "none" && recompute != "elementwise") {
    pipe.emitError() << "unknown recompute policy '" << recompute.getValue()
                     << "'; use recompute=none or recompute=elementwise";
    return signalPassFailure();
  }
  func::FuncOp lossFn;
  if (loss.empty()) {
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn->hasAttr(kLossAttr))
        lossFn = fn;
    if (!lossFn) {
      pipe.emitError() << "the last stage needs a loss: mark a func.func "
                          "with dualpipe.loss, or pass loss=mse or "
                          "loss=cross_entropy";
      return signalPassFailure();
    }
  } else if (loss != "mse" && loss != "cross_entropy") {
    pipe.emitError() << "unknown loss '" << loss.getValue()
                     << "'; use loss=mse or loss=cross_entropy, or omit "
                        "loss= to use the module's dualpipe.loss function";
    return signalPassFailure();
  }

  SmallVector<func::FuncOp> stages;
  for (Attribute ref : pipe.getStages()) {
    auto fn = module.lookupSymbol<func::FuncOp>(
        cast<FlatSymbolRefAttr>(ref).getValue());
    if (!fn) {
      pipe.emitError() << "stage " << ref << " is not a func.func";
      return signalPassFailure();
    }
    if (!llvm::is_contained(stages, fn))
      stages.push_back(fn);
  }
  auto lastRef = cast<FlatSymbolRefAttr>(pipe.getStages().getValue().back());

  for (func::FuncOp stage : stages) {
    StageGrad sg;
    sg.stage = stage;
    sg.last = stage.getSymName() == lastRef.getValue();
    LogicalResult ok = buildScratch(sg, lossFn);
    if (succeeded(ok)) {
      OpBuilder b = OpBuilder::atBlockEnd(&sg.body());
      func::ReturnOp::create(b, stage.getLoc(), ValueRange());
      choosePolicy(sg);
      ok = emitFunctions(sg);
    }
    if (sg.scratch)
      sg.scratch.erase();
    if (failed(ok))
      return signalPassFailure();
  }
}

} // namespace
} // namespace dualpipe
