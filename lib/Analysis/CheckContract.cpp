//===- CheckContract.cpp - check a model against the input contract ------===//
//
// Implements --dualpipe-check-contract: every violation of the input
// contract (docs/architecture.md) is reported at its location, with what to
// do.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Analysis/Passes.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPECHECKCONTRACT
#include "dualpipe/Analysis/Passes.h.inc"

using namespace mlir;

namespace {

/// Where argument `i` is written (the function when it has no body).
Location argLoc(func::FuncOp fn, unsigned i) {
  return fn.getBody().empty() ? fn.getLoc() : fn.getArgument(i).getLoc();
}

bool isStaticTensor(Type t) {
  auto tensor = dyn_cast<RankedTensorType>(t);
  return tensor && tensor.hasStaticShape();
}

struct CheckContractPass
    : impl::DualPipeCheckContractBase<CheckContractPass> {
  using DualPipeCheckContractBase::DualPipeCheckContractBase;

  bool ok = true;
  /// Name -> where it was first given.
  llvm::StringMap<std::string> names;

  InFlightDiagnostic error(Location loc) {
    ok = false;
    return emitError(loc);
  }

  /// Records a tensor name; reports a duplicate.
  void useName(func::FuncOp fn, unsigned i, StringRef attr, StringRef name) {
    std::string where = ("argument #" + Twine(i) + " of @" + fn.getSymName() +
                         " (" + attr + ")")
                            .str();
    auto [it, inserted] = names.try_emplace(name, where);
    if (!inserted)
      error(argLoc(fn, i)) << where << " is named '" << name
                         << "', which " << it->second
                         << " already uses; names are the keys of the "
                            "safetensors files and must be unique";
  }

  /// Arguments must be static tensors, each named exactly once.
  void checkArguments(func::FuncOp fn, ArrayRef<StringRef> allowed,
                      unsigned first) {
    for (unsigned i = first; i < fn.getNumArguments(); ++i) {
      Type t = fn.getArgumentTypes()[i];
      if (!isStaticTensor(t))
        error(argLoc(fn, i)) << "argument #" << i << " of @" << fn.getSymName()
                           << " has type " << t
                           << "; the contract needs ranked tensors of static "
                              "shape (fix the micro-batch size and sequence "
                              "length when exporting)";
      SmallVector<std::pair<StringRef, StringAttr>> given;
      bool malformed = false;
      for (StringRef attr : allowed)
        if (Attribute a = fn.getArgAttr(i, attr)) {
          auto name = dyn_cast<StringAttr>(a);
          if (!name || name.getValue().empty()) {
            error(argLoc(fn, i)) << "argument #" << i << " of @"
                               << fn.getSymName() << ": " << attr
                               << " must be a non-empty string name";
            malformed = true;
            continue;
          }
          given.push_back({attr, name});
        }
      if (malformed)
        continue;
      if (given.empty()) {
        InFlightDiagnostic d = error(argLoc(fn, i));
        d << "argument #" << i << " of @" << fn.getSymName()
          << " has no name; mark it ";
        llvm::interleave(
            allowed, d, [&](StringRef a) { d << "{" << a << " = \"...\"}"; },
            " or ");
      } else if (given.size() > 1) {
        error(argLoc(fn, i)) << "argument #" << i << " of @" << fn.getSymName()
                           << " is marked both " << given[0].first << " and "
                           << given[1].first << "; keep one";
      } else {
        useName(fn, i, given[0].first, given[0].second.getValue());
      }
    }
  }

  /// Block functions already checked (or being checked: a call cycle).
  llvm::DenseSet<Operation *> checkedBlocks;

  /// A call must name a block: a function of the module with a body that
  /// follows the contract itself, on static tensors, not part of a cycle.
  void checkCall(func::CallOp call) {
    auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
        call, call.getCalleeAttr());
    if (!callee || callee.isExternal()) {
      error(call.getLoc())
          << "'func.call' calls @" << call.getCallee()
          << ", which has no body in this module; a model may call only "
             "block functions defined in the module (linalg, arith, math "
             "and tensor ops on static tensors): define it or inline it "
             "before import";
      return;
    }
    if (callee->hasAttr(kModelAttr) || callee->hasAttr(kLossAttr)) {
      error(call.getLoc()) << "'func.call' calls @" << callee.getSymName()
                           << ", the model or loss function itself; a "
                              "model may call only block functions";
      return;
    }
    if (!checkedBlocks.insert(callee).second)
      return;
    for (auto [i, t] : llvm::enumerate(callee.getArgumentTypes()))
      if (!isStaticTensor(t))
        error(argLoc(callee, i))
            << "argument #" << i << " of the block @" << callee.getSymName()
            << " has type " << t
            << "; block functions take ranked tensors of static shape";
    if (!callee.getBody().hasOneBlock()) {
      error(callee.getLoc()) << "the block @" << callee.getSymName()
                             << " has control flow; a block is one "
                                "straight-line region";
      return;
    }
    checkBody(callee);
  }

  /// Only linalg, arith, math and tensor ops, and calls of block functions,
  /// on static shapes.
  void checkBody(func::FuncOp fn) {
    fn.getBody().walk([&](Operation *op) {
      if (op == fn.getOperation())
        return;
      StringRef ns = op->getDialect() ? op->getDialect()->getNamespace() : "";
      bool allowed = ns == "linalg" || ns == "arith" || ns == "math" ||
                     ns == "tensor" || isa<func::ReturnOp>(op) ||
                     isa<StageBoundaryOp>(op);
      if (ns == "tosa") {
        error(op->getLoc()) << "'" << op->getName()
                            << "' is TOSA; convert it to linalg first with "
                               "--dualpipe-import (tosa-to-linalg-named, "
                               "tosa-to-linalg, tosa-to-arith, tosa-to-tensor)";
        return;
      }
      if (auto call = dyn_cast<func::CallOp>(op)) {
        if (op->getParentOp() != fn.getOperation()) {
          error(op->getLoc()) << "'func.call' inside a region; call block "
                                 "functions from the function body only";
          return;
        }
        checkCall(call);
        allowed = true;
      }
      if (!allowed) {
        error(op->getLoc()) << "'" << op->getName()
                            << "' is not supported in a model: the contract "
                               "allows linalg, arith, math and tensor ops and "
                               "calls of block functions (no control flow; "
                               "unroll before import)";
        return;
      }
      for (Value r : op->getResults())
        if (isa<ShapedType>(r.getType()) && !isStaticTensor(r.getType()))
          error(op->getLoc()) << "'" << op->getName() << "' produces "
                              << r.getType()
                              << "; the contract needs static shapes";
    });
  }

  void checkLoss(func::FuncOp model, func::FuncOp loss) {
    unsigned outs = model.getNumResults();
    if (loss.getNumArguments() < outs) {
      error(loss.getLoc()) << "the loss @" << loss.getSymName() << " takes "
                           << loss.getNumArguments()
                           << " arguments but the model returns " << outs
                           << "; it must take the model's results first, then "
                              "its labels";
      return;
    }
    for (unsigned i = 0; i < outs; ++i)
      if (loss.getArgumentTypes()[i] != model.getResultTypes()[i])
        error(loss.getLoc()) << "argument #" << i << " of the loss @"
                             << loss.getSymName() << " has type "
                             << loss.getArgumentTypes()[i]
                             << " but model result #" << i << " is "
                             << model.getResultTypes()[i];
    checkArguments(loss, {kLabelAttr}, outs);
    auto scalar = RankedTensorType::get({}, Float32Type::get(&getContext()));
    if (loss.getNumResults() != 1 || loss.getResultTypes()[0] != scalar) {
      InFlightDiagnostic d = error(loss.getLoc());
      d << "the loss @" << loss.getSymName() << " returns (";
      llvm::interleaveComma(loss.getResultTypes(), d);
      d << "); it must return one scalar tensor<f32> (the micro-batch's loss)";
    }
    if (!loss.getBody().empty())
      checkBody(loss);
  }

  void checkBuiltinLoss(func::FuncOp model) {
    if (loss != "mse" && loss != "cross_entropy") {
      error(model.getLoc()) << "unknown built-in loss '" << loss
                            << "'; use mse or cross_entropy";
      return;
    }
    if (model.getNumResults() != 1) {
      error(model.getLoc()) << "the built-in loss " << loss
                            << " needs a model with one result, got "
                            << model.getNumResults();
      return;
    }
    auto out = dyn_cast<RankedTensorType>(model.getResultTypes()[0]);
    if (!out || !isa<FloatType>(out.getElementType()) ||
        (loss == "cross_entropy" && out.getRank() < 2))
      error(model.getLoc()) << "the built-in loss " << loss
                            << " needs a floating-point result"
                            << (loss == "cross_entropy"
                                    ? " of rank >= 2 (logits [..., classes])"
                                    : "")
                            << ", got " << model.getResultTypes()[0];
    else if (!out.getElementType().isF32())
      // The built-in losses compute in the result's element type, and a
      // step's loss is tensor<f32> (the schedule contract, as for a
      // dualpipe.loss function): without this, --dualpipe-verify refused
      // the front half's own output.
      error(model.getLoc()) << "the built-in loss " << loss
                            << " computes in the model result's element "
                               "type, and a training step's loss must be "
                               "tensor<f32>, but the result is "
                            << model.getResultTypes()[0]
                            << "; return f32 from the model (arith.truncf) "
                               "or add a dualpipe.loss function returning "
                               "tensor<f32>";
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool duplicate;
    func::FuncOp model = findMarkedFunction(module, kModelAttr, duplicate);
    if (duplicate)
      return signalPassFailure();
    if (!model) {
      module.emitError() << "no func.func is marked " << kModelAttr
                         << "; add `attributes {" << kModelAttr
                         << "}` to the model function";
      return signalPassFailure();
    }
    if (model.getBody().empty()) {
      model.emitError() << "the model @" << model.getSymName()
                        << " is a declaration; it needs a body";
      return signalPassFailure();
    }
    checkArguments(model, {kInputAttr, kParamAttr}, 0);
    for (auto [i, t] : llvm::enumerate(model.getResultTypes()))
      if (!isStaticTensor(t))
        error(model.getLoc()) << "result #" << i << " of @"
                              << model.getSymName() << " has type " << t
                              << "; the contract needs static tensors";
    checkBody(model);

    func::FuncOp lossFn = findMarkedFunction(module, kLossAttr, duplicate);
    if (duplicate)
      return signalPassFailure();
    if (lossFn && !loss.empty())
      error(lossFn.getLoc()) << "loss=" << loss
                             << " chooses a built-in loss, but @"
                             << lossFn.getSymName() << " is marked "
                             << kLossAttr << "; keep one";
    else if (lossFn)
      checkLoss(model, lossFn);
    else if (!loss.empty())
      checkBuiltinLoss(model);
    else if (!forwardOnly)
      error(model.getLoc()) << "no function is marked " << kLossAttr
                            << "; add one (model results and "
                            << kLabelAttr
                            << " arguments in, scalar tensor<f32> out) or "
                               "choose a built-in loss with "
                               "loss=mse|cross_entropy";
    if (!ok)
      signalPassFailure();
    markAllAnalysesPreserved();
  }
};
} // namespace
} // namespace dualpipe
