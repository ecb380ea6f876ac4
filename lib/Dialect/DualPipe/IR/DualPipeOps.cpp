//===- DualPipeOps.cpp - dualpipe dialect, ops and verifiers -------------===//
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace dualpipe;

#include "dualpipe/Dialect/DualPipe/IR/DualPipeOpsDialect.cpp.inc"

#include "dualpipe/Dialect/DualPipe/IR/DualPipeEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dualpipe/Dialect/DualPipe/IR/DualPipeAttrs.cpp.inc"

void DualPipeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dualpipe/Dialect/DualPipe/IR/DualPipeOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dualpipe/Dialect/DualPipe/IR/DualPipeAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

FlatSymbolRefAttr AutodiffAttr::getFunction(ActionKind kind) const {
  switch (kind) {
  case ActionKind::Forward:
    return getForward();
  case ActionKind::Backward:
    return getBackward();
  case ActionKind::BackwardInput:
    return getBackwardInput();
  case ActionKind::BackwardWeight:
    return getBackwardWeight();
  }
  llvm_unreachable("an action kind without a function");
}

Attribute ScheduleKindAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  std::string text;
  if (parser.parseString(&text))
    return {};
  std::optional<ScheduleKind> kind = symbolizeScheduleKind(text);
  if (!kind) {
    parser.emitError(loc) << "unknown schedule kind '" << text << "'";
    return {};
  }
  return ScheduleKindAttr::get(parser.getContext(), *kind);
}

void ScheduleKindAttr::print(AsmPrinter &printer) const {
  printer << " \"" << stringifyScheduleKind(getValue()) << '"';
}

AutodiffAttr dualpipe::getAutodiff(Operation *stage) {
  return stage ? stage->getAttrOfType<AutodiffAttr>(kAutodiffAttr)
               : AutodiffAttr();
}

std::optional<StringRef> dualpipe::argumentName(FunctionOpInterface fn,
                                                unsigned i, StringRef attr) {
  if (auto name = fn.getArgAttrOfType<StringAttr>(i, attr))
    return name.getValue();
  return std::nullopt;
}

std::string dualpipe::placementNames() {
  std::string names;
  for (uint32_t i = 0; i <= getMaxEnumValForPlacement(); ++i)
    names += (i ? ", " : "") + stringifyPlacement(Placement(i)).str();
  return names;
}

namespace {

/// What a dualpipe.* discardable attribute must be, and where it may sit.
enum class AttrKind {
  Unit,
  String,      // any string (the contract check judges names)
  Name,        // a non-empty string
  NameOrIndex, // a non-empty string or a non-negative integer
  Index,
  I64Array,
  IntRange,
  Autodiff,
  StageCost // {forward_s = f64, activation_bytes = i64, parameter_bytes = i64}
};
enum Place : unsigned { OnOp = 1, OnArg = 2, OnResult = 4 };

struct AttrRule {
  llvm::StringLiteral name;
  AttrKind kind;
  unsigned places;
};

// clang-format off
constexpr AttrRule kAttrRules[] = {
    {kModelAttr, AttrKind::Unit, OnOp},
    {kLossAttr, AttrKind::Unit, OnOp},
    {kInputAttr, AttrKind::String, OnArg},
    {kParamAttr, AttrKind::String, OnArg},
    {kLabelAttr, AttrKind::String, OnArg},
    {kIntRangeAttr, AttrKind::IntRange, OnArg},
    {kStageAttr, AttrKind::Index, OnOp},
    {kArgIndexAttr, AttrKind::Index, OnArg},
    {kFromStageAttr, AttrKind::Index, OnArg},
    {kStageCostAttr, AttrKind::StageCost, OnOp},
    {kAutodiffAttr, AttrKind::Autodiff, OnOp},
    {kRoleAttr, AttrKind::Name, OnOp},
    {kSavedAttr, AttrKind::Unit, OnArg | OnResult},
    {kWSavedAttr, AttrKind::Unit, OnArg | OnResult},
    {kSavedBytesAttr, AttrKind::Index, OnOp},
    {kSavedBytesNoRecomputeAttr, AttrKind::Index, OnOp},
    {kGradOfAttr, AttrKind::Name, OnArg | OnResult},
    {kGradOfArgAttr, AttrKind::Index, OnResult},
    {kPeakBytesAttr, AttrKind::Index, OnOp},
    {kArenaBytesAttr, AttrKind::Index, OnOp},
    {kPeakMicrobatchesAttr, AttrKind::Index, OnOp},
    {kOffsetsAttr, AttrKind::I64Array, OnOp},
    {kRankAttr, AttrKind::Index, OnOp},
    {kOutputAttr, AttrKind::NameOrIndex, OnArg},
    {kOptimizerAttr, AttrKind::Name, OnOp},
    {kStateAttr, AttrKind::Name, OnArg},
    {kScalarsAttr, AttrKind::Name, OnArg},
};
// clang-format on

const char *kindText(AttrKind kind) {
  switch (kind) {
  case AttrKind::Unit:
    return "a unit attribute";
  case AttrKind::String:
    return "a string";
  case AttrKind::Name:
    return "a non-empty string";
  case AttrKind::NameOrIndex:
    return "a non-empty string or a non-negative integer";
  case AttrKind::Index:
    return "a non-negative integer";
  case AttrKind::I64Array:
    return "an array<i64: ...>";
  case AttrKind::IntRange:
    return "array<i64: LO, HI> with LO < HI";
  case AttrKind::Autodiff:
    return "a #dualpipe.autodiff<...>";
  case AttrKind::StageCost:
    return "{forward_s = <f64 >= 0>, activation_bytes = <int >= 0>, "
           "parameter_bytes = <int >= 0>}";
  }
  return "?";
}

bool hasKind(Attribute value, AttrKind kind) {
  switch (kind) {
  case AttrKind::Unit:
    return isa<UnitAttr>(value);
  case AttrKind::String:
    return isa<StringAttr>(value);
  case AttrKind::Name: {
    auto s = dyn_cast<StringAttr>(value);
    return s && !s.getValue().empty();
  }
  case AttrKind::NameOrIndex:
    return hasKind(value, AttrKind::Name) || hasKind(value, AttrKind::Index);
  case AttrKind::Index: {
    auto i = dyn_cast<IntegerAttr>(value);
    return i && i.getType().isSignlessInteger() && !i.getValue().isNegative();
  }
  case AttrKind::I64Array:
    return isa<DenseI64ArrayAttr>(value);
  case AttrKind::IntRange: {
    auto r = dyn_cast<DenseI64ArrayAttr>(value);
    return r && r.size() == 2 && r[0] < r[1];
  }
  case AttrKind::Autodiff:
    return isa<AutodiffAttr>(value);
  case AttrKind::StageCost: {
    auto d = dyn_cast<DictionaryAttr>(value);
    if (!d || d.size() != 3)
      return false;
    auto f = d.getAs<FloatAttr>("forward_s");
    Attribute act = d.get("activation_bytes"), par = d.get("parameter_bytes");
    return f && f.getValueAsDouble() >= 0 && act && par &&
           hasKind(act, AttrKind::Index) && hasKind(par, AttrKind::Index);
  }
  }
  return false;
}

/// Checks one dualpipe.* attribute found at `place` of `op`; `where`
/// describes the place for the message ("argument #2", ...).
LogicalResult verifyDualPipeAttr(Operation *op, NamedAttribute attr,
                                 Place place, const Twine &where) {
  StringRef name = attr.getName().getValue();
  for (const AttrRule &rule : kAttrRules) {
    if (rule.name != name)
      continue;
    if (!(rule.places & place))
      return op->emitError() << "'" << name << "' cannot sit on " << where
                             << " of '" << op->getName() << "'";
    if (!hasKind(attr.getValue(), rule.kind))
      return op->emitError() << "'" << name << "' on " << where << " must be "
                             << kindText(rule.kind) << ", got "
                             << attr.getValue();
    return success();
  }
  std::string known;
  for (const AttrRule &rule : kAttrRules)
    known += (known.empty() ? "" : ", ") + rule.name.str();
  return op->emitError() << "unknown attribute '" << name << "' on " << where
                         << " of '" << op->getName()
                         << "'; the dualpipe attributes are " << known;
}

} // namespace

LogicalResult DualPipeDialect::verifyOperationAttribute(Operation *op,
                                                        NamedAttribute attr) {
  return verifyDualPipeAttr(op, attr, OnOp, "the op");
}

LogicalResult DualPipeDialect::verifyRegionArgAttribute(Operation *op,
                                                        unsigned region,
                                                        unsigned arg,
                                                        NamedAttribute attr) {
  return verifyDualPipeAttr(op, attr, OnArg, "argument #" + Twine(arg));
}

LogicalResult DualPipeDialect::verifyRegionResultAttribute(
    Operation *op, unsigned region, unsigned result, NamedAttribute attr) {
  return verifyDualPipeAttr(op, attr, OnResult, "result #" + Twine(result));
}

//===----------------------------------------------------------------------===//
// custom<QuotedEnum>: an enum attribute written as a string, "linear"
//===----------------------------------------------------------------------===//

/// What a value of each enum is called in messages.
static const char *enumWhat(Placement) { return "placement"; }
static const char *enumWhat(ActionKind) { return "action kind"; }
static const char *enumWhat(Payload) { return "payload"; }
static const char *enumWhat(ScheduleKind) { return "schedule kind"; }
static uint32_t enumMax(Placement) { return getMaxEnumValForPlacement(); }
static uint32_t enumMax(ActionKind) { return getMaxEnumValForActionKind(); }
static uint32_t enumMax(Payload) { return getMaxEnumValForPayload(); }
static uint32_t enumMax(ScheduleKind) { return getMaxEnumValForScheduleKind(); }

/// Parses a quoted enum value; an unknown one is an error listing the
/// values.
template <typename EnumAttrT>
static ParseResult parseQuotedEnum(OpAsmParser &parser, EnumAttrT &attr) {
  using EnumT = decltype(std::declval<EnumAttrT>().getValue());
  SMLoc loc = parser.getCurrentLocation();
  std::string text;
  if (parser.parseString(&text))
    return failure();
  std::optional<EnumT> value = symbolizeEnum<EnumT>(text);
  if (!value) {
    std::string names;
    for (uint32_t i = 0; i <= enumMax(EnumT()); ++i)
      names += (i ? ", " : "") + stringifyEnum(EnumT(i)).str();
    return parser.emitError(loc) << "unknown " << enumWhat(EnumT())
                                 << " '" << text << "'; expected one of "
                                 << names;
  }
  attr = EnumAttrT::get(parser.getContext(), *value);
  return success();
}

template <typename EnumAttrT>
static void printQuotedEnum(OpAsmPrinter &printer, Operation *,
                            EnumAttrT attr) {
  printer << '"' << stringifyEnum(attr.getValue()) << '"';
}

PipelineOp dualpipe::lookupPipeline(ModuleOp module) {
  if (!module)
    return nullptr;
  auto range = module.getOps<PipelineOp>();
  return range.empty() ? nullptr : *range.begin();
}

std::pair<int64_t, int64_t> dualpipe::stageNeighbours(PipelineOp pipeline,
                                                      int64_t s) {
  bool twoPipelines = pipeline.getPlacement() == Placement::DualPipe;
  int64_t total = pipeline.getNumStages(), half = total / 2;
  int64_t first = twoPipelines && s >= half ? half : 0;
  int64_t last = twoPipelines && s < half ? half - 1 : total - 1;
  return {s > first ? s - 1 : -1, s < last ? s + 1 : -1};
}

//===----------------------------------------------------------------------===//
// custom<AsyncDependencies>: `async` and `[%deps]`, as in the gpu dialect.
//===----------------------------------------------------------------------===//

/// Parses `[async] [`[` deps `]`] %buffer`. The buffer is part of the
/// directive so that a synchronous op prints without a double space.
static ParseResult
parseAsyncDependencies(OpAsmParser &parser, Type &asyncTokenType,
                       SmallVectorImpl<OpAsmParser::UnresolvedOperand> &deps,
                       OpAsmParser::UnresolvedOperand &buffer) {
  SMLoc loc = parser.getCurrentLocation();
  if (succeeded(parser.parseOptionalKeyword("async"))) {
    if (parser.getNumResults() == 0)
      return parser.emitError(loc, "an 'async' op returns a token: name its "
                                   "result (%t = ...)");
    asyncTokenType = parser.getBuilder().getType<gpu::AsyncTokenType>();
  }
  if (parser.parseOperandList(deps, OpAsmParser::Delimiter::OptionalSquare))
    return failure();
  return parser.parseOperand(buffer);
}

static void printAsyncDependencies(OpAsmPrinter &printer, Operation *,
                                   Type asyncTokenType, OperandRange deps,
                                   Value buffer) {
  if (asyncTokenType)
    printer << "async ";
  if (!deps.empty())
    printer << '[' << deps << "] ";
  printer << buffer;
}

//===----------------------------------------------------------------------===//
// PipelineOp
//===----------------------------------------------------------------------===//

int64_t dualpipe::placementRank(Placement placement, int64_t s,
                                int64_t stages, int64_t ranks) {
  return sched::rankOfStage(toEngine(placement), s, stages, ranks);
}

// The IR enums and the engine's enums list the same values in the same
// order, so converting is a cast; these checks keep it so.
#define DUALPIPE_SAME(IR, ENGINE)                                             \
  static_assert(static_cast<int>(IR) == static_cast<int>(ENGINE),            \
                #IR " and " #ENGINE " differ")
DUALPIPE_SAME(Placement::Linear, sched::PlacementKind::Linear);
DUALPIPE_SAME(Placement::Interleaved, sched::PlacementKind::Interleaved);
DUALPIPE_SAME(Placement::DualPipe, sched::PlacementKind::DualPipe);
DUALPIPE_SAME(Placement::DualPipeV, sched::PlacementKind::DualPipeV);
DUALPIPE_SAME(ScheduleKind::GPipe, sched::ScheduleKind::GPipe);
DUALPIPE_SAME(ScheduleKind::OneFOneB, sched::ScheduleKind::OneFOneB);
DUALPIPE_SAME(ScheduleKind::Interleaved1F1B,
              sched::ScheduleKind::Interleaved1F1B);
DUALPIPE_SAME(ScheduleKind::ZBH1, sched::ScheduleKind::ZBH1);
DUALPIPE_SAME(ScheduleKind::ZBV, sched::ScheduleKind::ZBV);
DUALPIPE_SAME(ScheduleKind::DualPipe, sched::ScheduleKind::DualPipe);
DUALPIPE_SAME(ScheduleKind::DualPipeV, sched::ScheduleKind::DualPipeV);
DUALPIPE_SAME(ScheduleKind::LoopedBFS, sched::ScheduleKind::LoopedBFS);
DUALPIPE_SAME(ScheduleKind::InterleavedZB, sched::ScheduleKind::InterleavedZB);
DUALPIPE_SAME(ScheduleKind::VHalf, sched::ScheduleKind::VHalf);
DUALPIPE_SAME(ScheduleKind::VMin, sched::ScheduleKind::VMin);
DUALPIPE_SAME(ScheduleKind::Custom, sched::ScheduleKind::Custom);
DUALPIPE_SAME(ActionKind::Forward, sched::ActionKind::Forward);
DUALPIPE_SAME(ActionKind::Backward, sched::ActionKind::Backward);
DUALPIPE_SAME(ActionKind::BackwardInput, sched::ActionKind::BackwardInput);
DUALPIPE_SAME(ActionKind::BackwardWeight, sched::ActionKind::BackwardWeight);
#undef DUALPIPE_SAME

sched::PlacementKind dualpipe::toEngine(Placement p) {
  return static_cast<sched::PlacementKind>(p);
}
Placement dualpipe::fromEngine(sched::PlacementKind p) {
  return static_cast<Placement>(p);
}
sched::ScheduleKind dualpipe::toEngine(ScheduleKind k) {
  return static_cast<sched::ScheduleKind>(k);
}
ScheduleKind dualpipe::fromEngine(sched::ScheduleKind k) {
  return static_cast<ScheduleKind>(k);
}
sched::ActionKind dualpipe::toEngine(ActionKind k) {
  return static_cast<sched::ActionKind>(k);
}
ActionKind dualpipe::fromEngine(sched::ActionKind k) {
  assert(k != sched::ActionKind::OverlappedFB && "a pair is two actions");
  return static_cast<ActionKind>(k);
}

LogicalResult PipelineOp::verify() {
  int64_t ranks = getNumRanks();
  int64_t stages = getNumStages();
  if (ranks < 1)
    return emitOpError() << "needs at least one rank, got " << ranks;
  if (stages < 1)
    return emitOpError() << "needs at least one stage";
  if (static_cast<int64_t>(getOn().size()) != stages)
    return emitOpError() << "has " << stages << " stages but 'on' gives "
                         << getOn().size()
                         << " ranks; give one rank per stage";
  // Every rank needs a stage: with more ranks than stages, name the first
  // rank left without one before anything is sized by the rank count.
  if (ranks > stages) {
    llvm::DenseSet<int64_t> placed(getOn().begin(), getOn().end());
    int64_t r = 0;
    while (placed.contains(r))
      ++r;
    return emitOpError() << "leaves rank " << r
                         << " without a stage; use fewer ranks or more stages";
  }
  Placement placement = getPlacement();
  StringRef name = stringifyPlacement(placement);
  if ((placement == Placement::DualPipe || placement == Placement::DualPipeV) &&
      stages != 2 * ranks)
    return emitOpError() << "placement '" << name << "' needs 2 x " << ranks
                         << " = " << 2 * ranks
                         << " stages (two chunks per rank), got " << stages;
  SmallVector<bool> used(ranks, false);
  for (auto [s, r] : llvm::enumerate(getOn())) {
    if (r < 0 || r >= ranks)
      return emitOpError() << "places stage " << s << " on rank " << r
                           << ", but ranks are 0.." << ranks - 1;
    int64_t want = placementRank(placement, s, stages, ranks);
    if (r != want)
      return emitOpError() << "places stage " << s << " on rank " << r
                           << ", but placement '" << name
                           << "' puts it on rank " << want;
    used[r] = true;
  }
  for (int64_t r = 0; r < ranks; ++r)
    if (!used[r])
      return emitOpError() << "leaves rank " << r
                           << " without a stage; use fewer ranks or more stages";
  return success();
}

LogicalResult
PipelineOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto check = [&](FlatSymbolRefAttr ref, StringRef what) -> LogicalResult {
    // Any function: stages stay pipeline members after lowering to llvm.func.
    auto fn =
        symbolTable.lookupNearestSymbolFrom<FunctionOpInterface>(*this, ref);
    if (!fn)
      return emitOpError() << what << " '" << ref.getValue()
                           << "' does not name a function in this module";
    return success();
  };
  for (Attribute a : getStages()) {
    auto ref = dyn_cast<FlatSymbolRefAttr>(a);
    if (!ref)
      return emitOpError() << "stage " << a << " must be a flat symbol (@name)";
    if (failed(check(ref, "stage")))
      return failure();
  }
  if (auto model = getModelAttr())
    return check(model, "model");
  return success();
}

//===----------------------------------------------------------------------===//
// StageBoundaryOp
//===----------------------------------------------------------------------===//

LogicalResult StageBoundaryOp::inferReturnTypes(
    MLIRContext *, std::optional<Location>, ValueRange operands,
    DictionaryAttr, OpaqueProperties, RegionRange,
    SmallVectorImpl<Type> &inferred) {
  for (Value v : operands)
    inferred.push_back(v.getType());
  return success();
}

LogicalResult StageBoundaryOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "needs at least one activation to cut at";
  return success();
}

//===----------------------------------------------------------------------===//
// SendOp / RecvOp
//===----------------------------------------------------------------------===//

static int64_t bytesOf(MemRefType type) {
  Type elt = type.getElementType();
  if (!elt.isIntOrFloat() || !type.hasStaticShape())
    return -1;
  return type.getNumElements() * ((elt.getIntOrFloatBitWidth() + 7) / 8);
}

int64_t SendOp::getNumBytes() {
  return bytesOf(cast<MemRefType>(getBuffer().getType()));
}
int64_t RecvOp::getNumBytes() {
  return bytesOf(cast<MemRefType>(getBuffer().getType()));
}

/// Checks shared by send and recv: a contiguous static buffer and a peer that
/// exists and is not the rank itself.
static LogicalResult verifyP2P(Operation *op, Value buffer, int64_t peer,
                               int64_t tag, StringRef verb) {
  auto type = cast<MemRefType>(buffer.getType());
  if (!type.hasStaticShape() || !type.getLayout().isIdentity())
    return op->emitOpError()
           << "needs a contiguous buffer with a static shape and the identity "
              "layout, got "
           << type << "; copy the data into such a buffer first";
  if (bytesOf(type) < 0)
    return op->emitOpError() << "cannot transfer elements of type "
                             << type.getElementType()
                             << "; use integer or floating-point elements";
  if (tag < 0)
    return op->emitOpError() << "tag must be non-negative, got " << tag;
  if (peer < 0)
    return op->emitOpError() << verb << " rank " << peer
                             << ", but ranks are numbered from 0";
  if (auto fn = op->getParentOfType<func::FuncOp>())
    if (auto rank = fn->getAttrOfType<IntegerAttr>(kRankAttr))
      if (rank.getInt() == peer)
        return op->emitOpError()
               << verb << " rank " << peer
               << ", which is the rank this program runs on; hand the value "
                  "over locally instead";
  if (auto pipeline = lookupPipeline(op->getParentOfType<ModuleOp>())) {
    int64_t ranks = pipeline.getNumRanks();
    if (peer >= ranks)
      return op->emitOpError()
             << verb << " rank " << peer << ", but the pipeline has " << ranks
             << (ranks == 1 ? " rank" : " ranks") << " (0.." << ranks - 1
             << ")";
  }
  return success();
}

LogicalResult SendOp::verify() {
  return verifyP2P(*this, getBuffer(), getPeerRank(), getTagValue(),
                   "sends to");
}

LogicalResult RecvOp::verify() {
  if (failed(verifyP2P(*this, getBuffer(), getPeerRank(), getTagValue(),
                       "receives from")))
    return failure();
  auto message = cast<RankedTensorType>(getMessage());
  auto buffer = cast<MemRefType>(getBuffer().getType());
  if (message.getShape() != buffer.getShape() ||
      message.getElementType() != buffer.getElementType())
    return emitOpError() << "receives a message of type " << message
                         << " into a buffer of type " << buffer
                         << "; the buffer needs the message's shape and "
                            "element type";
  return success();
}

LogicalResult AllReduceOp::verify() {
  auto type = cast<MemRefType>(getBuffer().getType());
  if (!type.hasStaticShape() || !type.getLayout().isIdentity())
    return emitOpError() << "needs a contiguous buffer with a static shape, got "
                         << type;
  if (!type.getElementType().isF32() && !type.getElementType().isF64())
    return emitOpError() << "sums f32 or f64 elements, got "
                         << type.getElementType();
  ArrayRef<int64_t> ranks = getRanks();
  if (ranks.size() < 2)
    return emitOpError() << "needs a group of at least two ranks";
  for (auto [i, r] : llvm::enumerate(ranks)) {
    if (r < 0)
      return emitOpError() << "names rank " << r
                           << ", but ranks are numbered from 0";
    if (llvm::is_contained(ranks.take_front(i), r))
      return emitOpError() << "lists rank " << r << " twice";
  }
  if (getAsyncToken() && !getTag())
    return emitOpError() << "is started (it has a token) but has no tag; its "
                            "members match by tag: add `tag N`, the same on "
                            "every member";
  if (getTag() && (*getTag() < 0 || *getTag() >= (int64_t(1) << 20)))
    return emitOpError() << "has tag " << *getTag()
                         << ", outside 0 to 1048575 (the runtime's range)";
  return success();
}

#define GET_OP_CLASSES
#include "dualpipe/Dialect/DualPipe/IR/DualPipeOps.cpp.inc"
