//===- ReturnThroughMemory.cpp - wide results through a caller's slot ----===//
//
// Implements --dualpipe-return-through-memory: on LLVM-dialect IR, an
// internal function that returns a struct of more than `max-fields` fields
// (a forward returning each buffer it saves for the backward: 1,300 of
// them for the 48-layer single-device reference) instead stores each field
// into a slot its caller passes as a new first argument, and returns void.
// Each caller gets one slot per struct type, on its stack, and loads the
// fields right after each call, so the slot is free again for the next.
//
// Why our own pass: LLVM's (IP)SCCP keeps a lattice value per field of
// every struct value, and a returned struct is built by one insertvalue
// per field, each a new struct value: quadratic in the field count. At 48
// layers the reference module spent 58 of its 65 s of -O3 in IPSCCP; the
// backend's sret demotion comes after the optimizer, and upstream MLIR has
// no such rewrite (buffer-results-to-out-params works on memrefs, not on
// the struct convert-func-to-llvm packs the results into).
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

#include <map>

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPERETURNTHROUGHMEMORY
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// The (position, value) stores that make `v`, when it is a chain of
/// single-index insertvalues into poison or undef; empty otherwise.
SmallVector<std::pair<int64_t, Value>> fieldsOf(Value v, unsigned count) {
  SmallVector<std::pair<int64_t, Value>> fields;
  llvm::SmallBitVector seen(count);
  while (auto insert = v.getDefiningOp<LLVM::InsertValueOp>()) {
    if (insert.getPosition().size() != 1)
      return {};
    int64_t pos = insert.getPosition()[0];
    if (!seen.test(pos)) {
      seen.set(pos);
      fields.push_back({pos, insert.getValue()});
    }
    v = insert.getContainer();
  }
  if (!v.getDefiningOp<LLVM::PoisonOp>() && !v.getDefiningOp<LLVM::UndefOp>())
    return {};
  return fields;
}

Value fieldAddress(OpBuilder &b, Location loc, LLVM::LLVMStructType type,
                   Value slot, int64_t pos) {
  auto ptr = LLVM::LLVMPointerType::get(b.getContext());
  return LLVM::GEPOp::create(b, loc, ptr, type, slot,
                             ArrayRef<LLVM::GEPArg>{0, int32_t(pos)});
}

struct ReturnThroughMemoryPass
    : impl::DualPipeReturnThroughMemoryBase<ReturnThroughMemoryPass> {
  using DualPipeReturnThroughMemoryBase::DualPipeReturnThroughMemoryBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTableCollection symbols;
    SymbolUserMap users(symbols, module);
    for (auto fn :
         llvm::make_early_inc_range(module.getOps<LLVM::LLVMFuncOp>()))
      if (wide(fn, users))
        rewrite(fn, users);
    slots.clear();
  }

  /// Each caller's slot for a struct type, shared by its wide calls: each
  /// call's fields are loaded right after it.
  DenseMap<std::pair<Operation *, Type>, Value> slots;

  /// Whether `fn` returns a wide struct and is only called directly, from
  /// this module, with no C interface to keep.
  bool wide(LLVM::LLVMFuncOp fn, SymbolUserMap &users) {
    auto type =
        dyn_cast<LLVM::LLVMStructType>(fn.getFunctionType().getReturnType());
    if (!type || type.getBody().size() <= maxFields || fn.isExternal() ||
        fn.isVarArg() || fn.isPublic() ||
        fn->hasAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName()))
      return false;
    return llvm::all_of(users.getUsers(fn), llvm::IsaPred<LLVM::CallOp>);
  }

  void rewrite(LLVM::LLVMFuncOp fn, SymbolUserMap &users) {
    MLIRContext *ctx = &getContext();
    auto structType =
        cast<LLVM::LLVMStructType>(fn.getFunctionType().getReturnType());
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    unsigned count = structType.getBody().size();

    // The callee: a slot argument first, a store per field, no result.
    if (failed(
            fn.insertArgument(0, ptr, DictionaryAttr::get(ctx), fn.getLoc()))) {
      fn.emitError() << "cannot add the result slot argument";
      return signalPassFailure();
    }
    SmallVector<Type> params{fn.getFunctionType().getParams()};
    fn.setFunctionType(
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), params));
    fn.setResAttrsAttr(nullptr);
    Value slot = fn.getArgument(0);
    SmallVector<LLVM::ReturnOp> returns;
    fn.walk([&](LLVM::ReturnOp ret) { returns.push_back(ret); });
    for (LLVM::ReturnOp ret : returns) {
      OpBuilder b(ret);
      Value value = ret.getArg();
      auto fields = fieldsOf(value, count);
      if (fields.empty())
        LLVM::StoreOp::create(b, ret.getLoc(), value, slot);
      for (auto [pos, v] : fields)
        LLVM::StoreOp::create(
            b, ret.getLoc(), v,
            fieldAddress(b, ret.getLoc(), structType, slot, pos));
      LLVM::ReturnOp::create(b, ret.getLoc(), ValueRange());
      ret.erase();
      // The insertvalue chain, now unused.
      while (auto insert = value.getDefiningOp<LLVM::InsertValueOp>()) {
        if (!insert->use_empty())
          break;
        value = insert.getContainer();
        insert.erase();
      }
      if (Operation *def = value.getDefiningOp();
          def && isa<LLVM::PoisonOp, LLVM::UndefOp>(def) && def->use_empty())
        def->erase();
    }

    // The callers: one slot each on the stack, loads after each call.
    for (Operation *user : llvm::to_vector(users.getUsers(fn))) {
      auto call = cast<LLVM::CallOp>(user);
      auto caller = call->getParentOfType<FunctionOpInterface>();
      Value &callerSlot = slots[{caller.getOperation(), structType}];
      if (!callerSlot) {
        OpBuilder b =
            OpBuilder::atBlockBegin(&caller.getFunctionBody().front());
        Value one = LLVM::ConstantOp::create(b, call.getLoc(), b.getI64Type(),
                                             b.getI64IntegerAttr(1));
        callerSlot =
            LLVM::AllocaOp::create(b, call.getLoc(), ptr, structType, one);
      }
      OpBuilder b(call);
      SmallVector<Value> args{callerSlot};
      llvm::append_range(args, call.getArgOperands());
      auto newCall = LLVM::CallOp::create(b, call.getLoc(), fn, args);
      b.setInsertionPointAfter(newCall);
      Value result = call.getResult();
      std::map<int64_t, Value> loaded;
      Value whole;
      for (OpOperand &use : llvm::make_early_inc_range(result.getUses())) {
        auto extract = dyn_cast<LLVM::ExtractValueOp>(use.getOwner());
        if (extract && extract.getPosition().size() == 1) {
          int64_t pos = extract.getPosition()[0];
          Value &v = loaded[pos];
          if (!v)
            v = LLVM::LoadOp::create(
                b, call.getLoc(), structType.getBody()[pos],
                fieldAddress(b, call.getLoc(), structType, callerSlot, pos));
          extract.replaceAllUsesWith(v);
          extract.erase();
          continue;
        }
        if (!whole)
          whole =
              LLVM::LoadOp::create(b, call.getLoc(), structType, callerSlot);
        use.set(whole);
      }
      call.erase();
    }
  }
};

} // namespace
} // namespace dualpipe
