//===- CompileModel.cpp - a model to OUTDIR/step.so and manifest.json ----===//
//
// The order of a compile: the tensor-level phases of the step, the
// manifest read off the step's tensor-level IR, the lowering phases (the
// single-device reference, a copy of the model, goes through its own chain
// on a second thread meanwhile), then LLVM IR, object code per module and
// one linked library.
//
//===----------------------------------------------------------------------===//
#include "CompileSteps.h"

#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"

#include <future>

using namespace mlir;

namespace dualpipe {

void PhaseTimer::mark(const std::string &name) {
  auto now = std::chrono::steady_clock::now();
  double s = std::chrono::duration<double>(now - last).count();
  last = now;
  for (auto &[n, t] : phases)
    if (n == name) {
      t += s;
      return;
    }
  phases.push_back({name, s});
}

std::string PhaseTimer::summary() const {
  double total = 0;
  std::string line = "dualpipe-compile: phase times (wall s):";
  for (const auto &[n, t] : phases) {
    line += llvm::formatv(" {0} {1:f2};", n, t).str();
    total += t;
  }
  return line + llvm::formatv(" total {0:f2}", total).str();
}

LogicalResult compileError(const Twine &message) {
  llvm::errs() << "dualpipe-compile: error: " << message << "\n";
  return failure();
}

namespace {

/// One compile in progress.
class ModelCompiler {
public:
  ModelCompiler(const CompileOptions &options, llvm::raw_ostream &out)
      : options(options), out(out) {}

  FailureOr<CompileResult> run(ModuleOp module);

private:
  void mark(const std::string &phase) {
    if (options.timer)
      options.timer->mark(phase);
  }
  std::string outPath(StringRef file) const {
    SmallString<256> path(options.outDir);
    llvm::sys::path::append(path, file);
    return path.str().str();
  }
  bool stopping() const {
    return options.step.stopAfter || !options.step.stopAfterPass.empty();
  }
  /// Runs the passes `build` adds on `module`; `build` returns whether it
  /// cut the chain at the stop point, which lands in `cut`.
  LogicalResult runPasses(ModuleOp module,
                          llvm::function_ref<bool(OpPassManager &)> build,
                          bool &cut);
  LogicalResult checkStopPoint();
  LogicalResult compileForward(ModuleOp module);
  LogicalResult compileTraining(ModuleOp module);
  LogicalResult emit();

  const CompileOptions &options;
  llvm::raw_ostream &out;
  /// The modules to translate, in link order: the step, the reference.
  SmallVector<ModuleOp, 2> modules;
  OwningOpRef<ModuleOp> reference;
  manifest::Manifest stepManifest;
  CompileResult result;
};

LogicalResult
ModelCompiler::runPasses(ModuleOp module,
                         llvm::function_ref<bool(OpPassManager &)> build,
                         bool &cut) {
  PassManager pm(module.getContext());
  cut = build(pm);
  if (options.instrument)
    options.instrument(pm);
  return pm.run(module);
}

/// A --stop-after pass that the chain does not have is refused before any
/// work is done.
LogicalResult ModelCompiler::checkStopPoint() {
  const StepOptions &step = options.step;
  if (step.stopAfterPass.empty())
    return success();
  OpPassManager chain("builtin.module");
  bool found = options.forwardOnly ? buildForwardPipeline(chain, step)
                                   : buildTrainingStepPipeline(chain, step);
  if (found)
    return success();
  return compileError("--stop-after=" + step.stopAfterPass +
                      ": no pass of that name ran in this compile; give a "
                      "phase (" + phaseNames() +
                      ") or a pass of the chain by its command-line name "
                      "(e.g. dualpipe-autodiff, convert-linalg-to-loops; "
                      "--mlir-timing lists them)");
}

LogicalResult ModelCompiler::compileForward(ModuleOp module) {
  const StepOptions &step = options.step;
  // The manifest is read off the stages, right after partitioning.
  bool cut = false;
  if (failed(runPasses(module, [&](OpPassManager &pm) {
        return buildForwardPipeline(pm, step, Phase::ContractCheck,
                                    Phase::Partition);
      }, cut)))
    return failure();
  if (cut || (step.stopAfter && *step.stopAfter < Phase::Bufferize))
    return success();
  PipelineOp pipe = lookupPipeline(module);
  stepManifest = driver::forwardManifest(module, step.target);
  result.numStages = pipe.getNumStages();
  result.numRanks = pipe.getNumRanks();
  return runPasses(module, [&](OpPassManager &pm) {
    return buildForwardPipeline(pm, step, Phase::Bufferize, Phase::ToLLVM);
  }, cut);
}

LogicalResult ModelCompiler::compileTraining(ModuleOp module) {
  StepOptions step = options.step;
  result.numStages = step.numStages();
  result.numRanks = step.ranks;
  // The single-device reference: the same model, uncut, on one rank. Not
  // compiled when only the step's IR is asked for.
  if (step.reference && !stopping()) {
    reference = module.clone();
    reference->walk([](StageBoundaryOp marker) {
      marker.replaceAllUsesWith(marker.getInputs());
      marker.erase();
    });
  }
  if (options.emit == EmitKind::Library) {
    step.scheduleCsv = outPath("schedule.csv");
    step.memoryReport = outPath("memory.json");
  }
  StepOptions referenceStep = step.referenceStep();
  auto phases = [](const StepOptions &o, Phase first, Phase last) {
    return [&o, first, last](OpPassManager &pm) {
      return buildTrainingStepPipeline(pm, o, first, last);
    };
  };
  mark("parse");
  // The reference is a module of its own: its whole chain runs on a second
  // thread beside the step's lowering (the longer one: 7.4 s against 4.2 s
  // for a 96-layer GPT), unless the context is single-threaded
  // (--mlir-disable-threading, e.g. for readable IR printing). The phase
  // marks are the step's.
  LogicalResult referenceResult = success();
  auto compileReference = [&] {
    bool referenceCut = false;
    referenceResult = runPasses(
        *reference, phases(referenceStep, Phase::ContractCheck, Phase::Lower),
        referenceCut);
    if (succeeded(referenceResult))
      referenceResult = runPasses(
          *reference, phases(referenceStep, Phase::Bufferize, Phase::ToLLVM),
          referenceCut);
  };
  bool cut = false;
  if (failed(runPasses(module, phases(step, Phase::ContractCheck, Phase::Lower),
                       cut)))
    return failure();
  if (cut)
    return success();
  // Started once the step's contract check and tensor-level passes have
  // passed, so a model they reject is reported once, not once per module.
  // The future waits for the thread when it goes out of scope, on every
  // return below.
  std::future<void> referenceDone;
  if (reference && module.getContext()->isMultithreadingEnabled())
    referenceDone = std::async(std::launch::async, compileReference);
  if (options.emit == EmitKind::Library) {
    FailureOr<manifest::Manifest> m =
        driver::trainingManifest(module, step, step.memoryReport);
    if (failed(m))
      return failure();
    stepManifest = std::move(*m);
  }
  mark("tensor-level");
  if (failed(runPasses(module, phases(step, Phase::Bufferize, Phase::ToLLVM),
                       cut)))
    return failure();
  if (referenceDone.valid())
    referenceDone.get();
  else if (reference)
    compileReference();
  if (failed(referenceResult))
    return failure();
  mark("lower-to-llvm-dialect");
  return success();
}

LogicalResult ModelCompiler::emit() {
  if (reference)
    modules.push_back(*reference);
  if (options.emit == EmitKind::Mlir) {
    for (ModuleOp m : modules) {
      m->print(out);
      out << "\n"; // as mlir-opt ends its output
    }
    return success();
  }
  llvm::LLVMContext llvmContext;
  std::vector<std::unique_ptr<llvm::Module>> llvmModules;
  for (ModuleOp m : modules) {
    llvmModules.push_back(translateModuleToLLVMIR(m, llvmContext,
                                                  "dualpipe_step"));
    if (!llvmModules.back())
      return compileError("translation to LLVM IR failed");
    if (options.emit == EmitKind::Llvm)
      llvmModules.back()->print(out, nullptr);
  }
  mark("llvm-translate");
  if (options.emit == EmitKind::Llvm)
    return success();

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  result.library = outPath("step.so");
  result.manifest = outPath("manifest.json");
  std::vector<driver::ObjectModule> toEmit;
  for (auto [i, m] : llvm::enumerate(llvmModules))
    toEmit.push_back({m.get(), outPath("step" + std::to_string(i)),
                      i == 0 ? "" : ".module" + std::to_string(i)});
  FailureOr<std::vector<std::string>> written = driver::emitObjects(
      toEmit, options.cpu, options.step.optLevel, options.jobs, options.timer);
  if (failed(written))
    return failure();
  std::vector<std::string> objects = std::move(*written);
  mark("other");
  if (failed(driver::linkLibrary(objects, result.library, options.step.target,
                                 stepManifest.abiSignature())) ||
      failed(driver::sealManifest(stepManifest, result.library)))
    return failure();
  mark("link");
  for (const std::string &o : objects)
    llvm::sys::fs::remove(o);

  std::error_code ec;
  llvm::ToolOutputFile file(result.manifest, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return compileError("cannot write " + result.manifest + ": " +
                        ec.message());
  file.os() << manifest::writeManifest(stepManifest);
  file.keep();
  mark("other");
  return success();
}

FailureOr<CompileResult> ModelCompiler::run(ModuleOp module) {
  if (options.emit == EmitKind::Library && options.outDir.empty())
    return compileError("no output folder: pass -o OUTDIR");
  if (stopping() && options.emit != EmitKind::Mlir)
    return compileError("--stop-after=" +
                        (options.step.stopAfter
                             ? phaseName(*options.step.stopAfter).str()
                             : options.step.stopAfterPass) +
                        " prints IR: use it with --emit=mlir");
  if (failed(checkStopPoint()))
    return failure();
  if (!options.outDir.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(options.outDir))
      return compileError("cannot create " + options.outDir + ": " +
                          ec.message());
  if (failed(options.forwardOnly ? compileForward(module)
                                 : compileTraining(module)))
    return failure();
  modules.insert(modules.begin(), module);
  if (failed(emit()))
    return failure();
  return result;
}

} // namespace

FailureOr<CompileResult> compileModel(ModuleOp module,
                                      const CompileOptions &options,
                                      llvm::raw_ostream &out) {
  return ModelCompiler(options, out).run(module);
}

} // namespace dualpipe
