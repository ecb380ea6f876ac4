//===- CudaPrepare.cpp - cuda target: copies and all-reduces ------------===//
//
// Implements --dualpipe-cuda-prepare (the cuda lowering, see
// dualpipe::buildCudaLoweringPipeline in lib/Pipelines/Pipelines.cpp).
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPECUDAPREPARE
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
    for (AllReduceOp op : reductions)
      if (op.getAsyncToken()) {
        op.emitError() << "is a started all-reduce; the cuda target runs "
                          "all-reduces on the host, blocking (lower the "
                          "schedule with post-receives=false)";
        return signalPassFailure();
      }
    unsigned globals = 0;
    for (AllReduceOp op : reductions)
      lowerAllReduceToRuntimeCall(op, module, "__dualpipe_cuda_group_",
                                  globals);
  }
};

} // namespace
} // namespace dualpipe
