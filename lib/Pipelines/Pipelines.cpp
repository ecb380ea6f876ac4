//===- Pipelines.cpp - the pass pipelines of a dualpipe compile ----------===//
//
// The one place where the project's pass chains are spelled. Every pass is
// added through its C++ constructor with typed options, through a
// PipelineBuilder that knows where a caller asked the chain to stop.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Pipelines/Pipelines.h"

#include "dualpipe/Analysis/Passes.h"
#include "dualpipe/Autodiff/Passes.h"
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"
#include "dualpipe/Schedule/TextForm.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <cmath>

using namespace mlir;

namespace dualpipe {

//===----------------------------------------------------------------------===//
// Names
//===----------------------------------------------------------------------===//

namespace {
constexpr std::pair<Phase, llvm::StringLiteral> kPhaseNames[] = {
    {Phase::ContractCheck, "contract-check"},
    {Phase::Partition, "partition"},
    {Phase::Autodiff, "autodiff"},
    {Phase::Schedule, "schedule"},
    {Phase::Comm, "comm"},
    {Phase::Verify, "verify"},
    {Phase::MemoryPlan, "memory-plan"},
    {Phase::Lower, "lower"},
    {Phase::Bufferize, "bufferize"},
    {Phase::ToLLVM, "to-llvm"},
};
} // namespace

ArrayRef<Phase> allPhases() {
  static const Phase phases[] = {
      Phase::ContractCheck, Phase::Partition, Phase::Autodiff,
      Phase::Schedule,      Phase::Comm,      Phase::Verify,
      Phase::MemoryPlan,    Phase::Lower,     Phase::Bufferize,
      Phase::ToLLVM};
  return phases;
}

StringRef phaseName(Phase phase) {
  for (const auto &[p, name] : kPhaseNames)
    if (p == phase)
      return name;
  llvm_unreachable("a phase without a name");
}

std::optional<Phase> parsePhase(StringRef name) {
  for (const auto &[p, n] : kPhaseNames)
    if (n == name)
      return p;
  return std::nullopt;
}

std::string phaseNames() {
  std::string s;
  for (const auto &[p, n] : kPhaseNames)
    s += (s.empty() ? "" : ", ") + n.str();
  return s;
}

StringRef targetName(Target target) {
  return target == Target::Cuda ? "cuda" : "cpu";
}

std::optional<Target> parseTarget(StringRef name) {
  if (name == "cpu")
    return Target::Cpu;
  if (name == "cuda")
    return Target::Cuda;
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

std::optional<OptimizerSpec> OptimizerSpec::parse(StringRef text,
                                                  std::string &error) {
  OptimizerSpec spec;
  auto [kind, rest] = text.split(':');
  spec.kind = kind.trim().str();
  if (spec.kind == "sgd") {
    spec.hyper = {{"lr", 0.01}, {"weight-decay", 0.0}};
  } else if (spec.kind == "momentum") {
    spec.hyper = {{"lr", 0.01}, {"momentum", 0.9}, {"weight-decay", 0.0}};
  } else if (spec.kind == "adamw") {
    spec.hyper = {{"lr", 1e-3},  {"beta1", 0.9},        {"beta2", 0.999},
                  {"eps", 1e-8}, {"weight-decay", 0.01}};
  } else {
    error = ("--optimizer=" + text + ": unknown optimizer '" + spec.kind +
             "'; use sgd, momentum or adamw, e.g. --optimizer=adamw:lr=1e-3")
                .str();
    return std::nullopt;
  }
  SmallVector<StringRef> items;
  rest.split(items, ',', -1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [key, value] = item.split('=');
    std::string k = key.trim().str();
    std::replace(k.begin(), k.end(), '_', '-');
    if (!spec.hyper.count(k)) {
      std::string known;
      for (const auto &[name, _] : spec.hyper)
        known += (known.empty() ? "" : ", ") + name;
      error = ("--optimizer=" + text + ": '" + key.trim() +
               "' is not an option of " + spec.kind + " (its options: " +
               known + ")")
                  .str();
      return std::nullopt;
    }
    double v;
    if (value.trim().getAsDouble(v) || !std::isfinite(v) || v < 0) {
      error = ("--optimizer=" + text + ": " + k + "=" + value +
               " is not a non-negative number")
                  .str();
      return std::nullopt;
    }
    spec.hyper[k] = v;
  }
  return spec;
}

std::string StepOptions::placement() const {
  if (!schedulePlacement.empty())
    return schedulePlacement;
  if (schedule == "dualpipe")
    return "dualpipe";
  if (schedule == "dualpipev" || schedule == "zbv")
    return "dualpipev";
  if (schedule == "interleaved")
    return "interleaved";
  return "linear";
}

int64_t StepOptions::numStages() const {
  if (stages)
    return stages;
  std::string p = placement();
  return p == "linear" || p == "dualpipe" ? ranks : 2 * ranks;
}

StepOptions StepOptions::referenceStep() const {
  StepOptions r = *this;
  r.schedule = "1f1b";
  r.ranks = 1;
  r.stages = 1;
  r.optimizer.reset();
  r.memoryBudget = 0;
  r.entryPrefix = "dualpipe_reference_rank";
  // Its step time matters only to --check: one flat gradient sum whatever
  // the size (compile time: the 96-layer pipeline's reference carried 1,150
  // sums, 5.9 s of one-shot bufferization alone).
  r.flatLoopSumFrom = 2;
  r.scheduleCsv.clear();
  r.memoryReport.clear();
  r.schedulePlacement.clear();
  return r;
}

std::optional<std::string> StepOptions::scheduleFile() const {
  return sched::scheduleFilePath(schedule);
}

std::string StepOptions::scheduleLabel() const {
  return scheduleFile() ? "custom" : schedule;
}

bool resolveScheduleFile(StepOptions &o, const std::string &placement,
                         std::string &error) {
  std::optional<std::string> path = o.scheduleFile();
  if (!path)
    return true;
  std::string why;
  std::unique_ptr<llvm::MemoryBuffer> file = openInputFile(*path, &why);
  if (!file) {
    error = "--schedule=" + o.schedule + ": cannot read the schedule file: " +
            why;
    return false;
  }
  sched::CompileScheduleRequest request;
  request.numRanks = static_cast<int>(o.ranks);
  request.numMicrobatches = static_cast<int>(o.microbatches);
  if (!placement.empty()) {
    request.placement = sched::parsePlacementName(placement);
    if (!request.placement) {
      error = "--placement=" + placement +
              " is not one of linear, interleaved, dualpipe, dualpipev";
      return false;
    }
  }
  sched::PlacementKind found;
  sched::Expected<sched::Schedule> s = sched::readScheduleForCompile(
      file->getBuffer().str(), request, &found);
  if (!s) {
    error = *path + ": " + s.error().message;
    if (!request.placement &&
        s.error().message.find("placement") != std::string::npos)
      error += "\n(dualpipe-compile infers the placement from the file's stage "
               "numbering; state it with --placement=linear, interleaved, "
               "dualpipe or dualpipev)";
    return false;
  }
  int64_t stages = found == sched::PlacementKind::DualPipe ? o.ranks
                                                           : s->numStages;
  if (o.stages && o.stages != stages) {
    error = *path + ": --stages=" + std::to_string(o.stages) +
            " was asked for, but the file's schedule (placement " +
            sched::placementName(found) + ") has " + std::to_string(stages) +
            " stage functions; leave --stages out";
    return false;
  }
  o.stages = stages;
  o.schedulePlacement = sched::placementName(found);
  return true;
}

//===----------------------------------------------------------------------===//
// The builder
//===----------------------------------------------------------------------===//

namespace {

/// Adds passes to a pass manager until the pass (or sub-pipeline) named by
/// the caller's stop point has been added; everything after it is dropped.
class PipelineBuilder {
public:
  PipelineBuilder(OpPassManager &pm, StringRef stopAfterPass)
      : pm(pm), stopAfterPass(stopAfterPass) {}

  /// Whether the stop point has been reached.
  bool stopped() const { return cut; }

  /// Adds a pass that runs on the builder's anchor (the module).
  void add(std::unique_ptr<Pass> pass) {
    if (cut)
      return;
    StringRef name = pass->getArgument();
    pm.addPass(std::move(pass));
    noteAdded(name);
  }

  /// Adds a pass that runs on every `OpT` nested in the anchor.
  template <typename OpT> void addNested(std::unique_ptr<Pass> pass) {
    if (cut)
      return;
    StringRef name = pass->getArgument();
    pm.addNestedPass<OpT>(std::move(pass));
    noteAdded(name);
  }

private:
  void noteAdded(StringRef name) {
    if (!stopAfterPass.empty() && name == stopAfterPass)
      cut = true;
  }

  OpPassManager &pm;
  StringRef stopAfterPass;
  bool cut = false;
};

//--- The phases of a training step ----------------------------------------//

void addContractCheck(PipelineBuilder &b, const StepOptions &o) {
  DualPipeCheckContractOptions check;
  check.loss = o.loss;
  b.add(createDualPipeCheckContract(check));
  // A flat model's repeated blocks become calls of one block function, as
  // if written with one, so the rest of the chain handles each block once.
  if (o.outlineRepeats)
    b.add(createDualPipeOutlineRepeats());
}

void addPartition(PipelineBuilder &b, const StepOptions &o) {
  DualPipePartitionOptions partition;
  partition.stages = o.numStages();
  partition.ranks = o.ranks;
  partition.placement = o.placement();
  partition.device = o.device;
  // The dualpipe/dualpipev cuts are simulated under the step's schedule.
  partition.microbatches = o.microbatches;
  partition.memoryBudget = o.memoryBudget;
  // Per-stage costs on the stage functions, for the schedule's auto.
  partition.stageCosts = true;
  b.add(createDualPipePartition(partition));
}

void addAutodiff(PipelineBuilder &b, const StepOptions &o) {
  DualPipeAutodiffOptions autodiff;
  autodiff.microbatches = o.microbatches;
  autodiff.loss = o.loss;
  b.add(createDualPipeAutodiff(autodiff));
}

void addSchedule(PipelineBuilder &b, const StepOptions &o) {
  DualPipeScheduleOptions schedule;
  schedule.schedule = o.schedule;
  schedule.microbatches = o.microbatches;
  schedule.emit = o.scheduleCsv;
  schedule.memoryBudget = o.memoryBudget;
  b.add(createDualPipeSchedule(schedule));
}

void addMemoryPlan(PipelineBuilder &b, const StepOptions &o) {
  DualPipePlanMemoryOptions plan;
  plan.report = o.memoryReport;
  b.add(createDualPipePlanMemory(plan));
}

void addLower(PipelineBuilder &b, const StepOptions &o) {
  DualPipeLowerScheduleOptions lower;
  lower.prefix = o.entryPrefix;
  // The cuda target orders transfers on streams (cuda-async-region); the
  // cpu target posts receives through the runtime.
  lower.postReceives = o.target == Target::Cpu;
  // A 1-rank 1F1B step (the single-device reference) as a loop over the
  // micro-batches: its code then does not grow with M. The cuda target's
  // rank functions stay straight-line (its stream ordering is written for
  // them).
  lower.rollMicrobatches = o.target == Target::Cpu;
  lower.flatLoopSumFrom = o.flatLoopSumFrom;
  b.add(createDualPipeLowerSchedule(lower));
  if (!o.optimizer)
    return;
  DualPipeBuildOptimizerOptions opt;
  opt.kind = o.optimizer->kind;
  opt.entry = o.entryPrefix + "0";
  // The kind's defaults come with the spec; options it does not take keep
  // the pass's defaults (they are not read for that kind).
  const std::map<std::string, double> &h = o.optimizer->hyper;
  auto set = [&](const char *key, auto &option) {
    if (auto it = h.find(key); it != h.end())
      option = it->second;
  };
  set("lr", opt.lr);
  set("momentum", opt.momentum);
  set("beta1", opt.beta1);
  set("beta2", opt.beta2);
  set("eps", opt.eps);
  set("weight-decay", opt.weightDecay);
  b.add(createDualPipeBuildOptimizer(opt));
}

/// One-shot bufferization as every dualpipe chain uses it: across function
/// boundaries, with identity layouts on function arguments and results.
void addOneShotBufferize(PipelineBuilder &b) {
  bufferization::OneShotBufferizePassOptions options;
  options.bufferizeFunctionBoundaries = true;
  options.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  b.add(bufferization::createOneShotBufferizePass(options));
}

/// Straight-line functions free their buffers at the last use, everything
/// else goes through upstream's buffer-deallocation-pipeline
/// (DeallocateBuffers.cpp).
void addBufferDeallocation(PipelineBuilder &b) {
  // An insert_slice that writes back what its extract_slice's user updated
  // in place bufferizes to a copy between two equal subviews; CSE makes them
  // one value and the canonicalizer drops the self-copy (upstream expects
  // both: see tensor::InsertSliceOp's bufferization).
  b.add(createCSEPass());
  b.add(createDualPipeDeallocateBuffers());
  b.add(createCanonicalizerPass());
}

/// Tensors to buffers: arguments are read-only (the runtime shares them
/// between ranks), elementwise ops become linalg, bufferization, then
/// deallocation.
void addBufferize(PipelineBuilder &b, Target target) {
  // The reference's stage, called once per micro-batch with every layer's
  // saved buffers, inlined into its loop: one-shot bufferization is
  // quadratic in a call's arity (cpu: the cuda rank programs are written
  // out, each stage called once per micro-batch).
  if (target == Target::Cpu)
    b.add(createDualPipeInlineWideCalls());
  // The model, stage and unused derivative functions: no call reaches
  // them once the schedule is lowered (12 % of a 96-layer step's IR).
  b.add(createDualPipeDropUnreachableBodies());
  b.add(createDualPipeProtectArguments());
  b.add(createConvertElementwiseToLinalgPass());
  // Producer-consumer chains of elementwise linalg.generic ops (the
  // backward's chains, elementwise producers of reductions) become one op
  // each while still on tensors, so bufferization materializes no buffer
  // between them; only where nothing is computed twice (see
  // FuseElementwise.cpp: upstream's linalg-fuse-elementwise-ops as it is
  // made the bench steps slower). Matmul, transpose and fill stay named ops
  // for dualpipe-lower-gemm-to-runtime.
  b.add(createDualPipeFuseElementwise());
  // Long sums (a column sum over many rows, a loss over rows x a narrow
  // width) in blocks, so their f32 error stays at PyTorch's (#15); cpu
  // only, where the loops are sequential.
  // Then every contiguous sum in a fixed number of vector lanes, which LLVM
  // vectorizes without reordering an addition: the same sum rounds the same
  // in every function (the pipeline's and its reference's, #15).
  if (target == Target::Cpu) {
    b.add(createDualPipeSplitLongReductions());
    b.add(createDualPipeLanePartialSums());
  }
  // The stage, block and accumulator functions first, then the rank
  // programs, whose calls pass every saved buffer of a stage: analysed as
  // calls, they made one-shot bufferization quadratic in a stage's layers.
  b.add(createDualPipeBufferizeCalleesFirst());
  addOneShotBufferize(b);
  // A forward "saves" its parameters and inputs for the backward by
  // returning them; bufferized, such a result is the argument's own buffer,
  // and the deallocation would clone it (each micro-batch's forward copied
  // every weight). Upstream's drop-equivalent-buffer-results removes those
  // results and gives the callers the argument instead. The rank entry
  // points return nothing, so their ABI is untouched.
  b.add(bufferization::createDropEquivalentBufferResultsPass());
  addBufferDeallocation(b);
}

//--- Target lowerings ------------------------------------------------------//

/// The end of both lowerings: one-pointer entry points for the runtime,
/// then no dualpipe annotation left for the LLVM IR translation.
void addEntryPoints(PipelineBuilder &b) {
  b.add(createDualPipeEmitPackedEntryPoints());
  b.add(createDualPipeStripAnnotations());
}

/// The host code's last steps, shared by both targets: memrefs, arith,
/// index, func and cf to the LLVM dialect, then the entry points. With
/// `cpu` (everything runs inside the runtime's step.so):
/// - memref.alloc/dealloc call the runtime's step heap
///   (_mlir_memref_to_llvm_aligned_alloc/free, runtime/src/StepAlloc.cpp:
///   freed blocks are reused by the next step instead of going back to the
///   kernel) rather than malloc/free, aligned, so allocated == aligned; its
///   allocation returns noalias memory, as malloc does
///   (StepHeapNoAlias.cpp);
/// - static memrefs cross calls as bare pointers (BarePointerCalls.cpp,
///   which needs allocated == aligned) and wide results through a slot
///   the caller passes (ReturnThroughMemory.cpp: LLVM's SCCP is quadratic
///   in a returned struct's fields, and a stage forward returns every
///   buffer it saves for the backward).
/// The cuda target keeps upstream's conventions (not yet run on a GPU).
void addHostToLLVM(PipelineBuilder &b, bool cpu) {
  if (cpu) {
    b.add(createDualPipeBarePointerCalls());
    // What dualpipe-vectorize-max-reductions left on vectors.
    b.add(createConvertVectorToLLVMPass());
    b.add(createUBToLLVMConversionPass());
  }
  FinalizeMemRefToLLVMConversionPassOptions memref;
  memref.useGenericFunctions = cpu;
  memref.useAlignedAlloc = cpu;
  b.add(createFinalizeMemRefToLLVMConversionPass(memref));
  if (cpu)
    b.add(createDualPipeStepHeapNoAlias());
  b.add(createArithToLLVMConversionPass());
  b.add(createConvertIndexToLLVMPass());
  b.add(createConvertFuncToLLVMPass());
  b.add(createConvertControlFlowToLLVMPass());
  b.add(createReconcileUnrealizedCastsPass());
  if (cpu)
    b.add(createDualPipeReturnThroughMemory());
  // The conversions leave each memref's descriptor built field by field
  // (insertvalue chains) where bare-pointer calls read only its pointer,
  // and a constant per use: folded and dropped here, a 96-layer step's
  // LLVM dialect is 6.7x smaller (1.29M -> 0.19M lines), which the glue's
  // -O0 code generation would otherwise translate and emit as it is.
  b.add(createCanonicalizerPass());
  addEntryPoints(b);
}

void addCpuLowering(PipelineBuilder &b) {
  b.add(createDualPipeLowerCommToRuntime());
  // f32/f64 matmuls become BLAS calls in the runtime before the remaining
  // linalg ops become loops.
  b.add(createDualPipeLowerGemmToRuntime());
  b.add(createConvertBufferizationToMemRefPass());
  // Copies from or to a strided view (slices on a non-leading dimension or
  // with a step, and their gradients) become loops; memref-to-llvm would
  // call memrefCopy from the C runner utils, which step.so does not link.
  b.add(createDualPipeStridedCopiesToLinalg());
  // Max/min reductions (a softmax's running maximum), which LLVM leaves
  // scalar, on vectors through upstream's tiling and linalg vectorizer.
  b.addNested<func::FuncOp>(createDualPipeVectorizeMaxReductions());
  b.addNested<func::FuncOp>(createConvertLinalgToLoopsPass());
  b.add(createLowerAffinePass());
  // Loops to blocks with dualpipe-scf-to-cf: upstream's convert-scf-to-cf
  // is quadratic in the loop nests of a function (see ScfToCf.cpp).
  b.addNested<func::FuncOp>(createDualPipeScfToCf());
  b.add(memref::createExpandStridedMetadataPass());
  // The offsets of views at a loop's index (the GEMM calls on generic
  // contractions' views) come out of expand-strided-metadata as affine.apply.
  b.add(createLowerAffinePass());
  // Math: f32 tanh/exp/log/erf... as inline polynomials (LLVM vectorizes
  // them; as intrinsics each element would be a libm call), then LLVM
  // intrinsics (rsqrt becomes 1/sqrt; libm has no rsqrtf), libm calls for
  // what LLVM has no intrinsic for (f64 erf).
  b.add(createDualPipeMathApproximation());
  b.add(createConvertMathToLLVMPass());
  b.add(createConvertMathToLibmPass());
  // Everything the cpu lowering produces runs inside the runtime (step.so),
  // which defines the step heap.
  addHostToLLVM(b, /*cpu=*/true);
}

void addCudaLowering(PipelineBuilder &b, const CudaLoweringOptions &options) {
  // Copies become linalg.copy, all-reduces host calls.
  b.add(createDualPipeCudaPrepare());
  // f32/f64 matmuls with a unit stride become cuBLAS calls (given the
  // kernels' stream after gpu-async-region below); the rest are kernels.
  DualPipeLowerGemmToRuntimeOptions gemm;
  gemm.target = "cuda";
  b.add(createDualPipeLowerGemmToRuntime(gemm));
  // linalg on memrefs -> scf.parallel -> tiles of 16x16 threads ->
  // gpu.launch -> outlined kernels.
  b.add(createConvertBufferizationToMemRefPass());
  b.addNested<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  b.addNested<func::FuncOp>(
      createParallelLoopTilingPass({16, 16}, /*noMinMaxBounds=*/true));
  b.addNested<func::FuncOp>(createGpuMapParallelLoopsPass());
  b.addNested<func::FuncOp>(createConvertParallelLoopToGpuPass());
  b.add(createGpuKernelOutliningPass());
  // One gpu.module (one ptxas run, one cubin) for all kernels.
  b.add(createDualPipeCudaMergeKernelModules());
  // Tokens: every kernel launch and every send/recv becomes async on the
  // function's stream, with a host wait before each remaining host
  // operation that has side effects.
  b.addNested<func::FuncOp>(createGpuAsyncRegionPass());
  b.add(createDualPipeCudaGemmOnStream());
  // Host allocations become managed memory.
  b.add(createDualPipeCudaManagedMemory());
  // Kernels to NVVM, host to LLVM (gpu-to-llvm lowers the tokens, the
  // launches and, through our ConvertToLLVMPatternInterface, send/recv),
  // then the kernels to a cubin with ptxas.
  b.add(createLowerAffinePass());
  b.add(createSCFToControlFlowPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = 3;
  b.add(createGpuNVVMAttachTarget(target));
  b.addNested<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps());
  b.addNested<gpu::GPUModuleOp>(createCanonicalizerPass());
  b.addNested<gpu::GPUModuleOp>(createCSEPass());
  b.addNested<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());
  b.addNested<func::FuncOp>(createConvertMathToLLVMPass());
  b.add(createConvertMathToLibmPass());
  b.add(memref::createExpandStridedMetadataPass());
  b.add(createGpuToLLVMConversionPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "bin";
  binary.toolkitPath = options.toolkit;
  b.add(createGpuModuleToBinaryPass(binary));
  // Host buffers of the cuda target stay with malloc: most of them are
  // managed memory (CudaManagedMemory.cpp), not memref.alloc.
  addHostToLLVM(b, /*cpu=*/false);
}

void addTargetLowering(PipelineBuilder &b, Target target,
                       const CudaLoweringOptions &cuda) {
  if (target == Target::Cuda)
    addCudaLowering(b, cuda);
  else
    addCpuLowering(b);
}

} // namespace

bool buildTrainingStepPipeline(OpPassManager &pm, const StepOptions &options,
                               Phase first, Phase last) {
  if (options.stopAfter && *options.stopAfter < last)
    last = *options.stopAfter;
  PipelineBuilder b(pm, options.stopAfterPass);
  for (Phase phase : allPhases()) {
    if (phase < first || phase > last)
      continue;
    switch (phase) {
    case Phase::ContractCheck:
      addContractCheck(b, options);
      break;
    case Phase::Partition:
      addPartition(b, options);
      break;
    case Phase::Autodiff:
      addAutodiff(b, options);
      break;
    case Phase::Schedule:
      addSchedule(b, options);
      break;
    case Phase::Comm:
      b.add(createDualPipeInsertComm());
      break;
    case Phase::Verify:
      b.add(createDualPipeVerify());
      break;
    case Phase::MemoryPlan:
      addMemoryPlan(b, options);
      break;
    case Phase::Lower:
      addLower(b, options);
      break;
    case Phase::Bufferize:
      addBufferize(b, options.target);
      break;
    case Phase::ToLLVM:
      addTargetLowering(b, options.target, options.cuda);
      break;
    }
  }
  return b.stopped();
}

} // namespace dualpipe

namespace dualpipe {

bool buildForwardPipeline(OpPassManager &pm, const StepOptions &options,
                          Phase first, Phase last) {
  if (options.stopAfter && *options.stopAfter < last)
    last = *options.stopAfter;
  auto runs = [&](Phase p) { return p >= first && p <= last; };
  PipelineBuilder b(pm, options.stopAfterPass);
  if (runs(Phase::ContractCheck)) {
    DualPipeCheckContractOptions check;
    check.forwardOnly = true;
    b.add(createDualPipeCheckContract(check));
    if (options.outlineRepeats)
      b.add(createDualPipeOutlineRepeats());
  }
  if (runs(Phase::Partition)) {
    DualPipePartitionOptions partition;
    partition.ranks = options.ranks;
    b.add(createDualPipePartition(partition));
  }
  if (runs(Phase::Bufferize)) {
    addOneShotBufferize(b);
    b.add(createDualPipeBuildForwardPrograms());
    addBufferDeallocation(b);
  }
  if (runs(Phase::ToLLVM))
    addTargetLowering(b, options.target, options.cuda);
  return b.stopped();
}

void buildCpuLoweringPipeline(OpPassManager &pm) {
  PipelineBuilder b(pm, "");
  addCpuLowering(b);
}

void buildCudaLoweringPipeline(OpPassManager &pm,
                               const CudaLoweringOptions &options) {
  PipelineBuilder b(pm, "");
  addCudaLowering(b, options);
}

void buildImportPipeline(OpPassManager &pm) {
  PipelineBuilder b(pm, "");
  b.addNested<func::FuncOp>(tosa::createTosaToLinalgNamed());
  b.addNested<func::FuncOp>(tosa::createTosaToLinalg());
  b.addNested<func::FuncOp>(createTosaToArithPass());
  b.addNested<func::FuncOp>(createTosaToTensorPass());
  b.add(createCanonicalizerPass());
  b.add(createDualPipeCheckContract());
}

} // namespace dualpipe
