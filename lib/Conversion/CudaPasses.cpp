//===- CudaPasses.cpp - cuda target: prepare and managed memory ----------===//
//
// Two small passes of the cuda lowering (see buildCudaLoweringPipeline):
// --dualpipe-cuda-prepare before the GPU mapping, and
// --dualpipe-cuda-managed-memory after gpu-async-region.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPECUDAPREPARE
#define GEN_PASS_DEF_DUALPIPECUDAMANAGEDMEMORY
#define GEN_PASS_DEF_DUALPIPECUDAMERGEKERNELMODULES
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

struct CudaPreparePass
    : impl::DualPipeCudaPrepareBase<CudaPreparePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<memref::CopyOp> copies;
    SmallVector<AllReduceOp> reductions;
    module.walk([&](Operation *op) {
      if (op->getParentOfType<gpu::GPUModuleOp>())
        return;
      if (auto copy = dyn_cast<memref::CopyOp>(op))
        copies.push_back(copy);
      else if (auto reduce = dyn_cast<AllReduceOp>(op))
        reductions.push_back(reduce);
    });
    for (memref::CopyOp copy : copies) {
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    }
    unsigned globals = 0;
    for (AllReduceOp op : reductions)
      lowerAllReduceToRuntimeCall(op, module, "__dualpipe_cuda_group_",
                                  globals);
  }
};

struct CudaManagedMemoryPass
    : impl::DualPipeCudaManagedMemoryBase<CudaManagedMemoryPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<memref::AllocOp> allocs;
    SmallVector<memref::DeallocOp> deallocs;
    module.walk([&](Operation *op) {
      if (op->getParentOfType<gpu::GPUModuleOp>())
        return;
      if (auto alloc = dyn_cast<memref::AllocOp>(op))
        allocs.push_back(alloc);
      else if (auto dealloc = dyn_cast<memref::DeallocOp>(op))
        deallocs.push_back(dealloc);
    });
    for (memref::AllocOp alloc : allocs) {
      OpBuilder b(alloc);
      auto managed = gpu::AllocOp::create(
          b, alloc.getLoc(), alloc.getType(), /*asyncToken=*/Type(),
          /*asyncDependencies=*/ValueRange{}, alloc.getDynamicSizes(),
          alloc.getSymbolOperands(), /*hostShared=*/true);
      alloc.replaceAllUsesWith(managed.getMemref());
      alloc.erase();
    }
    // gpu-to-llvm lowers gpu.dealloc only in its async form: free on a
    // fresh stream and wait for it (cudaFree of managed memory is
    // synchronous anyway).
    Type token = gpu::AsyncTokenType::get(&getContext());
    for (memref::DeallocOp dealloc : deallocs) {
      OpBuilder b(dealloc);
      Location loc = dealloc.getLoc();
      Value start = gpu::WaitOp::create(b, loc, token, ValueRange{})
                        .getAsyncToken();
      Value freed = gpu::DeallocOp::create(b, loc, token, ValueRange{start},
                                           dealloc.getMemref())
                        .getAsyncToken();
      gpu::WaitOp::create(b, loc, Type(), ValueRange{freed});
      dealloc.erase();
    }
  }
};

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
