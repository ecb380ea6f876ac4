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

    SmallVector<LLVM::LLVMFuncOp> entries;
    for (auto fn : module.getOps<LLVM::LLVMFuncOp>())
      if (fn.getName().starts_with(wanted) && !fn.isExternal())
        entries.push_back(fn);

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    llvm::SmallPtrSet<Operation *, 8> packed;
    for (LLVM::LLVMFuncOp fn : entries) {
      LLVM::LLVMFunctionType type = fn.getFunctionType();
      if (!isa<LLVM::LLVMVoidType>(type.getReturnType())) {
        fn.emitError() << "entry point returns " << type.getReturnType()
                       << "; packed entry points return results through "
                          "output buffers only";
        return signalPassFailure();
      }
      std::string name =
          (fn.getName().drop_front(kCInterfacePrefix.size()) + "_packed")
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
        operands.push_back(isa<LLVM::LLVMPointerType>(paramType)
                               ? p
                               : LLVM::LoadOp::create(b, fn.getLoc(),
                                                      paramType, p)
                                     .getResult());
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
