//===- LowerGemmToRuntime.cpp - matmuls to runtime GEMM calls (cpu) -------===//
//
// On bufferized IR, linalg.matmul and linalg.batch_matmul on f32 or f64
// memrefs become calls to the runtime's dualpipe_rt_matmul_f32/f64 (CBLAS
// behind it; runtime/src/Gemm.cpp), which take the operands as unranked
// memrefs through the C interface plus two transpose flags. Transposed
// indexing maps, and a 2-D (or batch) linalg.transpose into a temporary that
// only feeds the matmul, become those flags. A linalg.generic that is a
// contraction (C += A * B over one m, one n and one k loop, any batch
// loops, every operand indexed by a permutation of its loops: attention's
// QK^T and PV and their gradients) becomes the same call on views: loops
// over all batch loops but the last, rank-reducing subviews fixing those,
// and memref.transpose putting each operand's loops in [batch,] row, column
// order; the runtime reads the strides (no copy where one of the two matrix
// strides is 1). Everything else is left for convert-linalg-to-loops.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPELOWERGEMMTORUNTIME
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// A matmul in the runtime's terms: C += op(A) * op(B).
struct Gemm {
  Value a, b, c;
  bool transposeA = false, transposeB = false;
};

/// The dimension positions of `map`'s results, or nothing if one is not a
/// plain dimension.
std::optional<SmallVector<unsigned>> dimsOf(AffineMap map) {
  SmallVector<unsigned> dims;
  for (AffineExpr e : map.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d)
      return std::nullopt;
    dims.push_back(d.getPosition());
  }
  return dims;
}

/// True if `operands` are memrefs in the default memory space of one
/// element type, f32 or f64, each of rank `rank` (any rank if negative).
bool blasOperands(ValueRange operands, int64_t rank) {
  Type element;
  for (Value v : operands) {
    auto type = dyn_cast<MemRefType>(v.getType());
    if (!type || type.getMemorySpace() || (rank >= 0 && type.getRank() != rank))
      return false;
    if (element && type.getElementType() != element)
      return false;
    element = type.getElementType();
  }
  return element && (element.isF32() || element.isF64());
}

/// Matches `op` (matmul or batch_matmul on memrefs with one element type,
/// f32 or f64, default memory space) with plain or transposed maps.
std::optional<Gemm> matchGemm(linalg::LinalgOp op) {
  bool batched = isa<linalg::BatchMatmulOp>(op.getOperation());
  if (!batched && !isa<linalg::MatmulOp>(op.getOperation()))
    return std::nullopt;
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1)
    return std::nullopt;
  Gemm g{op.getDpsInputs()[0], op.getDpsInputs()[1], op.getDpsInits()[0]};
  if (!blasOperands({g.a, g.b, g.c}, batched ? 3 : 2))
    return std::nullopt;
  // Loop dimensions: [batch,] m, n, k.
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  unsigned o = batched ? 1 : 0;
  unsigned m = o, n = o + 1, k = o + 2;
  auto is = [&](AffineMap map, std::initializer_list<unsigned> want) {
    auto dims = dimsOf(map);
    if (!dims || map.getNumDims() != k + 1)
      return false;
    SmallVector<unsigned> expect;
    if (batched)
      expect.push_back(0);
    expect.append(want.begin(), want.end());
    return *dims == expect;
  };
  if (maps.size() != 3 || !is(maps[2], {m, n}))
    return std::nullopt;
  if (is(maps[0], {m, k}))
    g.transposeA = false;
  else if (is(maps[0], {k, m}))
    g.transposeA = true;
  else
    return std::nullopt;
  if (is(maps[1], {k, n}))
    g.transposeB = false;
  else if (is(maps[1], {n, k}))
    g.transposeB = true;
  else
    return std::nullopt;
  return g;
}

/// A linalg.generic contraction in the runtime's terms: for each operand,
/// the positions (in its own dimensions) of the loops it is indexed by, in
/// the order [outer batch loops..., last batch loop, row, column].
struct Contraction {
  SmallVector<unsigned> outerBatch; ///< Loops the IR iterates over.
  bool batched = false;             ///< A last batch loop for the runtime.
  /// Per operand (A, B, C): for each loop in the order above, its position
  /// among the operand's dimensions.
  SmallVector<unsigned> order[3];
};

/// Matches a generic on memrefs of one element type (f32/f64, default
/// memory space) computing C += A * B with exactly one m, n and k loop
/// (upstream's inferContractionDims), any batch loops, and each operand's
/// map a permutation of the loops it uses.
std::optional<Contraction> matchContraction(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  if (!blasOperands(op->getOperands(), /*rank=*/-1))
    return std::nullopt;
  // The body must be exactly mulf(a0, a1), addf(a2, that): the runtime
  // computes a plain product-sum (isaContractionOpInterface also accepts
  // other multiply/add pairs, and casts).
  Block &body = op.getRegion().front();
  if (body.getOperations().size() != 3)
    return std::nullopt;
  auto mul = dyn_cast<arith::MulFOp>(&body.front());
  auto add = dyn_cast<arith::AddFOp>(mul ? mul->getNextNode() : nullptr);
  if (!mul || !add)
    return std::nullopt;
  Value a0 = body.getArgument(0), a1 = body.getArgument(1),
        a2 = body.getArgument(2);
  bool mulOk = (mul.getLhs() == a0 && mul.getRhs() == a1) ||
               (mul.getLhs() == a1 && mul.getRhs() == a0);
  bool addOk = (add.getLhs() == a2 && add.getRhs() == mul.getResult()) ||
               (add.getRhs() == a2 && add.getLhs() == mul.getResult());
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (!mulOk || !addOk || yield.getNumOperands() != 1 ||
      yield.getOperand(0) != add.getResult())
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims =
      linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1)
    return std::nullopt;
  // Every loop is a batch, m, n or k loop, and no operand repeats a loop.
  if (dims->batch.size() + 3 != op.getNumLoops())
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  Contraction c;
  c.batched = !dims->batch.empty();
  if (c.batched)
    c.outerBatch.assign(dims->batch.begin(), dims->batch.end() - 1);
  unsigned m = dims->m[0], n = dims->n[0], k = dims->k[0];
  const unsigned matrix[3][2] = {{m, k}, {k, n}, {m, n}};
  for (unsigned i = 0; i < 3; ++i) {
    auto results = dimsOf(maps[i]);
    if (!results)
      return std::nullopt;
    SmallVector<unsigned> loops(dims->batch.begin(), dims->batch.end());
    loops.append({matrix[i][0], matrix[i][1]});
    if (results->size() != loops.size())
      return std::nullopt;
    for (unsigned loop : loops) {
      auto at = llvm::find(*results, loop);
      if (at == results->end())
        return std::nullopt;
      c.order[i].push_back(unsigned(at - results->begin()));
    }
  }
  return c;
}

/// True if no op strictly between `from` and `to` (same block) may write
/// memory other than buffers allocated between them, so a value read at
/// `from` is still there at `to`.
bool nothingWrittenBetween(Operation *from, Operation *to) {
  llvm::SmallPtrSet<Value, 8> fresh;
  for (Operation *op = from->getNextNode(); op && op != to;
       op = op->getNextNode()) {
    if (isa<memref::AllocOp, memref::AllocaOp>(op)) {
      fresh.insert(op->getResult(0));
      continue;
    }
    if (isMemoryEffectFree(op))
      continue;
    auto iface = dyn_cast<MemoryEffectOpInterface>(op);
    if (!iface)
      return false;
    SmallVector<MemoryEffects::EffectInstance> effects;
    iface.getEffects(effects);
    for (auto &e : effects) {
      if (isa<MemoryEffects::Read>(e.getEffect()))
        continue;
      // A write, free or allocation: only of a fresh buffer.
      Value v = e.getValue();
      if (!v || !fresh.contains(v))
        return false;
    }
  }
  return true;
}

/// The buffer `v` is a view of (through subviews, casts, reshapes).
Value rootOf(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
    v = view.getViewSource();
  return v;
}

/// True if `x` and `y` are provably different buffers: distinct allocations,
/// or an allocation and an argument of the function that makes it.
bool distinctBuffers(Value x, Value y) {
  Value rx = rootOf(x), ry = rootOf(y);
  if (rx == ry)
    return false;
  auto allocated = [](Value v) {
    return isa_and_present<memref::AllocOp, memref::AllocaOp>(
        v.getDefiningOp());
  };
  auto functionArgument = [](Value v) {
    auto arg = dyn_cast<BlockArgument>(v);
    return arg && isa<FunctionOpInterface>(arg.getOwner()->getParentOp()) &&
           arg.getOwner()->isEntryBlock();
  };
  // An argument marked noalias (a gradient accumulator: LowerSchedule's
  // `<stage>_acc` functions) shares no memory with the other arguments.
  auto restricted = [&](Value v) {
    auto arg = cast<BlockArgument>(v);
    auto fn = cast<FunctionOpInterface>(arg.getOwner()->getParentOp());
    return static_cast<bool>(fn.getArgAttr(
        arg.getArgNumber(), LLVM::LLVMDialect::getNoAliasAttrName()));
  };
  if (functionArgument(rx) && functionArgument(ry))
    return restricted(rx) || restricted(ry);
  return (allocated(rx) && (allocated(ry) || functionArgument(ry))) ||
         (allocated(ry) && functionArgument(rx));
}

/// If `operand` of `gemm` is a temporary that only receives a transpose of
/// some X (last two dimensions swapped) right before the matmul, returns
/// that transpose: the matmul can read X with the opposite flag.
linalg::TransposeOp foldableTranspose(Value operand, Operation *gemm,
                                      bool batched) {
  auto alloc = operand.getDefiningOp<memref::AllocOp>();
  if (!alloc || alloc->getBlock() != gemm->getBlock())
    return nullptr;
  linalg::TransposeOp transpose;
  for (OpOperand &use : operand.getUses()) {
    Operation *user = use.getOwner();
    if (user == gemm || isa<memref::DeallocOp>(user))
      continue;
    auto t = dyn_cast<linalg::TransposeOp>(user);
    if (!t || transpose || t.getInit() != operand)
      return nullptr;
    transpose = t;
  }
  if (!transpose || transpose->getBlock() != gemm->getBlock() ||
      !transpose->isBeforeInBlock(gemm) ||
      !isa<MemRefType>(transpose.getInput().getType()))
    return nullptr;
  ArrayRef<int64_t> perm = transpose.getPermutation();
  if (batched ? perm != ArrayRef<int64_t>{0, 2, 1}
              : perm != ArrayRef<int64_t>{1, 0})
    return nullptr;
  // The gemm reads the operand only once (not as both A and B).
  unsigned gemmUses = 0;
  for (OpOperand &use : operand.getUses())
    gemmUses += use.getOwner() == gemm;
  if (gemmUses != 1 || !nothingWrittenBetween(transpose, gemm))
    return nullptr;
  // The matmul must not write the transpose's source (it would read it
  // while writing it, where the temporary kept the old values).
  Value output = cast<linalg::LinalgOp>(gemm).getDpsInits()[0];
  if (!distinctBuffers(transpose.getInput(), output))
    return nullptr;
  return transpose;
}

/// `name(memref<*xT>, memref<*xT>, memref<*xT>, i32, i32) -> i32` with the
/// C interface, declared once; fails (with a diagnostic) if the name is
/// taken by something else.
/// `into`: the cpu entry that overwrites C (dualpipe_rt_matmul_into_*).
FailureOr<func::FuncOp> declareGemm(ModuleOp module, Type element,
                                    Location loc, bool cuda,
                                    bool into = false) {
  MLIRContext *ctx = module.getContext();
  std::string name = std::string(cuda ? "dualpipe_rt_cuda_matmul_"
                                 : into ? "dualpipe_rt_matmul_into_"
                                        : "dualpipe_rt_matmul_") +
                     (element.isF64() ? "f64" : "f32");
  Type u = UnrankedMemRefType::get(element, /*memorySpace=*/nullptr);
  Type i32 = IntegerType::get(ctx, 32);
  auto type = FunctionType::get(ctx, {u, u, u, i32, i32}, {i32});
  if (Operation *existing = module.lookupSymbol(name)) {
    auto fn = dyn_cast<func::FuncOp>(existing);
    if (fn && fn.getFunctionType() == type && fn.isExternal() &&
        fn->hasAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName()))
      return fn;
    return existing->emitError()
           << "'" << name << "' is the runtime's GEMM entry point; expected "
           << "an external func.func of type " << type
           << " with llvm.emit_c_interface";
  }
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name, type);
  fn.setPrivate();
  fn->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), b.getUnitAttr());
  return fn;
}

/// The linalg.fill of +0.0 into exactly `c` right before `gemm` (same block;
/// nothing in between uses `c`'s buffer or a view of it), which the GEMM can
/// take over by overwriting C instead of accumulating into it; or null. `c`
/// must be a buffer the function allocates (no argument it may alias).
linalg::FillOp zeroFillOf(Value c, Operation *gemm) {
  Value root = rootOf(c);
  if (!isa_and_present<memref::AllocOp>(root.getDefiningOp()))
    return nullptr;
  for (Operation *op = gemm->getPrevNode(); op; op = op->getPrevNode()) {
    auto fill = dyn_cast<linalg::FillOp>(op);
    if (fill && fill.hasPureBufferSemantics() &&
        fill.getOutputs().size() == 1 && fill.getOutputs()[0] == c) {
      FloatAttr zero;
      if (!matchPattern(fill.getInputs()[0], m_Constant(&zero)) ||
          !zero.getValue().isPosZero())
        return nullptr;
      return fill;
    }
    if (op == root.getDefiningOp())
      return nullptr;
    // Anything that may touch the buffer between the fill and the GEMM:
    // an operand viewing it, or a region (which might use it inside).
    if (op->getNumRegions() && !isMemoryEffectFree(op))
      return nullptr;
    for (Value operand : op->getOperands())
      if (isa<BaseMemRefType>(operand.getType()) && rootOf(operand) == root)
        return nullptr;
  }
  return nullptr;
}

bool cublasCompatible(Value v) {
  auto type = cast<MemRefType>(v.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  size_t r = strides.size();
  return strides[r - 1] == 1 || strides[r - 2] == 1;
}

struct LowerGemmToRuntimePass
    : impl::DualPipeLowerGemmToRuntimeBase<LowerGemmToRuntimePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (target != "cpu" && target != "cuda") {
      module.emitError() << "--dualpipe-lower-gemm-to-runtime: unknown target '"
                         << target << "' (cpu or cuda)";
      return signalPassFailure();
    }
    SmallVector<std::pair<linalg::LinalgOp, Gemm>> gemms;
    module.walk([&](linalg::LinalgOp op) {
      auto g = matchGemm(op);
      // cuBLAS copies nothing: every operand needs a unit stride in one of
      // its last two dimensions, known at compile time.
      if (g && target == "cuda" &&
          !llvm::all_of(op->getOperands(), cublasCompatible))
        return;
      if (g)
        gemms.push_back({op, *g});
    });
    for (auto &[op, g] : gemms)
      if (failed(lower(module, op, g)))
        return signalPassFailure();
    // Generic contractions (cpu only: their views need not have the unit
    // stride cuBLAS wants; the runtime copies where BLAS cannot read one).
    if (target != "cpu" || !contractions)
      return;
    SmallVector<std::pair<linalg::GenericOp, Contraction>, 4> generics;
    module.walk([&](linalg::GenericOp op) {
      if (auto c = matchContraction(op))
        generics.push_back({op, *c});
    });
    for (auto &[op, c] : generics)
      if (failed(lowerContraction(module, op, c)))
        return signalPassFailure();
  }

  LogicalResult lower(ModuleOp module, linalg::LinalgOp op, Gemm g) {
    Operation *gemm = op.getOperation();
    bool batched = isa<linalg::BatchMatmulOp>(gemm);
    Type element = cast<MemRefType>(g.c.getType()).getElementType();
    // cpu: a zero fill of C right before becomes the call's beta = 0.
    linalg::FillOp fill = target == "cpu" && foldFills
                              ? zeroFillOf(g.c, gemm)
                              : linalg::FillOp();
    FailureOr<func::FuncOp> callee = declareGemm(
        module, element, op.getLoc(), target == "cuda", bool(fill));
    if (failed(callee))
      return failure();
    if (fill)
      fill->erase();

    // A transpose into a temporary that only the matmul reads: read its
    // source instead, with the flag flipped; the temporary goes away.
    SmallVector<Value> temporaries;
    if (foldTransposes) {
      for (auto [value, flag] :
           {std::pair<Value *, bool *>{&g.a, &g.transposeA},
            std::pair<Value *, bool *>{&g.b, &g.transposeB}}) {
        if (g.a == g.b)
          break;
        linalg::TransposeOp t = foldableTranspose(*value, gemm, batched);
        if (!t)
          continue;
        temporaries.push_back(*value);
        *value = t.getInput();
        *flag = !*flag;
        t->erase();
      }
    }

    OpBuilder b(gemm);
    emitCall(b, gemm->getLoc(), *callee, g.a, g.b, g.c, g.transposeA,
             g.transposeB);
    gemm->erase();

    for (Value t : temporaries) {
      if (!llvm::all_of(t.getUsers(),
                        [](Operation *u) { return isa<memref::DeallocOp>(u); }))
        continue;
      for (Operation *u : llvm::make_early_inc_range(t.getUsers()))
        u->erase();
      t.getDefiningOp()->erase();
    }
    return success();
  }

  /// `callee(A, B, C, ta, tb)` at `b`'s insertion point, the operands cast
  /// to unranked memrefs; inside a region other than a function body, in a
  /// memref.alloca_scope (each cast takes a stack slot).
  static void emitCall(OpBuilder &b, Location loc, func::FuncOp callee,
                       Value a, Value bv, Value c, bool transposeA,
                       bool transposeB) {
    OpBuilder::InsertionGuard guard(b);
    if (!isa<FunctionOpInterface>(b.getInsertionBlock()->getParentOp())) {
      auto scope = memref::AllocaScopeOp::create(b, loc, TypeRange{});
      Block *body = b.createBlock(&scope.getBodyRegion());
      b.setInsertionPointToStart(body);
      memref::AllocaScopeReturnOp::create(b, loc, ValueRange{});
      b.setInsertionPointToStart(body);
    }
    Type element = cast<MemRefType>(c.getType()).getElementType();
    Type unranked = UnrankedMemRefType::get(element, nullptr);
    auto cast = [&](Value v) {
      return memref::CastOp::create(b, loc, unranked, v).getResult();
    };
    Value ua = cast(a), ub = cast(bv), uc = cast(c);
    Value ta = arith::ConstantIntOp::create(b, loc, transposeA, 32);
    Value tb = transposeB == transposeA
                   ? ta
                   : arith::ConstantIntOp::create(b, loc, transposeB, 32);
    // The status is reported by the runtime itself (a failed GEMM fails the
    // rank's world), as for sends and receives.
    func::CallOp::create(b, loc, callee, ValueRange{ua, ub, uc, ta, tb});
  }

  /// A generic contraction: scf.for over the outer batch loops, each
  /// operand viewed as [batch,] row x column (subview fixing the outer
  /// batch loops, then memref.transpose), one runtime call per iteration.
  LogicalResult lowerContraction(ModuleOp module, linalg::GenericOp op,
                                 const Contraction &c) {
    Location loc = op.getLoc();
    Type element =
        cast<MemRefType>(op.getDpsInits()[0].getType()).getElementType();
    // The loops' calls together write all of C: a zero fill of C right
    // before becomes their beta = 0.
    linalg::FillOp fill =
        foldFills ? zeroFillOf(op.getDpsInits()[0], op) : linalg::FillOp();
    FailureOr<func::FuncOp> callee =
        declareGemm(module, element, loc, /*cuda=*/false, bool(fill));
    if (failed(callee))
      return failure();
    if (fill)
      fill->erase();
    OpBuilder b(op);
    SmallVector<Range> ranges =
        cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(b, loc);
    DenseMap<unsigned, Value> ivs;
    for (unsigned loop : c.outerBatch) {
      Value lb = getValueOrCreateConstantIndexOp(b, loc, ranges[loop].offset);
      Value ub = getValueOrCreateConstantIndexOp(b, loc, ranges[loop].size);
      Value step =
          getValueOrCreateConstantIndexOp(b, loc, ranges[loop].stride);
      auto forOp = scf::ForOp::create(b, loc, lb, ub, step);
      b.setInsertionPoint(forOp.getBody()->getTerminator());
      ivs[loop] = forOp.getInductionVar();
    }
    Value operands[3] = {op.getDpsInputs()[0], op.getDpsInputs()[1],
                         op.getDpsInits()[0]};
    size_t outer = c.outerBatch.size();
    for (unsigned i = 0; i < 3; ++i) {
      Value v = operands[i];
      auto type = cast<MemRefType>(v.getType());
      int64_t rank = type.getRank();
      ArrayRef<unsigned> order = c.order[i];
      // Position of each remaining dimension once the outer batch
      // dimensions are dropped.
      SmallVector<int64_t> newPosition(rank, -1);
      if (outer) {
        SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
        SmallVector<OpFoldResult> sizes = memref::getMixedSizes(b, loc, v);
        SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
        SmallVector<bool> dropped(rank, false);
        for (size_t j = 0; j < outer; ++j) {
          offsets[order[j]] = ivs[c.outerBatch[j]];
          sizes[order[j]] = b.getIndexAttr(1);
          dropped[order[j]] = true;
        }
        SmallVector<int64_t> shape;
        for (int64_t d = 0; d < rank; ++d)
          if (!dropped[d]) {
            newPosition[d] = int64_t(shape.size());
            shape.push_back(type.getDimSize(d));
          }
        MemRefType viewType = memref::SubViewOp::inferRankReducedResultType(
            shape, type, offsets, sizes, strides);
        v = memref::SubViewOp::create(b, loc, viewType, v, offsets, sizes,
                                      strides);
      } else {
        for (int64_t d = 0; d < rank; ++d)
          newPosition[d] = d;
      }
      SmallVector<unsigned> permutation;
      for (size_t j = outer; j < order.size(); ++j)
        permutation.push_back(unsigned(newPosition[order[j]]));
      bool identity = true;
      for (auto [j, p] : llvm::enumerate(permutation))
        identity &= p == j;
      if (!identity)
        v = memref::TransposeOp::create(
            b, loc, v,
            AffineMapAttr::get(
                AffineMap::getPermutationMap(permutation, b.getContext())));
      operands[i] = v;
    }
    emitCall(b, loc, *callee, operands[0], operands[1], operands[2],
             /*transposeA=*/false, /*transposeB=*/false);
    op->erase();
    return success();
  }
};

} // namespace
} // namespace dualpipe
