//===- CudaMergeKernelModules.cpp - one gpu.module for every kernel -----===//
//
// Implements --dualpipe-cuda-merge-kernel-modules (the cuda lowering, see
// dualpipe::buildCudaLoweringPipeline in lib/Pipelines/Pipelines.cpp).
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPECUDAMERGEKERNELMODULES
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

struct CudaMergeKernelModulesPass
    : impl::DualPipeCudaMergeKernelModulesBase<CudaMergeKernelModulesPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    // Modules holding exactly one gpu.func (what outlining makes).
    SmallVector<std::pair<gpu::GPUModuleOp, gpu::GPUFuncOp>> kernels;
    for (auto gpuModule : module.getOps<gpu::GPUModuleOp>()) {
      auto &ops = gpuModule.getBody()->getOperations();
      if (ops.size() != 1)
        continue;
      if (auto fn = dyn_cast<gpu::GPUFuncOp>(ops.front()))
        kernels.push_back({gpuModule, fn});
    }
    if (kernels.size() < 2)
      return;
    std::string mergedName = name;
    for (unsigned i = 0; module.lookupSymbol(mergedName); ++i)
      mergedName = name + "_" + std::to_string(i);
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    auto merged = gpu::GPUModuleOp::create(b, module.getLoc(), mergedName);
    // Old (module, kernel) -> new kernel reference.
    llvm::DenseMap<Attribute, SymbolRefAttr> renamed;
    b.setInsertionPointToStart(merged.getBody());
    for (auto [gpuModule, fn] : kernels) {
      auto old = SymbolRefAttr::get(
          gpuModule.getNameAttr(),
          {FlatSymbolRefAttr::get(fn.getNameAttr())});
      StringAttr newName = gpuModule.getNameAttr();
      fn->moveBefore(merged.getBody(), merged.getBody()->end());
      fn.setName(newName);
      renamed[old] = SymbolRefAttr::get(
          ctx, mergedName, {FlatSymbolRefAttr::get(ctx, newName)});
      // The merged module takes the targets of the first one (nvvm-attach-
      // target runs later, so usually there are none).
      if (!merged.getTargetsAttr() && gpuModule.getTargetsAttr())
        merged.setTargetsAttr(gpuModule.getTargetsAttr());
      gpuModule.erase();
    }
    WalkResult result = module.walk([&](gpu::LaunchFuncOp launch) {
      auto it = renamed.find(launch.getKernel());
      if (it == renamed.end())
        return WalkResult::advance();
      launch.setKernelAttr(it->second);
      return WalkResult::advance();
    });
    (void)result;
  }
};

} // namespace
} // namespace dualpipe
