//===- Scratch.cpp - a function's primal and adjoint ops in one place ----===//
//
// The scratch function of a stage or block: its arguments (the function's,
// the labels for the last stage, one output gradient per result otherwise),
// a copy of its ops, the loss (last stage), and the reverse sweep. Calls of
// block functions become calls of the block's forward, whose extra results
// are what the block's backward needs; their adjoint is a call of the
// block's backward-input and one of its backward-weight.
//
//===----------------------------------------------------------------------===//
#include "Differentiator.h"
#include "Rules.h"

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

using namespace mlir;

namespace dualpipe::autodiff {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

SmallVector<Value> usedValues(Operation *op) {
  llvm::SetVector<Value> used(op->operand_begin(), op->operand_end());
  getUsedValuesDefinedAbove(op->getRegions(), used);
  return used.takeVector();
}

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

SmallVector<Operation *> inOrder(Block &block,
                                 const llvm::DenseSet<Operation *> &set) {
  SmallVector<Operation *> ops;
  for (Operation &op : block)
    if (set.contains(&op))
      ops.push_back(&op);
  return ops;
}

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
  return st.getNumElements() * ((st.getElementTypeBitWidth() + 7) / 8);
}

bool StageGrad::isGradArg(Value v) {
  auto a = dyn_cast<BlockArgument>(v);
  return a && a.getOwner() == &body() &&
         a.getArgNumber() >= numStageArgs + labelTypes.size();
}

bool StageGrad::isParamArg(Value v) {
  auto a = dyn_cast<BlockArgument>(v);
  return a && a.getOwner() == &body() &&
         llvm::is_contained(paramArgs, a.getArgNumber());
}

static bool isFloatTensor(Type t) {
  return isa<FloatType>(getElementTypeOrSelf(t));
}

//===----------------------------------------------------------------------===//
// Signature
//===----------------------------------------------------------------------===//

/// A stage's activation arguments (dualpipe.from_stage) and parameters
/// (dualpipe.param) get gradients; inputs and labels do not.
LogicalResult Differentiator::classifyStageArguments(StageGrad &sg) {
  func::FuncOp stage = sg.stage;
  for (unsigned i = 0; i < stage.getNumArguments(); ++i) {
    bool floatTensor = isFloatTensor(stage.getArgument(i).getType());
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
  return success();
}

/// The scratch's extra arguments: labels for the last stage, one output
/// gradient per result otherwise.
LogicalResult Differentiator::prepareSignature(StageGrad &sg) {
  func::FuncOp stage = sg.stage;
  MLIRContext *ctx = stage.getContext();
  auto resultTypes = stage.getFunctionType().getResults();
  if (!sg.last) {
    sg.numGradArgs = resultTypes.size();
    return success();
  }
  if (lossFn) {
    if (lossFn.getNumArguments() < resultTypes.size() ||
        lossFn.getFunctionType().getInputs().take_front(resultTypes.size()) !=
            resultTypes ||
        lossFn.getNumResults() != 1 || !lossFn.getBody().hasOneBlock())
      return lossFn.emitError()
             << "the loss function must take the model outputs ("
             << resultTypes.size()
             << ") then the labels, and return one scalar tensor";
    for (unsigned i = resultTypes.size(); i < lossFn.getNumArguments(); ++i) {
      sg.labelTypes.push_back(lossFn.getArgument(i).getType());
      sg.labelAttrs.push_back(lossFn.getArgAttrDict(i));
    }
    return success();
  }
  if (resultTypes.size() != 1)
    return stage.emitError()
           << "the built-in loss '" << options.loss
           << "' needs exactly one model output, the last stage has "
           << resultTypes.size()
           << "; write a function marked dualpipe.loss instead";
  sg.labelTypes.push_back(resultTypes[0]);
  sg.labelAttrs.push_back(DictionaryAttr::get(
      ctx, {NamedAttribute(StringAttr::get(ctx, kLabelAttr),
                           StringAttr::get(ctx, "y"))}));
  return success();
}

//===----------------------------------------------------------------------===//
// The scratch function
//===----------------------------------------------------------------------===//

/// Appends the loss of the last stage after its primal ops; the loss value
/// becomes the only primal output.
LogicalResult Differentiator::appendLoss(StageGrad &sg, OpBuilder &b) {
  Block *entry = &sg.body();
  Location loc = sg.stage.getLoc();
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
    FailureOr<Value> l =
        buildBuiltinLoss(b, loc, options.loss, sg.primalOuts[0], labels[0]);
    if (failed(l))
      return failure();
    lossValue = *l;
  }
  auto lt = dyn_cast<RankedTensorType>(lossValue.getType());
  if (!lt || lt.getRank() != 0 || !isa<FloatType>(lt.getElementType()))
    return (lossFn ? lossFn.emitError() : sg.stage.emitError())
           << "the loss must be a rank-0 float tensor, got "
           << lossValue.getType();
  sg.primalOuts.assign({lossValue});
  return success();
}

/// Builds the scratch function: stage args, labels, output gradients; the
/// primal ops; the loss (last stage); then the reverse sweep.
LogicalResult Differentiator::buildScratch(StageGrad &sg) {
  func::FuncOp stage = sg.stage;
  MLIRContext *ctx = stage.getContext();
  if (!stage.getBody().hasOneBlock())
    return stage.emitError() << (sg.block ? "block" : "stage")
                             << " function has "
                             << stage.getBody().getBlocks().size()
                             << " blocks; autodiff needs a single block";
  sg.numStageArgs = stage.getNumArguments();
  if (failed(prepareSignature(sg)))
    return failure();

  SmallVector<Type> argTypes(stage.getFunctionType().getInputs());
  llvm::append_range(argTypes, sg.labelTypes);
  if (!sg.last)
    llvm::append_range(argTypes, stage.getFunctionType().getResults());
  OpBuilder mb(ctx);
  mb.setInsertionPointAfter(stage);
  sg.scratch = func::FuncOp::create(mb, stage.getLoc(),
                                    sg.base + "_autodiff_scratch",
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
  if (sg.last && failed(appendLoss(sg, b)))
    return failure();
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
      if (isFloatTensor(r.getType()))
        active.insert(r);
  }
  if (failed(useBlockForwards(sg, active)))
    return failure();
  return reverseSweep(sg, std::move(active));
}

//===----------------------------------------------------------------------===//
// Calls of blocks
//===----------------------------------------------------------------------===//

/// Replaces every active call of a block in the scratch by a call of the
/// block's forward (built on demand), whose extra results are the values
/// the block's backward needs. Their activity carries over to the new
/// results; the saved results are not differentiated themselves.
LogicalResult
Differentiator::useBlockForwards(StageGrad &sg, llvm::DenseSet<Value> &active) {
  for (Operation *&op : sg.primalOps) {
    auto call = dyn_cast<func::CallOp>(op);
    if (!call || llvm::none_of(call.getOperands(), [&](Value v) {
          return active.contains(v);
        }))
      continue;
    auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
    if (!callee || callee.isExternal())
      return call.emitError() << "calls @" << call.getCallee()
                              << ", which has no body to differentiate; "
                                 "define the block in the module";
    CallConvention convention;
    for (Value v : call.getOperands()) {
      convention.active.push_back(active.contains(v));
      convention.weight.push_back(active.contains(v) && sg.isParamArg(v));
    }
    FailureOr<const BlockGrad *> grad =
        differentiateBlock(callee, convention, call);
    if (failed(grad))
      return failure();
    OpBuilder b(call);
    auto fwd = func::CallOp::create(b, call.getLoc(), (*grad)->forward,
                                    call.getOperands());
    for (auto [old, fresh] :
         llvm::zip(call.getResults(),
                   fwd.getResults().take_front(call.getNumResults()))) {
      if (active.erase(old))
        active.insert(fresh);
      old.replaceAllUsesWith(fresh);
      llvm::replace(sg.primalOuts, Value(old), Value(fresh));
    }
    call.erase();
    op = fwd;
    sg.blockCalls[fwd] = *grad;
  }
  return success();
}

/// The adjoint of a call of a block's forward: its backward-input on the
/// output gradients and the saved results gives the activation arguments'
/// gradients and what backward-weight needs; backward-weight gives the
/// weights' gradients.
static void blockAdjoint(func::CallOp fwd, const BlockGrad &grad,
                         ReverseSweep &sweep) {
  OpBuilder &b = sweep.builder();
  Location loc = fwd.getLoc();
  SmallVector<Value> args;
  for (unsigned i = 0; i < grad.numResults; ++i)
    args.push_back(sweep.getAdjointOrZeros(fwd.getResult(i), loc));
  for (unsigned i : grad.savedArgs)
    args.push_back(fwd.getOperand(i));
  llvm::append_range(args, fwd.getResults().drop_front(grad.numResults));
  auto bwdI = func::CallOp::create(b, loc, grad.backwardInput, args);
  for (auto [k, i] : llvm::enumerate(grad.actArgs))
    sweep.accumulate(fwd.getOperand(i), bwdI.getResult(k), loc);
  if (grad.weightArgs.empty())
    return;
  auto bwdW = func::CallOp::create(
      b, loc, grad.backwardWeight,
      bwdI.getResults().drop_front(grad.actArgs.size()));
  for (auto [k, i] : llvm::enumerate(grad.weightArgs))
    sweep.accumulate(fwd.getOperand(i), bwdW.getResult(k), loc);
}

//===----------------------------------------------------------------------===//
// The reverse sweep
//===----------------------------------------------------------------------===//

LogicalResult Differentiator::reverseSweep(StageGrad &sg,
                                           llvm::DenseSet<Value> active) {
  Block *entry = &sg.body();
  Location loc = sg.stage.getLoc();
  OpBuilder b = OpBuilder::atBlockEnd(entry);
  ReverseSweep sweep(b, std::move(active));
  if (sg.last) {
    auto lt = cast<RankedTensorType>(sg.primalOuts[0].getType());
    double seed = 1.0 / double(options.microbatches);
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
    if (const BlockGrad *grad = sg.blockCalls.lookup(op)) {
      blockAdjoint(cast<func::CallOp>(op), *grad, sweep);
      continue;
    }
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

} // namespace dualpipe::autodiff
