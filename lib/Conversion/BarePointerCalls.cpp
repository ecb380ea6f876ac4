//===- BarePointerCalls.cpp - static memrefs cross calls as one pointer --===//
//
// Implements --dualpipe-bare-pointer-calls: marks every defined function
// whose memref arguments and results all have a static shape and static
// strides with upstream's `llvm.bareptr`, so convert-func-to-llvm passes
// each of them as the one data pointer instead of the 5 + 2*rank fields of
// a descriptor. A rank program calls its stage functions with dozens of
// memrefs per call, hundreds of times; the descriptors were most of its
// LLVM IR (#14). The callee rebuilds the descriptor from the pointer and
// the static type, once, in its own body.
//
// The bare convention passes the aligned pointer in and returns the
// allocated one, then sets both to the same pointer on the other side: it
// is only right where they agree. The cpu lowering allocates with
// use-aligned-alloc (allocated == aligned for every memref.alloc), and this
// pass marks a function only where every memref it returns comes, through
// views that keep both pointers, from an allocation, one of its arguments, or a
// call of a marked function.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEBAREPOINTERCALLS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

bool staticSignature(FunctionType type) {
  auto bare = [](Type t) {
    auto memref = dyn_cast<BaseMemRefType>(t);
    return !memref || LLVMTypeConverter::canConvertToBarePtr(memref);
  };
  return llvm::all_of(type.getInputs(), bare) &&
         llvm::all_of(type.getResults(), bare);
}

/// Whether `v`'s allocated and aligned pointers are the same pointer.
bool pointersAgree(Value v, SymbolTable &symbols) {
  while (Operation *def = v.getDefiningOp()) {
    // Views that keep both pointers of their source (memref.view moves the
    // aligned one, so it is not among them).
    if (isa<memref::CastOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
            memref::ReinterpretCastOp, memref::ExtractStridedMetadataOp,
            memref::SubViewOp, memref::TransposeOp>(def)) {
      v = def->getOperand(0);
      continue;
    }
    if (isa<memref::AllocOp, memref::AllocaOp>(def))
      return true;
    if (auto call = dyn_cast<func::CallOp>(def)) {
      auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
      return callee && callee->hasAttr(kBarePtrAttr);
    }
    return false;
  }
  // A function argument: a bare callee's own argument has both pointers
  // set to the one it was passed.
  auto arg = cast<BlockArgument>(v);
  return arg.getOwner()->isEntryBlock() &&
         isa<FunctionOpInterface>(arg.getOwner()->getParentOp());
}

struct BarePointerCallsPass
    : impl::DualPipeBarePointerCallsBase<BarePointerCallsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> candidates;
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal() && staticSignature(fn.getFunctionType()))
        candidates.push_back(fn);
    // A function that returns a callee's result can be marked once the
    // callee is: repeat until nothing changes.
    for (bool changed = true; changed;) {
      changed = false;
      for (func::FuncOp fn : candidates) {
        if (fn->hasAttr(kBarePtrAttr))
          continue;
        bool agree = true;
        fn.walk([&](func::ReturnOp ret) {
          for (Value v : ret.getOperands())
            if (isa<BaseMemRefType>(v.getType()) && !pointersAgree(v, symbols))
              agree = false;
        });
        if (!agree)
          continue;
        fn->setAttr(kBarePtrAttr, UnitAttr::get(&getContext()));
        changed = true;
      }
    }
  }
};

} // namespace
} // namespace dualpipe
