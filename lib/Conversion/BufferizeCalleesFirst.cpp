//===- BufferizeCalleesFirst.cpp - callees bufferized before rank programs ===//
//
// Implements --dualpipe-bufferize-callees-first: upstream one-shot module
// bufferization of every function except the rank programs (functions with
// `dualpipe.rank`), then each rank program's calls of those functions are
// rewritten to call their memref versions through bufferization.to_buffer
// and bufferization.to_tensor, so that the one-shot bufferization that
// follows (upstream's pass, over the whole module) finds no tensor call in
// a rank program.
//
// Why not one module bufferization: One-Shot Analysis of a func.call is
// quadratic in its operands and results (upstream's CallOp model answers
// getAliasingOpOperands by asking every operand for its aliasing results),
// and a rank program's F and B calls pass every buffer a stage saves: 33 s
// of the 48 s lowering of a 96-layer pipeline (bench/REPORT.md §1f).
// Through to_buffer/to_tensor each operand and result is its own unary op.
// Upstream's own way to skip the analysis of some functions
// (no-analysis-func-filter) crashes on calls in LLVM 22 (fixed upstream in
// llvm-project#186446), which is why this is a pass of its own.
//
// What the rewrite needs to stay exact is what the callees' analysis found
// (upstream's FuncAnalysisState), per callee:
// - an operand the callee writes (only arguments marked writable, e.g. the
//   gradient accumulators of --dualpipe-lower-schedule) goes in through a
//   writable to_buffer, the others read-only;
// - a result that is an argument, or a reshape or cast of one (what the
//   bufferized callee returns says so), is that operand, reshaped alike
//   (read-only arguments), or, for a written one, the operand's buffer as a
//   new tensor after the call;
// - a result that may alias an argument without being it is copied into a
//   fresh buffer (to_tensor's `restrict` promises no other tensor sees the
//   buffer); every other result is a fresh buffer of the callee's, a
//   restrict writable to_tensor.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Bufferization/Transforms/FuncBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotModuleBufferize.h"
#include "mlir/Dialect/Bufferization/Transforms/Transforms.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEBUFFERIZECALLEESFIRST
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;
namespace bz = mlir::bufferization;

namespace {

/// What the analysis of one callee found, by argument and result index.
struct CalleeFacts {
  DenseSet<int64_t> aliasing; ///< results that may alias an argument
  DenseSet<int64_t> written;  ///< arguments the callee writes
};

bool hasTensors(func::CallOp call) {
  auto isTensor = [](Type t) { return isa<TensorType>(t); };
  return llvm::any_of(call.getOperandTypes(), isTensor) ||
         llvm::any_of(call.getResultTypes(), isTensor);
}

struct BufferizeCalleesFirstPass
    : impl::DualPipeBufferizeCalleesFirstBase<BufferizeCalleesFirstPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    Block *body = module.getBody();

    // The rank programs leave the module while their callees are
    // bufferized (nothing calls a rank program).
    SmallVector<std::pair<func::FuncOp, Operation *>> ranks;
    for (auto fn : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (fn->hasAttr(kRankAttr)) {
        ranks.push_back({fn, fn->getNextNode()});
        fn->remove();
      }
    auto putBack = [&] {
      for (auto [fn, next] : llvm::reverse(ranks)) {
        if (next)
          body->getOperations().insert(Block::iterator(next), fn);
        else
          body->push_back(fn);
      }
    };

    bz::OneShotBufferizationOptions options;
    options.bufferizeFunctionBoundaries = true;
    options.setFunctionBoundaryTypeConversion(
        bz::LayoutMapOption::IdentityLayoutMap);
    bz::OneShotAnalysisState analysis(module, options);
    bz::BufferizationState state;
    llvm::StringMap<CalleeFacts> facts;
    if (failed(bz::analyzeModuleOp(module, analysis))) {
      putBack();
      return signalPassFailure();
    }
    if (auto *funcState =
            analysis.getExtension<bz::func_ext::FuncAnalysisState>()) {
      for (auto fn : module.getOps<func::FuncOp>()) {
        CalleeFacts &f = facts[fn.getSymName()];
        for (auto &[arg, results] : funcState->aliasingReturnVals.lookup(fn))
          f.aliasing.insert(results.begin(), results.end());
        f.written = funcState->writtenBbArgs.lookup(fn);
      }
    }
    if (failed(bz::insertTensorCopies(module, analysis, state)) ||
        failed(bz::bufferizeModuleOp(module, options, state))) {
      putBack();
      return signalPassFailure();
    }
    putBack();

    SymbolTable symbols(module);
    for (func::FuncOp fn : llvm::make_first_range(ranks)) {
      WalkResult walk = fn.walk([&](func::CallOp call) {
        if (!hasTensors(call))
          return WalkResult::advance();
        auto callee = symbols.lookup<func::FuncOp>(call.getCallee());
        auto it = facts.find(call.getCallee());
        if (!callee || callee.isExternal() || it == facts.end()) {
          call.emitError() << "calls @" << call.getCallee()
                           << " on tensors, which this module does not "
                              "define: a rank program's callees must have "
                              "bodies to be bufferized before it";
          return WalkResult::interrupt();
        }
        rewriteCall(call, callee, it->second, symbols);
        return WalkResult::advance();
      });
      if (walk.wasInterrupted())
        return signalPassFailure();
    }
  }

  /// The argument of `fn` that `v` (a value in `fn`'s bufferized body) is,
  /// through reshapes, casts and calls of functions that return their own
  /// argument so (a stage forward returning a parameter its block function
  /// returned); the views on the way in `chain`, outermost first. Null if
  /// `v` is anything else.
  BlockArgument argumentBehind(Value v, func::FuncOp fn,
                               SmallVectorImpl<Operation *> &chain,
                               SymbolTable &symbols, unsigned depth = 0) {
    while (true) {
      if (auto arg = dyn_cast<BlockArgument>(v))
        return arg.getOwner() == &fn.getBody().front() ? arg : BlockArgument();
      Operation *def = v.getDefiningOp();
      if (isa<memref::CollapseShapeOp, memref::ExpandShapeOp, memref::CastOp>(
              def)) {
        chain.push_back(def);
        v = def->getOperand(0);
        continue;
      }
      auto call = dyn_cast<func::CallOp>(def);
      auto callee = call ? symbols.lookup<func::FuncOp>(call.getCallee())
                         : func::FuncOp();
      if (!callee || callee.isExternal() || !callee.getBody().hasOneBlock() ||
          depth > 16)
        return BlockArgument();
      auto ret =
          dyn_cast<func::ReturnOp>(callee.getBody().front().getTerminator());
      if (!ret)
        return BlockArgument();
      BlockArgument inner =
          argumentBehind(ret.getOperand(cast<OpResult>(v).getResultNumber()),
                         callee, chain, symbols, depth + 1);
      if (!inner)
        return BlockArgument();
      v = call.getOperand(inner.getArgNumber());
    }
  }

  /// When the callee returns one of its arguments, or a reshape or cast of
  /// one (one-shot bufferization calls those equivalent), the same of the
  /// caller's operand: the operand tensor (reshaped) for a read-only
  /// argument, the operand's buffer after the call for a written one (not
  /// reshaped). Null otherwise.
  Value viewOfOperand(OpBuilder &b, Location loc, func::CallOp call,
                      func::FuncOp callee, const CalleeFacts &f, Value returned,
                      ArrayRef<Value> operands, SymbolTable &symbols) {
    SmallVector<Operation *> chain;
    BlockArgument arg = argumentBehind(returned, callee, chain, symbols);
    if (!arg)
      return Value();
    int64_t j = arg.getArgNumber();
    if (f.written.contains(j)) {
      if (!chain.empty())
        return Value();
      return bz::ToTensorOp::create(
          b, loc, cast<TensorType>(call.getOperand(j).getType()), operands[j],
          /*restrict=*/true, /*writable=*/true);
    }
    Value v = call.getOperand(j);
    for (Operation *op : llvm::reverse(chain)) {
      auto type = cast<MemRefType>(op->getResult(0).getType());
      auto tensorType =
          RankedTensorType::get(type.getShape(), type.getElementType());
      if (auto c = dyn_cast<memref::CollapseShapeOp>(op))
        v = tensor::CollapseShapeOp::create(b, loc, tensorType, v,
                                            c.getReassociationIndices());
      else if (auto e = dyn_cast<memref::ExpandShapeOp>(op))
        v = tensor::ExpandShapeOp::create(b, loc, tensorType, v,
                                          e.getReassociationIndices());
      else
        v = tensor::CastOp::create(b, loc, tensorType, v);
    }
    return v;
  }

  /// `call` (tensors) as a call of the bufferized `callee` (memrefs).
  void rewriteCall(func::CallOp call, func::FuncOp callee, const CalleeFacts &f,
                   SymbolTable &symbols) {
    OpBuilder b(call);
    Location loc = call.getLoc();
    FunctionType type = callee.getFunctionType();
    SmallVector<Value> operands;
    for (auto [i, v] : llvm::enumerate(call.getOperands())) {
      if (!isa<TensorType>(v.getType())) {
        operands.push_back(v);
        continue;
      }
      operands.push_back(bz::ToBufferOp::create(
          b, loc, type.getInput(i), v,
          /*read_only=*/!f.written.contains(int64_t(i))));
    }
    auto memrefCall = func::CallOp::create(b, loc, callee, operands);
    auto ret =
        callee.getBody().hasOneBlock()
            ? dyn_cast<func::ReturnOp>(callee.getBody().front().getTerminator())
            : func::ReturnOp();
    for (auto [i, r] : llvm::enumerate(call.getResults())) {
      Value buffer = memrefCall.getResult(i);
      auto tensorType = dyn_cast<TensorType>(r.getType());
      if (!tensorType) {
        r.replaceAllUsesWith(buffer);
        continue;
      }
      if (ret) {
        if (Value same = viewOfOperand(b, loc, call, callee, f,
                                       ret.getOperand(i), operands, symbols)) {
          r.replaceAllUsesWith(same);
          continue;
        }
      }
      if (f.aliasing.contains(int64_t(i))) {
        auto memrefType = cast<MemRefType>(buffer.getType());
        Value copy = memref::AllocOp::create(
            b, loc,
            MemRefType::get(memrefType.getShape(),
                            memrefType.getElementType()));
        memref::CopyOp::create(b, loc, buffer, copy);
        buffer = copy;
      }
      r.replaceAllUsesWith(bz::ToTensorOp::create(b, loc, tensorType, buffer,
                                                  /*restrict=*/true,
                                                  /*writable=*/true)
                               .getResult());
    }
    call.erase();
  }
};
} // namespace
} // namespace dualpipe
