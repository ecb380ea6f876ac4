//===- dualpipe-compile.cpp - model.mlir to a per-rank step library ------===//
//
// Ahead-of-time driver: parses a model in the input contract and hands it to
// the compile library (dualpipe/Driver/Driver.h), which runs the pass chain
// of dualpipe/Pipelines/Pipelines.h and links OUTDIR/step.so (one packed
// entry point per rank plus the single-device reference) beside
// OUTDIR/manifest.json, which tells dualpipe-run how to call them. This file
// is the command line.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Driver/Driver.h"
#include "dualpipe/InitAll.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"

#include "dualpipe/Runtime/SystemMemory.h"

#include <algorithm>
#include <thread>

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
             "interleaved, auto; a schedule file FILE.csv (or file:PATH) in "
             "PyTorch's action grammar, checked against --ranks and "
             "--microbatches (docs/schedules/README.md); or 'forward' (the "
             "walking skeleton: one micro-batch, forward only, cut at the "
             "model's markers)"),
    cl::init("forward"), cl::cat(category));
static cl::opt<std::string> placementOpt(
    "placement",
    cl::desc("With --schedule=FILE.csv: the placement the file's stages are "
             "read under (linear, interleaved, dualpipe, dualpipev; default: "
             "inferred from the file's stage numbering)"),
    cl::init(""), cl::cat(category));
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
static cl::opt<int64_t> memoryBudgetOpt(
    "memory-budget",
    cl::desc("Per-rank bytes (parameters, gradients, peak live activations "
             "in the schedule's simulation) the dualpipe/dualpipev partition "
             "must fit (default 0: no budget)"),
    cl::init(0), cl::cat(category));
static cl::opt<std::string>
    targetOpt("target",
              cl::desc("Code target: cpu, or cuda (kernels as an sm_90 "
                       "cubin, see docs/cuda.md)"),
              cl::init("cpu"), cl::cat(category));
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
static cl::opt<unsigned> jobsOpt(
    "j",
    cl::desc("Threads for LLVM optimization and code generation: the step's "
             "LLVM module is split by function into that many parts, each "
             "its own object file (default 0: one per core; 1: one module, "
             "one object file)"),
    cl::init(0), cl::cat(category));
static cl::alias jobsAlias("jobs", cl::desc("Alias for -j"),
                           cl::aliasopt(jobsOpt), cl::cat(category));
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
static cl::opt<bool> outlineRepeatsOpt(
    "outline-repeats",
    cl::desc("Find a flat model's repeated blocks (the same ops on other "
             "parameters) and compile them as calls of one block function "
             "(default true; --outline-repeats=false keeps the model as "
             "written)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> timePhasesOpt(
    "time-phases",
    cl::desc("Print the wall time of each phase (tensor-level passes, "
             "lowering to the LLVM dialect, LLVM IR translation, LLVM "
             "optimization, code generation, link) on stderr"),
    cl::init(false), cl::cat(category));

// --stop-after is read before LLVM parses the command line: LLVM's code
// generator registers an option of that name (llc's) in the same process.
static const char kStopAfterHelp[] =
    "\n  --stop-after=POINT      With --emit=mlir: print the step module's IR "
    "after this phase of\n"
    "                          the chain (contract-check, partition, "
    "autodiff, schedule, comm,\n"
    "                          verify, memory-plan, lower, bufferize, "
    "to-llvm) or this pass (its\n"
    "                          command-line name, e.g. dualpipe-insert-comm "
    "or dualpipe-scf-to-cf)\n"
    "                          and stop\n";
static cl::extrahelp stopAfterHelp(kStopAfterHelp);

/// Bytes the compiler holds per action of the schedule (its compute op,
/// the lowered call, slices and messages, through the LLVM dialect and
/// code generation). Measured as the growth of peak RSS with M (dualpipe-gen
/// mlp --layers=3 --width=8 --batch=2, dualpipe on 2 ranks, -O0 -j 1,
/// M = 4 -> 64: 141.9 -> 188.7 MB over 720 more actions, 65 KB each).
constexpr double kCompileBytesPerAction = 64 * 1024;

/// Refuses, before anything is built, a step whose schedule alone would not
/// fit in memory: ranks x chunks x M x 3 actions (F, I or B, W).
static bool checkCompileSize(int ranks, int stages, int microbatches) {
  double chunks = std::max(2.0, stages > 0 ? double(stages) / ranks : 2.0);
  double actions = 3.0 * ranks * chunks * microbatches;
  double bytes = actions * kCompileBytesPerAction;
  std::string source;
  double available = double(dualpipe::sysmem::availableMemory(source));
  if (bytes <= available)
    return true;
  auto gib = [](double b) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    return std::string(text);
  };
  (void)dualpipe::compileError(
      "--ranks=" + llvm::Twine(ranks) + " --microbatches=" +
      llvm::Twine(microbatches) + " needs about " + gib(bytes) + " (" +
      llvm::Twine(int64_t(actions)) + " actions x " +
      llvm::Twine(int64_t(kCompileBytesPerAction)) + " bytes) to compile, but only " +
      gib(available) + " is available (" + source +
      "): use fewer ranks or micro-batches");
  return false;
}

namespace {

/// Takes --stop-after=X (or --stop-after X) out of the command line.
std::string takeStopAfter(int &argc, char **argv) {
  std::string value;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef a(argv[i]);
    llvm::StringRef flag = a.starts_with("--") ? a.drop_front(2)
                           : a.starts_with("-") ? a.drop_front(1)
                                                : llvm::StringRef();
    if (flag.consume_front("stop-after")) {
      if (flag.consume_front("=")) {
        value = flag.str();
        continue;
      }
      if (flag.empty() && i + 1 < argc) {
        value = argv[++i];
        continue;
      }
    }
    argv[out++] = argv[i];
  }
  argc = out;
  return value;
}

/// The command line as compile options; nullopt after reporting a bad one.
std::optional<dualpipe::CompileOptions>
compileOptions(const std::string &stopAfter) {
  dualpipe::CompileOptions o;
  dualpipe::StepOptions &step = o.step;
  std::optional<dualpipe::Target> target = dualpipe::parseTarget(targetOpt);
  if (!target) {
    (void)dualpipe::compileError("target '" + targetOpt +
                                 "' is not one of cpu, cuda");
    return std::nullopt;
  }
#ifndef DUALPIPE_COMPILE_HAVE_CUDA
  if (*target == dualpipe::Target::Cuda) {
    (void)dualpipe::compileError(
        "target 'cuda' needs a build with the CUDA toolkit and NCCL (this "
        "one was configured without them)");
    return std::nullopt;
  }
#else
  step.cuda.toolkit = DUALPIPE_CUDA_ROOT_DIR;
#endif
  step.target = *target;
  if (emitOpt == "lib")
    o.emit = dualpipe::EmitKind::Library;
  else if (emitOpt == "mlir")
    o.emit = dualpipe::EmitKind::Mlir;
  else if (emitOpt == "llvm")
    o.emit = dualpipe::EmitKind::Llvm;
  else {
    (void)dualpipe::compileError("--emit=" + emitOpt +
                                 " is not one of lib, mlir, llvm");
    return std::nullopt;
  }
  if (optLevelOpt > 3) {
    (void)dualpipe::compileError("--opt-level=" + std::to_string(optLevelOpt) +
                                 " is not one of 0, 1, 2, 3");
    return std::nullopt;
  }
  o.forwardOnly = scheduleOpt == "forward";
  if (!optimizerOpt.empty()) {
    if (o.forwardOnly) {
      (void)dualpipe::compileError(
          "--optimizer needs a training step: pass --schedule=S --ranks=N "
          "--microbatches=M");
      return std::nullopt;
    }
    std::string error;
    step.optimizer = dualpipe::OptimizerSpec::parse(optimizerOpt, error);
    if (!step.optimizer) {
      (void)dualpipe::compileError(error);
      return std::nullopt;
    }
  }
  if (!o.forwardOnly && (ranksOpt < 1 || microbatchesOpt < 1)) {
    (void)dualpipe::compileError(
        (ranksOpt < 1 ? "--ranks=N" : "--microbatches=M") +
        llvm::Twine(" is required with --schedule=") + scheduleOpt);
    return std::nullopt;
  }
  if (!o.forwardOnly && !checkCompileSize(ranksOpt, stagesOpt, microbatchesOpt))
    return std::nullopt;
  step.schedule = scheduleOpt;
  step.ranks = ranksOpt;
  step.stages = stagesOpt;
  step.microbatches = microbatchesOpt;
  step.loss = lossOpt;
  step.device = deviceOpt;
  step.memoryBudget = memoryBudgetOpt;
  step.optLevel = optLevelOpt;
  step.reference = referenceOpt;
  step.outlineRepeats = outlineRepeatsOpt;
  if (std::optional<dualpipe::Phase> phase = dualpipe::parsePhase(stopAfter))
    step.stopAfter = phase;
  else
    step.stopAfterPass = stopAfter;
  if (!placementOpt.empty() && !step.scheduleFile()) {
    (void)dualpipe::compileError(
        "--placement is for --schedule=FILE.csv; a schedule name fixes its "
        "own placement");
    return std::nullopt;
  }
  std::string error;
  if (!o.forwardOnly &&
      !dualpipe::resolveScheduleFile(step, placementOpt, error)) {
    (void)dualpipe::compileError(error);
    return std::nullopt;
  }
  o.outDir = outDir;
  o.cpu = cpuOpt;
  o.jobs = jobsOpt ? unsigned(jobsOpt)
                   : std::max(1u, std::thread::hardware_concurrency());
  return o;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  std::string stopAfter = takeStopAfter(argc, argv);
  dualpipe::registerAllPasses();
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "dualpipe-compile: model.mlir to OUTDIR/step.so + manifest.json\n");
  std::optional<dualpipe::CompileOptions> options = compileOptions(stopAfter);
  if (!options)
    return 1;

  DialectRegistry registry;
  dualpipe::registerAllDialects(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  std::string errorMessage;
  auto file = openInputFile(inputFile, &errorMessage);
  if (!file)
    return failed(dualpipe::compileError(errorMessage)) ? 1 : 0;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  dualpipe::PhaseTimer timer;
  options->timer = &timer;
  options->instrument = [](PassManager &pm) {
    (void)applyPassManagerCLOptions(pm);
    applyDefaultTimingPassManagerCLOptions(pm); // --mlir-timing per pass
  };
  FailureOr<dualpipe::CompileResult> result =
      dualpipe::compileModel(*module, *options, llvm::outs());
  if (failed(result))
    return 1;
  if (timePhasesOpt)
    llvm::errs() << timer.summary() << "\n";
  if (options->emit == dualpipe::EmitKind::Library)
    llvm::outs() << "dualpipe-compile: wrote " << result->library << " and "
                 << result->manifest << " (" << result->numStages
                 << " stages on " << result->numRanks << " ranks, target "
                 << targetOpt << ")\n";
  return 0;
}
