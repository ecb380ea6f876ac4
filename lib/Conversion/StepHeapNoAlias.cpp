//===- StepHeapNoAlias.cpp - the step heap returns fresh memory ----------===//
//
// Implements --dualpipe-step-heap-noalias (see the pass description in
// include/dualpipe/Conversion/Passes.td): the step heap's allocation
// function, as finalize-memref-to-llvm declares it, returns noalias memory.
// Upstream declares it without result attributes (it cannot know what a
// generic allocator guarantees); ours is malloc-like, so we say so.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPESTEPHEAPNOALIAS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

struct StepHeapNoAliasPass
    : impl::DualPipeStepHeapNoAliasBase<StepHeapNoAliasPass> {
  void runOnOperation() override {
    auto alloc = getOperation().lookupSymbol<LLVM::LLVMFuncOp>(
        "_mlir_memref_to_llvm_aligned_alloc");
    if (!alloc)
      return;
    auto ptr = dyn_cast<LLVM::LLVMPointerType>(
        alloc.getFunctionType().getReturnType());
    if (!ptr) {
      alloc.emitError() << "is the step heap's allocation function but does "
                           "not return a pointer; declare it as "
                           "(i64, i64) -> !llvm.ptr";
      return signalPassFailure();
    }
    alloc.setResultAttr(0, LLVM::LLVMDialect::getNoAliasAttrName(),
                        UnitAttr::get(&getContext()));
  }
};

} // namespace
} // namespace dualpipe
