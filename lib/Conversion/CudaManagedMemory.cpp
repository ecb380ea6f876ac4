//===- CudaManagedMemory.cpp - host allocations as CUDA managed memory --===//
//
// Implements --dualpipe-cuda-managed-memory (the cuda lowering, see
// dualpipe::buildCudaLoweringPipeline in lib/Pipelines/Pipelines.cpp).
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPECUDAMANAGEDMEMORY
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

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

} // namespace
} // namespace dualpipe
