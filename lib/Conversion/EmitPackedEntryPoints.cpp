//===- EmitPackedEntryPoints.cpp - one-pointer wrappers for entries ------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEEMITPACKEDENTRYPOINTS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {
constexpr llvm::StringLiteral kCInterfacePrefix = "_mlir_ciface_";

struct EmitPackedEntryPointsPass
    : impl::DualPipeEmitPackedEntryPointsBase<EmitPackedEntryPointsPass> {
  using DualPipeEmitPackedEntryPointsBase::DualPipeEmitPackedEntryPointsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    std::string wanted = (kCInterfacePrefix + prefix).str();

    // C-interface wrappers take descriptor pointers; entry points converted
    // with the bare-pointer convention (no wrapper) take data pointers.
    SmallVector<std::pair<LLVM::LLVMFuncOp, bool>> entries;
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>()) {
      if (fn.isExternal())
        continue;
      if (fn.getName().starts_with(wanted))
        entries.push_back({fn, false});
      else if (fn.getName().starts_with(prefix) &&
               fn->hasAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName()) &&
               fn->hasAttr(kBarePtrAttr))
        entries.push_back({fn, true});
    }

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    llvm::SmallPtrSet<Operation *, 8> packed;
    for (auto [fn, bare] : entries) {
      LLVM::LLVMFunctionType type = fn.getFunctionType();
      if (!isa<LLVM::LLVMVoidType>(type.getReturnType())) {
        fn.emitError() << "entry point returns " << type.getReturnType()
                       << "; packed entry points return results through "
                          "output buffers only";
        return signalPassFailure();
      }
      std::string name =
          ((bare ? fn.getName()
                 : fn.getName().drop_front(kCInterfacePrefix.size())) +
           "_packed")
              .str();
      if (module.lookupSymbol(name)) {
        fn.emitError() << "cannot add '" << name << "': the name is taken";
        return signalPassFailure();
      }
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, fn.getLoc(), name,
          LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptrType}));
      Block *entry = wrapper.addEntryBlock(b);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(entry);
      Value args = entry->getArgument(0);
      SmallVector<Value> operands;
      for (auto [i, paramType] : llvm::enumerate(type.getParams())) {
        Value slot = LLVM::GEPOp::create(b, fn.getLoc(), ptrType, ptrType, args,
                                         ArrayRef<LLVM::GEPArg>{int32_t(i)});
        Value p = LLVM::LoadOp::create(b, fn.getLoc(), ptrType, slot);
        if (!isa<LLVM::LLVMPointerType>(paramType)) {
          operands.push_back(
              LLVM::LoadOp::create(b, fn.getLoc(), paramType, p));
        } else if (bare) {
          // The descriptor's aligned pointer, its field 1.
          Value aligned =
              LLVM::GEPOp::create(b, fn.getLoc(), ptrType, ptrType, p,
                                  ArrayRef<LLVM::GEPArg>{int32_t(1)});
          operands.push_back(
              LLVM::LoadOp::create(b, fn.getLoc(), ptrType, aligned));
        } else {
          operands.push_back(p);
        }
      }
      LLVM::CallOp::create(b, fn.getLoc(), fn, operands);
      LLVM::ReturnOp::create(b, fn.getLoc(), ValueRange());
      packed.insert(wrapper);
    }
    if (!internalize)
      return;
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
      if (!fn.isExternal() && !packed.contains(fn))
        fn.setLinkage(LLVM::Linkage::Internal);
  }
};
} // namespace
} // namespace dualpipe
