//===- PrintCost.cpp - print the cost model of the model function --------===//
//
// Implements --dualpipe-print-cost.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Analysis/CostModel.h"
#include "dualpipe/Analysis/Passes.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEPRINTCOST
#include "dualpipe/Analysis/Passes.h.inc"

using namespace mlir;

/// The function marked `attr`, or null; emits an error if there are two.
func::FuncOp findMarkedFunction(ModuleOp module, StringRef attr,
                                bool &duplicate) {
  func::FuncOp found;
  duplicate = false;
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (!fn->hasAttr(attr))
      continue;
    if (found) {
      fn.emitError() << "a second function is marked " << attr
                     << "; mark exactly one per module";
      duplicate = true;
      return nullptr;
    }
    found = fn;
  }
  return found;
}

namespace {

std::string paramName(func::FuncOp model, unsigned i) {
  if (auto name = model.getArgAttrOfType<StringAttr>(i, kParamAttr))
    return name.str();
  return "#" + std::to_string(i);
}

struct PrintCostPass : impl::DualPipePrintCostBase<PrintCostPass> {
  using DualPipePrintCostBase::DualPipePrintCostBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<DeviceProfile> profile = lookupDeviceProfile(device);
    if (!profile) {
      module.emitError() << "unknown device profile '" << device
                         << "'; use cpu or h200";
      return signalPassFailure();
    }
    bool duplicate;
    func::FuncOp model = findMarkedFunction(module, kModelAttr, duplicate);
    if (duplicate)
      return signalPassFailure();
    if (!model || model.getBody().empty()) {
      module.emitError() << "no func.func with a body is marked " << kModelAttr
                         << "; add `attributes {" << kModelAttr
                         << "}` to the model function";
      return signalPassFailure();
    }
    func::FuncOp loss = findMarkedFunction(module, kLossAttr, duplicate);
    if (duplicate)
      return signalPassFailure();

    ModelCost cost(model, *profile, loss);
    llvm::raw_ostream &os = llvm::outs();
    os << "cost of @" << model.getSymName() << " on " << profile->name
       << ": matmul " << llvm::format("%.4g", profile->matmulFlops32)
       << " FLOP/s (f32), " << llvm::format("%.4g", profile->matmulFlops16)
       << " (16-bit), vector " << llvm::format("%.4g", profile->vectorFlops)
       << " FLOP/s, memory " << llvm::format("%.4g", profile->bytesPerSecond)
       << " B/s\n";
    for (auto [i, unit] : llvm::enumerate(cost.units())) {
      os << "op " << i << " " << unit.op->getName()
         << llvm::format(" flops=%.0f bytes=%.0f time=%.4g s", unit.cost.flops,
                         unit.cost.bytes, unit.seconds);
      if (unit.cost.contraction)
        os << " matmul";
      if (!unit.params.empty()) {
        os << " params=";
        llvm::interleave(
            unit.params, os,
            [&](unsigned p) { os << paramName(model, p); }, ",");
      }
      os << "\n";
    }
    for (int64_t c = 1; c < cost.numUnits(); ++c)
      os << "cut " << c << " bytes=" << cost.cutBytes(c) << "\n";
    if (loss)
      os << "loss @" << loss.getSymName()
         << llvm::format(" flops=%.0f bytes=%.0f time=%.4g s\n",
                         cost.lossCost().flops, cost.lossCost().bytes,
                         cost.lossSeconds());
    int64_t params = 0, paramBytes = 0;
    for (unsigned i = 0; i < model.getNumArguments(); ++i)
      if (model.getArgAttr(i, kParamAttr)) {
        ++params;
        paramBytes += cost.argBytes(i);
      }
    os << "params " << params << " tensors " << paramBytes << " bytes\n";
    os << "total ops=" << cost.numUnits()
       << llvm::format(" flops=%.0f time=%.4g s\n", cost.totalFlops(),
                       cost.totalSeconds());
    markAllAnalysesPreserved();
  }
};
} // namespace
} // namespace dualpipe
