//===- Policy.cpp - what the forward saves, what the backward redoes -----===//
#include "Differentiator.h"
#include "Rules.h"

using namespace mlir;

namespace dualpipe::autodiff {

namespace {

/// Primal values of the scratch that its adjoint ops (and the gradients it
/// returns) use.
llvm::SetVector<Value> neededPrimals(StageGrad &sg) {
  Block &body = sg.body();
  llvm::DenseSet<Operation *> primal(sg.primalOps.begin(), sg.primalOps.end());
  llvm::SetVector<Value> needed;
  auto notePrimal = [&](Value v) {
    if (sg.isGradArg(v))
      return;
    if (auto a = dyn_cast<BlockArgument>(v)) {
      if (a.getOwner() == &body)
        needed.insert(v);
      return;
    }
    if (primal.contains(v.getDefiningOp()))
      needed.insert(v);
  };
  for (Operation &op : body)
    if (!primal.contains(&op))
      for (Value v : usedValues(&op))
        notePrimal(v);
  for (Value v : sg.actGrads)
    notePrimal(v);
  for (Value v : sg.paramGrads)
    notePrimal(v);
  return needed;
}

/// The values kept for the backward when the ops in `recomputed` (and the
/// rematerializable ones) are recomputed instead.
llvm::DenseSet<Value>
savedFor(const llvm::SetVector<Value> &needed,
         const llvm::DenseSet<Operation *> &recomputed) {
  llvm::DenseSet<Value> kept, seen;
  SmallVector<Value> work(needed.begin(), needed.end());
  while (!work.empty()) {
    Value v = work.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    Operation *def = v.getDefiningOp();
    if (def && (isRematerializable(def) || recomputed.contains(def))) {
      llvm::append_range(work, usedValues(def));
      continue;
    }
    kept.insert(v);
  }
  return kept;
}

} // namespace

/// Decides what the forward saves and what the backward recreates or
/// recomputes; fills `sg.saved` and the byte counts.
void Differentiator::choosePolicy(StageGrad &sg) {
  Block &body = sg.body();
  llvm::SetVector<Value> needed = neededPrimals(sg);
  // Parameters are not copies: they do not count as saved activations.
  auto activationBytes = [&](const llvm::DenseSet<Value> &kept) {
    int64_t n = 0;
    for (Value v : kept)
      if (!sg.isParamArg(v))
        n += bytesOf(v.getType());
    return n;
  };

  llvm::DenseSet<Operation *> recomputed;
  llvm::DenseSet<Value> kept = savedFor(needed, recomputed);
  sg.savedBytesNoRecompute = activationBytes(kept);
  if (options.recompute == "elementwise") {
    // Greedy, latest op first: recompute an elementwise op when that does
    // not grow the saved activation bytes.
    bool changed = true;
    while (changed) {
      changed = false;
      for (Operation *op : llvm::reverse(sg.primalOps)) {
        if (recomputed.contains(op) || !isCheapElementwise(op) ||
            llvm::none_of(op->getResults(),
                          [&](Value r) { return kept.contains(r); }))
          continue;
        recomputed.insert(op);
        llvm::DenseSet<Value> trial = savedFor(needed, recomputed);
        if (activationBytes(trial) < activationBytes(kept)) {
          kept = std::move(trial);
          changed = true;
        } else {
          recomputed.erase(op);
        }
      }
    }
  }
  // Saved values in definition order: arguments, then op results.
  for (BlockArgument a : body.getArguments())
    if (kept.contains(a))
      sg.saved.insert(a);
  for (Operation *op : sg.primalOps)
    for (Value r : op->getResults())
      if (kept.contains(r))
        sg.saved.insert(r);
  sg.savedBytes = activationBytes(kept);
  // What the blocks it calls recompute inside themselves counts too.
  for (auto [call, grad] : sg.blockCalls)
    sg.savedBytesNoRecompute += grad->savedBytesNoRecompute - grad->savedBytes;
}

} // namespace dualpipe::autodiff
