//===- EmitFunctions.cpp - the scratch carved into the contract's functions -===//
//
// From the scratch function of a stage: @S_fwd (primal ops, returning the
// outputs and the saved values), @S_bwd (the adjoint ops, from the output
// gradients and the saved values), and @S_bwd split into @S_bwd_i (what
// the activation gradients need, plus the values W needs) and @S_bwd_w
// (what only the parameter gradients need). Blocks get the same functions
// but for the full backward, which nothing calls; their forward does not
// return the arguments the backward needs (the call site passes them).
//
//===----------------------------------------------------------------------===//
#include "Differentiator.h"

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;

namespace dualpipe::autodiff {

namespace {

/// Creates `name` with `argTypes -> results` after `after` and fills it
/// with the ops of `body` in `ops` (mapping `inputs` to its arguments),
/// returning the mapped `results`.
func::FuncOp carve(OpBuilder &mb, Location loc, StringRef name,
                   ArrayRef<Value> inputs, ArrayRef<Value> results,
                   ArrayRef<Operation *> ops) {
  MLIRContext *ctx = mb.getContext();
  auto fn = func::FuncOp::create(
      mb, loc, name,
      FunctionType::get(ctx, ValueRange(inputs).getTypes(),
                        ValueRange(results).getTypes()));
  Block *entry = fn.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockEnd(entry);
  IRMapping map;
  for (auto [i, v] : llvm::enumerate(inputs))
    map.map(v, entry->getArgument(i));
  for (Operation *op : ops)
    b.clone(*op, map);
  SmallVector<Value> mapped;
  for (Value v : results)
    mapped.push_back(map.lookupOrDefault(v));
  func::ReturnOp::create(b, loc, mapped);
  return fn;
}

/// The ops of the backward that only the parameter gradients need (W):
/// everything `paramRoots` need beyond `iSet`, constants and zeros
/// recreated rather than passed.
llvm::DenseSet<Operation *> weightOps(ArrayRef<Value> paramRoots,
                                      const llvm::DenseSet<Operation *> &iSet) {
  llvm::DenseSet<Operation *> wSet;
  SmallVector<Value> work(paramRoots.begin(), paramRoots.end());
  while (!work.empty()) {
    Operation *def = work.pop_back_val().getDefiningOp();
    if (!def || (iSet.contains(def) && !isRematerializable(def)) ||
        !wSet.insert(def).second)
      continue;
    llvm::append_range(work, usedValues(def));
  }
  return wSet;
}

/// What W uses from outside itself, in definition order.
SmallVector<Value> weightInputs(Block &bbody, ArrayRef<Value> paramRoots,
                                const llvm::DenseSet<Operation *> &wSet) {
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
  return wsaved;
}

/// Carves the forward, the full backward and its split out of the scratch
/// function of one stage (or block) and sets their attributes.
struct Carver {
  StageGrad &sg;
  func::FuncOp stage;
  MLIRContext *ctx;
  Location loc;
  Builder attrs;
  OpBuilder mb;

  explicit Carver(StageGrad &sg)
      : sg(sg), stage(sg.stage), ctx(stage.getContext()),
        loc(stage.getLoc()), attrs(ctx), mb(ctx) {
    mb.setInsertionPointAfter(stage);
  }

  void setCommon(func::FuncOp fn, StringRef role) {
    if (Attribute s = stage->getAttr(kStageAttr))
      fn->setAttr(kStageAttr, s);
    fn->setAttr(kRoleAttr, attrs.getStringAttr(role));
  }

  void setGradAttrs(func::FuncOp fn, unsigned firstParamResult) {
    for (auto [k, i] : llvm::enumerate(sg.paramArgs))
      if (Attribute name = stage.getArgAttr(i, kParamAttr))
        fn.setResultAttr(firstParamResult + k, kGradOfAttr, name);
  }

  unsigned numFwdArgs() const {
    return sg.numStageArgs + sg.labelTypes.size();
  }

  /// @S_fwd: the primal ops, returning the outputs and the saved values. A
  /// block's forward does not return its own arguments: the call site has
  /// them and passes them to the backward.
  func::FuncOp forward(BlockGrad *block, bool elementwiseRecompute) {
    Block &body = sg.body();
    SmallVector<Value> fwdArgs, fwdRoots(sg.primalOuts);
    for (unsigned i = 0; i < numFwdArgs(); ++i)
      fwdArgs.push_back(body.getArgument(i));
    for (Value v : sg.saved) {
      auto arg = dyn_cast<BlockArgument>(v);
      if (block && arg)
        block->savedArgs.push_back(arg.getArgNumber());
      else
        fwdRoots.push_back(v);
    }
    llvm::DenseSet<Operation *> primalSet(sg.primalOps.begin(),
                                          sg.primalOps.end());
    SmallVector<Operation *> fwdOps;
    for (Operation *op : inOrder(body, sliceOf(fwdRoots, body, {})))
      if (primalSet.contains(op))
        fwdOps.push_back(op);
    func::FuncOp fwd =
        carve(mb, loc, sg.base + "_fwd", fwdArgs, fwdRoots, fwdOps);
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
    if (elementwiseRecompute)
      fwd->setAttr(kSavedBytesNoRecomputeAttr,
                   attrs.getI64IntegerAttr(sg.savedBytesNoRecompute));
    return fwd;
  }

  /// @S_bwd, after `fwd`: the adjoint ops, from the output gradients and
  /// the saved values.
  func::FuncOp backward(func::FuncOp fwd) {
    Block &body = sg.body();
    SmallVector<Value> bwdArgs;
    for (unsigned j = 0; j < sg.numGradArgs; ++j)
      bwdArgs.push_back(body.getArgument(numFwdArgs() + j));
    llvm::append_range(bwdArgs, sg.saved);
    SmallVector<Value> bwdRoots(sg.actGrads);
    llvm::append_range(bwdRoots, sg.paramGrads);
    llvm::DenseSet<Value> leaves(bwdArgs.begin(), bwdArgs.end());
    mb.setInsertionPointAfter(fwd);
    func::FuncOp bwd =
        carve(mb, loc, sg.base + "_bwd", bwdArgs, bwdRoots,
              inOrder(body, sliceOf(bwdRoots, body, leaves)));
    setCommon(bwd, "backward");
    for (auto [k, i] : llvm::enumerate(sg.actArgs))
      bwd.setResultAttr(k, kGradOfArgAttr, attrs.getI64IntegerAttr(i));
    setGradAttrs(bwd, sg.actGrads.size());
    for (unsigned j = sg.numGradArgs; j < bwdArgs.size(); ++j)
      bwd.setArgAttr(j, kSavedAttr, UnitAttr::get(ctx));
    return bwd;
  }

  /// @S_bwd split, before `bwd`, into @S_bwd_i (what the activation
  /// gradients need, plus the values W needs) and @S_bwd_w (what only the
  /// parameter gradients need).
  std::pair<func::FuncOp, func::FuncOp> split(func::FuncOp bwd) {
    unsigned numAct = sg.actGrads.size();
    unsigned numBwdArgs = bwd.getNumArguments();
    Block &bbody = bwd.getBody().front();
    auto ret = cast<func::ReturnOp>(bbody.getTerminator());
    SmallVector<Value> actRoots(ret.getOperands().take_front(numAct));
    SmallVector<Value> paramRoots(ret.getOperands().drop_front(numAct));
    llvm::DenseSet<Operation *> iSet = sliceOf(actRoots, bbody, {});
    llvm::DenseSet<Operation *> wSet = weightOps(paramRoots, iSet);
    SmallVector<Value> wsaved = weightInputs(bbody, paramRoots, wSet);

    SmallVector<Value> iRoots(actRoots);
    llvm::append_range(iRoots, wsaved);
    llvm::DenseSet<Operation *> needed = iSet;
    for (Value v : wsaved)
      for (Operation *op : sliceOf({v}, bbody, {}))
        needed.insert(op);
    mb.setInsertionPoint(bwd);
    SmallVector<Value> bbodyArgs(bbody.getArguments());
    func::FuncOp bwdI = carve(mb, loc, sg.base + "_bwd_i", bbodyArgs, iRoots,
                              inOrder(bbody, needed));
    setCommon(bwdI, "backward_input");
    for (auto [k, i] : llvm::enumerate(sg.actArgs))
      bwdI.setResultAttr(k, kGradOfArgAttr, attrs.getI64IntegerAttr(i));
    for (unsigned k = 0; k < wsaved.size(); ++k)
      bwdI.setResultAttr(numAct + k, kWSavedAttr, UnitAttr::get(ctx));
    for (unsigned j = sg.numGradArgs; j < numBwdArgs; ++j)
      bwdI.setArgAttr(j, kSavedAttr, UnitAttr::get(ctx));

    func::FuncOp bwdW = carve(mb, loc, sg.base + "_bwd_w", wsaved, paramRoots,
                              inOrder(bbody, wSet));
    setCommon(bwdW, "backward_weight");
    setGradAttrs(bwdW, 0);
    for (unsigned k = 0; k < wsaved.size(); ++k)
      bwdW.setArgAttr(k, kWSavedAttr, UnitAttr::get(ctx));
    return {bwdI, bwdW};
  }
};

} // namespace

LogicalResult Differentiator::emitFunctions(StageGrad &sg, BlockGrad *block) {
  func::FuncOp stage = sg.stage;
  MLIRContext *ctx = stage.getContext();
  for (StringRef suffix : {"_fwd", "_bwd_i", "_bwd_w", "_bwd"})
    if (module.lookupSymbol(sg.base + suffix.str()))
      return stage.emitError() << "cannot create @" << sg.base << suffix
                               << ": the name is taken (was the module "
                                  "differentiated already?)";
  Carver carver(sg);
  func::FuncOp fwd = carver.forward(block, options.recompute == "elementwise");
  func::FuncOp bwd = carver.backward(fwd);
  auto [bwdI, bwdW] = carver.split(bwd);

  if (block) {
    block->forward = fwd;
    block->backwardInput = bwdI;
    block->backwardWeight = bwdW;
    block->numResults = sg.primalOuts.size();
    block->actArgs = sg.actArgs;
    block->weightArgs = sg.paramArgs;
    block->savedBytes = sg.savedBytes;
    block->savedBytesNoRecompute = sg.savedBytesNoRecompute;
    bwd.erase(); // nothing calls a block's full backward
    return success();
  }
  stage->setAttr(kAutodiffAttr,
                 AutodiffAttr::get(ctx,
                                   FlatSymbolRefAttr::get(fwd.getSymNameAttr()),
                                   FlatSymbolRefAttr::get(bwd.getSymNameAttr()),
                                   FlatSymbolRefAttr::get(bwdI.getSymNameAttr()),
                                   FlatSymbolRefAttr::get(bwdW.getSymNameAttr())));
  return success();
}

} // namespace dualpipe::autodiff
