//===- LinalgRules.cpp - reverse-mode rules of linalg structured ops -----===//
//
// The general linalg.generic rule (parallel, sum-reduction and
// max/min-reduction iterators over projected-permutation maps), direct rules
// for matmul, batch_matmul, transpose and fill, and generalization for the
// other named ops.
//
//===----------------------------------------------------------------------===//
#include "Rules.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using linalg::GenericOp;

namespace dualpipe::autodiff {
namespace {

/// How an output of a linalg.generic combines the values of its iterations.
enum class Combiner {
  Plain, ///< all-parallel: each point writes its own element
  Sum,   ///< yield out + h(ins): a sum over the reduction dimensions
  Max,   ///< yield max(out, x(ins))
  Min,   ///< yield min(out, x(ins))
};

struct OutputForm {
  Combiner kind;
  /// The per-point value whose gradient the body propagates: the yielded
  /// value (Plain), the summand h (Sum), the candidate x (Max/Min).
  Value partial;
};

/// Values of the body that depend on an `outs` block argument.
llvm::DenseSet<Value> dependsOnOuts(GenericOp g) {
  llvm::DenseSet<Value> dep;
  for (BlockArgument a : g.getRegionOutputArgs())
    dep.insert(a);
  for (Operation &op : g.getBody()->without_terminator())
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return dep.contains(v); }))
      for (Value r : op.getResults())
        dep.insert(r);
  return dep;
}

/// Recognizes the combiner of every output of `g`.
FailureOr<SmallVector<OutputForm>> classifyOutputs(GenericOp g,
                                                   Operation *diagOp) {
  auto yield = cast<linalg::YieldOp>(g.getBody()->getTerminator());
  SmallVector<OutputForm> forms;
  if (g.getNumReductionLoops() == 0) {
    for (Value v : yield.getValues())
      forms.push_back({Combiner::Plain, v});
    return forms;
  }
  llvm::DenseSet<Value> dep = dependsOnOuts(g);
  for (auto [j, v] : llvm::enumerate(yield.getValues())) {
    BlockArgument out = g.getRegionOutputArgs()[j];
    Operation *def = v.getDefiningOp();
    auto other = [&](Value lhs, Value rhs) -> Value {
      if (lhs == out && !dep.contains(rhs))
        return rhs;
      if (rhs == out && !dep.contains(lhs))
        return lhs;
      return Value();
    };
    std::optional<OutputForm> form;
    if (def && out.hasOneUse()) {
      if (auto add = dyn_cast<arith::AddFOp>(def)) {
        if (Value h = other(add.getLhs(), add.getRhs()))
          form = OutputForm{Combiner::Sum, h};
      } else if (isa<arith::MaximumFOp, arith::MaxNumFOp, arith::MinimumFOp,
                     arith::MinNumFOp>(def) &&
                 g.getNumDpsInits() == 1) {
        if (Value x = other(def->getOperand(0), def->getOperand(1)))
          form = OutputForm{isa<arith::MaximumFOp, arith::MaxNumFOp>(def)
                                ? Combiner::Max
                                : Combiner::Min,
                            x};
      }
    }
    if (!form) {
      InFlightDiagnostic diag =
          diagOp->emitError()
          << "no gradient rule for this reduction: output #" << j
          << " of a linalg.generic with reduction iterators must be a "
             "sum-reduction (yield %out + f(ins)) or a single-output "
             "max/min-reduction (yield arith.maximumf(%out, f(ins)))";
      return diag;
    }
    forms.push_back(*form);
  }
  return forms;
}

/// Bitmask of the loop dimensions `map` reads.
uint64_t dimsOf(AffineMap map) {
  uint64_t mask = 0;
  for (AffineExpr e : map.getResults())
    if (auto d = dyn_cast<AffineDimExpr>(e))
      mask |= uint64_t(1) << d.getPosition();
  return mask;
}

/// Linear index of the current iteration over the reduction dimensions of
/// `g` (row-major in loop order), as i64.
Value reductionLinearIndex(OpBuilder &b, Location loc, GenericOp g) {
  SmallVector<int64_t> ranges = g.getStaticLoopRanges();
  Value lin = arith::ConstantIndexOp::create(b, loc, 0);
  for (unsigned d : llvm::seq<unsigned>(0, g.getNumLoops())) {
    if (g.getIteratorTypesArray()[d] != utils::IteratorType::reduction)
      continue;
    Value size = arith::ConstantIndexOp::create(b, loc, ranges[d]);
    Value idx = linalg::IndexOp::create(b, loc, d);
    lin = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, lin, size),
                                idx);
  }
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), lin);
}

/// Number of iterations of the reduction dimensions of `g`.
int64_t reductionCount(GenericOp g) {
  int64_t n = 1;
  SmallVector<int64_t> ranges = g.getStaticLoopRanges();
  for (unsigned d : llvm::seq<unsigned>(0, g.getNumLoops()))
    if (g.getIteratorTypesArray()[d] == utils::IteratorType::reduction)
      n *= ranges[d];
  return n;
}

/// Clones the body of `g` (without its terminator) at `b`, its block
/// arguments mapped to `args`; returns the clones in order.
SmallVector<Operation *> cloneBody(OpBuilder &b, GenericOp g, ValueRange args,
                                   IRMapping &map) {
  for (auto [old, fresh] : llvm::zip(g.getBody()->getArguments(), args))
    map.map(old, fresh);
  SmallVector<Operation *> clones;
  for (Operation &op : g.getBody()->without_terminator())
    clones.push_back(b.clone(op, map));
  return clones;
}

/// For a max/min-reduction: the i64 tensor (shape of the result) holding,
/// per output element, the linear reduction index of the first input
/// element equal to the result, or the reduction count when none is (the
/// init won).
Value buildArgExtremum(OpBuilder &b, Location loc, GenericOp g,
                       const OutputForm &form, Value result) {
  auto rt = cast<RankedTensorType>(result.getType());
  int64_t count = reductionCount(g);
  Value countC = arith::ConstantIntOp::create(b, loc, count, 64);
  Value init = linalg::FillOp::create(
                   b, loc, ValueRange{countC},
                   ValueRange{tensor::EmptyOp::create(b, loc, rt.getShape(),
                                                      b.getI64Type())})
                   .getResult(0);
  SmallVector<AffineMap> primalMaps = g.getIndexingMapsArray();
  AffineMap outMap = primalMaps.back();
  SmallVector<Value> ins(g.getDpsInputs());
  ins.push_back(result);
  SmallVector<AffineMap> maps(primalMaps.begin(),
                              primalMaps.begin() + g.getNumDpsInputs());
  maps.push_back(outMap);
  maps.push_back(outMap);
  auto arg = GenericOp::create(
      b, loc, TypeRange{init.getType()}, ins, ValueRange{init}, maps,
      g.getIteratorTypesArray(),
      [&](OpBuilder &nb, Location nloc, ValueRange args) {
        unsigned nIn = g.getNumDpsInputs();
        SmallVector<Value> bodyArgs(args.take_front(nIn));
        bodyArgs.push_back(args[nIn]); // stands in for %out: unused by x
        IRMapping map;
        cloneBody(nb, g, bodyArgs, map);
        Value x = map.lookupOrDefault(form.partial);
        Value isExt = arith::CmpFOp::create(nb, nloc, arith::CmpFPredicate::OEQ,
                                            x, args[nIn]);
        Value lin = reductionLinearIndex(nb, nloc, g);
        Value none = arith::ConstantIntOp::create(nb, nloc, count, 64);
        Value cand = arith::SelectOp::create(nb, nloc, isExt, lin, none);
        linalg::YieldOp::create(
            nb, nloc, ValueRange{arith::MinSIOp::create(nb, nloc, args[nIn + 1],
                                                        cand)
                                     .getResult()});
      });
  return pruneGeneric(b, arg)->getResult(0);
}

/// One operand of the generic that receives a gradient through the body.
struct Member {
  Value operand;   ///< the primal tensor
  unsigned argNum; ///< its block argument in the primal body
  AffineMap map;
};

/// The gradient of a tensor `t` that the body of `g` reads with
/// tensor.extract at computed indices (an embedding lookup, picking the
/// logit of the label class): a loop nest over the iteration space that
/// recomputes the body at each point and adds the adjoint of every
/// extracted element into dt at its indices (a scatter-add). The other
/// operands' gradients treat `t` as a constant.
LogicalResult scatterGathered(GenericOp g, ArrayRef<OutputForm> forms,
                              ArrayRef<Value> seeds, Value t,
                              ReverseSweep &sw, Operation *diagOp) {
  OpBuilder &b = sw.builder();
  Location loc = diagOp->getLoc();
  SmallVector<int64_t> ranges = g.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return diagOp->emitError() << "dynamic loop bounds are not supported";
  SmallVector<Value> lbs, ubs, steps;
  for (int64_t r : ranges) {
    lbs.push_back(arith::ConstantIndexOp::create(b, loc, 0));
    ubs.push_back(arith::ConstantIndexOp::create(b, loc, r));
    steps.push_back(arith::ConstantIndexOp::create(b, loc, 1));
  }
  SmallVector<AffineMap> maps = g.getIndexingMapsArray();
  unsigned nIn = g.getNumDpsInputs();
  LogicalResult status = success();
  auto at = [&](OpBuilder &nb, Location nloc, Value tensor, AffineMap map,
                ValueRange ivs) -> Value {
    SmallVector<Value> idx;
    for (AffineExpr e : map.getResults()) {
      if (auto d = dyn_cast<AffineDimExpr>(e))
        idx.push_back(ivs[d.getPosition()]);
      else
        idx.push_back(arith::ConstantIndexOp::create(
            nb, nloc, cast<AffineConstantExpr>(e).getValue()));
    }
    return tensor::ExtractOp::create(nb, nloc, tensor, idx);
  };
  scf::LoopNest nest = scf::buildLoopNest(
      b, loc, lbs, ubs, steps, ValueRange{filled(b, loc, t.getType(), 0)},
      [&](OpBuilder &nb, Location nloc, ValueRange ivs,
          ValueRange acc) -> scf::ValueVector {
        IRMapping map;
        Block *body = g.getBody();
        for (unsigned k = 0; k < body->getNumArguments(); ++k)
          map.map(body->getArgument(k),
                  at(nb, nloc, g->getOperand(k), maps[k], ivs));
        SmallVector<Operation *> clones;
        SmallVector<std::pair<tensor::ExtractOp, Value>> reads;
        for (Operation &op : body->without_terminator()) {
          if (auto idx = dyn_cast<linalg::IndexOp>(op)) {
            map.map(idx.getResult(), ivs[idx.getDim()]);
            continue;
          }
          Operation *c = nb.clone(op, map);
          clones.push_back(c);
          if (auto ex = dyn_cast<tensor::ExtractOp>(c))
            if (ex.getTensor() == t)
              reads.push_back({ex, ex.getResult()});
        }
        DenseMap<Value, Value> adj;
        for (auto [j, form] : llvm::enumerate(forms)) {
          if (!seeds[j])
            continue;
          Value s = at(nb, nloc, seeds[j], maps[nIn + j], ivs);
          Value &slot = adj[map.lookupOrDefault(form.partial)];
          slot = slot ? arith::AddFOp::create(nb, nloc, slot, s).getResult()
                      : s;
        }
        if (failed(scalarReverse(nb, clones, adj, diagOp)))
          status = failure();
        Value dt = acc[0];
        for (auto [ex, v] : reads) {
          Value a = adj.lookup(v);
          if (!a)
            continue;
          SmallVector<Value> idx(ex.getIndices());
          Value old = tensor::ExtractOp::create(nb, nloc, dt, idx);
          Value sum = arith::AddFOp::create(nb, nloc, old, a);
          dt = tensor::InsertOp::create(nb, nloc, sum, dt, idx);
        }
        return {dt};
      });
  if (failed(status))
    return failure();
  sw.accumulate(t, nest.results[0], loc);
  return success();
}

/// The active tensors the body of `g` reads by index (tensor.extract of a
/// value defined outside it); an error when the body uses a differentiated
/// outside value any other way.
FailureOr<SmallVector<Value>> gatheredTensors(GenericOp g, ReverseSweep &sw,
                                              Operation *diagOp) {
  llvm::SetVector<Value> captured;
  getUsedValuesDefinedAbove(g.getRegion(), captured);
  SmallVector<Value> gathered;
  for (Value v : captured) {
    if (!sw.isActive(v))
      continue;
    bool onlyExtracted = llvm::all_of(v.getUses(), [&](OpOperand &use) {
      if (!g->isProperAncestor(use.getOwner()))
        return true;
      auto ex = dyn_cast<tensor::ExtractOp>(use.getOwner());
      return ex && ex.getTensor() == v;
    });
    if (!onlyExtracted || !isa<RankedTensorType>(v.getType()))
      return diagOp->emitError()
             << "the body uses a differentiated value defined outside it "
                "other than by tensor.extract; pass it as an input operand "
                "so that it gets a gradient";
    gathered.push_back(v);
  }
  return gathered;
}

/// The adjoint of one linalg.generic `g` (see differentiateGenericAs): what
/// the steps share.
struct GenericAdjoint {
  GenericOp g;
  ValueRange results;
  ReverseSweep &sw;
  Operation *diagOp;
  Location loc;
  unsigned nIn, nOut;
  SmallVector<AffineMap> maps;
  SmallVector<Value> seeds;
  SmallVector<OutputForm> forms;
  bool extremum = false;
  /// For a max/min-reduction: the linear index of the winning element.
  Value argExt;
  /// Operands that receive a gradient through the body, grouped by the loop
  /// dimensions they index.
  llvm::MapVector<uint64_t, SmallVector<Member>> groups;

  GenericAdjoint(GenericOp g, ValueRange results, ReverseSweep &sw,
                 Operation *diagOp)
      : g(g), results(results), sw(sw), diagOp(diagOp),
        loc(diagOp->getLoc()), nIn(g.getNumDpsInputs()),
        nOut(g.getNumDpsInits()), maps(g.getIndexingMapsArray()) {}

  /// The inputs that get a gradient through the body, into `groups`.
  void groupInputs() {
    auto isFloatTensor = [](Value v) {
      return isa<FloatType>(getElementTypeOrSelf(v.getType()));
    };
    for (unsigned k = 0; k < nIn; ++k) {
      Value in = g.getDpsInputs()[k];
      if (sw.isActive(in) && isFloatTensor(in) && !g.getBody()->getArgument(k).use_empty())
        groups[dimsOf(maps[k])].push_back({in, k, maps[k]});
    }
  }

  /// The gradient of each active init: through the body (Plain, into
  /// `groups`), dR as is (Sum), or dR where the init won (Max/Min).
  void initGradients() {
    OpBuilder &b = sw.builder();
    for (unsigned j = 0; j < nOut; ++j) {
      Value init = g.getDpsInits()[j];
      if (!sw.isActive(init) || !seeds[j])
        continue;
      switch (forms[j].kind) {
      case Combiner::Plain:
        if (!g.getBody()->getArgument(nIn + j).use_empty())
          groups[dimsOf(maps[nIn + j])].push_back({init, nIn + j, maps[nIn + j]});
        break;
      case Combiner::Sum:
        sw.accumulate(init, seeds[j], loc);
        break;
      case Combiner::Max:
      case Combiner::Min: {
        // The init keeps the gradient only where it won (argExt == count).
        auto rt = cast<RankedTensorType>(results[0].getType());
        AffineMap id = b.getMultiDimIdentityMap(rt.getRank());
        int64_t count = reductionCount(g);
        auto dInit = GenericOp::create(
            b, loc, TypeRange{rt}, ValueRange{seeds[0], argExt},
            ValueRange{emptyLike(b, loc, rt)}, {id, id, id},
            SmallVector<utils::IteratorType>(rt.getRank(),
                                             utils::IteratorType::parallel),
            [&](OpBuilder &nb, Location nloc, ValueRange args) {
              Value none = arith::ConstantIntOp::create(nb, nloc, count, 64);
              Value won = arith::CmpIOp::create(nb, nloc, arith::CmpIPredicate::eq,
                                                args[1], none);
              Value zero = scalarConst(nb, nloc, rt.getElementType(), 0);
              linalg::YieldOp::create(
                  nb, nloc,
                  ValueRange{arith::SelectOp::create(nb, nloc, won, args[0], zero)
                                 .getResult()});
            });
        sw.accumulate(init, dInit->getResult(0), loc);
        break;
      }
      }
    }
  }

  /// The adjoint generic of the operands `members` that index the loop
  /// dimensions `mask`: the primal body recomputed, the seeds propagated
  /// back through it, each member's gradient written through its own map
  /// (summed over the dimensions it does not index). Null on failure.
  GenericOp buildGroup(uint64_t mask, ArrayRef<Member> members,
                       bool allParallel) {
    OpBuilder &b = sw.builder();
    unsigned numLoops = g.getNumLoops();
    // ins: primal inputs, primal inits, seeds (and argExt, result).
    SmallVector<Value> ins(g.getDpsInputs());
    SmallVector<AffineMap> newMaps(maps.begin(), maps.begin() + nIn);
    for (unsigned j = 0; j < nOut; ++j) {
      ins.push_back(g.getDpsInits()[j]);
      newMaps.push_back(maps[nIn + j]);
    }
    SmallVector<int> seedPos(nOut, -1);
    for (unsigned j = 0; j < nOut; ++j)
      if (seeds[j]) {
        seedPos[j] = ins.size();
        ins.push_back(seeds[j]);
        newMaps.push_back(maps[nIn + j]);
      }
    int argExtPos = -1;
    if (argExt) {
      argExtPos = ins.size();
      ins.push_back(argExt);
      newMaps.push_back(maps[nIn]);
    }
    SmallVector<Value> outs;
    SmallVector<Type> outTypes;
    for (const Member &m : members) {
      Type t = m.operand.getType();
      outs.push_back(allParallel ? emptyLike(b, loc, t) : filled(b, loc, t, 0));
      outTypes.push_back(t);
      newMaps.push_back(m.map);
    }
    SmallVector<utils::IteratorType> iters;
    for (unsigned d = 0; d < numLoops; ++d)
      iters.push_back((mask >> d) & 1 ? utils::IteratorType::parallel
                                      : utils::IteratorType::reduction);
    LogicalResult status = success();
    auto adj = GenericOp::create(
        b, loc, outTypes, ins, outs, newMaps, iters,
        [&](OpBuilder &nb, Location nloc, ValueRange args) {
          IRMapping map;
          SmallVector<Operation *> clones =
              cloneBody(nb, g, args.take_front(nIn + nOut), map);
          DenseMap<Value, Value> adjMap;
          auto seed = [&](Value at, Value s) {
            Value &slot = adjMap[at];
            slot = slot ? arith::AddFOp::create(nb, nloc, slot, s).getResult()
                        : s;
          };
          for (unsigned j = 0; j < nOut; ++j) {
            if (seedPos[j] < 0)
              continue;
            Value s = args[seedPos[j]];
            Value at = map.lookupOrDefault(forms[j].partial);
            if (extremum) {
              Value lin = reductionLinearIndex(nb, nloc, g);
              Value hit = arith::CmpIOp::create(
                  nb, nloc, arith::CmpIPredicate::eq, lin, args[argExtPos]);
              s = arith::SelectOp::create(nb, nloc, hit, s,
                                          scalarConst(nb, nloc, s.getType(), 0));
            }
            seed(at, s);
          }
          if (failed(scalarReverse(nb, clones, adjMap, diagOp)))
            status = failure();
          SmallVector<Value> yields;
          unsigned accBase = ins.size();
          for (auto [i, m] : llvm::enumerate(members)) {
            Value a = adjMap.lookup(args[m.argNum]);
            Type et = getElementTypeOrSelf(m.operand.getType());
            if (allParallel)
              yields.push_back(a ? a : scalarConst(nb, nloc, et, 0));
            else
              yields.push_back(
                  a ? arith::AddFOp::create(nb, nloc, args[accBase + i], a)
                          .getResult()
                    : Value(args[accBase + i]));
          }
          linalg::YieldOp::create(nb, nloc, yields);
        });
    if (failed(status)) {
      adj->erase();
      return nullptr;
    }
    return pruneGeneric(b, adj);
  }

  /// Accumulates the gradients `adj` computes into its members. A member
  /// whose gradient is a seed passed through unchanged (an addition's
  /// operand) takes the seed tensor itself instead of a copy; `adj` goes
  /// when no member needs it.
  void accumulateGroup(GenericOp adj, ArrayRef<Member> members,
                       bool allParallel) {
    auto yield = cast<linalg::YieldOp>(adj.getBody()->getTerminator());
    SmallVector<AffineMap> adjMaps = adj.getIndexingMapsArray();
    bool allForwarded = true;
    for (auto [i, m] : llvm::enumerate(members)) {
      Value result = adj->getResult(i);
      auto arg = dyn_cast<BlockArgument>(yield.getValues()[i]);
      if (allParallel && arg && arg.getOwner() == adj.getBody() &&
          arg.getArgNumber() < adj.getNumDpsInputs() &&
          adjMaps[arg.getArgNumber()] == adjMaps[adj.getNumDpsInputs() + i] &&
          adj.getDpsInputs()[arg.getArgNumber()].getType() == result.getType())
        sw.accumulate(m.operand, adj.getDpsInputs()[arg.getArgNumber()], loc);
      else {
        allForwarded = false;
        sw.accumulate(m.operand, result, loc);
      }
    }
    if (allForwarded)
      adj->erase();
  }
};

} // namespace

/// linalg.generic: the adjoint of every active operand is one more
/// linalg.generic over the same iteration space that recomputes the body,
/// propagates the per-point seeds (dR for parallel and sum outputs; dR at
/// the first extremal element for max/min) back through the scalar ops, and
/// writes through the operand's own indexing map. Dimensions the operand
/// does not index become reduction dimensions, which sums the gradient of
/// broadcast operands. Operands with the same dimensions share one generic.
/// The init of a sum-reduction receives dR as is; the init of a parallel
/// generic receives what its body sends to `%out`.
LogicalResult differentiateGenericAs(GenericOp g, ValueRange results,
                                     ReverseSweep &sw, Operation *diagOp) {
  GenericAdjoint a(g, results, sw, diagOp);
  for (Value r : results)
    a.seeds.push_back(sw.getAdjoint(r));
  if (llvm::all_of(a.seeds, [](Value s) { return !s; }))
    return success();
  if (!g.hasPureTensorSemantics())
    return diagOp->emitError() << "cannot differentiate a linalg op on "
                                  "buffers; differentiate before bufferizing";
  for (auto [i, m] : llvm::enumerate(a.maps))
    if (!m.isProjectedPermutation())
      return diagOp->emitError()
             << "no gradient rule for indexing map #" << i << " ("
             << AffineMapAttr::get(m) << "): only projected permutations (transposes, broadcasts, "
                "reductions) are supported, not convolution-like maps";

  FailureOr<SmallVector<Value>> gathered = gatheredTensors(g, sw, diagOp);
  if (failed(gathered))
    return failure();
  FailureOr<SmallVector<OutputForm>> forms = classifyOutputs(g, diagOp);
  if (failed(forms))
    return failure();
  a.forms = std::move(*forms);
  a.extremum = a.forms[0].kind == Combiner::Max ||
               a.forms[0].kind == Combiner::Min;
  if (a.extremum && !gathered->empty())
    return diagOp->emitError() << "no gradient rule for a max/min-reduction "
                                  "that reads a differentiated tensor with "
                                  "tensor.extract";
  for (Value t : *gathered)
    if (failed(scatterGathered(g, a.forms, a.seeds, t, sw, diagOp)))
      return failure();

  a.groupInputs();
  if (a.extremum && a.seeds[0])
    a.argExt = buildArgExtremum(sw.builder(), a.loc, g, a.forms[0], results[0]);
  a.initGradients();

  unsigned numLoops = g.getNumLoops();
  uint64_t allDims = numLoops == 64 ? ~uint64_t(0)
                                    : (uint64_t(1) << numLoops) - 1;
  for (auto &[mask, members] : a.groups) {
    bool allParallel = mask == allDims;
    GenericOp adj = a.buildGroup(mask, members, allParallel);
    if (!adj)
      return failure();
    a.accumulateGroup(adj, members, allParallel);
  }
  return success();
}

namespace {

Value transposed(OpBuilder &b, Location loc, Value v,
                 ArrayRef<int64_t> perm) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape;
  for (int64_t p : perm)
    shape.push_back(t.getShape()[p]);
  Value init = tensor::EmptyOp::create(b, loc, shape, t.getElementType());
  return linalg::TransposeOp::create(b, loc, v, init, perm)->getResult(0);
}

bool sameElementTypes(Operation *op) {
  Type et = getElementTypeOrSelf(op->getOperand(0).getType());
  return llvm::all_of(op->getOperandTypes(), [&](Type t) {
    return getElementTypeOrSelf(t) == et;
  });
}

/// Shared by matmul (perm {1,0}) and batch_matmul (perm {0,2,1}):
/// C = init + A·B gives dA = dC·Bᵀ, dB = Aᵀ·dC, dinit = dC.
template <typename MatmulTy>
LogicalResult differentiateContraction(MatmulTy op, ArrayRef<int64_t> perm,
                                       ReverseSweep &sw) {
  Value dC = sw.getAdjoint(op->getResult(0));
  if (!dC)
    return success();
  OpBuilder &b = sw.builder();
  Location loc = op.getLoc();
  Value a = op.getDpsInputs()[0], bm = op.getDpsInputs()[1];
  Value init = op.getDpsInits()[0];
  if (sw.isActive(a)) {
    Value bt = transposed(b, loc, bm, perm);
    Value da = MatmulTy::create(b, loc, TypeRange{a.getType()},
                                ValueRange{dC, bt},
                                ValueRange{filled(b, loc, a.getType(), 0)})
                   ->getResult(0);
    sw.accumulate(a, da, loc);
  }
  if (sw.isActive(bm)) {
    Value at = transposed(b, loc, a, perm);
    Value db = MatmulTy::create(b, loc, TypeRange{bm.getType()},
                                ValueRange{at, dC},
                                ValueRange{filled(b, loc, bm.getType(), 0)})
                   ->getResult(0);
    sw.accumulate(bm, db, loc);
  }
  sw.accumulate(init, dC, loc);
  return success();
}

/// Named ops without a direct rule: differentiate their generic form
/// (built beside the op, used as a template, then erased).
LogicalResult viaGeneralization(linalg::LinalgOp op, ReverseSweep &sw) {
  if (llvm::all_of(op->getResults(),
                   [&](Value r) { return !sw.getAdjoint(r); }))
    return success();
  OpBuilder &b = sw.builder();
  Operation *clone = b.clone(*op);
  IRRewriter rewriter(b.getContext());
  rewriter.setInsertionPoint(clone);
  FailureOr<GenericOp> g =
      linalg::generalizeNamedOp(rewriter, cast<linalg::LinalgOp>(clone));
  if (failed(g)) {
    clone->erase();
    return op->emitError() << "no gradient rule for '" << op->getName()
                           << "' and it cannot be generalized to "
                              "linalg.generic";
  }
  LogicalResult r = differentiateGenericAs(*g, op->getResults(), sw, op);
  (*g)->erase();
  return r;
}

} // namespace

std::optional<LogicalResult> differentiateLinalg(Operation *op,
                                                 ReverseSweep &sw) {
  auto lop = dyn_cast<linalg::LinalgOp>(op);
  if (!lop)
    return std::nullopt;
  /// fill: the init is overwritten, so it gets nothing; the fill value
  /// would need a scalar gradient, which top-level code does not carry.
  if (auto fill = dyn_cast<linalg::FillOp>(op)) {
    if (sw.isActive(fill.value()) && sw.getAdjoint(fill->getResult(0)))
      return op->emitError()
             << "cannot differentiate linalg.fill with a differentiated fill "
                "value; broadcast a tensor with linalg.broadcast instead";
    return success();
  }
  /// transpose: the gradient transposed back.
  if (auto tr = dyn_cast<linalg::TransposeOp>(op)) {
    Value g = sw.getAdjoint(tr->getResult(0));
    if (!g)
      return success();
    ArrayRef<int64_t> perm = tr.getPermutation();
    SmallVector<int64_t> inv(perm.size());
    for (auto [i, p] : llvm::enumerate(perm))
      inv[p] = i;
    sw.accumulate(tr.getInput(),
                  transposed(sw.builder(), op->getLoc(), g, inv), op->getLoc());
    return success();
  }
  if (auto mm = dyn_cast<linalg::MatmulOp>(op))
    if (!mm.hasUserDefinedMaps() && sameElementTypes(op))
      return differentiateContraction(mm, {1, 0}, sw);
  if (auto bmm = dyn_cast<linalg::BatchMatmulOp>(op))
    if (!bmm.hasUserDefinedMaps() && sameElementTypes(op))
      return differentiateContraction(bmm, {0, 2, 1}, sw);
  if (auto g = dyn_cast<GenericOp>(op))
    return differentiateGenericAs(g, g->getResults(), sw, op);
  return viaGeneralization(lop, sw);
}

} // namespace dualpipe::autodiff
