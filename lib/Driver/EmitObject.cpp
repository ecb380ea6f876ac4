//===- EmitObject.cpp - LLVM IR to an object file, objects to step.so ----===//
#include "CompileSteps.h"

#include "llvm/Support/raw_ostream.h"

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

/// `text` as a C string literal, split into lines; every byte that is not
/// printable ASCII (and '"', '\\', '?') as an octal escape, so any name
/// survives exactly.
static std::string cStringLiteral(StringRef text) {
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
static LogicalResult writeAbiSource(StringRef path, StringRef abi) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return compileError("cannot write " + path + ": " + ec.message());
  os << "/* The signatures of this step's entry points, as its manifest.json\n"
        "   records them in \"abi\" (dualpipe/Runtime/Manifest.h). */\n"
     << "const char " << manifest::kAbiSymbol << "[] =\n"
     << cStringLiteral(abi) << ";\n";
  return success();
}

LogicalResult linkLibrary(ArrayRef<std::string> objects, StringRef library,
                          Target target, StringRef abi) {
  const char *env = std::getenv("CXX");
  std::string cxx = env && *env ? env : DUALPIPE_HOST_CXX;
  auto program = llvm::sys::findProgramByName(cxx);
  if (!program)
    return compileError("cannot find the linker driver '" + cxx +
                        "'; set CXX to a C++ compiler");
  std::string runtimeDir = DUALPIPE_RUNTIME_LIB_DIR;
  SmallString<256> abiSource = llvm::sys::path::parent_path(library);
  llvm::sys::path::append(abiSource, "step_abi.c");
  if (failed(writeAbiSource(abiSource, abi)))
    return failure();
  std::vector<std::string> argv = {*program, "-shared", "-o", library.str()};
  argv.insert(argv.end(), objects.begin(), objects.end());
  argv.insert(argv.end(),
              {"-fPIC", "-x", "c", abiSource.str().str(), "-x", "none"});
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
  llvm::sys::fs::remove(abiSource);
  if (rc != 0)
    return compileError("linking " + library + " failed (" + cxx +
                        " exited with " + std::to_string(rc) +
                        (message.empty() ? "" : ": ") + message + ")");
  return success();
}

} // namespace dualpipe::driver
