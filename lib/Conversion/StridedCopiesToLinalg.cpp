//===- StridedCopiesToLinalg.cpp - non-contiguous copies become loops ----===//
//
// Implements --dualpipe-strided-copies-to-linalg (the cpu lowering, see
// addCpuLowering in lib/Pipelines/Pipelines.cpp).
//
// Upstream's memref-to-llvm lowers a memref.copy between two contiguous
// memrefs to llvm.memcpy and every other one to a call of `memrefCopy`, a
// function of MLIR's C runner utils that step.so does not link. Such copies
// come from bufferizing an extract_slice with a stride or on a non-leading
// dimension, and the insert_slice that is its gradient. This pass rewrites
// exactly those copies as linalg.copy, which convert-linalg-to-loops turns
// into a loop nest; the contiguous ones are kept for memcpy.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPESTRIDEDCOPIESTOLINALG
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// Whether memref-to-llvm lowers a copy from or to `type` with memcpy: the
/// same test as upstream's MemRefCopyOpLowering (an identity layout, or a
/// static shape that is contiguous in row-major order).
bool isContiguous(MemRefType type) {
  return type.getLayout().isIdentity() ||
         (type.hasStaticShape() && type.getNumElements() > 0 &&
          memref::isStaticShapeAndContiguousRowMajor(type));
}

struct StridedCopiesToLinalgPass
    : impl::DualPipeStridedCopiesToLinalgBase<StridedCopiesToLinalgPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    bool failed = false;
    getOperation().walk([&](memref::CopyOp copy) {
      auto source = dyn_cast<MemRefType>(copy.getSource().getType());
      auto target = dyn_cast<MemRefType>(copy.getTarget().getType());
      if (!source || !target) {
        copy.emitError()
            << "copies an unranked memref, which memref-to-llvm lowers to a "
               "call of the C runner utils' memrefCopy that step.so does not "
               "link; cast both operands to ranked memrefs before the cpu "
               "lowering";
        failed = true;
        return;
      }
      if (!isContiguous(source) || !isContiguous(target))
        copies.push_back(copy);
    });
    if (failed)
      return signalPassFailure();
    for (memref::CopyOp copy : copies) {
      OpBuilder b(copy);
      linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      copy.erase();
    }
  }
};

} // namespace
} // namespace dualpipe
