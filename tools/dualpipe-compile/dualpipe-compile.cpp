//===- dualpipe-compile.cpp - model.mlir to a per-rank step library ------===//
//
// Ahead-of-time driver: parses a model in the input contract, runs the pass
// chain, emits an object file for the host and links OUTDIR/step.so (one
// packed entry point per rank plus the single-device reference) beside
// OUTDIR/manifest.json, which tells dualpipe-run how to call them.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#ifdef DUALPIPE_HAVE_AUTODIFF
#include "dualpipe/Autodiff/Passes.h"
#endif
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "dualpipe/Transforms/Passes.h"
#include "dualpipe/Runtime/Manifest.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("dualpipe-compile options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outDir("o", cl::desc("Output folder"),
                                   cl::value_desc("OUTDIR"), cl::cat(category));
static cl::opt<int> ranksOpt("ranks",
                             cl::desc("Number of ranks (default: one per "
                                      "stage)"),
                             cl::init(0), cl::cat(category));
static cl::opt<std::string> scheduleOpt(
    "schedule",
    cl::desc("Schedule: dualpipe, dualpipev, 1f1b, zb1p, zbv, gpipe, "
             "interleaved, auto; or 'forward' (the walking skeleton: one "
             "micro-batch, forward only, cut at the model's markers)"),
    cl::init("forward"), cl::cat(category));
static cl::opt<int> microbatchesOpt("microbatches",
                                    cl::desc("Micro-batches per step (M)"),
                                    cl::init(0), cl::cat(category));
static cl::opt<int> stagesOpt(
    "stages",
    cl::desc("Stage functions (default: N for dualpipe and 1F1B-like "
             "schedules, 2N for V schedules, 2N for interleaved)"),
    cl::init(0), cl::cat(category));
static cl::opt<std::string>
    lossOpt("loss",
            cl::desc("Loss: the module's dualpipe.loss function (default), "
                     "or mse, cross_entropy"),
            cl::init(""), cl::cat(category));
static cl::opt<std::string>
    deviceOpt("device", cl::desc("Cost-model device profile: cpu or h200"),
              cl::init("cpu"), cl::cat(category));
static cl::opt<std::string>
    targetOpt("target",
              cl::desc("Code target: cpu, or cuda (kernels as an sm_90 "
                       "cubin, see docs/cuda.md)"),
              cl::init("cpu"),
              cl::cat(category));
static cl::opt<std::string>
    emitOpt("emit",
            cl::desc("What to produce: lib (step.so + manifest.json), mlir "
                     "(the IR after the pass chain, on stdout), llvm (LLVM "
                     "IR on stdout)"),
            cl::init("lib"), cl::cat(category));
static cl::opt<std::string>
    cpuOpt("cpu", cl::desc("Target CPU for the object code (default: host)"),
           cl::init(""), cl::cat(category));
static cl::opt<unsigned>
    optLevelOpt("opt-level",
                cl::desc("LLVM optimization level of the object code, 0-3 "
                         "(default 3; 1 compiles several times faster)"),
                cl::init(3), cl::cat(category));
/// --stop-after=PASS. LLVM's code generator already registers a string
/// option of that name (llc's); dualpipe-compile takes it over (with
/// --emit=mlir no code is generated, so LLVM never reads it).
static cl::opt<std::string> *stopAfterOption() {
  auto &options = cl::getRegisteredOptions();
  auto it = options.find("stop-after");
  return it == options.end()
             ? nullptr
             : static_cast<cl::opt<std::string> *>(it->second);
}
static std::string stopAfter() {
  cl::opt<std::string> *o = stopAfterOption();
  return o ? o->getValue() : std::string();
}
static cl::opt<std::string> optimizerOpt(
    "optimizer",
    cl::desc("Compile the optimizer step into step.so: sgd, momentum or "
             "adamw, with options after a colon, e.g. "
             "adamw:lr=1e-3,beta1=0.9,beta2=0.999,eps=1e-8,weight-decay=0.01 "
             "(default: none, dualpipe-run applies plain SGD)"),
    cl::init(""), cl::cat(category));

static cl::opt<bool> referenceOpt(
    "reference",
    cl::desc("Also compile the single-device reference (the uncut model on "
             "one rank) that dualpipe-run --check compares with (default "
             "true; --reference=false halves the compile time of a deep "
             "model)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> timePhasesOpt(
    "time-phases",
    cl::desc("Print the wall time of each phase (tensor-level passes, "
             "lowering to the LLVM dialect, LLVM IR translation, LLVM "
             "optimization, code generation, link) on stderr"),
    cl::init(false), cl::cat(category));

namespace {

/// Wall time per phase, for --time-phases.
struct PhaseTimes {
  std::vector<std::pair<std::string, double>> phases;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  /// Adds the time since the last mark to `name`.
  void mark(const std::string &name) {
    auto now = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(now - start).count();
    start = now;
    for (auto &[n, t] : phases)
      if (n == name) {
        t += s;
        return;
      }
    phases.push_back({name, s});
  }
  void print() const {
    if (!timePhasesOpt)
      return;
    double total = 0;
    for (const auto &[n, t] : phases)
      total += t;
    llvm::errs() << "dualpipe-compile: phase times (wall s):";
    for (const auto &[n, t] : phases)
      llvm::errs() << llvm::formatv(" {0} {1:f2};", n, t);
    llvm::errs() << llvm::formatv(" total {0:f2}\n", total);
  }
};
PhaseTimes phaseTimes;

int fail(const llvm::Twine &message) {
  llvm::errs() << "dualpipe-compile: error: " << message << "\n";
  return 1;
}

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

namespace mf = dualpipe::manifest;

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
  if (auto r = fn.getArgAttrOfType<DenseI64ArrayAttr>(i, "dualpipe.int_range"))
    if (r.size() == 2)
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
    if (auto n = fn.getArgAttrOfType<StringAttr>(i, attr)) {
      arg.role = role.str();
      arg.name = n.getValue().str();
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

/// The rank of each stage of the pipeline.
std::vector<int64_t> stageRanksOf(dualpipe::PipelineOp pipe) {
  std::vector<int64_t> stageRanks;
  for (int64_t r : pipe.getOn())
    stageRanks.push_back(r);
  return stageRanks;
}

/// Everything dualpipe-run needs to call the library, read off the
/// partitioned (still tensor-level) module.
mf::Manifest buildManifest(ModuleOp module, dualpipe::PipelineOp pipe) {
  auto model = module.lookupSymbol<func::FuncOp>(*pipe.getModel());
  int64_t ranks = pipe.getNumRanks();

  // Which ranks use each model argument.
  std::vector<std::vector<int64_t>> owners(model.getNumArguments());
  for (auto [s, ref] : llvm::enumerate(pipe.getStages())) {
    auto stage = module.lookupSymbol<func::FuncOp>(
        cast<FlatSymbolRefAttr>(ref).getValue());
    for (unsigned i = 0; i < stage.getNumArguments(); ++i)
      if (auto idx = stage.getArgAttrOfType<IntegerAttr>(
              i, "dualpipe.arg_index")) {
        auto &o = owners[idx.getInt()];
        int64_t r = pipe.getRankOfStage(s);
        if (llvm::find(o, r) == o.end())
          o.push_back(r);
      }
  }

  mf::Manifest m;
  m.model = model.getSymName().str();
  m.target = targetOpt.getValue();
  m.schedule = scheduleOpt.getValue();
  m.microbatches = 1;
  m.ranks = ranks;
  m.stages = pipe.getNumStages();
  m.placement = pipe.getPlacement().str();
  m.stageRanks = stageRanksOf(pipe);
  m.entryPoints = rankEntryPoints(ranks);
  m.referenceEntryPoint = "dualpipe_reference_packed";
  for (unsigned i = 0; i < model.getNumArguments(); ++i) {
    mf::Argument arg = argumentEntry(
        model, i, {{dualpipe::kParamAttr, "param"}, {dualpipe::kInputAttr, "input"}},
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


/// --optimizer=KIND[:key=value,...] as the options of
/// --dualpipe-build-optimizer, with the hyperparameters for the manifest.
struct OptimizerSpec {
  std::string kind;
  std::map<std::string, double> hyper;
  std::string passOptions() const {
    std::string s = "kind=" + kind;
    for (const auto &[k, v] : hyper)
      s += " " + k + "=" + llvm::formatv("{0:e16}", v).str();
    return s;
  }
};

std::optional<OptimizerSpec> parseOptimizer(StringRef text) {
  OptimizerSpec spec;
  auto [kind, rest] = text.split(':');
  spec.kind = kind.trim().str();
  std::vector<std::string> keys;
  if (spec.kind == "sgd") {
    spec.hyper = {{"lr", 0.01}, {"weight-decay", 0.0}};
  } else if (spec.kind == "momentum") {
    spec.hyper = {{"lr", 0.01}, {"momentum", 0.9}, {"weight-decay", 0.0}};
  } else if (spec.kind == "adamw") {
    spec.hyper = {{"lr", 1e-3},  {"beta1", 0.9},        {"beta2", 0.999},
                  {"eps", 1e-8}, {"weight-decay", 0.01}};
  } else {
    fail("--optimizer=" + text + ": unknown optimizer '" + spec.kind +
         "'; use sgd, momentum or adamw, e.g. --optimizer=adamw:lr=1e-3");
    return std::nullopt;
  }
  SmallVector<StringRef> items;
  rest.split(items, ',', -1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [key, value] = item.split('=');
    std::string k = key.trim().str();
    std::replace(k.begin(), k.end(), '_', '-');
    double v;
    if (!spec.hyper.count(k)) {
      std::string known;
      for (const auto &[name, _] : spec.hyper)
        known += (known.empty() ? "" : ", ") + name;
      fail("--optimizer=" + text + ": '" + key.trim() + "' is not an option of " +
           spec.kind + " (its options: " + known + ")");
      return std::nullopt;
    }
    if (value.trim().getAsDouble(v) || !std::isfinite(v) || v < 0) {
      fail("--optimizer=" + text + ": " + k + "=" + value +
           " is not a non-negative number");
      return std::nullopt;
    }
    spec.hyper[k] = v;
  }
  return spec;
}

/// --stop-after=PASS: prints the module the first time that pass has run
/// and ends the compile.
struct StopAfter : public PassInstrumentation {
  std::string stopAfterValue = stopAfter();
  void runAfterPass(Pass *pass, Operation *op) override {
    // A pass nested under func.func runs once per function: print once the
    // enclosing pipeline has run it on every function (the adaptor that
    // runs the nested pipeline finishes on the top-level module next).
    if (pass->getArgument() == stopAfterValue)
      pending = true;
    if (!pending || op->getParentOp())
      return;
    op->print(llvm::outs());
    llvm::outs().flush();
    std::exit(0);
  }
  bool pending = false;
};

/// Per-pass timing and --stop-after on a pass manager of the chain.
void instrument(PassManager &pm) {
  applyDefaultTimingPassManagerCLOptions(pm); // --mlir-timing per pass
  if (!stopAfter().empty())
    pm.addInstrumentation(std::make_unique<StopAfter>());
}

/// Runs a textual pass pipeline on `module`.
LogicalResult runPipeline(ModuleOp module, const std::string &pipeline) {
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)) ||
      failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    return failure();
  instrument(pm);
  return pm.run(module);
}

/// Everything but the entry points becomes private, so that two step
/// modules (the pipeline and the reference) link into one library.
void privatizeInternals(ModuleOp module) {
  module.walk([](func::FuncOp fn) {
    if (!fn.isExternal() && !fn->hasAttr(dualpipe::kRankAttr) &&
        !fn->hasAttr("dualpipe.optimizer"))
      fn.setPrivate();
  });
}

/// Training step, tensor level: partition, autodiff, schedule,
/// communication, verification, memory plan, per-rank step functions.
LogicalResult buildTrainingStep(ModuleOp module, StringRef schedule,
                                int64_t ranks, int64_t stages,
                                int64_t microbatches, StringRef prefix,
                                StringRef memoryReport,
                                const OptimizerSpec *optimizer = nullptr,
                                StringRef scheduleCsv = "") {
  std::string placement = dualpipe::placementForSchedule(schedule);
  std::string p =
      (Twine("dualpipe-partition{stages=") + Twine(stages) + " ranks=" +
       Twine(ranks) + " placement=" + placement + " device=" + deviceOpt +
       "},dualpipe-autodiff{microbatches=" + Twine(microbatches) +
       (lossOpt.empty() ? "" : " loss=" + lossOpt) +
       "},dualpipe-schedule{schedule=" + schedule +
       " microbatches=" + Twine(microbatches) +
       (scheduleCsv.empty() ? "" : " emit=" + scheduleCsv) +
       "},dualpipe-insert-comm,dualpipe-verify,dualpipe-plan-memory" +
       (memoryReport.empty() ? "" : "{report=" + memoryReport + "}") +
       ",dualpipe-lower-schedule{prefix=" + prefix + "}" +
       (optimizer ? ",dualpipe-build-optimizer{" + optimizer->passOptions() +
                        " entry=" + prefix + "0}"
                  : ""))
          .str();
  return runPipeline(module, p);
}

/// The bufferized-module-to-LLVM part for the chosen target.
void appendTargetLowering(OpPassManager &pm) {
#ifdef DUALPIPE_COMPILE_HAVE_CUDA
  if (targetOpt == "cuda") {
    dualpipe::CudaLoweringOptions options;
    options.toolkit = DUALPIPE_CUDA_ROOT_DIR;
    dualpipe::buildCudaLoweringPipeline(pm, options);
    return;
  }
#endif
  dualpipe::buildCpuLoweringPipeline(pm);
}

/// Tensor-level step functions to LLVM-dialect IR for the target.
LogicalResult lowerStepToLLVM(ModuleOp module) {
  privatizeInternals(module);
  PassManager pm(module.getContext());
  if (failed(applyPassManagerCLOptions(pm)) ||
      failed(parsePassPipeline(
          "dualpipe-protect-arguments,convert-elementwise-to-linalg,"
          "one-shot-bufferize{bufferize-function-boundaries "
          "function-boundary-type-conversion=identity-layout-map},"
          "buffer-deallocation-pipeline,canonicalize",
          pm, llvm::errs())))
    return failure();
  appendTargetLowering(pm);
  instrument(pm);
  if (failed(pm.run(module)))
    return failure();
  // Only the packed entry points are exported; everything else (stage code,
  // helpers the lowering made) is internal to its object.
  module.walk([](LLVM::LLVMFuncOp fn) {
    if (!fn.isExternal() && !fn.getName().ends_with("_packed"))
      fn.setLinkage(LLVM::Linkage::Internal);
  });
  return success();
}

/// The manifest of a training step, read off the rank entry points.
mf::Manifest trainingManifest(ModuleOp module, int64_t ranks, int64_t stages,
                              int64_t microbatches, StringRef schedule,
                              StringRef placement) {
  auto entry = module.lookupSymbol<func::FuncOp>("dualpipe_rank0");
  mf::Manifest m;
  m.mode = "train";
  m.target = targetOpt.getValue();
  m.schedule = schedule.str();
  m.placement = placement.str();
  m.ranks = ranks;
  m.stages = stages;
  m.microbatches = microbatches;
  m.entryPoints = rankEntryPoints(ranks);
  m.referenceEntryPoint = "dualpipe_reference_rank0_packed";
  for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
    mf::Argument arg = argumentEntry(entry, i,
                                     {{dualpipe::kParamAttr, "param"},
                                      {dualpipe::kInputAttr, "input"},
                                      {dualpipe::kLabelAttr, "label"},
                                      {"dualpipe.grad_of", "grad"}},
                                     "losses", "losses");
    addIntRange(arg, entry, i);
    m.arguments.push_back(std::move(arg));
  }
  // Which ranks compute each parameter's gradient.
  dualpipe::PipelineOp pipe = dualpipe::lookupPipeline(module);
  for (auto [s, ref] : llvm::enumerate(pipe.getStages())) {
    auto stage = module.lookupSymbol<func::FuncOp>(
        cast<FlatSymbolRefAttr>(ref).getValue());
    for (unsigned i = 0; i < stage.getNumArguments(); ++i)
      if (auto n = stage.getArgAttrOfType<StringAttr>(i, dualpipe::kParamAttr)) {
        std::vector<int64_t> &list = m.paramRanks[n.getValue().str()];
        int64_t r = pipe.getRankOfStage(s);
        if (llvm::find(list, r) == list.end())
          list.push_back(r);
      }
  }
  m.stageRanks = stageRanksOf(pipe);
  return m;
}

/// The manifest's "optimizer": the compiled optimizer's entry point, its
/// hyperparameters and its arguments in call order.
mf::Optimizer optimizerManifest(ModuleOp module, const OptimizerSpec &spec) {
  auto fn = module.lookupSymbol<func::FuncOp>("dualpipe_optimizer");
  mf::Optimizer o;
  o.kind = spec.kind;
  o.entryPoint = "dualpipe_optimizer_packed";
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    mf::Argument arg = argumentEntry(fn, i,
                                     {{dualpipe::kParamAttr, "param"},
                                      {"dualpipe.grad_of", "grad"},
                                      {"dualpipe.state", "state"}},
                                     "scalars", "step");
    if (auto n = fn.getArgAttrOfType<StringAttr>(i, "dualpipe.state"))
      arg.param = n.getValue().rsplit('.').first.str();
    o.arguments.push_back(std::move(arg));
  }
  for (const auto &[k, v] : spec.hyper) {
    std::string key = k;
    std::replace(key.begin(), key.end(), '-', '_');
    o.hyperparameters[key] = v;
  }
  return o;
}

/// Compiles `llvmModule` for the host into an object file at `path`.
LogicalResult emitObject(llvm::Module &llvmModule, StringRef path) {
  std::string tripleName = llvm::sys::getDefaultTargetTriple();
  llvm::Triple triple(tripleName);
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return fail("no LLVM target for " + tripleName + ": " + error), failure();
  std::string cpu =
      cpuOpt.empty() ? llvm::sys::getHostCPUName().str() : cpuOpt.getValue();
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpu, "", llvm::TargetOptions(), llvm::Reloc::PIC_,
      std::nullopt,
      optLevelOpt == 0   ? llvm::CodeGenOptLevel::None
      : optLevelOpt == 1 ? llvm::CodeGenOptLevel::Less
      : optLevelOpt == 2 ? llvm::CodeGenOptLevel::Default
                         : llvm::CodeGenOptLevel::Aggressive));
  llvmModule.setDataLayout(tm->createDataLayout());
  llvmModule.setTargetTriple(triple);

  auto optimize = makeOptimizingTransformer(optLevelOpt, 0, tm.get());
  phaseTimes.mark("other");
  if (llvm::Error err = optimize(&llvmModule)) {
    llvm::errs() << "dualpipe-compile: error: LLVM optimization failed: "
                 << llvm::toString(std::move(err)) << "\n";
    return failure();
  }

  std::error_code ec;
  llvm::ToolOutputFile out(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail("cannot write " + path + ": " + ec.message()), failure();
  llvm::legacy::PassManager codegen;
  if (tm->addPassesToEmitFile(codegen, out.os(), nullptr,
                              llvm::CodeGenFileType::ObjectFile))
    return fail("the target cannot emit object files"), failure();
  phaseTimes.mark("llvm-optimize");
  codegen.run(llvmModule);
  phaseTimes.mark("codegen");
  out.keep();
  return success();
}

/// `text` as a C string literal, split into lines; every byte that is not
/// printable ASCII (and '"', '\\', '?') as an octal escape, so any name
/// survives exactly.
std::string cStringLiteral(StringRef text) {
  std::string out = "  \"";
  size_t line = 0;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '?')
      out += static_cast<char>(c);
    else
      out += {'\\', char('0' + (c >> 6)), char('0' + ((c >> 3) & 7)),
              char('0' + (c & 7))};
    if (++line == 96) {
      out += "\"\n  \"";
      line = 0;
    }
  }
  return out + "\"";
}

/// OUTDIR/step_abi.c: `const char dualpipe_step_abi[]`, the text of the
/// entry points' signatures (Manifest::abiSignature()).
LogicalResult writeAbiSource(StringRef path, StringRef abi) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return fail("cannot write " + path + ": " + ec.message()), failure();
  os << "/* The signatures of this step's entry points, as its manifest.json\n"
        "   records them in \"abi\" (dualpipe/Runtime/Manifest.h). */\n"
     << "const char " << mf::kAbiSymbol << "[] =\n"
     << cStringLiteral(abi) << ";\n";
  return success();
}

/// Fills in what only the linked library knows (its size and SHA-256) and
/// the abi text, then checks the whole manifest.
LogicalResult sealManifest(mf::Manifest &manifest, StringRef library,
                           const std::string &abi) {
  auto bytes = llvm::MemoryBuffer::getFile(library, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
  if (!bytes)
    return fail("cannot read " + library + ": " + bytes.getError().message()),
           failure();
  std::array<uint8_t, 32> digest =
      llvm::SHA256::hash(llvm::arrayRefFromStringRef((*bytes)->getBuffer()));
  manifest.libraryBytes = static_cast<int64_t>((*bytes)->getBufferSize());
  manifest.librarySha256 = llvm::toHex(digest, /*LowerCase=*/true);
  manifest.abi = abi;
  std::string problem = mf::validateManifest(manifest);
  if (!problem.empty())
    return fail("the manifest of this step is not valid (" + problem +
                "): a bug of dualpipe-compile, please report it"),
           failure();
  return success();
}

/// Links the objects and the abi text into a shared library with the
/// runtime.
LogicalResult linkLibrary(ArrayRef<std::string> objects, StringRef library,
                          StringRef abi) {
  const char *env = std::getenv("CXX");
  std::string cxx = env && *env ? env : DUALPIPE_HOST_CXX;
  auto program = llvm::sys::findProgramByName(cxx);
  if (!program)
    return fail("cannot find the linker driver '" + cxx +
                "'; set CXX to a C++ compiler"),
           failure();
  std::string runtimeDir = DUALPIPE_RUNTIME_LIB_DIR;
  SmallString<256> abiSource = llvm::sys::path::parent_path(library);
  llvm::sys::path::append(abiSource, "step_abi.c");
  if (failed(writeAbiSource(abiSource, abi)))
    return failure();
  std::vector<std::string> argv = {*program, "-shared", "-o", library.str()};
  argv.insert(argv.end(), objects.begin(), objects.end());
  argv.insert(argv.end(), {"-fPIC", "-x", "c", abiSource.str().str(), "-x",
                           "none"});
  argv.insert(argv.end(), {"-L" + runtimeDir,
                           "-Wl,-rpath," + runtimeDir, "-ldualpipe_runtime",
                           "-lm"});
#ifdef DUALPIPE_COMPILE_HAVE_CUDA
  // The cuda target: the mgpu* runtime, cudart, cuBLAS and NCCL, each
  // recorded as NEEDED (and found through an rpath at load time).
  if (targetOpt == "cuda") {
    argv.insert(argv.end(), {"-ldualpipe_runtime_cuda", "-Wl,--no-as-needed"});
    for (const char *lib : {DUALPIPE_CUDA_CUDART, DUALPIPE_CUDA_CUBLAS,
                            DUALPIPE_CUDA_NCCL}) {
      argv.push_back(lib);
      argv.push_back(("-Wl,-rpath," + llvm::sys::path::parent_path(lib)).str());
    }
  }
#endif
  SmallVector<StringRef> args(argv.begin(), argv.end());
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, args, std::nullopt, {}, 0, 0,
                                     &message);
  llvm::sys::fs::remove(abiSource);
  if (rc != 0)
    return fail("linking " + library + " failed (" + cxx + " exited with " +
                std::to_string(rc) + (message.empty() ? "" : ": ") + message +
                ")"),
           failure();
  return success();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  dualpipe::registerDualPipeTransformsPasses();
  dualpipe::registerDualPipeConversionPasses();
#ifdef DUALPIPE_HAVE_AUTODIFF
  dualpipe::registerDualPipeAutodiffPasses();
#endif
  if (cl::opt<std::string> *o = stopAfterOption()) {
    o->setDescription("With --emit=mlir: print the pipeline module's IR "
                      "right after the first run of this pass (its "
                      "command-line name, e.g. dualpipe-insert-comm or "
                      "dualpipe-scf-to-cf; a pass nested under func.func "
                      "once it has run on every function) and stop");
    o->setHiddenFlag(cl::NotHidden);
    o->addCategory(category);
  }
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "dualpipe-compile: model.mlir to OUTDIR/step.so + manifest.json\n");

#ifdef DUALPIPE_COMPILE_HAVE_CUDA
  if (targetOpt != "cpu" && targetOpt != "cuda")
#else
  if (targetOpt == "cuda")
    return fail("target 'cuda' needs a build with the CUDA toolkit and NCCL "
                "(this one was configured without them)");
  if (targetOpt != "cpu")
#endif
    return fail("target '" + targetOpt +
                "' is not one of cpu, cuda");
  if (emitOpt != "lib" && emitOpt != "mlir" && emitOpt != "llvm")
    return fail("--emit=" + emitOpt + " is not one of lib, mlir, llvm");
  if (emitOpt == "lib" && outDir.empty())
    return fail("no output folder: pass -o OUTDIR");
  if (optLevelOpt > 3)
    return fail("--opt-level=" + std::to_string(optLevelOpt) +
                " is not one of 0, 1, 2, 3");
  if (!stopAfter().empty() && emitOpt != "mlir")
    return fail("--stop-after=" + stopAfter() +
                " prints IR: use it with --emit=mlir");
  std::optional<OptimizerSpec> optimizer;
  if (!optimizerOpt.empty()) {
    if (scheduleOpt == "forward")
      return fail("--optimizer needs a training step: pass --schedule=S "
                  "--ranks=N --microbatches=M");
    optimizer = parseOptimizer(optimizerOpt);
    if (!optimizer)
      return 1;
  }
  bool training = scheduleOpt != "forward";
  if (training && ranksOpt < 1)
    return fail("--ranks=N is required with --schedule=" + scheduleOpt);
  if (training && microbatchesOpt < 1)
    return fail("--microbatches=M is required with --schedule=" + scheduleOpt);
  if (!outDir.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
      return fail("cannot create " + outDir + ": " + ec.message());

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<dualpipe::DualPipeDialect>();
  dualpipe::registerConvertDualPipeToLLVMInterface(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  if (!stopAfter().empty())
    context.disableMultithreading(); // print a module no thread is changing

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  std::string errorMessage;
  auto file = openInputFile(inputFile, &errorMessage);
  if (!file)
    return fail(errorMessage);
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  std::vector<OwningOpRef<ModuleOp>> steps;
  mf::Manifest manifest;
  int64_t numStages = 0, numRanks = 0;
  if (!training) {
    // Walking skeleton: partition first, the manifest is read off the stages.
    PassManager partition(&context);
    if (failed(applyPassManagerCLOptions(partition)))
      return 1;
    dualpipe::DualPipePartitionOptions partitionOptions;
    partitionOptions.ranks = ranksOpt;
    partition.addPass(dualpipe::createDualPipePartition(partitionOptions));
    instrument(partition);
    if (failed(partition.run(*module)))
      return 1;
    dualpipe::PipelineOp pipe = dualpipe::lookupPipeline(*module);
    manifest = buildManifest(*module, pipe);
    numStages = pipe.getNumStages();
    numRanks = pipe.getNumRanks();

    PassManager lower(&context);
    if (failed(applyPassManagerCLOptions(lower)))
      return 1;
    if (failed(parsePassPipeline(
            "one-shot-bufferize{bufferize-function-boundaries "
            "function-boundary-type-conversion=identity-layout-map}",
            lower, llvm::errs())))
      return 1;
    lower.addPass(dualpipe::createDualPipeBuildForwardPrograms());
    if (failed(parsePassPipeline("buffer-deallocation-pipeline,canonicalize",
                                 lower, llvm::errs())))
      return 1;
    appendTargetLowering(lower);
    instrument(lower);
    if (failed(lower.run(*module)))
      return 1;
    steps.push_back(std::move(module));
  } else {
    numRanks = ranksOpt;
    std::string placement = dualpipe::placementForSchedule(scheduleOpt);
    numStages = stagesOpt ? stagesOpt
                          : (placement == "linear" || placement == "dualpipe"
                                 ? numRanks
                                 : 2 * numRanks);
    // The single-device reference: the same model, uncut, on one rank.
    OwningOpRef<ModuleOp> reference = module->clone();
    reference->walk([](dualpipe::StageBoundaryOp marker) {
      marker.replaceAllUsesWith(marker.getInputs());
      marker.erase();
    });
    SmallString<256> memoryReport(outDir), scheduleCsv(outDir);
    llvm::sys::path::append(memoryReport, "memory.json");
    llvm::sys::path::append(scheduleCsv, "schedule.csv");
    phaseTimes.mark("parse");
    if (failed(buildTrainingStep(*module, scheduleOpt, numRanks, numStages,
                                 microbatchesOpt, "dualpipe_rank",
                                 outDir.empty() ? "" : memoryReport.str(),
                                 optimizer ? &*optimizer : nullptr,
                                 outDir.empty() ? "" : scheduleCsv.str())))
      return 1;
    manifest = trainingManifest(*module, numRanks, numStages, microbatchesOpt,
                                scheduleOpt, placement);
    if (optimizer)
      manifest.optimizer = optimizerManifest(*module, *optimizer);
    if (!outDir.empty()) {
      // The schedule (actions per rank, SCHEDULES.md's CSV) and the memory
      // plan's predicted peak per rank.
      manifest.scheduleFile = "schedule.csv";
      manifest.memoryFile = "memory.json";
      auto report = llvm::MemoryBuffer::getFile(memoryReport);
      llvm::Expected<llvm::json::Value> memory =
          report ? llvm::json::parse((*report)->getBuffer())
                 : llvm::Expected<llvm::json::Value>(
                       llvm::createStringError("no memory report"));
      if (!memory)
        return fail("cannot read the memory plan " + memoryReport + ": " +
                    llvm::toString(memory.takeError()));
      if (const llvm::json::Array *ranks =
              memory->getAsObject()->getArray("ranks"))
        for (const llvm::json::Value &r : *ranks)
          manifest.peakMemoryBytes.push_back(
              r.getAsObject()->getInteger("peak_bytes").value_or(0));
    }
    // The reference runs 1F1B on one rank (F0 B0 F1 B1 ...): one
    // micro-batch of activations alive at a time, where GPipe would hold M.
    if (referenceOpt &&
        failed(buildTrainingStep(*reference, "1f1b", 1, 1, microbatchesOpt,
                                 "dualpipe_reference_rank", "")))
      return 1;
    phaseTimes.mark("tensor-level");
    if (failed(lowerStepToLLVM(*module)) ||
        (referenceOpt && failed(lowerStepToLLVM(*reference))))
      return 1;
    phaseTimes.mark("lower-to-llvm-dialect");
    steps.push_back(std::move(module));
    if (referenceOpt)
      steps.push_back(std::move(reference));
    else
      manifest.referenceEntryPoint.clear();
  }

  if (!stopAfter().empty())
    return fail("--stop-after=" + stopAfter() +
                ": no pass of that name ran in this compile; see "
                "--mlir-timing for the passes of the chain (their "
                "command-line names, e.g. dualpipe-autodiff, "
                "convert-linalg-to-loops)");
  if (emitOpt == "mlir") {
    for (auto &step : steps)
      step->print(llvm::outs());
    phaseTimes.print();
    return 0;
  }

  llvm::LLVMContext llvmContext;
  std::vector<std::unique_ptr<llvm::Module>> llvmModules;
  for (auto &step : steps) {
    llvmModules.push_back(
        translateModuleToLLVMIR(*step, llvmContext, "dualpipe_step"));
    if (!llvmModules.back())
      return fail("translation to LLVM IR failed");
    if (emitOpt == "llvm")
      llvmModules.back()->print(llvm::outs(), nullptr);
  }
  phaseTimes.mark("llvm-translate");
  if (emitOpt == "llvm") {
    phaseTimes.print();
    return 0;
  }

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  SmallString<256> library(outDir), manifestPath(outDir);
  llvm::sys::path::append(library, "step.so");
  llvm::sys::path::append(manifestPath, "manifest.json");
  std::vector<std::string> objects;
  for (auto [i, m] : llvm::enumerate(llvmModules)) {
    SmallString<256> object(outDir);
    llvm::sys::path::append(object, "step" + std::to_string(i) + ".o");
    if (failed(emitObject(*m, object)))
      return 1;
    objects.push_back(object.str().str());
  }
  phaseTimes.mark("other");
  // The library exports the text of its entry points' signatures; the
  // manifest carries the same text and the library's size and SHA-256, so
  // dualpipe-run can tell that the two belong together before a call.
  std::string abi = manifest.abiSignature();
  if (failed(linkLibrary(objects, library, abi)))
    return 1;
  phaseTimes.mark("link");
  for (const std::string &o : objects)
    llvm::sys::fs::remove(o);
  if (failed(sealManifest(manifest, library, abi)))
    return 1;

  std::error_code ec;
  llvm::ToolOutputFile out(manifestPath, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return fail("cannot write " + manifestPath + ": " + ec.message());
  out.os() << mf::writeManifest(manifest);
  out.keep();
  phaseTimes.mark("other");
  phaseTimes.print();
  llvm::outs() << "dualpipe-compile: wrote " << library << " and "
               << manifestPath << " (" << numStages << " stages on " << numRanks
               << " ranks, target " << targetOpt
               << ")\n";
  return 0;
}
