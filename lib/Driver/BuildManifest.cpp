//===- BuildManifest.cpp - the manifest, read off the tensor-level IR ----===//
//
// manifest.json tells dualpipe-run how to call the library: its entry
// points, every argument's role, name, shape and dtype, the stage-to-rank
// map, which ranks own each parameter, the compiled optimizer. See
// docs/runtime.md for the format.
//
//===----------------------------------------------------------------------===//
#include "CompileSteps.h"

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>

using namespace mlir;

namespace dualpipe::driver {

namespace {

std::string dtypeOf(Type t) {
  if (t.isF32())
    return "f32";
  if (t.isF64())
    return "f64";
  if (t.isF16())
    return "f16";
  if (t.isBF16())
    return "bf16";
  if (auto i = dyn_cast<IntegerType>(t))
    return "i" + std::to_string(i.getWidth());
  return "unknown";
}

llvm::json::Object tensorJson(Type type) {
  auto shaped = cast<ShapedType>(type);
  llvm::json::Array shape;
  for (int64_t d : shaped.getShape())
    shape.push_back(d);
  return llvm::json::Object{{"shape", std::move(shape)},
                            {"dtype", dtypeOf(shaped.getElementType())}};
}

/// An integer argument's dualpipe.int_range = array<i64: LO, HI> (the range
/// its values lie in, [LO, HI)) as the manifest's "int_range": [LO, HI];
/// dualpipe-run draws synthetic values from it.
void addIntRange(llvm::json::Object &arg, func::FuncOp fn, unsigned i) {
  if (auto r = fn.getArgAttrOfType<DenseI64ArrayAttr>(i, kIntRangeAttr))
    arg["int_range"] = llvm::json::Array(r.asArrayRef());
}

/// The manifest entry of argument `i` of `fn`: its shape and dtype, and the
/// role and name of the first (attribute, role) of `roles` it carries, else
/// `fallbackRole` / `fallbackName`.
llvm::json::Object
argumentJson(func::FuncOp fn, unsigned i,
             ArrayRef<std::pair<StringRef, StringRef>> roles,
             StringRef fallbackRole, const std::string &fallbackName) {
  llvm::json::Object arg = tensorJson(fn.getArgument(i).getType());
  for (auto [attr, role] : roles)
    if (auto n = fn.getArgAttrOfType<StringAttr>(i, attr)) {
      arg["role"] = role;
      arg["name"] = n.getValue();
      return arg;
    }
  arg["role"] = fallbackRole;
  arg["name"] = fallbackName;
  return arg;
}

/// The packed entry point of each rank, rank 0 first.
llvm::json::Array rankEntryPoints(int64_t ranks) {
  llvm::json::Array entries;
  for (int64_t r = 0; r < ranks; ++r)
    entries.push_back("dualpipe_rank" + std::to_string(r) + "_packed");
  return entries;
}

/// The rank of each stage of the pipeline.
llvm::json::Array stageRanksOf(PipelineOp pipe) {
  llvm::json::Array stageRanks;
  for (int64_t r : pipe.getOn())
    stageRanks.push_back(r);
  return stageRanks;
}

/// The stage functions of `pipe` with their ranks.
SmallVector<std::pair<func::FuncOp, int64_t>> stagesOf(ModuleOp module,
                                                       PipelineOp pipe) {
  SmallVector<std::pair<func::FuncOp, int64_t>> stages;
  for (auto [s, ref] : llvm::enumerate(pipe.getStages()))
    stages.push_back({module.lookupSymbol<func::FuncOp>(
                          cast<FlatSymbolRefAttr>(ref).getValue()),
                      pipe.getRankOfStage(s)});
  return stages;
}

/// The manifest's "optimizer": the compiled optimizer's entry point, its
/// hyperparameters and its arguments in call order.
llvm::json::Object optimizerManifest(ModuleOp module,
                                     const OptimizerSpec &spec) {
  auto fn = module.lookupSymbol<func::FuncOp>("dualpipe_optimizer");
  llvm::json::Array args;
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    llvm::json::Object arg = argumentJson(fn, i,
                                          {{kParamAttr, "param"},
                                           {kGradOfAttr, "grad"},
                                           {kStateAttr, "state"}},
                                          "scalars", "step");
    if (auto n = fn.getArgAttrOfType<StringAttr>(i, kStateAttr))
      arg["param"] = n.getValue().rsplit('.').first;
    args.push_back(std::move(arg));
  }
  llvm::json::Object hyper;
  for (const auto &[k, v] : spec.hyper) {
    std::string key = k;
    std::replace(key.begin(), key.end(), '-', '_');
    hyper[key] = v;
  }
  return llvm::json::Object{{"kind", spec.kind},
                            {"entry_point", "dualpipe_optimizer_packed"},
                            {"hyperparameters", std::move(hyper)},
                            {"arguments", std::move(args)}};
}

/// The memory plan's predicted peak bytes per rank, from its report.
FailureOr<llvm::json::Array> peakBytes(StringRef memoryReport) {
  auto report = llvm::MemoryBuffer::getFile(memoryReport);
  llvm::Expected<llvm::json::Value> memory =
      report ? llvm::json::parse((*report)->getBuffer())
             : llvm::Expected<llvm::json::Value>(
                   llvm::createStringError("no memory report"));
  if (!memory)
    return compileError("cannot read the memory plan " + memoryReport + ": " +
                        llvm::toString(memory.takeError()));
  llvm::json::Array peaks;
  if (const llvm::json::Array *ranks = memory->getAsObject()->getArray("ranks"))
    for (const llvm::json::Value &r : *ranks)
      peaks.push_back(r.getAsObject()->getInteger("peak_bytes").value_or(0));
  return peaks;
}

} // namespace

llvm::json::Object forwardManifest(ModuleOp module, Target target) {
  PipelineOp pipe = lookupPipeline(module);
  auto model = module.lookupSymbol<func::FuncOp>(*pipe.getModel());

  // Which ranks use each model argument.
  std::vector<std::vector<int64_t>> owners(model.getNumArguments());
  for (auto [stage, rank] : stagesOf(module, pipe))
    for (unsigned i = 0; i < stage.getNumArguments(); ++i)
      if (auto idx =
              stage.getArgAttrOfType<IntegerAttr>(i, kArgIndexAttr)) {
        auto &o = owners[idx.getInt()];
        if (llvm::find(o, rank) == o.end())
          o.push_back(rank);
      }

  llvm::json::Array args;
  for (unsigned i = 0; i < model.getNumArguments(); ++i) {
    llvm::json::Object arg =
        argumentJson(model, i, {{kParamAttr, "param"}, {kInputAttr, "input"}},
                     "input", "arg" + std::to_string(i));
    arg["ranks"] = llvm::json::Array(owners[i]);
    addIntRange(arg, model, i);
    args.push_back(std::move(arg));
  }
  llvm::json::Array outputs;
  for (Type t : model.getFunctionType().getResults())
    outputs.push_back(tensorJson(t));

  return llvm::json::Object{
      {"format", "dualpipe-step"},
      {"version", 1},
      {"model", model.getSymName()},
      {"target", targetName(target)},
      {"schedule", "forward"},
      {"microbatches", 1},
      {"ranks", pipe.getNumRanks()},
      {"stages", pipe.getNumStages()},
      {"placement", stringifyPlacement(pipe.getPlacement())},
      {"stage_ranks", stageRanksOf(pipe)},
      {"library", "step.so"},
      {"entry_points", rankEntryPoints(pipe.getNumRanks())},
      {"reference_entry_point", "dualpipe_reference_packed"},
      {"arguments", std::move(args)},
      {"outputs", std::move(outputs)},
  };
}

FailureOr<llvm::json::Object> trainingManifest(ModuleOp module,
                                               const StepOptions &step,
                                               StringRef memoryReport) {
  auto entry = module.lookupSymbol<func::FuncOp>(step.entryPrefix + "0");
  llvm::json::Array args;
  for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
    llvm::json::Object arg = argumentJson(entry, i,
                                          {{kParamAttr, "param"},
                                           {kInputAttr, "input"},
                                           {kLabelAttr, "label"},
                                           {kGradOfAttr, "grad"}},
                                          "losses", "losses");
    addIntRange(arg, entry, i);
    args.push_back(std::move(arg));
  }
  // Which ranks compute each parameter's gradient.
  llvm::json::Object owners;
  PipelineOp pipe = lookupPipeline(module);
  for (auto [stage, rank] : stagesOf(module, pipe))
    for (unsigned i = 0; i < stage.getNumArguments(); ++i)
      if (auto n = stage.getArgAttrOfType<StringAttr>(i, kParamAttr)) {
        if (!owners.getArray(n.getValue()))
          owners[n.getValue()] = llvm::json::Array();
        llvm::json::Array *list = owners.getArray(n.getValue());
        if (llvm::none_of(*list, [&, r = rank](const llvm::json::Value &v) {
              return v.getAsInteger() == r;
            }))
          list->push_back(rank);
      }
  llvm::json::Object manifest{
      {"format", "dualpipe-step"},
      {"version", 1},
      {"mode", "train"},
      {"target", targetName(step.target)},
      {"schedule", step.schedule},
      {"placement", step.placement()},
      {"ranks", step.ranks},
      {"stages", step.numStages()},
      {"stage_ranks", stageRanksOf(pipe)},
      {"microbatches", step.microbatches},
      {"library", "step.so"},
      {"entry_points", rankEntryPoints(step.ranks)},
      {"reference_entry_point", "dualpipe_reference_rank0_packed"},
      {"arguments", std::move(args)},
      {"param_ranks", std::move(owners)},
  };
  if (!step.reference)
    manifest.erase("reference_entry_point");
  if (step.optimizer)
    manifest["optimizer"] = optimizerManifest(module, *step.optimizer);
  if (!memoryReport.empty()) {
    // The schedule (actions per rank, docs/schedules/contract.md's CSV) and
    // the memory plan's predicted peak per rank.
    manifest["schedule_file"] = "schedule.csv";
    manifest["memory_file"] = "memory.json";
    FailureOr<llvm::json::Array> peaks = peakBytes(memoryReport);
    if (failed(peaks))
      return failure();
    manifest["peak_memory_bytes"] = std::move(*peaks);
  }
  return manifest;
}

} // namespace dualpipe::driver
