//===- LowerCommToRuntime.cpp - send/recv to runtime calls (cpu) ---------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPELOWERCOMMTORUNTIME
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// Declares `int32_t name(int32_t peer, int64_t tag, ptr data, int64_t bytes)`
/// (`int64_t` result for a request) once per module: the runtime's C ABI
/// (runtime/include/dualpipe/Runtime/StepABI.h).
func::FuncOp declareRuntimeFn(ModuleOp module, StringRef name,
                              bool returnsRequest = false) {
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
  auto type = FunctionType::get(
      ctx, {i32, i64, LLVM::LLVMPointerType::get(ctx), i64},
      {returnsRequest ? i64 : i32});
  auto fn = func::FuncOp::create(b, module.getLoc(), name, type);
  fn.setPrivate();
  return fn;
}

/// Declares `int32_t dualpipe_rt_wait(int64_t request)` once.
func::FuncOp declareWaitFn(ModuleOp module) {
  if (auto fn = module.lookupSymbol<func::FuncOp>("dualpipe_rt_wait"))
    return fn;
  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto fn = func::FuncOp::create(
      b, module.getLoc(), "dualpipe_rt_wait",
      FunctionType::get(ctx, {IntegerType::get(ctx, 64)},
                        {IntegerType::get(ctx, 32)}));
  fn.setPrivate();
  return fn;
}

/// Replaces one send or recv with a call to `callee`; returns the call's
/// result (the status, or the request of a posted receive).
template <typename OpTy>
Value lowerToCall(OpTy op, func::FuncOp callee) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  Value base =
      memref::ExtractAlignedPointerAsIndexOp::create(b, loc, op.getBuffer());
  Value addr = arith::IndexCastOp::create(b, loc, b.getI64Type(), base);
  Value ptr = LLVM::IntToPtrOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext()), addr);
  Value peer = arith::ConstantIntOp::create(b, loc, op.getPeerRank(), 32);
  Value tag = arith::ConstantIntOp::create(b, loc, op.getTagValue(), 64);
  Value bytes = arith::ConstantIntOp::create(b, loc, op.getNumBytes(), 64);
  // The status is sticky in the runtime: a failure stops every rank's
  // transfers and is reported by the runner after the programs return.
  Value result =
      func::CallOp::create(b, loc, callee, ValueRange{peer, tag, ptr, bytes})
          .getResult(0);
  return result;
}

/// Whether only synchronous gpu.wait ops wait for `token`.
bool onlyWaitedFor(Value token) {
  return llvm::all_of(token.getUsers(), [](Operation *user) {
    auto wait = dyn_cast<gpu::WaitOp>(user);
    return wait && !wait.getAsyncToken();
  });
}

/// A posted receive on cpu: an asynchronous recv with no dependencies whose
/// token only synchronous gpu.wait ops wait for.
bool isPostedReceive(Operation *op) {
  auto recv = dyn_cast_or_null<RecvOp>(op);
  if (!recv || !recv.getAsyncToken() || !recv.getAsyncDependencies().empty())
    return false;
  return onlyWaitedFor(recv.getAsyncToken());
}

/// What returns a runtime request on cpu: a posted receive or a started
/// all-reduce.
bool isRequest(Operation *op) {
  if (isPostedReceive(op))
    return true;
  auto reduce = dyn_cast_or_null<AllReduceOp>(op);
  return reduce && reduce.getAsyncToken() && onlyWaitedFor(reduce.getAsyncToken());
}

} // namespace

Value lowerAllReduceToRuntimeCall(AllReduceOp op, ModuleOp module,
                                  StringRef globalPrefix, unsigned &globals) {
  MLIRContext *ctx = op.getContext();
  auto type = cast<MemRefType>(op.getBuffer().getType());
  bool f64 = type.getElementType().isF64();
  bool started = bool(op.getAsyncToken());
  StringRef name = started ? (f64 ? "dualpipe_rt_iallreduce_sum_f64"
                                  : "dualpipe_rt_iallreduce_sum_f32")
                           : (f64 ? "dualpipe_rt_allreduce_sum_f64"
                                  : "dualpipe_rt_allreduce_sum_f32");
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  Type i32 = IntegerType::get(ctx, 32), i64 = IntegerType::get(ctx, 64);
  auto callee = module.lookupSymbol<func::FuncOp>(name);
  if (!callee) {
    OpBuilder top = OpBuilder::atBlockBegin(module.getBody());
    SmallVector<Type> args{ptr, i64, ptr, i32};
    if (started)
      args.push_back(i64); // the tag; the result is the request
    callee = func::FuncOp::create(
        top, module.getLoc(), name,
        FunctionType::get(ctx, args, {started ? i64 : i32}));
    callee.setPrivate();
  }
  // The group, as a constant array of i32.
  ArrayRef<int64_t> ranks = op.getRanks();
  auto groupType = MemRefType::get({int64_t(ranks.size())}, i32);
  SmallVector<int32_t> values(ranks.begin(), ranks.end());
  std::string global;
  do
    global = (globalPrefix + Twine(globals++)).str();
  while (module.lookupSymbol(global));
  {
    OpBuilder top = OpBuilder::atBlockBegin(module.getBody());
    memref::GlobalOp::create(
        top, op.getLoc(), global, top.getStringAttr("private"), groupType,
        DenseIntElementsAttr::get(
            RankedTensorType::get({int64_t(ranks.size())}, i32),
            ArrayRef<int32_t>(values)),
        /*constant=*/true, /*alignment=*/nullptr);
  }
  OpBuilder b(op);
  Location loc = op.getLoc();
  auto pointerOf = [&](Value memref) -> Value {
    Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
    Value addr = arith::IndexCastOp::create(b, loc, i64, base);
    return LLVM::IntToPtrOp::create(b, loc, ptr, addr);
  };
  Value group = memref::GetGlobalOp::create(b, loc, groupType, global);
  Value count = arith::ConstantIntOp::create(b, loc, type.getNumElements(), 64);
  Value n = arith::ConstantIntOp::create(b, loc, ranks.size(), 32);
  SmallVector<Value> args{pointerOf(op.getBuffer()), count, pointerOf(group),
                          n};
  if (started)
    args.push_back(arith::ConstantIntOp::create(b, loc, *op.getTag(), 64));
  Value result = func::CallOp::create(b, loc, callee, args).getResult(0);
  // The caller maps a started sum's token to the request and erases it.
  if (!started)
    op.erase();
  return started ? result : Value();
}

namespace {

struct LowerCommToRuntimePass
    : impl::DualPipeLowerCommToRuntimeBase<LowerCommToRuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<SendOp, RecvOp>(op))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      auto async = cast<gpu::AsyncOpInterface>(op);
      if (isPostedReceive(op))
        continue;
      if (async.getAsyncToken() || !async.getAsyncDependencies().empty()) {
        op->emitError()
            << "asynchronous " << op->getName()
            << (isa<SendOp>(op)
                    ? " lowers only on the cuda target; on cpu a send is "
                      "synchronous (the runtime buffers it)"
                    : " lowers on cpu only as a posted receive (no "
                      "dependencies, its token waited for by synchronous "
                      "gpu.wait); otherwise it belongs to the cuda target");
        return signalPassFailure();
      }
    }
    WalkResult waitsOk = module.walk([&](gpu::WaitOp wait) {
      for (Value token : wait.getAsyncDependencies())
        if (wait.getAsyncToken() || !isRequest(token.getDefiningOp())) {
          wait.emitError() << "on cpu gpu.wait only completes posted "
                              "receives and started all-reduces (a "
                              "synchronous wait for tokens of dualpipe.recv "
                              "async or dualpipe.all_reduce ... -> "
                              "!gpu.async.token)";
          return WalkResult::interrupt();
        }
      return WalkResult::advance();
    });
    if (waitsOk.wasInterrupted())
      return signalPassFailure();
    SmallVector<AllReduceOp> reductions;
    module.walk([&](AllReduceOp op) { reductions.push_back(op); });
    unsigned globals = 0;
    DenseMap<Value, Value> requests;
    SmallVector<AllReduceOp> startedReductions;
    for (AllReduceOp op : reductions) {
      if (op.getAsyncToken() && !onlyWaitedFor(op.getAsyncToken())) {
        op.emitError() << "is a started all-reduce whose token is used by "
                          "something other than a synchronous gpu.wait; on "
                          "cpu only a wait may take it";
        return signalPassFailure();
      }
      Value request =
          lowerAllReduceToRuntimeCall(op, module, "__dualpipe_group_", globals);
      if (request) {
        requests[op.getAsyncToken()] = request;
        startedReductions.push_back(op);
      }
    }
    SmallVector<RecvOp> postedRecvs;
    for (Operation *op : ops) {
      if (auto send = dyn_cast<SendOp>(op)) {
        lowerToCall(send, declareRuntimeFn(module, "dualpipe_rt_send"));
        send.erase();
        continue;
      }
      auto recv = cast<RecvOp>(op);
      if (recv.getAsyncToken()) {
        postedRecvs.push_back(recv);
        continue;
      }
      lowerToCall(recv, declareRuntimeFn(module, "dualpipe_rt_recv"));
      recv.erase();
    }
    // dualpipe_rt_irecv takes what dualpipe_rt_recv takes and returns the
    // request that dualpipe_rt_wait takes in place of the token.
    SetVector<Operation *> waits;
    for (AllReduceOp op : startedReductions)
      for (Operation *user : op.getAsyncToken().getUsers())
        waits.insert(user);
    for (RecvOp recv : postedRecvs) {
      requests[recv.getAsyncToken()] =
          lowerToCall(recv, declareRuntimeFn(module, "dualpipe_rt_irecv",
                                             /*returnsRequest=*/true));
      for (Operation *user : recv.getAsyncToken().getUsers())
        waits.insert(user);
    }
    for (Operation *op : waits) {
      auto wait = cast<gpu::WaitOp>(op);
      OpBuilder b(wait);
      for (Value token : wait.getAsyncDependencies())
        func::CallOp::create(b, wait.getLoc(), declareWaitFn(module),
                             ValueRange{requests.lookup(token)});
      wait.erase();
    }
    for (RecvOp recv : postedRecvs)
      recv.erase();
    for (AllReduceOp op : startedReductions)
      op.erase();
  }
};
} // namespace
} // namespace dualpipe
