//===- DeallocateBuffers.cpp - free bufferized buffers --------------------===//
//
// Straight-line functions over owned buffers (rank programs, stage and
// block functions) free each buffer after its last use; everything else
// goes through upstream's buffer-deallocation-pipeline. The pass
// description in Passes.td says why.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseMap.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEDEALLOCATEBUFFERS
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// The buffers a straight-line function owns, where each is last used, and
/// which the function returns.
struct Lifetimes {
  SmallVector<Value> roots;
  SmallVector<Operation *> lastUse;
  /// Roots the function returns: their ownership passes to the caller.
  llvm::SmallDenseSet<unsigned> returned;
  /// Return operands that are not a root returned once (an argument, a view,
  /// a global, a root returned twice): the caller must get its own copy.
  SmallVector<unsigned> returnCopies;
};

/// The lifetimes of a function's body and of the bodies of its loops that
/// own buffers of their own (a rolled program's per-micro-batch buffers).
struct ScopeLifetimes {
  Block *block;
  Lifetimes lifetimes;
};

bool isBuffer(Value v) { return isa<BaseMemRefType>(v.getType()); }

/// A buffer the function owns from its definition on: a fresh allocation,
/// a clone, or a buffer a call returns (the deallocation ABI that this pass
/// and upstream's share: the caller owns returned buffers and they never
/// alias the call's operands).
bool definesOwnedBuffers(Operation &op) {
  return isa<memref::AllocOp, bufferization::CloneOp, func::CallOp>(op);
}

/// Whether `op` is a loop whose body can be freed as a scope of its own:
/// an scf.for with one block that yields each buffer it carries unchanged
/// (a rolled program: its gradient sums are outer buffers added to in
/// place), so what its body allocates dies in the iteration.
bool isScopeLoop(Operation &op) {
  auto loop = dyn_cast<scf::ForOp>(op);
  if (!loop || !loop.getRegion().hasOneBlock())
    return false;
  auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
  for (auto [i, result] : llvm::enumerate(loop->getResults()))
    if (isBuffer(result) && yield.getOperand(i) != loop.getRegionIterArgs()[i])
      return false;
  return true;
}

/// Collects the owned buffers of `block` (a function's body, or a loop body
/// when `inLoop`) and their last uses, or fails if the block is not one
/// whose buffers can be freed at their last use. The bodies of its loops
/// that allocate (isScopeLoop) are analyzed the same way, into `loops`.
FailureOr<Lifetimes> analyzeBlock(Block &block, bool inLoop,
                                  SmallVectorImpl<ScopeLifetimes> &loops) {
  Lifetimes result;
  // Every alias -> the roots it may be a view of (one, except for the
  // results of region ops).
  llvm::DenseMap<Value, SmallVector<unsigned, 1>> rootOf;
  for (Operation &op : block.without_terminator()) {
    if (isa<memref::DeallocOp, memref::ReallocOp, bufferization::DeallocOp>(
            op))
      return failure();
    // A loop body with buffers of its own is its own scope: the uses of this
    // block's buffers inside it are uses by the loop op (the walk below).
    bool scope = isScopeLoop(op);
    if (scope) {
      Block &bodyBlock = cast<scf::ForOp>(op).getRegion().front();
      FailureOr<Lifetimes> inner =
          analyzeBlock(bodyBlock, /*inLoop=*/true, loops);
      if (failed(inner))
        return failure();
      if (!inner->roots.empty())
        loops.push_back({&bodyBlock, std::move(*inner)});
    }
    // Uses, including those inside the op's regions; a buffer allocated or
    // freed inside a region has a region's lifetime: upstream's job.
    llvm::SmallDenseSet<unsigned> used;
    bool nestsBuffers = false;
    op.walk([&](Operation *inner) {
      if (!scope && inner != &op &&
          (definesOwnedBuffers(*inner) ||
           isa<memref::DeallocOp, memref::ReallocOp>(inner)))
        nestsBuffers = true;
      for (Value v : inner->getOperands()) {
        auto it = rootOf.find(v);
        if (it == rootOf.end())
          continue;
        for (unsigned root : it->second) {
          result.lastUse[root] = &op;
          used.insert(root);
        }
      }
    });
    if (nestsBuffers)
      return failure();
    for (Value r : op.getResults())
      if (isa<TensorType>(r.getType()))
        return failure(); // not bufferized
    // Definitions.
    if (definesOwnedBuffers(op)) {
      for (Value r : op.getResults()) {
        if (!isBuffer(r))
          continue;
        rootOf[r] = {unsigned(result.roots.size())};
        result.roots.push_back(r);
        result.lastUse.push_back(&op);
      }
      continue;
    }
    // A scope loop's buffer results are its init buffers, carried through.
    if (scope) {
      auto loop = cast<scf::ForOp>(op);
      for (auto [result, init] :
           llvm::zip_equal(loop->getResults(), loop.getInitArgs())) {
        auto it = rootOf.find(init);
        if (isBuffer(result) && it != rootOf.end()) {
          SmallVector<unsigned, 1> roots = it->second;
          rootOf[result] = roots;
        }
      }
      continue;
    }
    if (auto view = dyn_cast<ViewLikeOpInterface>(op)) {
      auto it = rootOf.find(view.getViewSource());
      if (it == rootOf.end())
        continue;
      // A copy: inserting into rootOf may move its entries.
      SmallVector<unsigned, 1> roots = it->second;
      for (Value r : op.getResults())
        if (isBuffer(r))
          rootOf[r] = roots;
      continue;
    }
    // An op with regions that allocate nothing (an scf.for carrying a
    // buffer) can only return buffers that come from outside it: its
    // results may be views of any owned buffer it uses.
    if (op.getNumRegions() > 0 && llvm::any_of(op.getResults(), isBuffer)) {
      SmallVector<unsigned, 1> roots(used.begin(), used.end());
      if (!roots.empty())
        for (Value r : op.getResults())
          if (isBuffer(r))
            rootOf[r] = roots;
      continue;
    }
    // Any other op that returns a buffer must neither alias an owned one
    // (its aliasing is unknown) nor allocate one (nobody would free it).
    if (llvm::none_of(op.getResults(), isBuffer))
      continue;
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return rootOf.count(v); }))
      return failure();
    if (!isa<memref::AllocaOp>(op) && hasEffect<MemoryEffects::Allocate>(&op))
      return failure();
  }
  Operation *terminator = block.getTerminator();
  // A scope loop's body yields only the buffers it was given
  // (isScopeLoop), so each of its own dies in it.
  if (inLoop)
    return result;
  auto ret = dyn_cast<func::ReturnOp>(terminator);
  if (!ret)
    return failure();
  for (OpOperand &operand : ret->getOpOperands()) {
    if (!isBuffer(operand.get()))
      continue;
    auto it = rootOf.find(operand.get());
    if (it != rootOf.end() && result.roots[it->second.front()] ==
                                  operand.get() &&
        result.returned.insert(it->second.front()).second)
      continue;
    if (it != rootOf.end())
      for (unsigned root : it->second)
        result.lastUse[root] = ret;
    result.returnCopies.push_back(operand.getOperandNumber());
  }
  return result;
}

/// The lifetimes of `fn`'s body and of its loops' bodies, or failure if
/// `fn` is not one whose buffers can be freed at their last use.
FailureOr<SmallVector<ScopeLifetimes, 1>> analyzeLifetimes(func::FuncOp fn) {
  if (!fn.getBody().hasOneBlock())
    return failure();
  SmallVector<ScopeLifetimes, 1> scopes;
  Block &block = fn.getBody().front();
  FailureOr<Lifetimes> top = analyzeBlock(block, /*inLoop=*/false, scopes);
  if (failed(top))
    return failure();
  scopes.push_back({&block, std::move(*top)});
  return scopes;
}

/// Copies what `block` (a function's body) must not return as is, then
/// frees every owned buffer that is not returned after its last use; in a
/// loop body, before the yield at the latest.
void freeAtLastUse(Block &block, const Lifetimes &lifetimes) {
  Operation *ret = block.getTerminator();
  OpBuilder b(ret);
  for (unsigned i : lifetimes.returnCopies) {
    Value v = ret->getOperand(i);
    ret->setOperand(i, bufferization::CloneOp::create(b, v.getLoc(), v));
  }
  for (auto [i, root] : llvm::enumerate(lifetimes.roots)) {
    if (lifetimes.returned.contains(i))
      continue;
    Operation *last = lifetimes.lastUse[i];
    if (last == ret)
      b.setInsertionPoint(ret);
    else
      b.setInsertionPointAfter(last);
    memref::DeallocOp::create(b, root.getLoc(), root);
  }
}

struct DeallocateBuffersPass
    : impl::DualPipeDeallocateBuffersBase<DeallocateBuffersPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Rank programs this pass frees itself leave the module (their bodies
    // move to detached functions) while upstream's pipeline runs on the
    // rest, which then sees them as declarations.
    struct SetAside {
      func::FuncOp fn;
      SmallVector<ScopeLifetimes, 1> scopes;
      OwningOpRef<func::FuncOp> holder;
      SymbolTable::Visibility visibility;
    };
    std::vector<SetAside> aside;
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      FailureOr<SmallVector<ScopeLifetimes, 1>> scopes = analyzeLifetimes(fn);
      if (failed(scopes))
        continue;
      OwningOpRef<func::FuncOp> holder =
          func::FuncOp::create(fn.getLoc(), fn.getName(), fn.getFunctionType());
      holder->getBody().takeBody(fn.getBody());
      // A declaration must be private to verify.
      SymbolTable::Visibility visibility = SymbolTable::getSymbolVisibility(fn);
      SymbolTable::setSymbolVisibility(fn, SymbolTable::Visibility::Private);
      aside.push_back({fn, std::move(*scopes), std::move(holder), visibility});
    }

    LogicalResult ran = success();
    if (llvm::any_of(module.getOps<func::FuncOp>(),
                     [](func::FuncOp fn) { return !fn.isExternal(); })) {
      OpPassManager upstream(ModuleOp::getOperationName());
      bufferization::buildBufferDeallocationPipeline(upstream);
      ran = runPipeline(upstream, module);
    }

    for (SetAside &a : aside) {
      a.fn.getBody().takeBody(a.holder->getBody());
      SymbolTable::setSymbolVisibility(a.fn, a.visibility);
      // The blocks moved with the body, so the scopes' pointers hold.
      for (const ScopeLifetimes &scope : a.scopes)
        freeAtLastUse(*scope.block, scope.lifetimes);
    }
    if (failed(ran))
      signalPassFailure();
  }
};

} // namespace
} // namespace dualpipe
