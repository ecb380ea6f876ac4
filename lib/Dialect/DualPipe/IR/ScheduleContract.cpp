//===- ScheduleContract.cpp - callees and messages follow the stages -----===//
//
// verifyScheduleContract (DualPipe.h): every `dualpipe.compute ... calls @f`
// names a function whose signature is the one --dualpipe-lower-schedule
// will call it with, and every message carries the tensors its producer
// makes. The lowering builds each call from the stage conventions (the
// forward takes the incoming activations, the stage's model arguments and,
// at the end of a pipeline, the labels; B and I take the incoming gradients
// and the values the forward saved; W takes what I kept), so a callee of
// another shape used to be indexed past its ends. --dualpipe-verify and
// --dualpipe-lower-schedule both run this check first.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "llvm/ADT/STLExtras.h"

#include <tuple>
#include <vector>

using namespace mlir;
using namespace dualpipe;

namespace {

/// One argument or result position: its type and what fills it.
struct Slot {
  Type type;
  std::string role;
};
using Slots = SmallVector<Slot, 4>;

/// What the lowering assumes of one stage.
struct Stage {
  func::FuncOp fn;
  Slots acts;        ///< Arguments with dualpipe.from_stage.
  Slots modelArgs;   ///< The other arguments (model arguments), in order.
  Slots paramGrads;  ///< One gradient per parameter argument.
  Slots outs;        ///< What F hands on: the stage's results, or the loss.
  Slots labels;      ///< Extra forward arguments at the end of a pipeline.
  Slots saved;       ///< The forward's results after `outs`.
  Slots wsaved;      ///< I's results after the activation gradients.
  int64_t prev = -1, next = -1;
  AutodiffAttr autodiff;
};

std::string typeList(TypeRange types) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << '(';
  llvm::interleaveComma(types, os);
  os << ')';
  return text;
}

bool isBatchable(Type t) {
  auto r = dyn_cast<RankedTensorType>(t);
  return r && r.hasStaticShape() && r.getRank() >= 1;
}

class Checker {
public:
  Checker(ModuleOp module, PipelineOp pipeline)
      : module(module), pipeline(pipeline) {}

  LogicalResult run(ScheduleOp schedule);

private:
  LogicalResult collectStage(int64_t s, func::FuncOp model);
  LogicalResult collectDerived(Stage &st, int64_t s, const Slots &lastLabels);
  LogicalResult checkCompute(ComputeOp op);
  LogicalResult checkMessage(Operation *op, bool gradient, int64_t stage,
                             ArrayAttr types);
  LogicalResult compare(ComputeOp op, func::FuncOp callee, StringRef what,
                        TypeRange actual, ArrayRef<Slot> expected);

  ModuleOp module;
  PipelineOp pipeline;
  std::vector<Stage> stages;
};

/// The stage's function, its arguments against the model's, its results.
LogicalResult Checker::collectStage(int64_t s, func::FuncOp model) {
  Stage &st = stages[s];
  auto ref = cast<FlatSymbolRefAttr>(pipeline.getStages()[s]);
  st.fn = module.lookupSymbol<func::FuncOp>(ref.getValue());
  if (!st.fn)
    return pipeline.emitOpError()
           << "stage " << s << " (" << ref
           << ") is not a func.func; the schedule's actions call stage "
              "functions, so lower the schedule before the functions";
  for (unsigned i = 0; i < st.fn.getNumArguments(); ++i) {
    Type t = st.fn.getArgumentTypes()[i];
    if (auto from = st.fn.getArgAttrOfType<IntegerAttr>(i, kFromStageAttr)) {
      st.acts.push_back({t, "activation " + std::to_string(st.acts.size()) +
                                " from stage " +
                                std::to_string(from.getInt())});
      continue;
    }
    auto idx = st.fn.getArgAttrOfType<IntegerAttr>(i, kArgIndexAttr);
    if (!idx || idx.getInt() < 0 ||
        idx.getInt() >= int64_t(model.getNumArguments()))
      return st.fn.emitError()
             << "argument " << i << " is neither an activation ("
             << kFromStageAttr << ") nor one of the "
             << model.getNumArguments() << " model arguments ("
             << kArgIndexAttr << " 0.." << model.getNumArguments() - 1
             << "); rerun --dualpipe-partition";
    unsigned m = idx.getInt();
    Type modelType = model.getArgumentTypes()[m];
    bool param = bool(model.getArgAttr(m, kParamAttr));
    if (t != modelType || (!param && !isBatchable(t)))
      return st.fn.emitError()
             << "argument " << i << " is model argument " << m << ", a "
             << modelType << ", but has type " << t
             << (param ? "" : " (inputs must be ranked tensors of static "
                              "shape with a batch dimension)")
             << "; rerun --dualpipe-partition";
    std::string name = argumentName(model, m, param ? kParamAttr : kInputAttr)
                           .value_or("")
                           .str();
    st.modelArgs.push_back(
        {t, (param ? "parameter '" : "input '") + name + "'"});
    if (param)
      st.paramGrads.push_back({t, "the gradient of parameter '" + name + "'"});
  }
  std::tie(st.prev, st.next) = stageNeighbours(pipeline, s);
  if (st.next < 0)
    st.outs.push_back({RankedTensorType::get({}, Float32Type::get(
                                                     module.getContext())),
                       "the micro-batch's loss"});
  else
    for (auto [k, t] : llvm::enumerate(st.fn.getResultTypes()))
      st.outs.push_back({t, "activation " + std::to_string(k) +
                                " for stage " + std::to_string(st.next)});
  st.autodiff = getAutodiff(st.fn);
  return success();
}

/// The values autodiff's functions pass between F, B, I and W of a stage.
LogicalResult Checker::collectDerived(Stage &st, int64_t s,
                                      const Slots &lastLabels) {
  if (st.next < 0)
    st.labels = lastLabels;
  if (!st.autodiff)
    return success();
  auto fwd = module.lookupSymbol<func::FuncOp>(st.autodiff.getForward().getValue());
  auto bwdI = module.lookupSymbol<func::FuncOp>(
      st.autodiff.getBackwardInput().getValue());
  if (!fwd || !bwdI)
    return st.fn.emitError()
           << "names " << (fwd ? st.autodiff.getBackwardInput()
                               : st.autodiff.getForward())
           << " in " << kAutodiffAttr
           << ", which is not a func.func; rerun --dualpipe-autodiff";
  if (fwd.getNumResults() < st.outs.size() ||
      bwdI.getNumResults() < st.acts.size())
    return st.fn.emitError()
           << "has derived functions that return too few results ("
           << fwd.getSymName() << ": " << fwd.getNumResults() << " for "
           << st.outs.size() << " handed on, " << bwdI.getSymName() << ": "
           << bwdI.getNumResults() << " for " << st.acts.size()
           << " activation gradients); rerun --dualpipe-autodiff";
  for (auto [k, t] : llvm::enumerate(
           fwd.getResultTypes().drop_front(st.outs.size())))
    st.saved.push_back({t, "saved value " + std::to_string(k) + " of stage " +
                               std::to_string(s) + "'s forward"});
  for (auto [k, t] : llvm::enumerate(
           bwdI.getResultTypes().drop_front(st.acts.size())))
    st.wsaved.push_back({t, "value " + std::to_string(k) + " that stage " +
                                std::to_string(s) + "'s I keeps for W"});
  return success();
}

/// `actual` against `expected`, naming the first position that differs.
LogicalResult Checker::compare(ComputeOp op, func::FuncOp callee,
                               StringRef what, TypeRange actual,
                               ArrayRef<Slot> expected) {
  auto fail = [&]() {
    InFlightDiagnostic d = op.emitOpError();
    d << stringifyActionKind(op.getKind()) << " of stage "
      << op.getStageIndex() << " calls @" << callee.getSymName()
      << ", whose signature " << typeList(callee.getArgumentTypes()) << " -> "
      << typeList(callee.getResultTypes())
      << " does not follow the stage's conventions: ";
    return d;
  };
  if (actual.size() != expected.size()) {
    InFlightDiagnostic d = fail();
    d << "it has " << actual.size() << " " << what << "s, but the lowering "
      << (what == "argument" ? "passes " : "expects ") << expected.size()
      << " (";
    llvm::interleaveComma(expected, d, [&](const Slot &s) { d << s.role; });
    d << "); call the stage's own function (its " << kAutodiffAttr
      << ") or rerun --dualpipe-autodiff and --dualpipe-schedule";
    return d;
  }
  for (auto [i, t] : llvm::enumerate(actual))
    if (t != expected[i].type)
      return fail() << what << " " << i << " is " << t << ", but "
                    << expected[i].role << " is " << expected[i].type
                    << "; call the stage's own function (its "
                    << kAutodiffAttr
                    << ") or rerun --dualpipe-autodiff and --dualpipe-schedule";
  return success();
}

LogicalResult Checker::checkCompute(ComputeOp op) {
  if (!op.getCalleeAttr())
    return success();
  Stage &st = stages[op.getStageIndex()];
  auto callee = module.lookupSymbol<func::FuncOp>(*op.getCallee());
  if (!callee)
    return op.emitOpError() << "calls " << op.getCalleeAttr()
                            << ", which is not a func.func in this module";
  if (!st.autodiff)
    return op.emitOpError()
           << "calls " << op.getCalleeAttr() << ", but stage function @"
           << st.fn.getSymName() << " has no " << kAutodiffAttr
           << " to say what its actions take; run --dualpipe-autodiff before "
              "--dualpipe-schedule";
  Slots gradIn;
  if (st.next >= 0)
    for (const Slot &a : stages[st.next].acts)
      gradIn.push_back({a.type, "the gradient of stage " +
                                    std::to_string(st.next) + "'s " + a.role});
  Slots in, out;
  switch (op.getKind()) {
  case ActionKind::Forward:
    if (st.prev >= 0)
      in = stages[st.prev].outs;
    llvm::append_range(in, st.modelArgs);
    llvm::append_range(in, st.labels);
    out = st.outs;
    llvm::append_range(out, st.saved);
    break;
  case ActionKind::Backward:
  case ActionKind::BackwardInput:
    in = gradIn;
    llvm::append_range(in, st.saved);
    for (const Slot &a : st.acts)
      out.push_back({a.type, "the gradient of " + a.role});
    llvm::append_range(out, op.getKind() == ActionKind::Backward
                                ? st.paramGrads
                                : st.wsaved);
    break;
  case ActionKind::BackwardWeight:
    in = st.wsaved;
    out = st.paramGrads;
    break;
  }
  if (failed(compare(op, callee, "argument", callee.getArgumentTypes(), in)))
    return failure();
  return compare(op, callee, "result", callee.getResultTypes(), out);
}

/// A message carries what its producer makes: F's activations for the next
/// stage, or B's or I's gradients of the stage's activation arguments.
LogicalResult Checker::checkMessage(Operation *op, bool gradient,
                                    int64_t stage, ArrayAttr types) {
  Stage &st = stages[stage];
  const Slots &made = gradient ? st.acts : st.outs;
  SmallVector<Type> want = llvm::map_to_vector(made, [](const Slot &s) {
    return s.type;
  });
  SmallVector<Type> got = llvm::map_to_vector(types, [](Attribute a) {
    return cast<TypeAttr>(a).getValue();
  });
  if (got == want)
    return success();
  return op->emitOpError()
         << "carries " << typeList(got) << ", but the "
         << (gradient ? "gradient" : "activation") << " of stage " << stage
         << " is " << typeList(want) << " (stage function @"
         << st.fn.getSymName() << "'s "
         << (gradient ? "activation arguments" : "results")
         << "); rerun --dualpipe-insert-comm";
}

LogicalResult Checker::run(ScheduleOp schedule) {
  auto model = pipeline.getModelAttr()
                   ? module.lookupSymbol<func::FuncOp>(*pipeline.getModel())
                   : func::FuncOp();
  if (!model)
    return pipeline.emitOpError()
           << "names no model function (a func.func); the schedule's entry "
              "points take the model's arguments";
  if (model.isExternal())
    return model.emitError()
           << "is the pipeline's model but only a declaration; the rank entry "
              "points are built from its arguments, so give it its body";
  int64_t total = pipeline.getNumStages();
  stages.resize(total);
  for (int64_t s = 0; s < total; ++s)
    if (failed(collectStage(s, model)))
      return failure();
  // The labels: the last stage's forward's arguments after the stage's.
  Slots labels;
  if (AutodiffAttr ad = stages.back().autodiff)
    if (auto fwd = module.lookupSymbol<func::FuncOp>(ad.getForward().getValue())) {
      if (fwd.isExternal())
        return fwd.emitError()
               << "is the last stage's forward but only a declaration; the "
                  "labels are read from its arguments, so rerun "
                  "--dualpipe-autodiff";
      for (unsigned i = stages.back().fn.getNumArguments();
           i < fwd.getNumArguments(); ++i) {
        Type t = fwd.getArgumentTypes()[i];
        if (!isBatchable(t))
          return fwd.emitError()
                 << "argument " << i << " (a label) has type " << t
                 << "; labels must be ranked tensors of static shape with a "
                    "batch dimension";
        labels.push_back({t, "label '" +
                                 argumentName(fwd, i, kLabelAttr)
                                     .value_or("")
                                     .str() +
                                 "'"});
      }
    }
  for (int64_t s = 0; s < total; ++s)
    if (failed(collectDerived(stages[s], s, labels)))
      return failure();
  WalkResult result = schedule.walk([&](Operation *op) {
    LogicalResult ok = success();
    if (auto c = dyn_cast<ComputeOp>(op))
      ok = checkCompute(c);
    else if (auto m = dyn_cast<ISendOp>(op))
      ok = checkMessage(m, m.isGradient(), m.getStageIndex(), m.getTypes());
    else if (auto m = dyn_cast<IRecvOp>(op))
      ok = checkMessage(m, m.isGradient(), m.getStageIndex(), m.getTypes());
    return failed(ok) ? WalkResult::interrupt() : WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

} // namespace

LogicalResult dualpipe::verifyScheduleContract(ScheduleOp schedule,
                                               PipelineOp pipeline) {
  return Checker(schedule->getParentOfType<ModuleOp>(), pipeline)
      .run(schedule);
}
