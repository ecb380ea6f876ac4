//===- BuildForwardPrograms.cpp - skeleton per-rank forward programs -----===//
//
// Implements --dualpipe-build-forward-programs: one micro-batch, forward
// only, one stage per rank, on bufferized IR. It connects every layer of the
// walking skeleton; --dualpipe-schedule and --dualpipe-insert-comm replace it.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace dualpipe {
#define GEN_PASS_DEF_DUALPIPEBUILDFORWARDPROGRAMS
#include "dualpipe/Transforms/Passes.h.inc"

using namespace mlir;

namespace {

/// Creates `name(model args..., one buffer per model result)` and returns the
/// builder positioned in its body.
func::FuncOp createEntry(OpBuilder &builder, func::FuncOp model,
                         StringRef name) {
  FunctionType modelType = model.getFunctionType();
  SmallVector<Type> args(modelType.getInputs());
  llvm::append_range(args, modelType.getResults());
  auto fn = func::FuncOp::create(builder, model.getLoc(), name,
                                 builder.getFunctionType(args, {}));
  fn->setAttr("llvm.emit_c_interface", builder.getUnitAttr());
  for (unsigned i = 0; i < modelType.getNumInputs(); ++i)
    if (DictionaryAttr attrs = model.getArgAttrDict(i))
      for (NamedAttribute na : attrs)
        fn.setArgAttr(i, na.getName(), na.getValue());
  for (unsigned i = 0; i < modelType.getNumResults(); ++i)
    fn.setArgAttr(modelType.getNumInputs() + i, kOutputAttr,
                  builder.getI64IntegerAttr(i));
  fn.addEntryBlock();
  return fn;
}

/// Copies `results` into the output buffers at the end of `fn`'s arguments.
void copyToOutputs(OpBuilder &b, Location loc, func::FuncOp fn,
                   ValueRange results) {
  unsigned first = fn.getNumArguments() - results.size();
  for (auto [i, r] : llvm::enumerate(results))
    memref::CopyOp::create(b, loc, r, fn.getArgument(first + i));
}

struct BuildForwardProgramsPass
    : impl::DualPipeBuildForwardProgramsBase<BuildForwardProgramsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    PipelineOp pipeline = lookupPipeline(module);
    if (!pipeline) {
      module.emitError() << "no dualpipe.pipeline op; run --dualpipe-partition "
                            "first";
      return signalPassFailure();
    }
    int64_t ranks = pipeline.getNumRanks();
    if (pipeline.getPlacement() != Placement::Linear ||
        pipeline.getNumStages() != ranks) {
      pipeline.emitError() << "forward programs need a linear placement with "
                              "one stage per rank, got '"
                           << stringifyPlacement(pipeline.getPlacement())
                           << "' with "
                           << pipeline.getNumStages() << " stages on " << ranks
                           << " ranks; use --dualpipe-schedule for other "
                              "layouts";
      return signalPassFailure();
    }
    auto model = pipeline.getModelAttr()
                     ? module.lookupSymbol<func::FuncOp>(*pipeline.getModel())
                     : nullptr;
    if (!model) {
      pipeline.emitError() << "the pipeline names no model function; the "
                              "programs need the model's signature";
      return signalPassFailure();
    }
    auto isBuffer = [](Type t) { return isa<MemRefType>(t); };
    SmallVector<func::FuncOp> stages;
    for (Attribute a : pipeline.getStages())
      stages.push_back(module.lookupSymbol<func::FuncOp>(
          cast<FlatSymbolRefAttr>(a).getValue()));
    SmallVector<func::FuncOp> toCheck(stages);
    toCheck.push_back(model);
    for (func::FuncOp fn : toCheck) {
      FunctionType t = fn.getFunctionType();
      if (!llvm::all_of(t.getInputs(), isBuffer) ||
          !llvm::all_of(t.getResults(), isBuffer)) {
        fn.emitError() << "has tensor arguments or results; bufferize first "
                          "(one-shot-bufferize with bufferize-function-"
                          "boundaries and the identity layout)";
        return signalPassFailure();
      }
    }

    OpBuilder builder(module.getContext());
    builder.setInsertionPointToEnd(module.getBody());
    Location loc = model.getLoc();

    for (int64_t r = 0; r < ranks; ++r) {
      func::FuncOp stage = stages[r];
      auto fn =
          createEntry(builder, model, ("dualpipe_rank" + Twine(r)).str());
      fn->setAttr(kRankAttr, builder.getI64IntegerAttr(r));
      OpBuilder b = OpBuilder::atBlockBegin(&fn.getBody().front());
      SmallVector<Value> operands;
      for (unsigned i = 0; i < stage.getNumArguments(); ++i) {
        if (auto idx =
                stage.getArgAttrOfType<IntegerAttr>(i, kArgIndexAttr)) {
          operands.push_back(fn.getArgument(idx.getInt()));
          continue;
        }
        auto type = cast<MemRefType>(stage.getArgument(i).getType());
        Value buf = memref::AllocOp::create(b, loc, type);
        RecvOp::create(b, loc, /*asyncToken=*/Type(), ValueRange(), buf,
                       b.getI64IntegerAttr(r - 1), b.getI64IntegerAttr(i),
                       TypeAttr::get(RankedTensorType::get(
                           type.getShape(), type.getElementType())));
        operands.push_back(buf);
      }
      auto call = func::CallOp::create(b, loc, stage, operands);
      if (r + 1 < ranks) {
        for (auto [i, v] : llvm::enumerate(call.getResults()))
          SendOp::create(b, loc, /*asyncToken=*/Type(), ValueRange(), v,
                         b.getI64IntegerAttr(r + 1), b.getI64IntegerAttr(i));
      } else {
        copyToOutputs(b, loc, fn, call.getResults());
      }
      func::ReturnOp::create(b, loc);
    }

    auto ref = createEntry(builder, model, "dualpipe_reference");
    OpBuilder b = OpBuilder::atBlockBegin(&ref.getBody().front());
    auto call = func::CallOp::create(
        b, loc, model,
        ref.getArguments().take_front(model.getNumArguments()));
    copyToOutputs(b, loc, ref, call.getResults());
    func::ReturnOp::create(b, loc);
  }
};
} // namespace
} // namespace dualpipe
