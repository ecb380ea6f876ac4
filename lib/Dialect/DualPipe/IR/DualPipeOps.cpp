//===- DualPipeOps.cpp - dualpipe dialect, ops and verifiers -------------===//
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace dualpipe;

#include "dualpipe/Dialect/DualPipe/IR/DualPipeOpsDialect.cpp.inc"

void DualPipeDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dualpipe/Dialect/DualPipe/IR/DualPipeOps.cpp.inc"
      >();
}

PipelineOp dualpipe::lookupPipeline(ModuleOp module) {
  if (!module)
    return nullptr;
  auto range = module.getOps<PipelineOp>();
  return range.empty() ? nullptr : *range.begin();
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

int64_t dualpipe::placementRank(StringRef placement, int64_t s,
                                int64_t stages, int64_t ranks) {
  if (placement == "linear")
    return s * ranks / stages;
  if (placement == "interleaved")
    return s % ranks;
  if (placement == "dualpipe")
    return s < ranks ? s : 2 * ranks - 1 - s;
  if (placement == "dualpipev")
    return std::min(s, 2 * ranks - 1 - s);
  return -1;
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
  StringRef placement = getPlacement();
  if (placementRank(placement, 0, stages, ranks) < 0)
    return emitOpError() << "unknown placement '" << placement
                         << "'; expected one of linear, interleaved, "
                            "dualpipe, dualpipev";
  if ((placement == "dualpipe" || placement == "dualpipev") &&
      stages != 2 * ranks)
    return emitOpError() << "placement '" << placement << "' needs 2 x "
                         << ranks << " = " << 2 * ranks
                         << " stages (two chunks per rank), got " << stages;
  SmallVector<bool> used(ranks, false);
  for (auto [s, r] : llvm::enumerate(getOn())) {
    if (r < 0 || r >= ranks)
      return emitOpError() << "places stage " << s << " on rank " << r
                           << ", but ranks are 0.." << ranks - 1;
    int64_t want = placementRank(placement, s, stages, ranks);
    if (r != want)
      return emitOpError() << "places stage " << s << " on rank " << r
                           << ", but placement '" << placement
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
  return success();
}

#define GET_OP_CLASSES
#include "dualpipe/Dialect/DualPipe/IR/DualPipeOps.cpp.inc"
