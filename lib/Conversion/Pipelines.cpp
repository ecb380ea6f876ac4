//===- Pipelines.cpp - named pass pipelines --------------------------------===//
#include "dualpipe/Conversion/Passes.h"
#include "dualpipe/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"

using namespace mlir;

/// Upstream pass names are stable across releases where their C++ factory
/// names are not, so the upstream part of each pipeline is spelled as text.
static void appendTextual(OpPassManager &pm, llvm::StringRef text) {
  if (failed(parsePassPipeline(text, pm, llvm::errs())))
    llvm::report_fatal_error("dualpipe: a built-in pass pipeline failed to "
                             "parse; is every upstream pass registered?");
}

void dualpipe::buildCpuLoweringPipeline(OpPassManager &pm) {
  // Loops to blocks with dualpipe-scf-to-cf: upstream's convert-scf-to-cf
  // is quadratic in the loop nests of a function (see ScfToCf.cpp).
  // Math: LLVM intrinsics first (rsqrt becomes 1/sqrt; libm has no rsqrtf),
  // libm calls for what LLVM has no intrinsic for (erf).
  pm.addPass(createDualPipeLowerCommToRuntime());
  // f32/f64 matmuls become BLAS calls in the runtime before the remaining
  // linalg ops become loops.
  pm.addPass(createDualPipeLowerGemmToRuntime());
  appendTextual(pm, "convert-bufferization-to-memref,"
                    "func.func(convert-linalg-to-loops),lower-affine,"
                    "func.func(dualpipe-scf-to-cf),expand-strided-metadata,"
                    "convert-math-to-llvm,convert-math-to-libm,"
                    "finalize-memref-to-llvm,convert-arith-to-llvm,"
                    "convert-index-to-llvm,convert-func-to-llvm,"
                    "convert-cf-to-llvm,reconcile-unrealized-casts");
  pm.addPass(createDualPipeEmitPackedEntryPoints());
  pm.addPass(createDualPipeStripAnnotations());
}

void dualpipe::buildForwardCpuPipeline(OpPassManager &pm) {
  pm.addPass(createDualPipePartition());
  appendTextual(pm, "one-shot-bufferize{bufferize-function-boundaries "
                    "function-boundary-type-conversion=identity-layout-map}");
  pm.addPass(createDualPipeBuildForwardPrograms());
  appendTextual(pm, "buffer-deallocation-pipeline,canonicalize");
  buildCpuLoweringPipeline(pm);
}

namespace {
/// Options of the training pipeline (the same as dualpipe-compile's).
struct TrainOptions : public PassPipelineOptions<TrainOptions> {
  Option<std::string> schedule{*this, "schedule",
                               llvm::cl::desc("Schedule name (as --dualpipe-schedule)"),
                               llvm::cl::init("1f1b")};
  Option<int64_t> ranks{*this, "ranks", llvm::cl::desc("Ranks (N)"),
                        llvm::cl::init(2)};
  Option<int64_t> stages{*this, "stages",
                         llvm::cl::desc("Stage functions (0: N, or 2N for V "
                                        "and interleaved schedules)"),
                         llvm::cl::init(0)};
  Option<int64_t> microbatches{*this, "microbatches",
                               llvm::cl::desc("Micro-batches per step (M)"),
                               llvm::cl::init(4)};
  Option<std::string> loss{*this, "loss",
                           llvm::cl::desc("Built-in loss (default: the "
                                          "module's dualpipe.loss)"),
                           llvm::cl::init("")};
  Option<std::string> optimizer{
      *this, "optimizer",
      llvm::cl::desc("Compile the optimizer step: sgd, momentum or adamw "
                     "(default hyperparameters; none when empty)"),
      llvm::cl::init("")};
};
} // namespace

std::string dualpipe::placementForSchedule(StringRef schedule) {
  if (schedule == "dualpipe")
    return "dualpipe";
  if (schedule == "dualpipev" || schedule == "zbv")
    return "dualpipev";
  if (schedule == "interleaved")
    return "interleaved";
  return "linear";
}

void dualpipe::registerDualPipePipelines() {
  PassPipelineRegistration<TrainOptions>(
      "dualpipe-train-cpu",
      "The whole training-step chain of dualpipe-compile --target=cpu: "
      "partition, autodiff, schedule, insert-comm, verify, plan-memory, "
      "lower-schedule, bufferize, lower to LLVM-dialect IR",
      [](OpPassManager &pm, const TrainOptions &o) {
        std::string placement = placementForSchedule(o.schedule);
        int64_t stages = o.stages ? int64_t(o.stages)
                         : placement == "linear" || placement == "dualpipe"
                             ? int64_t(o.ranks)
                             : 2 * o.ranks;
        std::string m = std::to_string(o.microbatches);
        appendTextual(
            pm, "dualpipe-partition{stages=" + std::to_string(stages) +
                    " ranks=" + std::to_string(o.ranks) +
                    " placement=" + placement +
                    "},dualpipe-autodiff{microbatches=" + m +
                    (o.loss.empty() ? "" : " loss=" + o.loss) +
                    "},dualpipe-schedule{schedule=" + o.schedule +
                    " microbatches=" + m +
                    "},dualpipe-insert-comm,dualpipe-verify,"
                    "dualpipe-plan-memory,dualpipe-lower-schedule," +
                    (o.optimizer.empty()
                         ? std::string()
                         : "dualpipe-build-optimizer{kind=" + o.optimizer +
                               "},") +
                    "dualpipe-protect-arguments,convert-elementwise-to-linalg,"
                    "one-shot-bufferize{bufferize-function-boundaries "
                    "function-boundary-type-conversion=identity-layout-map},"
                    "buffer-deallocation-pipeline,canonicalize");
        buildCpuLoweringPipeline(pm);
      });
  PassPipelineRegistration<>(
      "dualpipe-lower-to-llvm-cpu",
      "Lower bufferized per-rank programs to LLVM-dialect IR for the CPU",
      [](OpPassManager &pm) { buildCpuLoweringPipeline(pm); });
  PassPipelineRegistration<>(
      "dualpipe-forward-cpu",
      "Walking skeleton: model with stage markers to per-rank forward "
      "programs in LLVM-dialect IR for the CPU",
      [](OpPassManager &pm) { buildForwardCpuPipeline(pm); });
}
