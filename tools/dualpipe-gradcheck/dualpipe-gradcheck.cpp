//===- dualpipe-gradcheck.cpp - finite-difference check of autodiff ------===//
//
// Runs --dualpipe-partition (when needed) and --dualpipe-autodiff on a
// model, JIT-compiles every function with MLIR's ExecutionEngine and checks
// the derived gradients against central finite differences:
//
// - per stage: every parameter and activation-argument entry of the stage,
//   with random inputs and random output gradients (the objective is
//   <g, S_fwd(x)>, or loss/M for the last stage);
// - for the whole model: the stages chained forward and (split) backward,
//   against finite differences of the chained loss.
//
// It also checks that _bwd_i followed by _bwd_w reproduces _bwd bit for bit
// and that _fwd reproduces the stage's results bit for bit.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Autodiff/Passes.h"
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Dialect/DualPipe/IR/DualPipe.h"
#include "dualpipe/InitAll.h"
#include "dualpipe/Transforms/Passes.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/AsmState.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"

#include <cmath>
#include <cstring>
#include <random>

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir>"),
                                      cl::init("-"));
static cl::opt<std::string> lossOpt("loss", cl::desc("loss= of the pass"),
                                    cl::init(""));
static cl::opt<int64_t> microbatchesOpt("microbatches",
                                        cl::desc("microbatches= of the pass"),
                                        cl::init(1));
static cl::opt<std::string> recomputeOpt("recompute",
                                         cl::desc("recompute= of the pass"),
                                         cl::init("none"));
static cl::opt<int64_t> stagesOpt(
    "stages", cl::desc("stages= of --dualpipe-partition (0: at the markers)"),
    cl::init(0));
static cl::opt<std::string> placementOpt(
    "placement", cl::desc("placement= of --dualpipe-partition"),
    cl::init("linear"));
static cl::opt<std::string>
    modeOpt("mode", cl::desc("What to check: stages, model or all"),
            cl::init("all"));
static cl::opt<double> epsOpt("eps", cl::desc("Relative finite-difference step"),
                              cl::init(1e-6));
static cl::opt<double> tolOpt("tol", cl::desc("Largest relative error that passes"),
                              cl::init(1e-6));
static cl::opt<unsigned> seedOpt("seed", cl::desc("Random seed"), cl::init(1));
static cl::opt<bool> verboseOpt("v", cl::desc("Print every tensor's error"),
                                cl::init(false));

namespace {

/// A dense host tensor with a strided memref descriptor pointing at it.
struct Buffer {
  Type elemType;
  std::vector<int64_t> shape;
  std::vector<uint64_t> storage; // 8-byte aligned
  std::vector<int64_t> desc;

  explicit Buffer(RankedTensorType t)
      : elemType(t.getElementType()), shape(t.getShape()) {
    storage.assign(std::max<int64_t>(1, size()), 0);
    desc.resize(3 + 2 * shape.size());
    pointAtStorage();
    desc[2] = 0;
    int64_t stride = 1;
    for (int64_t i = shape.size() - 1; i >= 0; --i) {
      desc[3 + i] = shape[i];
      desc[3 + shape.size() + i] = stride;
      stride *= shape[i];
    }
  }
  Buffer(const Buffer &o)
      : elemType(o.elemType), shape(o.shape), storage(o.storage),
        desc(o.desc) {
    pointAtStorage();
  }
  Buffer &operator=(const Buffer &o) {
    elemType = o.elemType;
    shape = o.shape;
    storage = o.storage;
    desc = o.desc;
    pointAtStorage();
    return *this;
  }
  Buffer(Buffer &&) = default;
  Buffer &operator=(Buffer &&) = default;
  void pointAtStorage() {
    desc[0] = reinterpret_cast<int64_t>(storage.data());
    desc[1] = desc[0];
  }
  int64_t size() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
  bool isFloat() const { return isa<FloatType>(elemType); }
  double get(int64_t i) const {
    if (elemType.isF64())
      return reinterpret_cast<const double *>(storage.data())[i];
    if (elemType.isF32())
      return reinterpret_cast<const float *>(storage.data())[i];
    if (elemType.isInteger(64))
      return reinterpret_cast<const int64_t *>(storage.data())[i];
    return reinterpret_cast<const int32_t *>(storage.data())[i];
  }
  void set(int64_t i, double v) {
    if (elemType.isF64())
      reinterpret_cast<double *>(storage.data())[i] = v;
    else if (elemType.isF32())
      reinterpret_cast<float *>(storage.data())[i] = v;
    else if (elemType.isInteger(64))
      reinterpret_cast<int64_t *>(storage.data())[i] = int64_t(v);
    else
      reinterpret_cast<int32_t *>(storage.data())[i] = int32_t(v);
  }
  size_t bytes() const {
    return size() * ((elemType.getIntOrFloatBitWidth() + 7) / 8);
  }
  bool sameBits(const Buffer &o) const {
    return bytes() == o.bytes() &&
           std::memcmp(storage.data(), o.storage.data(), bytes()) == 0;
  }
};
using Buffers = std::vector<Buffer>;

/// The JIT-compiled module and the tensor-level signatures of its functions.
class Runner {
public:
  Runner(ModuleOp tensorModule, std::unique_ptr<ExecutionEngine> engine)
      : module(tensorModule), engine(std::move(engine)) {}

  func::FuncOp fn(StringRef name) {
    return module.lookupSymbol<func::FuncOp>(name);
  }
  /// Fresh zero buffers for the arguments of `name`.
  Buffers argBuffers(StringRef name) {
    Buffers b;
    for (Type t : fn(name).getFunctionType().getInputs())
      b.emplace_back(cast<RankedTensorType>(t));
    return b;
  }
  /// Calls `name` on `args`; returns its results.
  Buffers call(StringRef name, const Buffers &args) {
    func::FuncOp f = fn(name);
    Buffers results;
    for (Type t : f.getFunctionType().getResults())
      results.emplace_back(cast<RankedTensorType>(t));
    SmallVector<void *> descPtrs;
    for (const Buffer &b : args)
      descPtrs.push_back(const_cast<int64_t *>(b.desc.data()));
    for (Buffer &b : results)
      descPtrs.push_back(b.desc.data());
    SmallVector<void *> packed;
    for (void *&p : descPtrs)
      packed.push_back(&p);
    if (llvm::Error err =
            engine->invokePacked(("_mlir_ciface_" + name).str(), packed)) {
      llvm::errs() << "dualpipe-gradcheck: error: calling " << name << ": "
                   << llvm::toString(std::move(err)) << "\n";
      exit(2);
    }
    return results;
  }

private:
  ModuleOp module;
  std::unique_ptr<ExecutionEngine> engine;
};

std::mt19937_64 rng;
void randomize(Buffer &b) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (int64_t i = 0; i < b.size(); ++i)
    b.set(i, b.isFloat() ? u(rng) : double(rng() % 2));
}

/// max |a - b| / max(|a|, |b|) over one tensor (0 when both are zero).
double relError(const std::vector<double> &analytic,
                const std::vector<double> &numeric) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < analytic.size(); ++i) {
    diff = std::max(diff, std::abs(analytic[i] - numeric[i]));
    scale = std::max({scale, std::abs(analytic[i]), std::abs(numeric[i])});
  }
  return scale == 0 ? 0 : diff / scale;
}

std::vector<double> values(const Buffer &b) {
  std::vector<double> v(b.size());
  for (int64_t i = 0; i < b.size(); ++i)
    v[i] = b.get(i);
  return v;
}

/// Central differences of `phi` with respect to every entry of `x`.
std::vector<double> finiteDifferences(Buffer &x,
                                      const std::function<double()> &phi) {
  std::vector<double> d(x.size());
  for (int64_t i = 0; i < x.size(); ++i) {
    double x0 = x.get(i);
    double h = epsOpt * std::max(1.0, std::abs(x0));
    x.set(i, x0 + h);
    double up = phi();
    x.set(i, x0 - h);
    double down = phi();
    x.set(i, x0);
    d[i] = (up - down) / (2 * h);
  }
  return d;
}

struct Report {
  double worst = 0;
  std::string worstName;
  int64_t tensors = 0, entries = 0;
  bool splitExact = true, forwardExact = true;
  void note(const std::string &name, double err, int64_t n) {
    ++tensors;
    entries += n;
    if (verboseOpt)
      llvm::outs() << "  " << name << ": relative error "
                   << llvm::format("%.3e", err) << " over " << n
                   << " entries\n";
    if (err > worst || worstName.empty()) {
      worst = std::max(worst, err);
      worstName = name;
    }
  }
};

struct StageInfo {
  std::string name;
  bool last = false;
  unsigned numArgs = 0, numResults = 0, numLabels = 0;
  SmallVector<unsigned> actArgs, paramArgs;
  SmallVector<int64_t> argIndex; // model argument index, -1 for activations
  SmallVector<std::string> paramNames;
};

StageInfo describe(Runner &r, StringRef stage, bool last) {
  StageInfo s;
  s.name = stage.str();
  s.last = last;
  func::FuncOp f = r.fn(stage);
  s.numArgs = f.getNumArguments();
  s.numResults = f.getNumResults();
  s.numLabels = r.fn(s.name + "_fwd").getNumArguments() - s.numArgs;
  for (unsigned i = 0; i < s.numArgs; ++i) {
    if (f.getArgAttr(i, dualpipe::kFromStageAttr))
      s.actArgs.push_back(i);
    if (auto p = f.getArgAttrOfType<StringAttr>(i, dualpipe::kParamAttr)) {
      s.paramArgs.push_back(i);
      s.paramNames.push_back(p.getValue().str());
    }
    auto idx = f.getArgAttrOfType<IntegerAttr>(i, dualpipe::kArgIndexAttr);
    s.argIndex.push_back(idx ? idx.getInt() : -1);
  }
  return s;
}

/// The scalar objective of one stage: <g, S_fwd(x)> or loss/M.
double objective(Runner &r, const StageInfo &s, const Buffers &fwdArgs,
                 const Buffers &outGrads) {
  Buffers out = r.call(s.name + "_fwd", fwdArgs);
  if (s.last)
    return out[0].get(0) / double(microbatchesOpt);
  double phi = 0;
  for (unsigned j = 0; j < s.numResults; ++j)
    for (int64_t i = 0; i < out[j].size(); ++i)
      phi += outGrads[j].get(i) * out[j].get(i);
  return phi;
}

/// Checks one stage in isolation.
void checkStage(Runner &r, const StageInfo &s, Report &rep) {
  Buffers fwdArgs = r.argBuffers(s.name + "_fwd");
  for (Buffer &b : fwdArgs)
    randomize(b);
  Buffers outGrads;
  if (!s.last)
    for (Type t : r.fn(s.name).getFunctionType().getResults()) {
      outGrads.emplace_back(cast<RankedTensorType>(t));
      randomize(outGrads.back());
    }
  Buffers fwd = r.call(s.name + "_fwd", fwdArgs);
  if (!s.last) {
    Buffers plain = r.call(s.name, Buffers(fwdArgs.begin(),
                                           fwdArgs.begin() + s.numArgs));
    for (unsigned j = 0; j < s.numResults; ++j)
      rep.forwardExact &= plain[j].sameBits(fwd[j]);
  }
  unsigned numPrimal = s.last ? 1 : s.numResults;
  Buffers bwdArgs = outGrads;
  bwdArgs.insert(bwdArgs.end(), fwd.begin() + numPrimal, fwd.end());
  Buffers full = r.call(s.name + "_bwd", bwdArgs);
  Buffers inputPart = r.call(s.name + "_bwd_i", bwdArgs);
  Buffers wsaved(inputPart.begin() + s.actArgs.size(), inputPart.end());
  Buffers weightPart = r.call(s.name + "_bwd_w", wsaved);
  for (unsigned k = 0; k < s.actArgs.size(); ++k)
    rep.splitExact &= inputPart[k].sameBits(full[k]);
  for (unsigned k = 0; k < s.paramArgs.size(); ++k)
    rep.splitExact &= weightPart[k].sameBits(full[s.actArgs.size() + k]);

  auto phi = [&] { return objective(r, s, fwdArgs, outGrads); };
  for (auto [k, i] : llvm::enumerate(s.actArgs)) {
    std::vector<double> fd = finiteDifferences(fwdArgs[i], phi);
    rep.note("@" + s.name + " activation #" + std::to_string(i),
             relError(values(full[k]), fd), fd.size());
  }
  for (auto [k, i] : llvm::enumerate(s.paramArgs)) {
    std::vector<double> fd = finiteDifferences(fwdArgs[i], phi);
    rep.note("@" + s.name + " param " + s.paramNames[k],
             relError(values(full[s.actArgs.size() + k]), fd), fd.size());
  }
}

/// Checks the stages chained into the whole model.
void checkModel(Runner &r, func::FuncOp model,
                const std::vector<StageInfo> &stages, Report &rep) {
  Buffers modelArgs = r.argBuffers(model.getSymName());
  for (Buffer &b : modelArgs)
    randomize(b);
  const StageInfo &lastStage = stages.back();
  Buffers labels;
  {
    Buffers f = r.argBuffers(lastStage.name + "_fwd");
    for (unsigned i = lastStage.numArgs; i < f.size(); ++i) {
      labels.push_back(f[i]);
      randomize(labels.back());
    }
  }
  // Forward through the chain; returns the loss and keeps the saved values.
  std::vector<Buffers> savedPerStage(stages.size());
  Buffers lastOutputs;
  auto forward = [&](bool keep) {
    Buffers acts;
    double loss = 0;
    for (auto [si, s] : llvm::enumerate(stages)) {
      Buffers args = r.argBuffers(s.name + "_fwd");
      unsigned a = 0;
      for (unsigned i = 0; i < s.numArgs; ++i)
        args[i] = s.argIndex[i] >= 0 ? modelArgs[s.argIndex[i]] : acts[a++];
      for (unsigned l = 0; l < s.numLabels; ++l)
        args[s.numArgs + l] = labels[l];
      if (keep && s.last)
        lastOutputs = r.call(s.name, Buffers(args.begin(),
                                             args.begin() + s.numArgs));
      Buffers out = r.call(s.name + "_fwd", args);
      unsigned numPrimal = s.last ? 1 : s.numResults;
      if (keep)
        savedPerStage[si].assign(out.begin() + numPrimal, out.end());
      if (s.last)
        loss = out[0].get(0);
      else
        acts.assign(out.begin(), out.begin() + numPrimal);
    }
    return loss / double(microbatchesOpt);
  };
  forward(true);
  Buffers reference = r.call(model.getSymName(), modelArgs);
  for (size_t j = 0; j < reference.size(); ++j)
    rep.forwardExact &= reference[j].sameBits(lastOutputs[j]);

  // Backward through the chain with the split functions.
  std::vector<std::vector<double>> grads(modelArgs.size());
  Buffers outGrads;
  for (int64_t si = stages.size() - 1; si >= 0; --si) {
    const StageInfo &s = stages[si];
    Buffers args = outGrads;
    args.insert(args.end(), savedPerStage[si].begin(), savedPerStage[si].end());
    Buffers in = r.call(s.name + "_bwd_i", args);
    Buffers w = r.call(s.name + "_bwd_w",
                       Buffers(in.begin() + s.actArgs.size(), in.end()));
    for (auto [k, i] : llvm::enumerate(s.paramArgs)) {
      auto &g = grads[s.argIndex[i]];
      std::vector<double> v = values(w[k]);
      if (g.empty())
        g = v;
      else
        for (size_t e = 0; e < g.size(); ++e)
          g[e] += v[e];
    }
    outGrads.assign(in.begin(), in.begin() + s.actArgs.size());
  }
  auto phi = [&] { return forward(false); };
  for (unsigned i = 0; i < modelArgs.size(); ++i) {
    auto name = model.getArgAttrOfType<StringAttr>(i, dualpipe::kParamAttr);
    if (!name)
      continue;
    std::vector<double> fd = finiteDifferences(modelArgs[i], phi);
    if (grads[i].empty())
      grads[i].assign(fd.size(), 0.0);
    rep.note("model param " + name.getValue().str(), relError(grads[i], fd),
             fd.size());
  }
}

int fail(const Twine &msg) {
  llvm::errs() << "dualpipe-gradcheck: error: " << msg << "\n";
  return 2;
}

/// Partitions the module (unless it is already) and differentiates it.
LogicalResult differentiate(MLIRContext &ctx, ModuleOp module) {
  PassManager pm(&ctx);
  if (!dualpipe::lookupPipeline(module)) {
    dualpipe::DualPipePartitionOptions partOpts;
    partOpts.stages = stagesOpt;
    partOpts.placement = placementOpt;
    pm.addPass(dualpipe::createDualPipePartition(partOpts));
  }
  dualpipe::DualPipeAutodiffOptions adOpts;
  adOpts.loss = lossOpt;
  adOpts.microbatches = microbatchesOpt;
  adOpts.recompute = recomputeOpt;
  pm.addPass(dualpipe::createDualPipeAutodiff(adOpts));
  return pm.run(module);
}

/// The stage functions of the pipeline, each once, in pipeline order.
std::vector<std::string> distinctStages(dualpipe::PipelineOp pipe) {
  std::vector<std::string> stageNames;
  for (Attribute a : pipe.getStages()) {
    std::string n = cast<FlatSymbolRefAttr>(a).getValue().str();
    if (llvm::find(stageNames, n) == stageNames.end())
      stageNames.push_back(n);
  }
  return stageNames;
}

/// Lowers `lowered` (a copy of the module) to LLVM for the JIT: every
/// function gets a C interface with its results turned into output
/// buffers. On failure `why` says what failed.
LogicalResult lowerForJit(MLIRContext &ctx, ModuleOp lowered,
                          std::string &why) {
  // Arguments are read-only: one-shot-bufferize would otherwise update
  // them in place (a matmul into an init argument), and the checks call
  // every function many times on the same buffers.
  for (auto f : lowered.getOps<func::FuncOp>()) {
    f->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(), UnitAttr::get(&ctx));
    for (unsigned i = 0; i < f.getNumArguments(); ++i)
      f.setArgAttr(i, "bufferization.writable", BoolAttr::get(&ctx, false));
  }
  PassManager lower(&ctx);
  lower.addPass(dualpipe::createDualPipeStripAnnotations());
  if (failed(parsePassPipeline(
          "func.func(convert-elementwise-to-linalg),"
          "one-shot-bufferize{bufferize-function-boundaries "
          "function-boundary-type-conversion=identity-layout-map},"
          "buffer-results-to-out-params{modify-public-functions},"
          "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
          "func.func(convert-linalg-to-loops),lower-affine,convert-scf-to-cf,"
          "expand-strided-metadata,convert-math-to-llvm,convert-math-to-libm,"
          "finalize-memref-to-llvm,convert-math-to-llvm,convert-arith-to-llvm,"
          "convert-index-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,"
          "reconcile-unrealized-casts",
          lower, llvm::errs()))) {
    why = "cannot parse the lowering pipeline";
    return failure();
  }
  if (failed(lower.run(lowered))) {
    why = "lowering to LLVM failed";
    return failure();
  }
  return success();
}

/// Prints the summary of the checks; true when they pass.
bool printSummary(const Report &rep, size_t numStages) {
  bool pass = rep.worst <= tolOpt && rep.splitExact && rep.forwardExact;
  llvm::outs() << "gradcheck: " << numStages << " stages, " << rep.tensors
               << " gradient tensors, " << rep.entries << " entries\n"
               << "gradcheck: max relative error "
               << llvm::format("%.3e", rep.worst) << " (" << rep.worstName
               << ")\n"
               << "gradcheck: bwd_i + bwd_w == bwd: "
               << (rep.splitExact ? "bitwise" : "MISMATCH") << "\n"
               << "gradcheck: fwd == stage/model forward: "
               << (rep.forwardExact ? "bitwise" : "MISMATCH") << "\n"
               << "gradcheck: " << (pass ? "PASS" : "FAIL") << " (tolerance "
               << llvm::format("%.0e", double(tolOpt)) << ")\n";
  return pass;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "dualpipe autodiff finite-difference check\n");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  dualpipe::registerAllPasses();

  DialectRegistry registry;
  dualpipe::registerAllDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();

  llvm::SourceMgr sm;
  SourceMgrDiagnosticHandler diagHandler(sm, &ctx);
  std::string err;
  auto file = openInputFile(inputFile, &err);
  if (!file)
    return fail(err);
  sm.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sm, &ctx);
  if (!module)
    return 2;

  if (failed(differentiate(ctx, *module)))
    return fail("the partition/autodiff passes failed");

  dualpipe::PipelineOp pipe = dualpipe::lookupPipeline(*module);
  std::vector<std::string> stageNames = distinctStages(pipe);
  std::string lastName =
      cast<FlatSymbolRefAttr>(pipe.getStages().getValue().back()).getValue().str();
  func::FuncOp model;
  if (auto ref = pipe.getModel())
    model = module->lookupSymbol<func::FuncOp>(*ref);

  OwningOpRef<ModuleOp> lowered = cast<ModuleOp>((*module)->clone());
  std::string why;
  if (failed(lowerForJit(ctx, *lowered, why)))
    return fail(why);
  ExecutionEngineOptions eo;
  eo.transformer = makeOptimizingTransformer(2, 0, nullptr);
  // memrefCopy (strided copies of slices) lives in the C runner utils.
  SmallVector<StringRef> libs = {DUALPIPE_C_RUNNER_UTILS};
  eo.sharedLibPaths = libs;
  auto engine = ExecutionEngine::create(*lowered, eo);
  if (!engine)
    return fail("JIT: " + llvm::toString(engine.takeError()));
  Runner runner(*module, std::move(*engine));

  std::vector<StageInfo> stages;
  for (const std::string &n : stageNames)
    stages.push_back(describe(runner, n, n == lastName));

  rng.seed(seedOpt);
  Report rep;
  if (modeOpt == "stages" || modeOpt == "all")
    for (const StageInfo &s : stages)
      checkStage(runner, s, rep);
  if (modeOpt == "model" || modeOpt == "all") {
    if (!model)
      return fail("the pipeline names no model function; use --mode=stages");
    checkModel(runner, model, stages, rep);
  }
  return printSummary(rep, stages.size()) ? 0 : 1;
}
