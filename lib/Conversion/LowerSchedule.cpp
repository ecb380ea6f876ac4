//===- LowerSchedule.cpp - each rank's program becomes a step function ---===//
//
// Implements --dualpipe-lower-schedule: the dualpipe.schedule (actions and
// messages per rank) becomes one tensor-level function per rank that runs
// its part of a training step.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include <map>
#include <set>

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPELOWERSCHEDULE
#include "dualpipe/Conversion/Passes.h.inc"

using namespace mlir;

namespace {

/// What a stage function's arguments are.
struct StageInfo {
  func::FuncOp fn;
  unsigned numActivations = 0;       ///< Leading args with dualpipe.from_stage.
  SmallVector<int64_t> modelArgs;    ///< Model index of each later argument.
  SmallVector<int64_t> params;       ///< Model index of each parameter arg.
  int64_t prev = -1, next = -1;      ///< Neighbouring stages in its pipeline.
};

/// A value slot: what kind, which stage, which micro-batch.
using Key = std::tuple<char, int64_t, int64_t>;

static Value concatFlat(OpBuilder &b, Location loc, ValueRange grads,
                        RankedTensorType flatType);

/// One reassociation group of all `rank` dimensions (to and from 1-D).
static ReassociationIndices allDims(int64_t rank) {
  ReassociationIndices all;
  for (int64_t d = 0; d < rank; ++d)
    all.push_back(d);
  return all;
}

/// Builds one rank's step function.
class RankLowering {
public:
  RankLowering(OpBuilder &b, ModuleOp module, ArrayRef<StageInfo> stages,
               ArrayRef<int64_t> stageToRank, func::FuncOp entry, int64_t rank,
               int64_t numMicrobatches, int64_t numModelArgs,
               ArrayRef<int64_t> modelParams, bool postReceives,
               bool rollMicrobatches, unsigned flatLoopSumFrom)
      : b(b), module(module), stages(stages), stageToRank(stageToRank),
        entry(entry), rank(rank), numMicrobatches(numMicrobatches),
        numModelArgs(numModelArgs), modelParams(modelParams),
        postReceives(postReceives), rollMicrobatches(rollMicrobatches),
        flatLoopSumFrom(flatLoopSumFrom) {}

  LogicalResult run(ProgramOp program);

private:
  Value sliceMicrobatch(Value batched, int64_t m, Location loc) {
    auto type = cast<RankedTensorType>(batched.getType());
    int64_t rows = type.getDimSize(0) / numMicrobatches;
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)),
        sizes, strides(type.getRank(), b.getIndexAttr(1));
    if (loopIndex)
      offsets[0] =
          arith::MulIOp::create(b, loc, loopIndex,
                                arith::ConstantIndexOp::create(b, loc, rows))
              .getResult();
    else
      offsets[0] = b.getIndexAttr(m * rows);
    for (int64_t d = 0; d < type.getRank(); ++d)
      sizes.push_back(b.getIndexAttr(d == 0 ? rows : type.getDimSize(d)));
    auto result = RankedTensorType::get(
        [&] {
          SmallVector<int64_t> shape(type.getShape());
          shape[0] = rows;
          return shape;
        }(),
        type.getElementType());
    return tensor::ExtractSliceOp::create(b, loc, result, batched, offsets,
                                          sizes, strides);
  }

  int64_t tagOf(bool gradient, int64_t stage, int64_t m, int64_t k) {
    return (((gradient ? 1 : 0) * int64_t(stages.size()) + stage) *
                numMicrobatches +
            m) *
               64 +
           k;
  }

  FailureOr<SmallVector<Value>> take(Key key, Operation *at, StringRef what) {
    auto it = values.find(key);
    if (it == values.end() && arriving.count(key))
      it = land(key);
    if (it == values.end())
      return at->emitError() << "cannot lower: " << what
                             << " is not available on rank " << rank
                             << " at this point; run --dualpipe-verify";
    return it->second;
  }

  void accumulate(int64_t param, Value grad, Location loc) {
    assert(!reducing.count(param) &&
           "a gradient changed after its all-reduce started");
    auto [it, inserted] = grads.try_emplace(param, grad);
    if (inserted)
      return;
    // In a rolled loop the sum is carried: added in place, it bufferizes
    // to the loop's own buffer (one-shot bufferization wants a yielded
    // value equivalent to its iteration argument).
    if (loopIndex)
      it->second = linalg::AddOp::create(b, loc, ValueRange{it->second, grad},
                                         ValueRange{it->second})
                       .getResult(0);
    else
      it->second = arith::AddFOp::create(b, loc, it->second, grad);
  }

  Value zerosLike(Type type, Location loc) {
    auto t = cast<RankedTensorType>(type);
    Value empty = tensor::EmptyOp::create(b, loc, t.getShape(),
                                          t.getElementType());
    Value zero = arith::ConstantOp::create(
        b, loc, t.getElementType(), b.getZeroAttr(t.getElementType()));
    return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  }

  /// Micro-batch `m` as a value of `type` (index or i32): the loop's index
  /// in a rolled program, else the constant.
  Value microbatchIndex(int64_t m, Location loc, Type type) {
    if (!loopIndex)
      return type.isIndex()
                 ? arith::ConstantIndexOp::create(b, loc, m).getResult()
                 : arith::ConstantIntOp::create(b, loc, m, 32).getResult();
    if (type.isIndex())
      return loopIndex;
    return arith::IndexCastOp::create(b, loc, type, loopIndex);
  }

  /// Brackets the code of one action with the runtime's action markers, so
  /// the timeline shows compute and a stuck receive names its action.
  void markAction(Location loc, int32_t kind, int64_t stage, int64_t m) {
    Value k = arith::ConstantIntOp::create(b, loc, kind, 32);
    Value s = arith::ConstantIntOp::create(b, loc, stage, 32);
    Value mb = microbatchIndex(m, loc, b.getI32Type());
    func::CallOp::create(b, loc, runtimeFn("dualpipe_rt_begin_action", 3),
                         ValueRange{k, s, mb});
  }
  void endAction(Location loc) {
    func::CallOp::create(b, loc, runtimeFn("dualpipe_rt_end_action", 0),
                         ValueRange());
  }
  /// Declares `void name(i32 x arity)` once.
  func::FuncOp runtimeFn(StringRef name, unsigned arity) {
    if (auto fn = module.lookupSymbol<func::FuncOp>(name))
      return fn;
    OpBuilder top = OpBuilder::atBlockBegin(module.getBody());
    SmallVector<Type> args(arity, top.getI32Type());
    auto fn = func::FuncOp::create(top, module.getLoc(), name,
                                   top.getFunctionType(args, {}));
    fn.setPrivate();
    return fn;
  }

  /// Where a stage's parameter gradients sit in its flat accumulator: the
  /// element offset of each parameter's gradient (in `StageInfo::params`
  /// order) and the total.
  struct Packing {
    SmallVector<int64_t> offsets;
    int64_t elements = 0;
  };
  /// `types` (f32, static, rank >= 1) side by side from offset 0.
  static std::optional<Packing> sideBySide(TypeRange types);
  std::optional<Packing> packingOf(const StageInfo &info, func::FuncOp callee,
                                   unsigned first) const;
  func::FuncOp accumulatorFn(func::FuncOp callee, unsigned first,
                             const Packing &packing);
  func::FuncOp intoFn(func::FuncOp callee, unsigned first,
                      const Packing &packing, bool slice);
  func::FuncOp accumulatorCallFn(func::FuncOp callee, unsigned first,
                                 RankedTensorType flatType, StringRef name);
  /// Parameter `param`'s summed gradient so far: the unpacked sum and its
  /// slices of the flat accumulators of this rank's stages. Once asked for,
  /// that is final (the flats of its stages take nothing more).
  Value gradOf(int64_t param, Location loc);

  LogicalResult compute(ComputeOp op);
  bool rollable(ProgramOp prog) const;
  LogicalResult computeRolled(ProgramOp prog);
  LogicalResult overlap(OverlapOp pair);
  LogicalResult send(ISendOp op);
  void post(IRecvOp op);
  LogicalResult receive(WaitRecvOp op, IRecvOp posted);
  std::map<Key, SmallVector<Value>>::iterator land(Key key);

  /// A receive posted at its p2p_group whose message may still be on the
  /// way: its buffers and the requests to wait for before reading them.
  struct InFlight {
    SmallVector<Value> buffers, tokens;
    SmallVector<RankedTensorType> types;
  };
  /// Keyed by message kind ('a'/'g'), stage and micro-batch.
  std::map<Key, InFlight> inFlight;
  /// Messages whose wait_recv has passed, by the value slot they fill
  /// ('R'/'Q'): the wait is emitted where the first use needs them.
  std::map<Key, InFlight> arriving;
  /// Sends an F&B pair issued between its halves, skipped at their group.
  std::set<Key> sentEarly;
  LogicalResult allReduce(AllReduceGradsOp op, bool start);
  LogicalResult allReduceFlat(AllReduceGradsOp op, func::FuncOp fn,
                              bool start);
  /// `value` copied into a fresh buffer that an all-reduce over `op`'s
  /// ranks sums in place: started with `tag` (its token returned) or, with
  /// `start` false, blocking (null token).
  std::pair<Value, Value> reduceCopy(AllReduceGradsOp op, Value value,
                                     int64_t tag, bool start);
  /// A reduced buffer as a tensor again.
  Value summed(Value buffer, Location loc) {
    auto type = cast<MemRefType>(buffer.getType());
    return bufferization::ToTensorOp::create(
        b, loc, RankedTensorType::get(type.getShape(), type.getElementType()),
        buffer, /*restrict=*/true, /*writable=*/true);
  }
  /// Waits for the started all-reduces; their sums become the gradients.
  void finishAllReduces(Location loc);
  /// Where each all-reduce of the program may start: after the last
  /// top-level op that adds to its function's gradients on this rank.
  DenseMap<Operation *, SmallVector<AllReduceGradsOp>> startAfter;
  DenseSet<Operation *> started;
  /// Started all-reduces: parameter, buffer, token.
  struct Reducing {
    int64_t param; ///< -1 for a stage's flat accumulator
    Value buffer, token;
    int64_t stage = -1; ///< whose flat accumulator, when param is -1
  };
  SmallVector<Reducing> inReduction;
  DenseSet<int64_t> reducing;

  OpBuilder &b;
  ModuleOp module;
  ArrayRef<StageInfo> stages;
  ArrayRef<int64_t> stageToRank;
  func::FuncOp entry;
  int64_t rank, numMicrobatches, numModelArgs;
  ArrayRef<int64_t> modelParams;
  std::map<Key, SmallVector<Value>> values;
  DenseMap<int64_t, Value> grads; ///< By model argument index.
  /// By stage: its flat gradient accumulator and where each parameter's
  /// gradient is in it.
  DenseMap<int64_t, Value> flats;
  DenseMap<int64_t, Packing> packings;
  /// Parameters whose flat slices gradOf has folded into `grads`.
  DenseSet<int64_t> folded;
  Value losses;
  bool postReceives, rollMicrobatches;
  unsigned flatLoopSumFrom;
  /// In a rolled program's loop body: the micro-batch index.
  Value loopIndex;
  /// The program being lowered, to find the sends that follow a pair.
  ProgramOp program;
};

LogicalResult RankLowering::compute(ComputeOp op) {
  Location loc = op.getLoc();
  int64_t s = op.getStageIndex(), m = op.getMicrobatchIndex();
  const StageInfo &info = stages[s];
  auto callee = op.getCalleeAttr()
                    ? module.lookupSymbol<func::FuncOp>(*op.getCallee())
                    : func::FuncOp();
  if (!callee)
    return op.emitError() << "names no function to call; run "
                             "--dualpipe-autodiff before --dualpipe-schedule";
  ActionKind kind = op.getKind();
  SmallVector<Value> operands;
  auto incoming = [&](int64_t from, bool gradient) -> LogicalResult {
    if (from < 0)
      return success();
    bool local = stageToRank[from] == rank;
    char k = gradient ? (local ? 'g' : 'Q') : (local ? 'a' : 'R');
    auto v = take({k, from, m}, op,
                  (Twine(gradient ? "the gradient from stage "
                                  : "the activation from stage ") +
                   Twine(from) + ", micro-batch " + Twine(m))
                      .str());
    if (failed(v))
      return failure();
    llvm::append_range(operands, *v);
    return success();
  };

  if (kind == ActionKind::Forward) {
    if (failed(incoming(info.prev, /*gradient=*/false)))
      return failure();
    for (int64_t idx : info.modelArgs) {
      Value arg = entry.getArgument(idx);
      bool isParam = llvm::is_contained(modelParams, idx);
      operands.push_back(isParam ? arg : sliceMicrobatch(arg, m, loc));
    }
    // The last stage's forward also takes this micro-batch's labels.
    unsigned firstLabel = operands.size();
    for (unsigned i = firstLabel; i < callee.getNumArguments(); ++i)
      operands.push_back(sliceMicrobatch(
          entry.getArgument(numModelArgs + (i - firstLabel)), m, loc));
  } else if (kind == ActionKind::BackwardWeight) {
    auto w = take({'w', s, m}, op, "the values W needs");
    if (failed(w))
      return failure();
    operands = *w;
  } else {
    if (failed(incoming(info.next, /*gradient=*/true)))
      return failure();
    auto saved = take({'s', s, m}, op, "the values the forward saved");
    if (failed(saved))
      return failure();
    llvm::append_range(operands, *saved);
  }
  if (operands.size() != callee.getNumArguments())
    return op.emitError() << "has " << operands.size() << " operands for @"
                          << callee.getSymName() << ", which takes "
                          << callee.getNumArguments()
                          << "; the stage's functions do not follow the "
                             "autodiff contract";
  // B and W add their parameter gradients into the stage's flat
  // accumulator inside `<callee>_acc` (in a rolled loop that carries the
  // flat, in the loop body instead: see addInLoop).
  unsigned firstGrad = kind == ActionKind::Backward ? info.numActivations : 0;
  std::optional<Packing> packing;
  if (!loopIndex &&
      (kind == ActionKind::Backward || kind == ActionKind::BackwardWeight))
    packing = packingOf(info, callee, firstGrad);
  // In a rolled loop that carries the stage's flat accumulator, the sum is
  // added in the loop body (a call's result is not equivalent to the
  // loop's iteration argument for bufferization; the add in place is).
  bool addInLoop =
      loopIndex && flats.count(s) &&
      (kind == ActionKind::Backward || kind == ActionKind::BackwardWeight);
  if (packing) {
    for (int64_t p : info.params)
      if (folded.contains(p) || reducing.count(p))
        return op.emitError()
               << "cannot lower: it adds to the gradient of model argument "
               << p << " after that gradient was taken for its all-reduce; "
               << "a parameter's all-reduce must follow its last B or W";
    packings.try_emplace(s, *packing);
    Value acc = flats.lookup(s);
    if (!acc)
      acc = zerosLike(
          RankedTensorType::get({packing->elements}, b.getF32Type()), loc);
    operands.insert(operands.begin(), acc);
    callee = accumulatorFn(callee, firstGrad, *packing);
  }
  // The runtime's dualpipe_action_kind numbers F, B, I, W as the IR does.
  int32_t code = static_cast<int32_t>(kind);
  markAction(loc, code, s, m);
  auto call = func::CallOp::create(b, loc, callee, operands);
  endAction(loc);
  ValueRange results = call.getResults();
  if (packing || addInLoop) {
    if (packing) {
      flats[s] = results[firstGrad];
    } else {
      Value acc = flats.lookup(s);
      Value flat = concatFlat(b, loc, results.drop_front(firstGrad),
                              cast<RankedTensorType>(acc.getType()));
      flats[s] =
          linalg::AddOp::create(b, loc, ValueRange{acc, flat}, ValueRange{acc})
              .getResult(0);
    }
    if (kind == ActionKind::Backward)
      values[{'g', s, m}] = SmallVector<Value>(results.take_front(firstGrad));
    return success();
  }

  if (kind == ActionKind::Forward) {
    unsigned outs =
        info.next < 0 ? 1 : func::FuncOp(info.fn).getNumResults();
    if (info.next < 0) {
      // The loss of this micro-batch.
      Value loss = tensor::ExtractOp::create(b, loc, results[0], ValueRange());
      Value index = microbatchIndex(m, loc, b.getIndexType());
      losses = tensor::InsertOp::create(b, loc, loss, losses, index);
    } else {
      values[{'a', s, m}] = SmallVector<Value>(results.take_front(outs));
    }
    values[{'s', s, m}] = SmallVector<Value>(results.drop_front(outs));
    return success();
  }
  if (kind == ActionKind::BackwardWeight) {
    for (auto [i, g] : llvm::enumerate(results))
      accumulate(info.params[i], g, loc);
    return success();
  }
  values[{'g', s, m}] =
      SmallVector<Value>(results.take_front(info.numActivations));
  ValueRange rest = results.drop_front(info.numActivations);
  if (kind == ActionKind::BackwardInput) {
    values[{'w', s, m}] = SmallVector<Value>(rest);
    return success();
  }
  for (auto [i, g] : llvm::enumerate(rest))
    accumulate(info.params[i], g, loc);
  return success();
}

/// The packing of `callee`'s parameter gradients (its results from `first`
/// on, one per parameter of the stage): when there are at least two, all
/// f32 with static shapes of rank >= 1. (One gradient needs no packing: its
/// flat buffer would be itself.)
std::optional<RankLowering::Packing>
RankLowering::packingOf(const StageInfo &info, func::FuncOp callee,
                        unsigned first) const {
  TypeRange results = callee.getFunctionType().getResults();
  if (info.params.size() < 2 || results.size() != first + info.params.size())
    return std::nullopt;
  return sideBySide(results.drop_front(first));
}

std::optional<RankLowering::Packing> RankLowering::sideBySide(TypeRange types) {
  Packing p;
  for (Type t : types) {
    auto type = dyn_cast<RankedTensorType>(t);
    if (!type || !type.hasStaticShape() || type.getRank() == 0 ||
        !type.getElementType().isF32())
      return std::nullopt;
    p.offsets.push_back(p.elements);
    p.elements += type.getNumElements();
  }
  return p;
}

/// `grads` (static f32 tensors of rank >= 1) collapsed and side by side
/// in one `tensor<Nxf32>` (tensor.concat, one op: a chain of
/// extract/add/insert_slice per parameter made one-shot bufferization's
/// alias analysis quadratic in the parameters).
static Value concatFlat(OpBuilder &b, Location loc, ValueRange grads,
                        RankedTensorType flatType) {
  SmallVector<Value> flat;
  for (Value g : grads) {
    auto type = cast<RankedTensorType>(g.getType());
    if (type.getRank() > 1)
      g = tensor::CollapseShapeOp::create(b, loc, g, {allDims(type.getRank())});
    flat.push_back(g);
  }
  if (flat.size() == 1)
    return flat.front();
  return tensor::ConcatOp::create(b, loc, flatType, /*dim=*/uint64_t(0), flat)
      .getResult();
}

/// `type` (static, rank >= 1) at `offset` of the 1-D `flat`, reshaped.
static Value flatSlot(OpBuilder &b, Location loc, Value flat, int64_t offset,
                      RankedTensorType type) {
  SmallVector<OpFoldResult> off{b.getIndexAttr(offset)},
      size{b.getIndexAttr(type.getNumElements())}, stride{b.getIndexAttr(1)};
  Value slot = tensor::ExtractSliceOp::create(b, loc, flat, off, size, stride);
  if (type.getRank() > 1)
    slot = tensor::ExpandShapeOp::create(b, loc, type, slot,
                                         {allDims(type.getRank())});
  return slot;
}

/// Whether `op` computes its init plus a sum, so that, given another
/// tensor as its init, it adds into that one: a contraction (C += A * B:
/// the weight gradients) or a sum reduction (the yield adds the running
/// value: the bias gradients).
static bool addsIntoInit(linalg::LinalgOp op) {
  if (op->getNumResults() != 1 || op.getNumDpsInits() != 1 ||
      !op.hasPureTensorSemantics())
    return false;
  if (linalg::isaContractionOpInterface(op))
    return true;
  if (op.getNumReductionLoops() == 0)
    return false;
  SmallVector<Operation *> combiners;
  Value reduced = matchReduction(op.getRegionOutputArgs(), 0, combiners);
  return reduced && combiners.size() == 1 &&
         isa<arith::AddFOp>(combiners.front());
}

/// Whether `init` is all zeros (a zero fill or a zero constant).
static bool isZeros(Value init) {
  if (auto fill = init.getDefiningOp<linalg::FillOp>())
    return matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
  return matchPattern(init, m_AnyZeroFloat());
}

/// The flat accumulator buffer an `_into` function takes: `memref<N x f32>`,
/// or for a block's `_into_slice` form a slice of its caller's at any
/// offset.
static MemRefType sliceBufferType(MLIRContext *ctx, int64_t elements,
                                  bool slice) {
  auto f32 = Float32Type::get(ctx);
  if (!slice)
    return MemRefType::get({elements}, f32);
  return MemRefType::get(
      {elements}, f32, StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {1}));
}

/// A call in a backward that returns parameter gradients the backward
/// returns as they are: the call's results from `first` on (a suffix; the
/// block's own parameter gradients) are the backward's results `k0`,
/// `k0 + 1`, ..., each used only there, so they sit side by side in the
/// stage's flat accumulator and the call can compute them into that slice.
struct GradientCall {
  func::FuncOp callee;
  unsigned first = 0;
  unsigned k0 = 0;
};

static FailureOr<SmallVector<GradientCall>>
gradientCalls(func::FuncOp fn, unsigned first, unsigned depth = 0);

/// Whether `callee` (one block) can compute its results from `first` on
/// (the parameter gradients) into its slice of a flat accumulator: each is
/// computed by an op of the body or returned as it is from a call of a
/// function that can do the same for its own (a block's backward), which
/// then computes into its sub-slice (see intoFn).
static bool intoable(func::FuncOp callee, unsigned first, unsigned depth = 0) {
  return callee && !callee.isExternal() && callee.getBody().hasOneBlock() &&
         succeeded(gradientCalls(callee, first, depth));
}

/// The calls of `fn` that compute some of its results from `first` on, or
/// failure when one of those results comes from a call in another way (a
/// call's result used twice, results out of order, a callee that cannot
/// compute into a slice). Calls nest at most 8 deep (a recursive call
/// graph fails).
static FailureOr<SmallVector<GradientCall>>
gradientCalls(func::FuncOp fn, unsigned first, unsigned depth) {
  if (depth > 8)
    return failure();
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  SmallVector<GradientCall> calls;
  for (unsigned k = first, e = ret.getNumOperands(); k < e;) {
    auto result = dyn_cast<OpResult>(ret.getOperand(k));
    auto call = result ? dyn_cast<CallOpInterface>(result.getOwner())
                       : CallOpInterface();
    if (!call) {
      ++k;
      continue;
    }
    auto funcCall = dyn_cast<func::CallOp>(result.getOwner());
    if (!funcCall)
      return failure();
    GradientCall gc{SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
                        funcCall, funcCall.getCalleeAttr()),
                    result.getResultNumber(), k};
    unsigned n = funcCall.getNumResults() - gc.first;
    if (k + n > e)
      return failure();
    for (unsigned j = 0; j < n; ++j)
      if (ret.getOperand(k + j) != funcCall.getResult(gc.first + j) ||
          !funcCall.getResult(gc.first + j).hasOneUse())
        return failure();
    if (!intoable(gc.callee, gc.first, depth + 1))
      return failure();
    calls.push_back(gc);
    k += n;
  }
  return calls;
}

/// `@<callee>_acc(%acc, args...)`: adds `callee`'s parameter gradients
/// into their slices of the flat accumulator `%acc`, which it returns in
/// place of them (writable: the rank program hands over its last use, so
/// bufferization updates the caller's buffer). It hands the accumulator's
/// buffer to `@<callee>_into` (see intoFn), which computes the gradients
/// into it. The rank program's B and W then take and give one gradient
/// value, not one per parameter, and the adds are compiled once per stage
/// function instead of once per micro-batch in every rank program.
func::FuncOp RankLowering::accumulatorFn(func::FuncOp callee, unsigned first,
                                         const Packing &packing) {
  std::string name = (callee.getSymName() + "_acc").str();
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  OpBuilder top(callee);
  top.setInsertionPointAfter(callee);
  Location loc = callee.getLoc();
  auto flatType = RankedTensorType::get({packing.elements}, top.getF32Type());
  if (!intoable(callee, first))
    return accumulatorCallFn(callee, first, flatType, name);
  func::FuncOp into = intoFn(callee, first, packing, /*slice=*/false);
  top.setInsertionPointAfter(into);
  FunctionType calleeType = callee.getFunctionType();
  SmallVector<Type> args{flatType};
  llvm::append_range(args, calleeType.getInputs());
  SmallVector<Type> results(calleeType.getResults().take_front(first));
  results.push_back(flatType);
  auto fn =
      func::FuncOp::create(top, loc, name, top.getFunctionType(args, results));
  fn.setPrivate();
  fn.setArgAttr(0, "bufferization.writable", top.getBoolAttr(true));
  Block *body = fn.addEntryBlock();
  OpBuilder in = OpBuilder::atBlockBegin(body);
  auto flatBuffer = MemRefType::get({packing.elements}, in.getF32Type());
  Value buffer = bufferization::ToBufferOp::create(in, loc, flatBuffer,
                                                   body->getArgument(0));
  SmallVector<Value> operands{buffer};
  llvm::append_range(operands, body->getArguments().drop_front());
  auto call = func::CallOp::create(in, loc, into, operands);
  SmallVector<Value> returned(call.getResults());
  returned.push_back(bufferization::ToTensorOp::create(
      in, loc, flatType, buffer, /*restrict=*/true, /*writable=*/true));
  func::ReturnOp::create(in, loc, returned);
  return fn;
}

/// `@<callee>_into(%acc: memref, args...)`: `callee`'s body (one block)
/// with each of its results from `first` on (the parameter gradients)
/// added into its slice of the flat buffer `%acc` (at the packing's
/// offsets) instead
/// of returned. A gradient that a contraction or a sum computes from zeros
/// (C = 0 + X^T dY, db = 0 + sum dY) takes its slice as its init, so the
/// GEMM accumulates (beta = 1) and the sum adds in place; gradients that a
/// block's call returns (see gradientCalls) come from a call of the
/// block's own `_into_slice` form on their slice (a subview, of dynamic
/// offset: the one function serves every block); any other gradient is
/// added to its slice (linalg.add). Each slice enters the tensor world on
/// its own (to_tensor restrict writable of a subview) and goes back with
/// materialize_in_destination, so their bufferization is independent of
/// one another: a chain of extract/insert_slice on one flat tensor made
/// one-shot's analysis superlinear in the parameters. `%acc` is noalias:
/// the caller passes its own accumulator (or a slice of it), which no
/// other argument shares (a GEMM may then read an argument while it writes
/// its slice). `slice` selects the form a block's call takes:
/// `<callee>_into_slice`, its buffer `memref<N x f32, strided<[1],
/// offset: ?>>`.
func::FuncOp RankLowering::intoFn(func::FuncOp callee, unsigned first,
                                  const Packing &packing, bool slice) {
  std::string name =
      (callee.getSymName() + (slice ? "_into_slice" : "_into")).str();
  if (auto fn = module.lookupSymbol<func::FuncOp>(name))
    return fn;
  // The calls whose gradients go to sub-slices, found before the clone
  // (intoable succeeded on `callee`).
  SmallVector<GradientCall> calls = *gradientCalls(callee, first);
  OpBuilder top(callee);
  top.setInsertionPointAfter(callee);
  // The blocks' forms first, each packing its own gradients (the same
  // values, so the same types, as the caller's packing checked).
  SmallVector<func::FuncOp> blockInto;
  for (GradientCall &gc : calls)
    blockInto.push_back(
        intoFn(gc.callee, gc.first,
               *sideBySide(gc.callee.getFunctionType().getResults().drop_front(
                   gc.first)),
               /*slice=*/true));
  auto fn = cast<func::FuncOp>(top.insert(callee.clone()));
  fn.setSymName(name);
  fn.setPrivate();
  // Not a stage function: none of its records (role, saved values,
  // gradient names) carries over.
  for (NamedAttribute a : llvm::to_vector(fn->getDiscardableAttrs()))
    fn->removeDiscardableAttr(a.getName());
  fn.removeArgAttrsAttr();
  fn.removeResAttrsAttr();
  Block &body = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  Location loc = fn.getLoc();
  MemRefType flatBuffer =
      sliceBufferType(top.getContext(), packing.elements, slice);
  (void)fn.insertArgument(
      0, flatBuffer,
      top.getDictionaryAttr(top.getNamedAttr(
          LLVM::LLVMDialect::getNoAliasAttrName(), top.getUnitAttr())),
      loc);
  Value acc = body.getArgument(0);
  OpBuilder in = OpBuilder::atBlockBegin(&body);
  auto subview = [&](int64_t offset, int64_t size) -> Value {
    SmallVector<OpFoldResult> off{in.getIndexAttr(offset)},
        sz{in.getIndexAttr(size)}, stride{in.getIndexAttr(1)};
    return memref::SubViewOp::create(in, loc, acc, off, sz, stride);
  };
  // A block's gradients: its `_into_slice` on their slice, in the call's
  // place (its other results replace the call's).
  llvm::SmallDenseSet<unsigned> viaCall;
  SmallVector<Operation *> replaced;
  for (auto [gc, into] : llvm::zip_equal(calls, blockInto)) {
    // The clone's call: the same position in the same block.
    auto call = cast<func::CallOp>(ret.getOperand(gc.k0).getDefiningOp());
    unsigned n = call.getNumResults() - gc.first;
    int64_t size =
        cast<MemRefType>(into.getArgumentTypes().front()).getNumElements();
    in.setInsertionPoint(call);
    Value view =
        memref::CastOp::create(in, loc, into.getArgumentTypes().front(),
                               subview(packing.offsets[gc.k0 - first], size));
    SmallVector<Value> operands{view};
    llvm::append_range(operands, call.getOperands());
    auto intoCall = func::CallOp::create(in, call.getLoc(), into, operands);
    for (unsigned j = 0; j < gc.first; ++j)
      call.getResult(j).replaceAllUsesWith(intoCall.getResult(j));
    for (unsigned j = 0; j < n; ++j)
      viaCall.insert(gc.k0 - first + j);
    replaced.push_back(call);
  }
  for (auto [k, offset] : llvm::enumerate(packing.offsets)) {
    if (viaCall.contains(k))
      continue;
    Value g = ret.getOperand(first + k);
    auto type = cast<RankedTensorType>(g.getType());
    in.setInsertionPointToStart(&body);
    Value view = subview(offset, type.getNumElements());
    if (type.getRank() > 1)
      view = memref::ExpandShapeOp::create(in, loc, type.getShape(), view,
                                           {allDims(type.getRank())});
    Value slot = bufferization::ToTensorOp::create(
        in, loc, type, view, /*restrict=*/true, /*writable=*/true);
    in.setInsertionPoint(ret);
    auto linalgOp = g.getDefiningOp<linalg::LinalgOp>();
    Value sum;
    if (linalgOp && g.hasOneUse() && addsIntoInit(linalgOp) &&
        isZeros(linalgOp.getDpsInits()[0])) {
      OpOperand *init = linalgOp.getDpsInitOperand(0);
      Operation *zeros = init->get().getDefiningOp();
      init->set(slot);
      if (zeros && zeros->use_empty())
        zeros->erase();
      sum = g;
    } else {
      sum = linalg::AddOp::create(in, g.getLoc(), ValueRange{slot, g},
                                  ValueRange{slot})
                .getResult(0);
    }
    auto store = bufferization::MaterializeInDestinationOp::create(
        in, loc, TypeRange(), sum, view);
    store.setRestrict(true);
    store.setWritable(true);
  }
  SmallVector<Value> returned(ret.getOperands().take_front(first));
  ret->setOperands(returned);
  for (Operation *call : replaced)
    call->erase();
  fn.setType(top.getFunctionType(fn.getArgumentTypes(),
                                 ValueRange(returned).getTypes()));
  return fn;
}

/// The form of accumulatorFn for a callee that cannot compute its
/// gradients into the accumulator (several blocks, or a gradient from a
/// call that intoable rejects): a call of it, then its gradients side by
/// side added to the accumulator.
func::FuncOp RankLowering::accumulatorCallFn(func::FuncOp callee,
                                             unsigned first,
                                             RankedTensorType flatType,
                                             StringRef name) {
  OpBuilder top(callee);
  top.setInsertionPointAfter(callee);
  Location loc = callee.getLoc();
  FunctionType calleeType = callee.getFunctionType();
  SmallVector<Type> args{flatType};
  llvm::append_range(args, calleeType.getInputs());
  SmallVector<Type> results(calleeType.getResults().take_front(first));
  results.push_back(flatType);
  auto fn =
      func::FuncOp::create(top, loc, name, top.getFunctionType(args, results));
  fn.setPrivate();
  fn.setArgAttr(0, "bufferization.writable", top.getBoolAttr(true));
  Block *body = fn.addEntryBlock();
  OpBuilder in = OpBuilder::atBlockBegin(body);
  auto call =
      func::CallOp::create(in, loc, callee, body->getArguments().drop_front());
  Value acc = body->getArgument(0);
  Value grads =
      concatFlat(in, loc, call.getResults().drop_front(first), flatType);
  acc = linalg::AddOp::create(in, loc, ValueRange{acc, grads}, ValueRange{acc})
            .getResult(0);
  SmallVector<Value> returned(call.getResults().take_front(first));
  returned.push_back(acc);
  func::ReturnOp::create(in, loc, returned);
  return fn;
}

Value RankLowering::gradOf(int64_t param, Location loc) {
  Value g = grads.lookup(param);
  if (!folded.insert(param).second)
    return g;
  for (auto [s, info] : llvm::enumerate(stages)) {
    Value flat = flats.lookup(s);
    auto at = llvm::find(info.params, param);
    if (!flat || at == info.params.end())
      continue;
    int64_t offset = packings.lookup(s).offsets[at - info.params.begin()];
    auto type = cast<RankedTensorType>(entry.getArgument(param).getType());
    Value slice = flatSlot(b, loc, flat, offset, type);
    g = g ? arith::AddFOp::create(b, loc, g, slice).getResult() : slice;
  }
  if (g)
    grads[param] = g;
  return g;
}

LogicalResult RankLowering::send(ISendOp op) {
  Location loc = op.getLoc();
  int64_t s = op.getStageIndex(), m = op.getMicrobatchIndex();
  if (sentEarly.erase({op.isGradient() ? 'g' : 'a', s, m}))
    return success();
  auto tensors = take({op.isGradient() ? 'g' : 'a', s, m}, op,
                      "the message's tensors");
  if (failed(tensors))
    return failure();
  for (auto [k, t] : llvm::enumerate(*tensors)) {
    auto type = cast<RankedTensorType>(t.getType());
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    Value buffer = bufferization::ToBufferOp::create(b, loc, memrefType, t,
                                                     /*read_only=*/true);
    SendOp::create(b, loc, Type(), ValueRange(), buffer,
                   b.getI64IntegerAttr(op.getPeerRank()),
                   b.getI64IntegerAttr(tagOf(op.isGradient(), s, m, k)));
  }
  return success();
}

/// Posts the receive where the schedule posts it: the buffers are allocated
/// and handed to the runtime now, so the message lands while this rank
/// computes; nothing reads them before the wait.
void RankLowering::post(IRecvOp op) {
  Location loc = op.getLoc();
  int64_t s = op.getStageIndex(), m = op.getMicrobatchIndex();
  InFlight f;
  Type token = gpu::AsyncTokenType::get(b.getContext());
  for (auto [k, a] : llvm::enumerate(op.getTypes())) {
    auto type = cast<RankedTensorType>(cast<TypeAttr>(a).getValue());
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    Value buffer = memref::AllocOp::create(b, loc, memrefType);
    auto recv = RecvOp::create(
        b, loc, token, ValueRange(), buffer,
        b.getI64IntegerAttr(op.getPeerRank()),
        b.getI64IntegerAttr(tagOf(op.isGradient(), s, m, k)),
        TypeAttr::get(type));
    f.buffers.push_back(buffer);
    f.tokens.push_back(recv.getAsyncToken());
    f.types.push_back(type);
  }
  inFlight[{op.isGradient() ? 'g' : 'a', s, m}] = std::move(f);
}

/// Waits for an arrived message's requests at the first use of its tensors.
std::map<Key, SmallVector<Value>>::iterator RankLowering::land(Key key) {
  auto node = arriving.extract(key);
  InFlight &f = node.mapped();
  Location loc = f.buffers.empty() ? program.getLoc()
                                   : f.buffers.front().getLoc();
  if (!f.tokens.empty())
    gpu::WaitOp::create(b, loc, Type(), f.tokens);
  SmallVector<Value> tensors;
  for (auto [buffer, type] : llvm::zip(f.buffers, f.types))
    tensors.push_back(bufferization::ToTensorOp::create(
        b, loc, type, buffer, /*restrict=*/true, /*writable=*/true));
  return values.emplace(key, std::move(tensors)).first;
}

LogicalResult RankLowering::receive(WaitRecvOp op, IRecvOp posted) {
  Location loc = op.getLoc();
  int64_t s = op.getStageIndex(), m = op.getMicrobatchIndex();
  Key slot{op.isGradient() ? 'Q' : 'R', s, m};
  if (postReceives) {
    auto node = inFlight.extract({op.isGradient() ? 'g' : 'a', s, m});
    if (node.empty())
      return op.emitError() << "waits for a receive that was never posted; "
                               "run --dualpipe-verify";
    arriving[slot] = std::move(node.mapped());
    return success();
  }
  SmallVector<Value> tensors;
  for (auto [k, a] : llvm::enumerate(posted.getTypes())) {
    auto type = cast<RankedTensorType>(cast<TypeAttr>(a).getValue());
    auto memrefType = MemRefType::get(type.getShape(), type.getElementType());
    Value buffer = memref::AllocOp::create(b, loc, memrefType);
    RecvOp::create(b, loc, Type(), ValueRange(), buffer,
                   b.getI64IntegerAttr(op.getPeerRank()),
                   b.getI64IntegerAttr(tagOf(op.isGradient(), s, m, k)),
                   TypeAttr::get(type));
    tensors.push_back(bufferization::ToTensorOp::create(
        b, loc, type, buffer, /*restrict=*/true, /*writable=*/true));
  }
  values[slot] = tensors;
  return success();
}

/// An F&B pair: its F and B run one after the other on the CPU, but what
/// the first half sends (in the groups that follow the pair, before the
/// next computation) leaves as soon as that half is done, so it travels
/// while the second half computes; the second half's incoming message is
/// waited for only when it is needed (after the first half), so it arrives
/// under the first half's compute.
LogicalResult RankLowering::overlap(OverlapOp pair) {
  auto parts = llvm::to_vector(pair.getBody().front().getOps<ComputeOp>());
  markAction(pair.getLoc(), /*F&B pair=*/4, parts.front().getStageIndex(),
             parts.front().getMicrobatchIndex());
  for (auto [i, c] : llvm::enumerate(parts)) {
    if (failed(compute(c)))
      return failure();
    if (!postReceives || i + 1 == parts.size())
      continue;
    Key produced{c.getKind() == ActionKind::Forward ? 'a' : 'g',
                 c.getStageIndex(), c.getMicrobatchIndex()};
    for (Operation *next = pair->getNextNode();
         next && isa<P2PGroupOp, WaitRecvOp>(next); next = next->getNextNode())
      if (auto group = dyn_cast<P2PGroupOp>(next))
        for (auto s : group.getBody().front().getOps<ISendOp>())
          if (Key{s.isGradient() ? 'g' : 'a', s.getStageIndex(),
                  s.getMicrobatchIndex()} == produced &&
              !sentEarly.count(produced)) {
            if (failed(send(s)))
              return failure();
            sentEarly.insert(produced);
          }
  }
  endAction(pair.getLoc());
  return success();
}

LogicalResult RankLowering::allReduce(AllReduceGradsOp op, bool start) {
  Location loc = op.getLoc();
  auto fn = module.lookupSymbol<func::FuncOp>(op.getFunction());
  const StageInfo *info = nullptr;
  for (const StageInfo &s : stages)
    if (func::FuncOp(s.fn) == fn)
      info = &s;
  if (!info)
    return op.emitError() << "names " << op.getFunctionAttr()
                          << ", which is not a stage function";
  if (succeeded(allReduceFlat(op, fn, start)))
    return success();
  for (int64_t param : info->params) {
    Value g = gradOf(param, loc);
    if (!g)
      g = zerosLike(entry.getArgument(param).getType(), loc);
    // Members match by tag: the parameter's index in the model is the same
    // on every rank.
    auto [buffer, token] = reduceCopy(op, g, param, start);
    if (start) {
      inReduction.push_back({param, buffer, token});
      reducing.insert(param);
      grads.erase(param);
      continue;
    }
    grads[param] = summed(buffer, loc);
  }
  return success();
}

std::pair<Value, Value> RankLowering::reduceCopy(AllReduceGradsOp op,
                                                 Value value, int64_t tag,
                                                 bool start) {
  Location loc = op.getLoc();
  auto type = cast<RankedTensorType>(value.getType());
  // One copy from wherever the value is (a slice of a flat accumulator
  // included).
  Value buffer = memref::AllocOp::create(
      b, loc, MemRefType::get(type.getShape(), type.getElementType()));
  bufferization::MaterializeInDestinationOp::create(
      b, loc, TypeRange(), value, buffer, /*restrict=*/true,
      /*writable=*/true);
  if (!start) {
    AllReduceOp::create(b, loc, Type(), buffer, op.getRanksAttr(),
                        IntegerAttr());
    return {buffer, Value()};
  }
  auto reduce = AllReduceOp::create(
      b, loc, gpu::AsyncTokenType::get(b.getContext()), buffer,
      op.getRanksAttr(), b.getI64IntegerAttr(tag));
  return {buffer, reduce.getAsyncToken()};
}

/// The all-reduce of `fn`'s gradients as one message when this rank's stage
/// of `fn` sums them in a flat accumulator and shares no parameter with its
/// other stages (a tied weight is summed across stages per parameter): the
/// accumulator is reduced whole, tagged after the model's arguments by the
/// function's index among the stage functions (the same on both mirror
/// ranks, which hold the same functions). Failure when it does not apply.
LogicalResult RankLowering::allReduceFlat(AllReduceGradsOp op, func::FuncOp fn,
                                          bool start) {
  int64_t stage = -1;
  for (auto [s, info] : llvm::enumerate(stages))
    if (stageToRank[s] == rank && func::FuncOp(info.fn) == fn)
      stage = s;
  if (stage < 0 || !flats.count(stage))
    return failure();
  const StageInfo &info = stages[stage];
  for (auto [t, other] : llvm::enumerate(stages))
    if (int64_t(t) != stage && stageToRank[t] == rank &&
        llvm::any_of(info.params, [&](int64_t p) {
          return llvm::is_contained(other.params, p);
        }))
      return failure();
  for (int64_t p : info.params)
    if (folded.contains(p))
      return failure();
  int64_t fnIndex = 0;
  for (const StageInfo &other : stages) {
    if (func::FuncOp(other.fn) == fn)
      break;
    ++fnIndex;
  }
  auto [buffer, token] =
      reduceCopy(op, flats.lookup(stage), numModelArgs + fnIndex, start);
  if (start) {
    inReduction.push_back({-1, buffer, token, stage});
    reducing.insert(info.params.begin(), info.params.end());
    flats.erase(stage);
    return success();
  }
  flats[stage] = summed(buffer, op.getLoc());
  return success();
}

void RankLowering::finishAllReduces(Location loc) {
  if (inReduction.empty())
    return;
  SmallVector<Value> tokens;
  for (const Reducing &r : inReduction)
    tokens.push_back(r.token);
  gpu::WaitOp::create(b, loc, Type(), tokens);
  for (const Reducing &r : inReduction) {
    if (r.param < 0) {
      flats[r.stage] = summed(r.buffer, loc);
      for (int64_t p : stages[r.stage].params)
        reducing.erase(p);
      continue;
    }
    grads[r.param] = summed(r.buffer, loc);
    reducing.erase(r.param);
  }
  inReduction.clear();
}

/// The top-level op of `program` after which the all-reduce of `op` may
/// start: the last one that computes a B or W of a stage calling into the
/// same stage function (its gradients are final after it), or `op` itself.
static Operation *lastGradientOf(ProgramOp program, AllReduceGradsOp op,
                                 ArrayRef<StageInfo> stages) {
  auto function = op.getFunctionAttr().getAttr();
  Operation *last = nullptr;
  for (Operation &top : program.getBody().front()) {
    if (&top == op.getOperation())
      break;
    auto addsGradients = [&](ComputeOp c) {
      ActionKind k = c.getKind();
      int64_t s = c.getStageIndex();
      return (k == ActionKind::Backward || k == ActionKind::BackwardWeight) &&
             s >= 0 && s < int64_t(stages.size()) &&
             func::FuncOp(stages[s].fn).getSymNameAttr() == function;
    };
    if (auto c = dyn_cast<ComputeOp>(top); c && addsGradients(c))
      last = &top;
    if (auto pair = dyn_cast<OverlapOp>(top))
      for (auto c : pair.getBody().front().getOps<ComputeOp>())
        if (addsGradients(c))
          last = &top;
  }
  return last ? last : op.getOperation();
}

/// Whether `prog` is one stage's F and B of micro-batch 0, 1, ..., M-1 in
/// that order and nothing else (with M > 1).
bool RankLowering::rollable(ProgramOp prog) const {
  if (stages.size() != 1 || numMicrobatches < 2)
    return false;
  int64_t i = 0;
  for (Operation &op : prog.getBody().front()) {
    auto c = dyn_cast<ComputeOp>(op);
    ActionKind want = i % 2 ? ActionKind::Backward : ActionKind::Forward;
    if (!c || c.getKind() != want || c.getStageIndex() != 0 ||
        c.getMicrobatchIndex() != i / 2)
      return false;
    ++i;
  }
  return i == 2 * numMicrobatches;
}

/// A rollable program as `scf.for %m`: micro-batch 0's F and B, their
/// micro-batch index the loop's; the losses and the summed gradients (from
/// 0) are carried: the stage's flat accumulator when its gradients pack,
/// else every parameter's.
LogicalResult RankLowering::computeRolled(ProgramOp prog) {
  Location loc = prog.getLoc();
  auto actions = prog.getBody().front().getOps<ComputeOp>().begin();
  ComputeOp backward = *std::next(actions);
  int64_t s = backward.getStageIndex();
  const StageInfo &info = stages[s];
  auto callee = backward.getCalleeAttr()
                    ? module.lookupSymbol<func::FuncOp>(*backward.getCallee())
                    : func::FuncOp();
  // The stage's gradients are carried as one flat sum when they pack and
  // are many (the single-device reference of a deep model: every parameter
  // of the model), the others one by one. Carried one by one, one-shot
  // bufferization of the loop took 5.9 s of the 96-layer reference's 10.9 s
  // lowering (1,150 iteration arguments; 0.9 s flat); flat, each
  // micro-batch copies its gradients once into the concatenation, 3-7 % of
  // the step of the 1-rank MLP and GPT benches (16 and 50 parameters):
  // `flat-loop-sums-from` (default 256) parameters decide.
  std::optional<Packing> packing =
      callee && info.params.size() >= flatLoopSumFrom
          ? packingOf(info, callee, info.numActivations)
          : std::nullopt;
  SmallVector<int64_t> loose;
  for (int64_t p : modelParams)
    if (!packing || !llvm::is_contained(info.params, p))
      loose.push_back(p);
  SmallVector<Value> init{losses};
  if (packing)
    init.push_back(zerosLike(
        RankedTensorType::get({packing->elements}, b.getF32Type()), loc));
  for (int64_t p : loose)
    init.push_back(zerosLike(entry.getArgument(p).getType(), loc));
  unsigned firstLoose = packing ? 2 : 1;
  Value lower = arith::ConstantIndexOp::create(b, loc, 0);
  Value upper = arith::ConstantIndexOp::create(b, loc, numMicrobatches);
  Value step = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(b, loc, lower, upper, step, init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    loopIndex = loop.getInductionVar();
    losses = loop.getRegionIterArgs()[0];
    if (packing) {
      flats[s] = loop.getRegionIterArgs()[1];
      packings[s] = *packing;
    }
    for (auto [i, p] : llvm::enumerate(loose))
      grads[p] = loop.getRegionIterArgs()[firstLoose + i];
    if (failed(compute(*actions)) || failed(compute(backward)))
      return failure();
    SmallVector<Value> carried{losses};
    if (packing)
      carried.push_back(flats.lookup(s));
    for (int64_t p : loose)
      carried.push_back(grads.lookup(p));
    scf::YieldOp::create(b, loc, carried);
    loopIndex = Value();
  }
  losses = loop.getResult(0);
  if (packing)
    flats[s] = loop.getResult(1);
  for (auto [i, p] : llvm::enumerate(loose))
    grads[p] = loop.getResult(firstLoose + i);
  return success();
}

LogicalResult RankLowering::run(ProgramOp prog) {
  program = prog;
  Location loc = program.getLoc();
  Block *body = entry.addEntryBlock();
  b.setInsertionPointToStart(body);
  losses = zerosLike(RankedTensorType::get({numMicrobatches}, b.getF32Type()),
                     loc);
  DenseMap<std::tuple<int64_t, int64_t, int64_t>, IRecvOp> posted;
  // With posted receives the all-reduces start as soon as their gradients
  // are final and are waited for at the end (before the optimizer).
  if (postReceives)
    for (auto a : program.getBody().front().getOps<AllReduceGradsOp>())
      startAfter[lastGradientOf(program, a, stages)].push_back(a);
  auto startReady = [&](Operation *after) -> LogicalResult {
    auto it = startAfter.find(after);
    if (it == startAfter.end())
      return success();
    for (AllReduceGradsOp a : it->second)
      if (started.insert(a).second && failed(allReduce(a, /*start=*/true)))
        return failure();
    return success();
  };
  if (rollMicrobatches && rollable(program)) {
    if (failed(computeRolled(program)))
      return failure();
  } else {
    for (Operation &op : program.getBody().front()) {
      LogicalResult ok = success();
      if (auto c = dyn_cast<ComputeOp>(op)) {
        ok = compute(c);
      } else if (auto pair = dyn_cast<OverlapOp>(op)) {
        ok = overlap(pair);
      } else if (auto group = dyn_cast<P2PGroupOp>(op)) {
        for (Operation &inner : group.getBody().front()) {
          if (auto s = dyn_cast<ISendOp>(inner)) {
            if (failed(send(s)))
              return failure();
          } else {
            auto v = cast<IRecvOp>(inner);
            posted[{v.isGradient() ? 1 : 0, v.getStageIndex(),
                    v.getMicrobatchIndex()}] = v;
            if (postReceives)
              post(v);
          }
        }
      } else if (auto w = dyn_cast<WaitRecvOp>(op)) {
        IRecvOp v = posted.lookup({w.isGradient() ? 1 : 0, w.getStageIndex(),
                                   w.getMicrobatchIndex()});
        if (!v)
          return w.emitError() << "waits for a receive that was never posted; "
                                  "run --dualpipe-verify";
        ok = receive(w, v);
      } else if (auto a = dyn_cast<AllReduceGradsOp>(op)) {
        if (!started.count(a))
          ok = postReceives ? startReady(a) : allReduce(a, /*start=*/false);
      }
      if (failed(ok) || failed(startReady(&op)))
        return failure();
    }
  }
  finishAllReduces(loc);

  // A message that was waited for but never used still completes here (the
  // runtime requires every request to be waited for once); one never
  // waited for is a schedule error --dualpipe-verify reports.
  while (!arriving.empty())
    land(arriving.begin()->first);
  if (!inFlight.empty())
    return program.emitError()
           << "posts " << inFlight.size()
           << " receive(s) it never waits for; run --dualpipe-verify";

  // Results go to the output buffers after the inputs.
  unsigned out = entry.getNumArguments() - 1 - modelParams.size();
  bufferization::MaterializeInDestinationOp::create(
      b, loc, TypeRange(), losses, entry.getArgument(out), /*restrict=*/true,
      /*writable=*/true);
  // Only the gradients of the parameters this rank holds (the manifest's
  // param_ranks): the runner reads no other rank's copy, so writing zeros
  // into the others' outputs was work, and rank-program code, that grew
  // with the model's parameters times the ranks.
  DenseSet<int64_t> held;
  for (auto [s, info] : llvm::enumerate(stages))
    if (stageToRank[s] == rank)
      held.insert(info.params.begin(), info.params.end());
  for (auto [i, param] : llvm::enumerate(modelParams)) {
    Value g = gradOf(param, loc);
    if (!g && !held.contains(param))
      continue;
    if (!g)
      g = zerosLike(entry.getArgument(param).getType(), loc);
    bufferization::MaterializeInDestinationOp::create(
        b, loc, TypeRange(), g, entry.getArgument(out + 1 + i),
        /*restrict=*/true, /*writable=*/true);
  }
  func::ReturnOp::create(b, loc);
  return success();
}

/// The stage functions of `pipeline`, their model arguments and their
/// neighbours in their pipeline (DualPipe: two pipelines of half the
/// stages each).
FailureOr<SmallVector<StageInfo>> collectStages(ModuleOp module,
                                                PipelineOp pipeline) {
  SmallVector<StageInfo> stages;
  for (int64_t s = 0, total = pipeline.getNumStages(); s < total; ++s) {
    StageInfo info;
    info.fn = module.lookupSymbol<func::FuncOp>(
        cast<FlatSymbolRefAttr>(pipeline.getStages()[s]).getValue());
    for (unsigned i = 0; i < info.fn.getNumArguments(); ++i) {
      if (info.fn.getArgAttr(i, kFromStageAttr)) {
        ++info.numActivations;
        continue;
      }
      auto idx = info.fn.getArgAttrOfType<IntegerAttr>(i, kArgIndexAttr);
      if (!idx) {
        info.fn.emitError() << "argument " << i << " is neither an "
                            << "activation nor a model argument";
        return failure();
      }
      info.modelArgs.push_back(idx.getInt());
      if (info.fn.getArgAttr(i, kParamAttr))
        info.params.push_back(idx.getInt());
    }
    std::tie(info.prev, info.next) = stageNeighbours(pipeline, s);
    stages.push_back(info);
  }
  return stages;
}

/// The arguments of every rank's entry point: the model's (inputs batched
/// over the micro-batches), the labels (the last stage's forward's extra
/// arguments, batched), the losses output, then one gradient output per
/// parameter.
struct EntrySignature {
  SmallVector<Type> types;
  SmallVector<NamedAttrList> attrs;
};

FailureOr<EntrySignature> entrySignature(func::FuncOp model,
                                         func::FuncOp lastStage,
                                         func::FuncOp lastForward,
                                         int64_t numMicrobatches,
                                         ArrayRef<int64_t> modelParams) {
  MLIRContext *ctx = model.getContext();
  auto batched = [&](Type t) -> Type {
    auto r = cast<RankedTensorType>(t);
    SmallVector<int64_t> shape(r.getShape());
    shape[0] *= numMicrobatches;
    return RankedTensorType::get(shape, r.getElementType());
  };
  EntrySignature sig;
  for (unsigned i = 0; i < model.getNumArguments(); ++i) {
    Type t = model.getArgument(i).getType();
    bool isInput = !model.getArgAttr(i, kParamAttr);
    if (isInput && cast<RankedTensorType>(t).getRank() == 0) {
      model.emitError() << "input " << i << " is a scalar; inputs need a "
                        << "leading batch dimension to split into "
                           "micro-batches";
      return failure();
    }
    sig.types.push_back(isInput ? batched(t) : t);
    sig.attrs.emplace_back(model.getArgAttrDict(i));
  }
  for (unsigned i = lastStage.getNumArguments();
       i < lastForward.getNumArguments(); ++i) {
    sig.types.push_back(batched(lastForward.getArgument(i).getType()));
    sig.attrs.emplace_back(lastForward.getArgAttrDict(i));
  }
  sig.types.push_back(MemRefType::get({numMicrobatches}, Float32Type::get(ctx)));
  sig.attrs.emplace_back();
  sig.attrs.back().set(kOutputAttr, StringAttr::get(ctx, "losses"));
  for (int64_t p : modelParams) {
    auto t = cast<RankedTensorType>(model.getArgument(p).getType());
    sig.types.push_back(MemRefType::get(t.getShape(), t.getElementType()));
    sig.attrs.emplace_back();
    sig.attrs.back().set(kGradOfAttr, model.getArgAttr(p, kParamAttr));
  }
  return sig;
}

struct LowerSchedulePass
    : impl::DualPipeLowerScheduleBase<LowerSchedulePass> {
  using DualPipeLowerScheduleBase::DualPipeLowerScheduleBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto schedules = module.getOps<ScheduleOp>();
    PipelineOp pipeline = lookupPipeline(module);
    if (schedules.empty() || !pipeline) {
      module.emitError() << "no dualpipe.schedule and dualpipe.pipeline to "
                            "lower; run --dualpipe-partition, "
                            "--dualpipe-autodiff, --dualpipe-schedule and "
                            "--dualpipe-insert-comm first";
      return signalPassFailure();
    }
    ScheduleOp schedule = *schedules.begin();
    auto model = pipeline.getModelAttr()
                     ? module.lookupSymbol<func::FuncOp>(*pipeline.getModel())
                     : func::FuncOp();
    if (!model) {
      pipeline.emitError() << "names no model function";
      return signalPassFailure();
    }
    // Callee signatures and message types, before anything is indexed by
    // them (the same check --dualpipe-verify ends with).
    if (failed(verifyScheduleContract(schedule, pipeline)))
      return signalPassFailure();
    int64_t numMicrobatches = schedule.getNumMicrobatches();

    SmallVector<int64_t> stageToRank(pipeline.getOn());
    SmallVector<int64_t> modelParams;
    for (unsigned i = 0; i < model.getNumArguments(); ++i)
      if (model.getArgAttr(i, kParamAttr))
        modelParams.push_back(i);
    FailureOr<SmallVector<StageInfo>> stages = collectStages(module, pipeline);
    if (failed(stages))
      return signalPassFailure();

    // The labels are extra arguments of the last stage's forward.
    func::FuncOp lastForward;
    if (AutodiffAttr autodiff = getAutodiff(stages->back().fn))
      lastForward =
          module.lookupSymbol<func::FuncOp>(autodiff.getForward().getValue());
    if (!lastForward) {
      stages->back().fn.emitError() << "has no forward function; run "
                                       "--dualpipe-autodiff first";
      return signalPassFailure();
    }
    FailureOr<EntrySignature> sig =
        entrySignature(model, stages->back().fn, lastForward,
                       numMicrobatches, modelParams);
    if (failed(sig))
      return signalPassFailure();

    OpBuilder b(&getContext());
    b.setInsertionPointToEnd(module.getBody());
    for (auto program : schedule.getBody().front().getOps<ProgramOp>()) {
      int64_t r = program.getRankValue();
      auto entry = func::FuncOp::create(
          b, program.getLoc(), (prefix + Twine(r)).str(),
          b.getFunctionType(sig->types, {}));
      entry->setAttr("llvm.emit_c_interface", b.getUnitAttr());
      entry->setAttr(kRankAttr, b.getI64IntegerAttr(r));
      // All at once: one setArgAttrs per argument rebuilds the array each
      // time.
      entry.setAllArgAttrs(llvm::map_to_vector(sig->attrs, [&](auto &attrs) {
        return attrs.getDictionary(&getContext());
      }));
      OpBuilder body(&getContext());
      RankLowering lowering(body, module, *stages, stageToRank, entry, r,
                            numMicrobatches, model.getNumArguments(),
                            modelParams, postReceives, rollMicrobatches,
                            flatLoopSumFrom);
      if (failed(lowering.run(program)))
        return signalPassFailure();
      b.setInsertionPointToEnd(module.getBody());
    }
    schedule.erase();
    // The rank step functions are the module's interface; stage code and
    // the model are internal to it (two step modules link into one
    // library).
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal() && !fn->hasAttr(kRankAttr))
        fn.setPrivate();
  }
};
} // namespace
} // namespace dualpipe
