//===- EmitObject.cpp - LLVM IR to an object file, objects to step.so ----===//
#include "CompileSteps.h"

#include "mlir/ExecutionEngine/OptUtils.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

namespace dualpipe::driver {

namespace {
llvm::CodeGenOptLevel codeGenLevel(unsigned optLevel) {
  switch (optLevel) {
  case 0:
    return llvm::CodeGenOptLevel::None;
  case 1:
    return llvm::CodeGenOptLevel::Less;
  case 2:
    return llvm::CodeGenOptLevel::Default;
  default:
    return llvm::CodeGenOptLevel::Aggressive;
  }
}
} // namespace

LogicalResult emitObject(llvm::Module &module, StringRef path, StringRef cpu,
                         unsigned optLevel, PhaseTimer *timer) {
  std::string tripleName = llvm::sys::getDefaultTargetTriple();
  llvm::Triple triple(tripleName);
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return compileError("no LLVM target for " + tripleName + ": " + error);
  std::string cpuName =
      cpu.empty() ? llvm::sys::getHostCPUName().str() : cpu.str();
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpuName, "", llvm::TargetOptions(), llvm::Reloc::PIC_,
      std::nullopt, codeGenLevel(optLevel)));
  module.setDataLayout(tm->createDataLayout());
  module.setTargetTriple(triple);

  auto optimize = makeOptimizingTransformer(optLevel, 0, tm.get());
  if (timer)
    timer->mark("other");
  if (llvm::Error err = optimize(&module))
    return compileError("LLVM optimization failed: " +
                        llvm::toString(std::move(err)));

  std::error_code ec;
  llvm::ToolOutputFile out(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return compileError("cannot write " + path + ": " + ec.message());
  llvm::legacy::PassManager codegen;
  if (tm->addPassesToEmitFile(codegen, out.os(), nullptr,
                              llvm::CodeGenFileType::ObjectFile))
    return compileError("the target cannot emit object files");
  if (timer)
    timer->mark("llvm-optimize");
  codegen.run(module);
  if (timer)
    timer->mark("codegen");
  out.keep();
  return success();
}

LogicalResult linkLibrary(ArrayRef<std::string> objects, StringRef library,
                          Target target) {
  const char *env = std::getenv("CXX");
  std::string cxx = env && *env ? env : DUALPIPE_HOST_CXX;
  auto program = llvm::sys::findProgramByName(cxx);
  if (!program)
    return compileError("cannot find the linker driver '" + cxx +
                        "'; set CXX to a C++ compiler");
  std::string runtimeDir = DUALPIPE_RUNTIME_LIB_DIR;
  std::vector<std::string> argv = {*program, "-shared", "-o", library.str()};
  argv.insert(argv.end(), objects.begin(), objects.end());
  argv.insert(argv.end(), {"-L" + runtimeDir, "-Wl,-rpath," + runtimeDir,
                           "-ldualpipe_runtime", "-lm"});
#ifdef DUALPIPE_COMPILE_HAVE_CUDA
  // The cuda target: the mgpu* runtime, cudart, cuBLAS and NCCL, each
  // recorded as NEEDED (and found through an rpath at load time).
  if (target == Target::Cuda) {
    argv.insert(argv.end(), {"-ldualpipe_runtime_cuda", "-Wl,--no-as-needed"});
    for (const char *lib : {DUALPIPE_CUDA_CUDART, DUALPIPE_CUDA_CUBLAS,
                            DUALPIPE_CUDA_NCCL}) {
      argv.push_back(lib);
      argv.push_back(("-Wl,-rpath," + llvm::sys::path::parent_path(lib)).str());
    }
  }
#else
  (void)target;
#endif
  SmallVector<StringRef> args(argv.begin(), argv.end());
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, args, std::nullopt, {}, 0, 0,
                                     &message);
  if (rc != 0)
    return compileError("linking " + library + " failed (" + cxx +
                        " exited with " + std::to_string(rc) +
                        (message.empty() ? "" : ": ") + message + ")");
  return success();
}

} // namespace dualpipe::driver
