//===- dualpipe-compile.cpp - model.mlir to a per-rank step library ------===//
//
// Ahead-of-time driver: parses a model in the input contract, runs the pass
// chain, emits an object file for the host and links OUTDIR/step.so (one
// packed entry point per rank plus the single-device reference) beside
// OUTDIR/manifest.json, which tells dualpipe-run how to call them.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "dualpipe/Transforms/Passes.h"

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
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

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
static cl::opt<std::string>
    scheduleOpt("schedule",
                cl::desc("Schedule (the walking skeleton supports 'forward': "
                         "one micro-batch, forward only)"),
                cl::init("forward"), cl::cat(category));
static cl::opt<std::string>
    targetOpt("target", cl::desc("Code target (cpu)"), cl::init("cpu"),
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

namespace {

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

llvm::json::Object tensorJson(Type type) {
  auto shaped = cast<ShapedType>(type);
  llvm::json::Array shape;
  for (int64_t d : shaped.getShape())
    shape.push_back(d);
  return llvm::json::Object{{"shape", std::move(shape)},
                            {"dtype", dtypeOf(shaped.getElementType())}};
}

/// Everything dualpipe-run needs to call the library, read off the
/// partitioned (still tensor-level) module.
llvm::json::Object buildManifest(ModuleOp module, dualpipe::PipelineOp pipe) {
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

  llvm::json::Array args;
  for (unsigned i = 0; i < model.getNumArguments(); ++i) {
    llvm::json::Object arg = tensorJson(model.getArgument(i).getType());
    if (auto n = model.getArgAttrOfType<StringAttr>(i, dualpipe::kParamAttr)) {
      arg["role"] = "param";
      arg["name"] = n.getValue();
    } else if (auto n = model.getArgAttrOfType<StringAttr>(
                   i, dualpipe::kInputAttr)) {
      arg["role"] = "input";
      arg["name"] = n.getValue();
    } else {
      arg["role"] = "input";
      arg["name"] = "arg" + std::to_string(i);
    }
    llvm::json::Array ownedBy;
    for (int64_t r : owners[i])
      ownedBy.push_back(r);
    arg["ranks"] = std::move(ownedBy);
    args.push_back(std::move(arg));
  }
  llvm::json::Array outputs;
  for (Type t : model.getFunctionType().getResults())
    outputs.push_back(tensorJson(t));

  llvm::json::Array entries, stageRanks;
  for (int64_t r = 0; r < ranks; ++r)
    entries.push_back("dualpipe_rank" + std::to_string(r) + "_packed");
  for (int64_t r : pipe.getOn())
    stageRanks.push_back(r);

  return llvm::json::Object{
      {"format", "dualpipe-step"},
      {"version", 1},
      {"model", model.getSymName()},
      {"target", targetOpt.getValue()},
      {"schedule", scheduleOpt.getValue()},
      {"microbatches", 1},
      {"ranks", ranks},
      {"stages", pipe.getNumStages()},
      {"placement", pipe.getPlacement()},
      {"stage_ranks", std::move(stageRanks)},
      {"library", "step.so"},
      {"entry_points", std::move(entries)},
      {"reference_entry_point", "dualpipe_reference_packed"},
      {"arguments", std::move(args)},
      {"outputs", std::move(outputs)},
  };
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
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  llvmModule.setDataLayout(tm->createDataLayout());
  llvmModule.setTargetTriple(triple);

  auto optimize = makeOptimizingTransformer(3, 0, tm.get());
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
  codegen.run(llvmModule);
  out.keep();
  return success();
}

/// Links the object into a shared library with the runtime.
LogicalResult linkLibrary(StringRef object, StringRef library) {
  const char *env = std::getenv("CXX");
  std::string cxx = env && *env ? env : DUALPIPE_HOST_CXX;
  auto program = llvm::sys::findProgramByName(cxx);
  if (!program)
    return fail("cannot find the linker driver '" + cxx +
                "'; set CXX to a C++ compiler"),
           failure();
  std::string runtimeDir = DUALPIPE_RUNTIME_LIB_DIR;
  std::vector<std::string> argv = {*program,
                                   "-shared",
                                   "-o",
                                   library.str(),
                                   object.str(),
                                   "-L" + runtimeDir,
                                   "-Wl,-rpath," + runtimeDir,
                                   "-ldualpipe_runtime",
                                   "-lm"};
  SmallVector<StringRef> args(argv.begin(), argv.end());
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, args, std::nullopt, {}, 0, 0,
                                     &message);
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
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "dualpipe-compile: model.mlir to OUTDIR/step.so + manifest.json\n");

  if (targetOpt != "cpu")
    return fail("target '" + targetOpt +
                "' is not built yet; use --target=cpu");
  if (scheduleOpt != "forward")
    return fail("schedule '" + scheduleOpt +
                "' is not built yet in the compiler (see dualpipe-sched for "
                "the schedule engine); use --schedule=forward");
  if (emitOpt != "lib" && emitOpt != "mlir" && emitOpt != "llvm")
    return fail("--emit=" + emitOpt + " is not one of lib, mlir, llvm");
  if (emitOpt == "lib" && outDir.empty())
    return fail("no output folder: pass -o OUTDIR");

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<dualpipe::DualPipeDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

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

  // Partition first: the manifest is read off the stages.
  PassManager partition(&context);
  if (failed(applyPassManagerCLOptions(partition)))
    return 1;
  dualpipe::DualPipePartitionOptions partitionOptions;
  partitionOptions.ranks = ranksOpt;
  partition.addPass(dualpipe::createDualPipePartition(partitionOptions));
  if (failed(partition.run(*module)))
    return 1;
  dualpipe::PipelineOp pipe = dualpipe::lookupPipeline(*module);
  llvm::json::Object manifest = buildManifest(*module, pipe);
  int64_t numStages = pipe.getNumStages(), numRanks = pipe.getNumRanks();

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
  dualpipe::buildCpuLoweringPipeline(lower);
  if (failed(lower.run(*module)))
    return 1;

  if (emitOpt == "mlir") {
    module->print(llvm::outs());
    return 0;
  }

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, "dualpipe_step");
  if (!llvmModule)
    return fail("translation to LLVM IR failed");
  if (emitOpt == "llvm") {
    llvmModule->print(llvm::outs(), nullptr);
    return 0;
  }

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  if (std::error_code ec = llvm::sys::fs::create_directories(outDir))
    return fail("cannot create " + outDir + ": " + ec.message());
  SmallString<256> object(outDir), library(outDir), manifestPath(outDir);
  llvm::sys::path::append(object, "step.o");
  llvm::sys::path::append(library, "step.so");
  llvm::sys::path::append(manifestPath, "manifest.json");
  if (failed(emitObject(*llvmModule, object)) ||
      failed(linkLibrary(object, library)))
    return 1;
  llvm::sys::fs::remove(object);

  std::error_code ec;
  llvm::ToolOutputFile out(manifestPath, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return fail("cannot write " + manifestPath + ": " + ec.message());
  out.os() << llvm::formatv("{0:2}",
                            llvm::json::Value(std::move(manifest)))
           << "\n";
  out.keep();
  llvm::outs() << "dualpipe-compile: wrote " << library << " and "
               << manifestPath << " (" << numStages << " stages on " << numRanks
               << " ranks, target " << targetOpt
               << ")\n";
  return 0;
}
