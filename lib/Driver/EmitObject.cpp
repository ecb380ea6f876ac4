//===- EmitObject.cpp - LLVM IR to an object file, objects to step.so ----===//
#include "CompileSteps.h"

#include "llvm/Support/raw_ostream.h"

#include "mlir/ExecutionEngine/OptUtils.h"

#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/PassManager.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ThreadPool.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Transforms/IPO/DeadArgumentElimination.h"
#include "llvm/Transforms/IPO/GlobalDCE.h"
#include "llvm/Transforms/Scalar/DCE.h"
#include "llvm/Transforms/Scalar/InstSimplifyPass.h"
#include "llvm/Transforms/Utils/SplitModule.h"

#include "llvm/Analysis/LoopInfo.h"
#include "llvm/IR/Dominators.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "llvm/Transforms/Utils/CodeExtractor.h"

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

/// Sets LLVM option `name` to "false" as `-mllvm -<name>=false` would,
/// unless the command line set it itself.
void turnOff(StringRef name) {
  auto options = llvm::cl::getRegisteredOptions();
  auto it = options.find(name);
  if (it == options.end() || it->second->getNumOccurrences() > 0)
    return;
  // As if given on the command line: some passes read an option only when
  // it has a position.
  (void)it->second->addOccurrence(/*pos=*/1, name, "false");
}

/// Turns off two parts of LLVM's code generation that are quadratic in a
/// basic block's length, where the step's functions are long blocks (glue
/// of thousands of calls and descriptor fields, -O3's fully unrolled loops
/// over small static shapes). LLVM has no per-target-machine switch for
/// either, hence the options; `-mllvm` style flags on the command line win.
/// - The post-RA list scheduler builds a dependence graph over each block:
///   a stage function that returns 224 saved buffers took 12.5 of its 13 s
///   of -O3 code generation there (perf on llc -mcpu=znver4), and the
///   12-layer 8-rank DualPipe compile spent 121 s in code generation with it
///   and 62 s without.
/// - The DAG combiner's store merging compares each store with the stores
///   before it on the chain (BaseIndexOffset::match, 12.7 % of the whole
///   24-layer compile under perf): llc -O3 -mcpu=znver4 on the part of that
///   step holding its last stage took 26.8 s with it and 5.2 s without. The
///   loop vectorizer and SLP have already made the wide stores it would make.
/// The step's kernels run as fast without either (bench/REPORT.md §1c).
void skipQuadraticCodegenSteps() {
  turnOff("post-RA-scheduler");
  turnOff("combiner-store-merging");
}
} // namespace

namespace {
/// The host's (or `cpu`'s) target machine at `optLevel`.
FailureOr<std::unique_ptr<llvm::TargetMachine>>
makeTargetMachine(StringRef cpu, unsigned optLevel) {
  std::string tripleName = llvm::sys::getDefaultTargetTriple();
  llvm::Triple triple(tripleName);
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return compileError("no LLVM target for " + tripleName + ": " + error);
  std::string cpuName =
      cpu.empty() ? llvm::sys::getHostCPUName().str() : cpu.str();
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, cpuName, "", llvm::TargetOptions(), llvm::Reloc::PIC_,
      std::nullopt, codeGenLevel(optLevel)));
}

/// One module to compile into one object file, with what it needs.
struct Part {
  std::string bitcode; // parsed on the thread that compiles it
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  unsigned optLevel = 0;
  std::unique_ptr<llvm::TargetMachine> tm;
  std::string path;
  std::string error; // set by a failed step
};

/// A part into its own context (on the thread that compiles it).
void loadPart(Part &part) {
  part.context = std::make_unique<llvm::LLVMContext>();
  llvm::Expected<std::unique_ptr<llvm::Module>> m = llvm::parseBitcodeFile(
      llvm::MemoryBufferRef(part.bitcode, "part"), *part.context);
  if (!m) {
    part.error = "cannot split the step's LLVM module: " +
                 llvm::toString(m.takeError());
    return;
  }
  part.module = std::move(*m);
  part.bitcode.clear();
}

void optimizePart(Part &part) {
  auto optimize = makeOptimizingTransformer(part.optLevel, 0, part.tm.get());
  if (llvm::Error err = optimize(part.module.get()))
    part.error = "LLVM optimization failed: " + llvm::toString(std::move(err));
}

void codegenPart(Part &part) {
  std::error_code ec;
  llvm::ToolOutputFile out(part.path, ec, llvm::sys::fs::OF_None);
  if (ec) {
    part.error = "cannot write " + part.path + ": " + ec.message();
    return;
  }
  llvm::legacy::PassManager codegen;
  if (part.tm->addPassesToEmitFile(codegen, out.os(), nullptr,
                                   llvm::CodeGenFileType::ObjectFile)) {
    part.error = "the target cannot emit object files";
    return;
  }
  codegen.run(*part.module);
  out.keep();
}

/// Splits `module` into at most `jobs` linkable parts (llvm::SplitModule)
/// compiled at `optLevel`, each as bitcode that loadPart reads into its own
/// LLVMContext, so that threads can compile them at once.
void splitParts(llvm::Module &module, unsigned jobs, unsigned optLevel,
                StringRef pathPrefix, std::vector<Part> &parts) {
  llvm::SplitModule(module, jobs, [&](std::unique_ptr<llvm::Module> split) {
    // A part with no definition would be an empty object: skip it.
    if (llvm::all_of(split->functions(),
                     [](llvm::Function &f) { return f.isDeclaration(); }) &&
        split->global_empty())
      return;
    Part &part = parts.emplace_back();
    part.optLevel = optLevel;
    llvm::raw_string_ostream os(part.bitcode);
    llvm::WriteBitcodeToFile(*split, os);
    part.path = (pathPrefix + "_" + llvm::Twine(parts.size() - 1) + ".o").str();
  });
}

/// Runs `step` on every part, `jobs` at a time; the first error wins.
LogicalResult forEachPart(std::vector<Part> &parts, unsigned jobs,
                          llvm::function_ref<void(Part &)> step) {
  if (parts.size() == 1 || jobs <= 1) {
    for (Part &part : parts)
      step(part);
  } else {
    llvm::DefaultThreadPool pool(llvm::hardware_concurrency(jobs));
    for (Part &part : parts)
      pool.async([&step, &part] { step(part); });
    pool.wait();
  }
  for (Part &part : parts)
    if (!part.error.empty())
      return compileError(part.error);
  return success();
}

LogicalResult addTargetMachine(Part &part, StringRef cpu) {
  FailureOr<std::unique_ptr<llvm::TargetMachine>> tm =
      makeTargetMachine(cpu, part.optLevel);
  if (failed(tm))
    return failure();
  part.tm = std::move(*tm);
  return success();
}

/// Whether `f` is a rank program, `dualpipe_rank<r>` or
/// `dualpipe_reference_rank<r>`: one rank's schedule written out, calls of
/// stage functions, messages and the runtime's markers.
bool isRankProgram(const llvm::Function &f) {
  if (f.isDeclaration())
    return false;
  for (StringRef prefix : {"dualpipe_rank", "dualpipe_reference_rank"}) {
    StringRef rest = f.getName();
    if (rest.consume_front(prefix))
      return !rest.empty() && llvm::all_of(rest, llvm::isDigit);
  }
  return false;
}

/// True if `loop` calls a function that is not an intrinsic: a rolled
/// program's body (stage calls), not a loop nest over one buffer.
bool callsFunctions(const llvm::Loop &loop) {
  for (const llvm::BasicBlock *block : loop.blocks())
    for (const llvm::Instruction &inst : *block)
      if (auto *call = dyn_cast<llvm::CallBase>(&inst))
        if (const llvm::Function *callee = call->getCalledFunction();
            !callee || !callee->isIntrinsic())
          return true;
  return false;
}

/// Moves loops of `f` into functions of their own, with upstream's
/// CodeExtractor: the top-level loops (`inner` false), or the loops directly
/// inside a top-level loop that calls functions (`inner` true), each then
/// marked noinline.
void extractLoopsOf(llvm::Function &f, bool inner) {
  llvm::DominatorTree dom(f);
  llvm::LoopInfo loops(dom);
  SmallVector<SmallVector<llvm::BasicBlock *>> regions;
  auto add = [&](const llvm::Loop *loop) {
    regions.emplace_back(loop->getBlocks().begin(), loop->getBlocks().end());
  };
  for (const llvm::Loop *top : loops) {
    if (!inner)
      add(top);
    else if (callsFunctions(*top))
      llvm::for_each(top->getSubLoops(), add);
  }
  llvm::CodeExtractorAnalysisCache cache(f);
  for (ArrayRef<llvm::BasicBlock *> blocks : regions) {
    llvm::CodeExtractor extractor(blocks, &dom, /*AggregateArgs=*/false,
                                  nullptr, nullptr, nullptr,
                                  /*AllowVarArgs=*/false,
                                  /*AllowAlloca=*/false, nullptr, "loop");
    if (!extractor.isEligible())
      continue;
    llvm::Function *outlined = extractor.extractCodeRegion(cache);
    if (outlined && inner)
      outlined->addFnAttr(llvm::Attribute::NoInline);
  }
}

/// Moves each top-level loop of `f` (gradient sums, fills, copies of
/// micro-batch slices, a rolled reference's body) into a function of its
/// own, so that what is left is straight-line glue. The loops inside a
/// rolled program's loop (its gradient sums and copies) go first, each into
/// a noinline function (-O3 would put a function with one caller back):
/// otherwise the rolled reference's body is one function of 107,557
/// instructions at 24 layers, whose -O3 optimization and code generation,
/// superlinear in its length and on one thread, outlasted all the rest.
void extractLoops(llvm::Function &f) {
  extractLoopsOf(f, /*inner=*/true);
  extractLoopsOf(f, /*inner=*/false);
}

/// Drops the descriptor fields no callee reads from every call of an
/// internal function. A memref argument is passed as its whole descriptor
/// (allocated and aligned pointers, offset, sizes, strides), and a rank
/// program's calls pass every parameter and saved buffer of a stage so:
/// rank 0 of the 24-layer 8-rank DualPipe step was 45,733 lines of LLVM IR.
/// A callee with static shapes reads only the aligned pointer, but
/// rebuilds each descriptor from its fields, so upstream's
/// dead-argument elimination sees every field used until instsimplify has
/// folded the rebuilt descriptors' extractvalues and dce dropped them; then
/// it removes the rest, and dce the call sites' extractvalues that fed them
/// (that rank program: 21,235 lines). Linear, and done before the glue is
/// split off, while the rank programs and their callees are in one module.
void pruneDeadArguments(llvm::Module &module) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::FunctionPassManager fold;
  fold.addPass(llvm::InstSimplifyPass());
  fold.addPass(llvm::DCEPass());
  llvm::ModulePassManager mpm;
  // Functions nothing calls any more (the model and stage functions, a
  // backward whose body its `_into` form took over) go first: splitGlue
  // gives every local symbol external linkage, after which nothing would
  // drop them and they would be optimized and compiled for nothing.
  mpm.addPass(llvm::GlobalDCEPass());
  mpm.addPass(llvm::createModuleToFunctionPassAdaptor(std::move(fold)));
  mpm.addPass(llvm::DeadArgumentEliminationPass());
  mpm.addPass(llvm::createModuleToFunctionPassAdaptor(llvm::DCEPass()));
  mpm.run(module, mam);
}

/// Cuts `module` in two, linkable with each other (local symbols become
/// hidden globals, renamed with `localSuffix` where it is not empty): its
/// rank programs, with their loops moved out, as a module in the same
/// context (returned), and everything else as `rest`'s bitcode.
std::unique_ptr<llvm::Module> splitGlue(llvm::Module &module,
                                        StringRef localSuffix, Part &rest) {
  for (llvm::Function &f : module)
    if (isRankProgram(f))
      extractLoops(f);
  for (llvm::GlobalValue &gv : module.global_values()) {
    if (!gv.hasLocalLinkage())
      continue;
    if (!localSuffix.empty())
      gv.setName((gv.hasName() ? gv.getName() : "anon") + localSuffix);
    gv.setLinkage(llvm::GlobalValue::ExternalLinkage);
    gv.setVisibility(llvm::GlobalValue::HiddenVisibility);
  }
  auto cloneSide = [&](bool glueSide) {
    llvm::ValueToValueMapTy map;
    return llvm::CloneModule(module, map, [&](const llvm::GlobalValue *gv) {
      auto *f = dyn_cast<llvm::Function>(gv);
      return (f && isRankProgram(*f)) == glueSide;
    });
  };
  llvm::raw_string_ostream os(rest.bitcode);
  llvm::WriteBitcodeToFile(*cloneSide(/*glueSide=*/false), os);
  return cloneSide(/*glueSide=*/true);
}
} // namespace

FailureOr<std::vector<std::string>>
emitObjects(ArrayRef<ObjectModule> modules, StringRef cpu, unsigned optLevel,
            unsigned jobs, PhaseTimer *timer) {
  skipQuadraticCodegenSteps();
  // Each module in two: its rank programs, the glue, and the rest (stage,
  // block, loss and optimizer functions, the entry points' wrappers). The
  // rest is optimized whole on its own thread (`jobs` at a time: the inliner
  // must see stage functions with the block functions they call) and
  // compiled at `optLevel`. The glue is neither optimized nor compiled
  // beyond -O0 once its loops are functions of the rest: a rank program is
  // the whole schedule written out, every call passing each buffer as an
  // expanded descriptor, and LLVM's -O3 is superlinear in a function's
  // length (bench/REPORT.md §1c).
  std::vector<Part> rests(modules.size()), parts;
  unsigned ways = std::max(jobs, 1u);
  for (auto [rest, m] : llvm::zip_equal(rests, modules)) {
    rest.optLevel = optLevel;
    rest.path = m.pathPrefix + ".o";
    if (failed(addTargetMachine(rest, cpu)))
      return failure();
    // Every part of the module inherits its data layout and triple.
    m.module->setDataLayout(rest.tm->createDataLayout());
    m.module->setTargetTriple(rest.tm->getTargetTriple());
    pruneDeadArguments(*m.module);
    std::unique_ptr<llvm::Module> glue =
        splitGlue(*m.module, m.localSuffix, rest);
    // The rank programs, one per rank, spread over the threads too.
    splitParts(*glue, ways, /*optLevel=*/0, m.pathPrefix + "_glue", parts);
  }
  if (timer)
    timer->mark("other");
  if (failed(forEachPart(rests, jobs, [&](Part &part) {
        loadPart(part);
        if (part.error.empty())
          optimizePart(part);
      })))
    return failure();
  // Then code generation, the longer half, in up to `jobs` parts of each.
  for (auto [rest, m] : llvm::zip_equal(rests, modules))
    splitParts(*rest.module, ways, optLevel, m.pathPrefix, parts);
  rests.clear();
  for (Part &part : parts)
    if (failed(addTargetMachine(part, cpu)))
      return failure();
  if (failed(forEachPart(parts, jobs, loadPart)))
    return failure();
  if (timer)
    timer->mark("llvm-optimize");
  if (failed(forEachPart(parts, jobs, codegenPart)))
    return failure();
  if (timer)
    timer->mark("codegen");
  std::vector<std::string> paths;
  for (Part &part : parts)
    paths.push_back(part.path);
  return paths;
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
