//===- CudaGemmOnStream.cpp - cuBLAS calls on the kernels' stream --------===//
//
// Implements --dualpipe-cuda-gemm-on-stream (the cuda lowering, after
// gpu-async-region): the cuBLAS GEMM calls that
// --dualpipe-lower-gemm-to-runtime{target=cuda} made are queued on the
// stream of the kernels that produce their operands.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPECUDAGEMMONSTREAM
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// After gpu-async-region: each call to dualpipe_rt_cuda_matmul_* gets the
/// stream of the kernels before it as a trailing !gpu.async.token operand.
/// gpu-async-region left a host wait `gpu.wait [%t]` right before the call
/// (it is a host op with side effects); the call now takes %t and the wait
/// moves after it, so the GEMM is queued behind the kernels that produced
/// its operands and the host waits once, for both. Without such a wait
/// (no kernel before it) the call gets a fresh stream, waited for after.
struct CudaGemmOnStreamPass
    : impl::DualPipeCudaGemmOnStreamBase<CudaGemmOnStreamPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = module.getContext();
    Type token = gpu::AsyncTokenType::get(ctx);
    for (StringRef name :
         {"dualpipe_rt_cuda_matmul_f32", "dualpipe_rt_cuda_matmul_f64"}) {
      auto callee = module.lookupSymbol<func::FuncOp>(name);
      if (!callee)
        continue;
      FunctionType type = callee.getFunctionType();
      if (type.getNumInputs() == 6)
        continue; // already has its stream
      SmallVector<Type> inputs(type.getInputs());
      inputs.push_back(token);
      callee.setFunctionType(FunctionType::get(ctx, inputs, type.getResults()));
      SmallVector<func::CallOp> calls;
      module.walk([&](func::CallOp call) {
        if (call.getCallee() == name)
          calls.push_back(call);
      });
      for (func::CallOp call : calls) {
        OpBuilder b(call);
        Location loc = call.getLoc();
        Value stream;
        auto wait = dyn_cast_or_null<gpu::WaitOp>(call->getPrevNode());
        if (wait && !wait.getAsyncToken() &&
            wait.getAsyncDependencies().size() == 1) {
          stream = wait.getAsyncDependencies()[0];
          wait->moveAfter(call);
        } else {
          stream = gpu::WaitOp::create(b, loc, token, ValueRange{})
                       .getAsyncToken();
          OpBuilder after(call->getContext());
          after.setInsertionPointAfter(call);
          gpu::WaitOp::create(after, loc, Type(), ValueRange{stream});
        }
        SmallVector<Value> operands(call.getOperands());
        operands.push_back(stream);
        auto replacement = func::CallOp::create(b, loc, callee, operands);
        call->replaceAllUsesWith(replacement);
        call->erase();
      }
    }
  }
};

} // namespace
} // namespace dualpipe
