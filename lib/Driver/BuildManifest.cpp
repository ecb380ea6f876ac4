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
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SHA256.h"

#include <algorithm>

using namespace mlir;

namespace dualpipe::driver {

namespace mf = manifest;

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

/// An argument's dtype and shape as the manifest records them.
mf::Argument tensorArgument(Type type) {
  auto shaped = cast<ShapedType>(type);
  mf::Argument arg;
  arg.shape.assign(shaped.getShape().begin(), shaped.getShape().end());
  arg.dtype = dtypeOf(shaped.getElementType());
  return arg;
}

/// An integer argument's dualpipe.int_range = array<i64: LO, HI> (the range
/// its values lie in, [LO, HI)) as the manifest's "int_range": [LO, HI];
/// dualpipe-run draws synthetic values from it.
void addIntRange(mf::Argument &arg, func::FuncOp fn, unsigned i) {
  if (auto r = fn.getArgAttrOfType<DenseI64ArrayAttr>(i, kIntRangeAttr))
    arg.intRange = std::make_pair(r[0], r[1]);
}

/// The manifest entry of argument `i` of `fn`: its shape and dtype, and the
/// role and name of the first (attribute, role) of `roles` it carries, else
/// `fallbackRole` / `fallbackName`.
mf::Argument argumentEntry(func::FuncOp fn, unsigned i,
                           ArrayRef<std::pair<StringRef, StringRef>> roles,
                           StringRef fallbackRole,
                           const std::string &fallbackName) {
  mf::Argument arg = tensorArgument(fn.getArgument(i).getType());
  for (auto [attr, role] : roles)
    if (std::optional<StringRef> name = argumentName(fn, i, attr)) {
      arg.role = role.str();
      arg.name = name->str();
      return arg;
    }
  arg.role = fallbackRole.str();
  arg.name = fallbackName;
  return arg;
}

/// The packed entry point of each rank, rank 0 first.
std::vector<std::string> rankEntryPoints(int64_t ranks) {
  std::vector<std::string> entries;
  for (int64_t r = 0; r < ranks; ++r)
    entries.push_back("dualpipe_rank" + std::to_string(r) + "_packed");
  return entries;
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

/// What every manifest reads off the pipeline op.
void describePipeline(mf::Manifest &m, PipelineOp pipe, Target target) {
  m.target = targetName(target).str();
  m.ranks = pipe.getNumRanks();
  m.placement = stringifyPlacement(pipe.getPlacement()).str();
  m.stageRanks.assign(pipe.getOn().begin(), pipe.getOn().end());
  m.entryPoints = rankEntryPoints(pipe.getNumRanks());
}

/// The manifest's "optimizer": the compiled optimizer's entry point, its
/// hyperparameters and its arguments in call order.
mf::Optimizer optimizerManifest(ModuleOp module, const OptimizerSpec &spec) {
  auto fn = module.lookupSymbol<func::FuncOp>("dualpipe_optimizer");
  mf::Optimizer o;
  o.kind = spec.kind;
  o.entryPoint = "dualpipe_optimizer_packed";
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    mf::Argument arg = argumentEntry(
        fn, i, {{kParamAttr, "param"}, {kGradOfAttr, "grad"}, {kStateAttr, "state"}},
        "scalars", "step");
    if (std::optional<StringRef> state = argumentName(fn, i, kStateAttr))
      arg.param = state->rsplit('.').first.str();
    o.arguments.push_back(std::move(arg));
  }
  for (const auto &[k, v] : spec.hyper) {
    std::string key = k;
    std::replace(key.begin(), key.end(), '-', '_');
    o.hyperparameters[key] = v;
  }
  return o;
}

/// The memory plan's predicted peak bytes per rank, from its report.
FailureOr<std::vector<int64_t>> peakBytes(StringRef memoryReport) {
  auto report = llvm::MemoryBuffer::getFile(memoryReport);
  llvm::Expected<llvm::json::Value> memory =
      report ? llvm::json::parse((*report)->getBuffer())
             : llvm::Expected<llvm::json::Value>(
                   llvm::createStringError("no memory report"));
  if (!memory)
    return compileError("cannot read the memory plan " + memoryReport + ": " +
                        llvm::toString(memory.takeError()));
  std::vector<int64_t> peaks;
  if (const llvm::json::Array *ranks = memory->getAsObject()->getArray("ranks"))
    for (const llvm::json::Value &r : *ranks)
      peaks.push_back(r.getAsObject()->getInteger("peak_bytes").value_or(0));
  return peaks;
}

} // namespace

mf::Manifest forwardManifest(ModuleOp module, Target target) {
  PipelineOp pipe = lookupPipeline(module);
  auto model = module.lookupSymbol<func::FuncOp>(*pipe.getModel());

  // Which ranks use each model argument.
  std::vector<std::vector<int64_t>> owners(model.getNumArguments());
  for (auto [stage, rank] : stagesOf(module, pipe))
    for (unsigned i = 0; i < stage.getNumArguments(); ++i)
      if (auto idx = stage.getArgAttrOfType<IntegerAttr>(i, kArgIndexAttr)) {
        auto &o = owners[idx.getInt()];
        if (llvm::find(o, rank) == o.end())
          o.push_back(rank);
      }

  mf::Manifest m;
  describePipeline(m, pipe, target);
  m.model = model.getSymName().str();
  m.schedule = "forward";
  m.microbatches = 1;
  m.stages = pipe.getNumStages();
  m.referenceEntryPoint = "dualpipe_reference_packed";
  for (unsigned i = 0; i < model.getNumArguments(); ++i) {
    mf::Argument arg =
        argumentEntry(model, i, {{kParamAttr, "param"}, {kInputAttr, "input"}},
                      "input", "arg" + std::to_string(i));
    arg.ranks = owners[i];
    addIntRange(arg, model, i);
    m.arguments.push_back(std::move(arg));
  }
  for (auto [i, t] : llvm::enumerate(model.getFunctionType().getResults())) {
    mf::Argument out = tensorArgument(t);
    out.role = "output";
    out.name = "output" + std::to_string(i);
    m.outputs.push_back(std::move(out));
  }
  return m;
}

FailureOr<mf::Manifest> trainingManifest(ModuleOp module,
                                         const StepOptions &step,
                                         StringRef memoryReport) {
  auto entry = module.lookupSymbol<func::FuncOp>(step.entryPrefix + "0");
  PipelineOp pipe = lookupPipeline(module);
  mf::Manifest m;
  describePipeline(m, pipe, step.target);
  m.mode = "train";
  m.schedule = step.scheduleLabel();
  m.stages = step.numStages();
  m.microbatches = step.microbatches;
  if (step.reference)
    m.referenceEntryPoint = "dualpipe_reference_rank0_packed";
  for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
    mf::Argument arg = argumentEntry(entry, i,
                                     {{kParamAttr, "param"},
                                      {kInputAttr, "input"},
                                      {kLabelAttr, "label"},
                                      {kGradOfAttr, "grad"}},
                                     "losses", "losses");
    addIntRange(arg, entry, i);
    m.arguments.push_back(std::move(arg));
  }
  // Which ranks compute each parameter's gradient.
  for (auto [stage, rank] : stagesOf(module, pipe))
    for (unsigned i = 0; i < stage.getNumArguments(); ++i)
      if (std::optional<StringRef> n = argumentName(stage, i, kParamAttr)) {
        std::vector<int64_t> &list = m.paramRanks[n->str()];
        if (llvm::find(list, rank) == list.end())
          list.push_back(rank);
      }
  if (step.optimizer)
    m.optimizer = optimizerManifest(module, *step.optimizer);
  if (!memoryReport.empty()) {
    // The schedule (actions per rank, docs/schedules/contract.md's CSV) and
    // the memory plan's predicted peak per rank.
    m.scheduleFile = "schedule.csv";
    m.memoryFile = "memory.json";
    FailureOr<std::vector<int64_t>> peaks = peakBytes(memoryReport);
    if (failed(peaks))
      return failure();
    m.peakMemoryBytes = std::move(*peaks);
  }
  return m;
}

LogicalResult sealManifest(mf::Manifest &manifest, StringRef library) {
  auto bytes = llvm::MemoryBuffer::getFile(library, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
  if (!bytes)
    return compileError("cannot read " + library + ": " +
                        bytes.getError().message());
  std::array<uint8_t, 32> digest =
      llvm::SHA256::hash(llvm::arrayRefFromStringRef((*bytes)->getBuffer()));
  manifest.libraryBytes = static_cast<int64_t>((*bytes)->getBufferSize());
  manifest.librarySha256 = llvm::toHex(digest, /*LowerCase=*/true);
  manifest.abi = manifest.abiSignature();
  std::string problem = mf::validateManifest(manifest);
  if (!problem.empty())
    return compileError("the manifest of this step is not valid (" + problem +
                        "): a bug of dualpipe-compile, please report it");
  return success();
}

} // namespace dualpipe::driver
