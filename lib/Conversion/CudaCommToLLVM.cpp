//===- CudaCommToLLVM.cpp - async send/recv onto a CUDA stream -----------===//
//
// The dualpipe dialect's ConvertToLLVMPatternInterface. Upstream
// `gpu-to-llvm` converts `!gpu.async.token` to the stream (or event)
// pointer and asks every loaded dialect for patterns; ours turn
//
//   %t1 = dualpipe.send async [%t0] %buf to 1 tag 7 : memref<...>
//
// into `dualpipe_rt_cuda_send(peer, tag, ptr, bytes, stream)` where
// `stream` is %t0's stream, and the result token is that same stream, the
// convention of upstream's async GPU ops. Receives likewise call
// `dualpipe_rt_cuda_recv`. Only the async form with one dependency is
// lowered here (what gpu-async-region produces); the synchronous CPU form
// belongs to --dualpipe-lower-comm-to-runtime.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Conversion/ConvertToLLVM/ToLLVMInterface.h"
#include "mlir/Conversion/LLVMCommon/MemRefBuilder.h"
#include "mlir/Conversion/LLVMCommon/Pattern.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"

using namespace mlir;

namespace {

LLVM::LLVMFuncOp declareStreamComm(OpBuilder &b, Operation *from,
                                   StringRef name) {
  auto module = from->getParentOfType<ModuleOp>();
  if (auto fn = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return fn;
  MLIRContext *ctx = b.getContext();
  Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(module.getBody());
  return LLVM::LLVMFuncOp::create(
      b, module.getLoc(), name,
      LLVM::LLVMFunctionType::get(i32, {i32, i64, ptr, i64, ptr}));
}

template <typename OpTy>
struct StreamCommLowering : ConvertOpToLLVMPattern<OpTy> {
  StreamCommLowering(const LLVMTypeConverter &converter, StringRef callee)
      : ConvertOpToLLVMPattern<OpTy>(converter), callee(callee.str()) {}

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!op.getAsyncToken() || adaptor.getAsyncDependencies().size() != 1)
      return rewriter.notifyMatchFailure(
          op, "only 'async' with one dependency lowers onto a stream (run "
              "gpu-async-region first)");
    auto type = cast<MemRefType>(op.getBuffer().getType());
    if (!memref::isStaticShapeAndContiguousRowMajor(type))
      return rewriter.notifyMatchFailure(op, "buffer is not contiguous");
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
    Value stream = adaptor.getAsyncDependencies().front();
    MemRefDescriptor descriptor(adaptor.getBuffer());
    Value data =
        descriptor.bufferPtr(rewriter, loc, *this->getTypeConverter(), type);
    Value peer = LLVM::ConstantOp::create(
        rewriter, loc, i32, rewriter.getI32IntegerAttr(op.getPeerRank()));
    Value tag = LLVM::ConstantOp::create(
        rewriter, loc, i64, rewriter.getI64IntegerAttr(op.getTagValue()));
    Value bytes = LLVM::ConstantOp::create(
        rewriter, loc, i64, rewriter.getI64IntegerAttr(op.getNumBytes()));
    LLVM::LLVMFuncOp fn = declareStreamComm(rewriter, op, callee);
    // The status is sticky in the runtime, as on the CPU target.
    LLVM::CallOp::create(rewriter, loc, fn,
                         ValueRange{peer, tag, data, bytes, stream});
    rewriter.replaceOp(op, stream);
    return success();
  }

  std::string callee;
};

struct DualPipeToLLVMInterface : ConvertToLLVMPatternInterface {
  using ConvertToLLVMPatternInterface::ConvertToLLVMPatternInterface;
  void populateConvertToLLVMConversionPatterns(
      ConversionTarget &target, LLVMTypeConverter &converter,
      RewritePatternSet &patterns) const final {
    patterns.add<StreamCommLowering<dualpipe::SendOp>>(
        converter, "dualpipe_rt_cuda_send");
    patterns.add<StreamCommLowering<dualpipe::RecvOp>>(
        converter, "dualpipe_rt_cuda_recv");
  }
};

} // namespace

void dualpipe::registerConvertDualPipeToLLVMInterface(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *, dualpipe::DualPipeDialect *d) {
    d->addInterfaces<DualPipeToLLVMInterface>();
  });
}
