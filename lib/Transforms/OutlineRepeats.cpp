//===- OutlineRepeats.cpp - a flat model's repeated blocks as one function ===//
//
// Implements --dualpipe-outline-repeats: finds runs of structurally equal op
// sequences in the model function (a flat transformer's blocks, a deep
// MLP's layers) and replaces each copy by a call of one private function, so
// that partition, autodiff and code generation handle the block once (#14).
//
// Written here because upstream MLIR has no such pass: its outlining
// utilities (outlineSingleBlockRegion, the GPU kernel outliner) outline a
// region the caller names, and LLVM's IROutliner works on LLVM IR, after
// everything this pass saves has been paid for. The search is a tandem
// repeat search over per-op structural hashes (upstream's
// OperationEquivalence::computeHash), each candidate then checked op by op
// with OperationEquivalence::isEquivalentTo plus the data flow between and
// into the copies.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEOUTLINEREPEATS
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

namespace {

constexpr OperationEquivalence::Flags kFlags =
    OperationEquivalence::IgnoreLocations;

/// What an op is, not which values it reads: its name, attributes, operand
/// and result types, and the same of every op nested in it.
llvm::hash_code structureHash(Operation *op) {
  llvm::hash_code h{};
  op->walk([&](Operation *inner) {
    h = llvm::hash_combine(
        h,
        OperationEquivalence::computeHash(
            inner, OperationEquivalence::ignoreHashValue,
            OperationEquivalence::ignoreHashValue, kFlags),
        llvm::hash_combine_range(inner->getOperandTypes().begin(),
                                 inner->getOperandTypes().end()));
  });
  return h;
}

/// A value used by a copy but defined outside it that can be cloned into
/// the outlined function instead of passed: a constant or tensor.empty.
bool isClonable(Value v) {
  Operation *def = v.getDefiningOp();
  return def && def->getNumOperands() == 0 && def->getNumRegions() == 0 &&
         isMemoryEffectFree(def);
}

/// Whether op `index` of the model body is in the copy of `period` ops at
/// `start`.
bool inCopy(int64_t index, int64_t start, int64_t period) {
  return index >= start && index < start + period;
}

/// `period` consecutive ops of the model body starting at `start`.
struct Copy {
  explicit Copy(int64_t start) : start(start) {}
  int64_t start;
  /// The first copy's outside values -> this copy's (empty for the first).
  llvm::DenseMap<Value, Value> outside;
};

class Outliner {
public:
  Outliner(func::FuncOp model, unsigned minOps)
      : model(model), body(&model.getBody().front()), minOps(minOps) {
    refresh();
  }

  /// Outlines the repetition that saves the most ops; false when none is
  /// left.
  bool outlineOne(SymbolTable &symbols);
  int64_t outlinedCopies = 0;
  /// The functions made so far, in order.
  SmallVector<func::FuncOp> outlined;

private:
  void refresh() {
    ops.clear();
    index.clear();
    for (Operation &op : *body) {
      index[&op] = ops.size();
      ops.push_back(&op);
    }
    // The terminator is in `index` (outside every copy) but never in one.
    ops.pop_back();
    hashes.clear();
    for (Operation *op : ops)
      // A stage boundary marker must stay where the user put it: hashed
      // apart from everything, so no copy contains one.
      hashes.push_back(isa<StageBoundaryOp>(op)
                           ? llvm::hash_value(static_cast<void *>(op))
                           : structureHash(op));
  }

  /// The index of the model-body op that defines `v` or holds it (-1 for a
  /// model argument).
  int64_t topIndex(Value v) const {
    Operation *def = v.getDefiningOp();
    if (!def)
      def = v.getParentBlock()->getParentOp();
    if (def == body->getParentOp())
      return -1;
    return topIndex(def);
  }
  int64_t topIndex(Operation *op) const {
    return index.lookup(body->findAncestorOpInBlock(*op));
  }

  /// Whether the copy at `b` is the copy at `a` with other outside values;
  /// fills `copy.outside` (a's outside value -> b's).
  bool matches(int64_t a, Copy &copy, int64_t period) const;
  /// Replaces each copy of `run` by a call of one new function.
  void outline(ArrayRef<Copy> run, int64_t period, SymbolTable &symbols);

  func::FuncOp model;
  Block *body; ///< The model's one block.
  unsigned minOps;
  std::vector<Operation *> ops;
  llvm::DenseMap<Operation *, int64_t> index;
  std::vector<llvm::hash_code> hashes;
};

bool Outliner::matches(int64_t a, Copy &copy, int64_t period) const {
  int64_t b = copy.start;
  SmallVector<Operation *> la, lb;
  for (int64_t i = 0; i < period; ++i) {
    if (!OperationEquivalence::isEquivalentTo(
            ops[a + i], ops[b + i], OperationEquivalence::ignoreValueEquivalence,
            nullptr, kFlags))
      return false;
    ops[a + i]->walk<WalkOrder::PreOrder>(
        [&](Operation *op) { la.push_back(op); });
    ops[b + i]->walk<WalkOrder::PreOrder>(
        [&](Operation *op) { lb.push_back(op); });
  }
  if (la.size() != lb.size())
    return false;
  // Values inside the copies, a -> b, as the walk meets their definitions;
  // outside values must pair up one to one.
  IRMapping inside;
  llvm::DenseMap<Value, Value> back;
  for (auto [x, y] : llvm::zip_equal(la, lb)) {
    if (x->getNumOperands() != y->getNumOperands())
      return false;
    for (auto [va, vb] : llvm::zip_equal(x->getOperands(), y->getOperands())) {
      bool ia = inCopy(topIndex(va), a, period);
      if (ia != inCopy(topIndex(vb), b, period))
        return false;
      if (ia) {
        if (inside.lookupOrNull(va) != vb)
          return false;
        continue;
      }
      auto [it, fresh] = copy.outside.try_emplace(va, vb);
      auto [rit, rfresh] = back.try_emplace(vb, va);
      if (it->second != vb || rit->second != va)
        return false;
    }
    inside.map(x->getResults(), y->getResults());
    for (auto [ra, rb] : llvm::zip_equal(x->getRegions(), y->getRegions())) {
      if (ra.getBlocks().size() != rb.getBlocks().size())
        return false;
      for (auto [ba, bb] : llvm::zip_equal(ra, rb))
        inside.map(ba.getArguments(), bb.getArguments());
    }
  }
  return true;
}

bool Outliner::outlineOne(SymbolTable &symbols) {
  int64_t n = ops.size();
  // Maximal runs where op i and op i+p have the same structure: the ops
  // [start, start + run + p) repeat with period p.
  struct Candidate {
    int64_t start, period, copies;
  };
  std::vector<Candidate> candidates;
  for (int64_t p = std::max<int64_t>(minOps, 1); 2 * p <= n; ++p) {
    for (int64_t i = 0; i + p < n;) {
      if (hashes[i] != hashes[i + p]) {
        ++i;
        continue;
      }
      int64_t j = i;
      while (j + p < n && hashes[j] == hashes[j + p])
        ++j;
      int64_t copies = (j - i) / p + 1;
      if (copies >= 2)
        candidates.push_back({i, p, copies});
      i = j;
    }
  }
  // Most ops saved first; of equal savings the shorter block (one layer,
  // not two) and the earlier one.
  llvm::stable_sort(candidates, [](const Candidate &x, const Candidate &y) {
    int64_t sx = (x.copies - 1) * x.period, sy = (y.copies - 1) * y.period;
    if (sx != sy)
      return sx > sy;
    return x.period < y.period;
  });
  for (const Candidate &c : candidates) {
    // Calls of blocks (those outlined already) stay a flat list of calls,
    // not blocks of blocks.
    if (llvm::all_of(ArrayRef(ops).slice(c.start, c.period),
                     [](Operation *op) { return isa<func::CallOp>(op); }))
      continue;
    // The longest stretch of copies that all match their first one.
    for (int64_t first = 0; first + 1 < c.copies; ++first) {
      int64_t a = c.start + first * c.period;
      std::vector<Copy> run{Copy(a)};
      for (int64_t k = first + 1; k < c.copies; ++k) {
        Copy copy(c.start + k * c.period);
        if (!matches(a, copy, c.period))
          break;
        run.push_back(std::move(copy));
      }
      if (run.size() < 2)
        continue;
      outline(run, c.period, symbols);
      refresh();
      return true;
    }
  }
  return false;
}

void Outliner::outline(ArrayRef<Copy> run, int64_t period,
                       SymbolTable &symbols) {
  int64_t a = run.front().start;
  // The value copy `c` takes where the first copy takes outside value `v`.
  auto outsideOf = [&](const Copy &c, Value v) {
    return c.start == a ? v : c.outside.lookup(v);
  };
  // The first copy's outside values in first-use order; those every copy
  // takes from an equal constant (or tensor.empty) are cloned instead.
  llvm::SetVector<Value> outside;
  for (int64_t i = 0; i < period; ++i)
    ops[a + i]->walk([&](Operation *op) {
      for (Value v : op->getOperands())
        if (!inCopy(topIndex(v), a, period))
          outside.insert(v);
    });
  SmallVector<Value> args, cloned;
  for (Value v : outside) {
    bool clone = isClonable(v) && llvm::all_of(run, [&](const Copy &c) {
                   Value w = outsideOf(c, v);
                   return isClonable(w) &&
                          OperationEquivalence::isEquivalentTo(
                              v.getDefiningOp(), w.getDefiningOp(), kFlags);
                 });
    (clone ? cloned : args).push_back(v);
  }
  // Results: a value of the copy that any copy uses after itself.
  SmallVector<std::pair<int64_t, unsigned>> results;
  for (int64_t i = 0; i < period; ++i)
    for (unsigned r = 0; r < ops[a + i]->getNumResults(); ++r)
      if (llvm::any_of(run, [&](const Copy &c) {
            Value v = ops[c.start + i]->getResult(r);
            return llvm::any_of(v.getUsers(), [&](Operation *user) {
              return !inCopy(topIndex(user), c.start, period);
            });
          }))
        results.push_back({i, r});

  // The function: the first copy's ops, its outside values as arguments.
  MLIRContext *ctx = model.getContext();
  SmallVector<Type> argTypes, resultTypes;
  for (Value v : args)
    argTypes.push_back(v.getType());
  for (auto [i, r] : results)
    resultTypes.push_back(ops[a + i]->getResult(r).getType());
  Location loc = ops[a]->getLoc();
  auto fn = func::FuncOp::create(loc, "block",
                                 FunctionType::get(ctx, argTypes, resultTypes));
  fn.setPrivate();
  symbols.insert(fn, model->getIterator());
  Block *entry = fn.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(entry);
  IRMapping map;
  for (Value v : cloned)
    map.map(v, b.clone(*v.getDefiningOp())->getResult(
                   cast<OpResult>(v).getResultNumber()));
  map.map(args, entry->getArguments());
  for (int64_t i = 0; i < period; ++i)
    b.clone(*ops[a + i], map);
  SmallVector<Value> returned;
  for (auto [i, r] : results)
    returned.push_back(map.lookup(ops[a + i]->getResult(r)));
  func::ReturnOp::create(b, loc, returned);
  // Copies cut apart by a stage boundary marker are outlined run by run:
  // each run after the first finds its function already there.
  auto same = llvm::find_if(outlined, [&](func::FuncOp earlier) {
    return earlier.getFunctionType() == fn.getFunctionType() &&
           OperationEquivalence::isRegionEquivalentTo(
               &earlier.getBody(), &fn.getBody(), kFlags);
  });
  if (same != outlined.end()) {
    symbols.erase(fn);
    fn = *same;
  } else {
    outlined.push_back(fn);
  }

  // Each copy becomes a call with its own outside values. A later copy may
  // read an earlier one's results (the previous block's output): those are
  // the earlier call's results by then.
  IRMapping replaced;
  for (const Copy &c : run) {
    SmallVector<Value> operands;
    for (Value v : args)
      operands.push_back(replaced.lookupOrDefault(outsideOf(c, v)));
    OpBuilder cb(ops[c.start]);
    auto call = func::CallOp::create(cb, ops[c.start]->getLoc(), fn, operands);
    for (auto [k, pos] : llvm::enumerate(results)) {
      Value old = ops[c.start + pos.first]->getResult(pos.second);
      old.replaceUsesWithIf(call.getResult(k), [&](OpOperand &use) {
        return !inCopy(topIndex(use.getOwner()), c.start, period);
      });
      replaced.map(old, call.getResult(k));
    }
    for (int64_t i = period - 1; i >= 0; --i)
      ops[c.start + i]->erase();
  }
  // Constants only the copies used.
  for (Value v : cloned)
    if (Operation *def = v.getDefiningOp(); def && def->use_empty())
      def->erase();
  outlinedCopies += run.size();
}

struct OutlineRepeatsPass
    : impl::DualPipeOutlineRepeatsBase<OutlineRepeatsPass> {
  using DualPipeOutlineRepeatsBase::DualPipeOutlineRepeatsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    for (auto model : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (!model->hasAttr(kModelAttr) || model.isExternal() ||
          !model.getBody().hasOneBlock())
        continue;
      Outliner outliner(model, minOps);
      while (outliner.outlineOne(symbols)) {
      }
      size_t functions = outliner.outlined.size();
      if (functions)
        emitRemark(model.getLoc())
            << "outlined " << outliner.outlinedCopies << " repeated blocks of @"
            << model.getSymName() << " into " << functions << " function"
            << (functions == 1 ? "" : "s");
    }
  }
};
} // namespace
} // namespace dualpipe
