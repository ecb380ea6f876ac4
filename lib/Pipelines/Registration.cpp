//===- Registration.cpp - the named pipelines of dualpipe-opt ------------===//
//
// Each registered pipeline is a thin parse of its textual options into the
// typed options of Pipelines.h; the chains themselves are built there.
//
//===----------------------------------------------------------------------===//
#include "dualpipe/Pipelines/Pipelines.h"

#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"

using namespace mlir;

namespace dualpipe {
namespace {

/// The textual options of --dualpipe-train-cpu / --dualpipe-train-cuda: the
/// flags of dualpipe-compile that decide the IR.
struct TrainPipelineOptions : public PassPipelineOptions<TrainPipelineOptions> {
  Option<std::string> schedule{
      *this, "schedule",
      llvm::cl::desc("Schedule name (as --dualpipe-schedule), auto, or a "
                     "schedule file FILE.csv"),
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
  Option<std::string> device{
      *this, "device",
      llvm::cl::desc("Cost-model device profile: cpu or h200"),
      llvm::cl::init("cpu")};
  Option<std::string> optimizer{
      *this, "optimizer",
      llvm::cl::desc("Compile the optimizer step: sgd, momentum or adamw, "
                     "with options after a colon as dualpipe-compile "
                     "--optimizer takes them (none when empty)"),
      llvm::cl::init("")};
  Option<std::string> prefix{
      *this, "prefix",
      llvm::cl::desc("Rank step functions are <prefix><rank>"),
      llvm::cl::init("dualpipe_rank")};
  Option<unsigned> flatLoopSumFrom{
      *this, "flat-loop-sums-from",
      llvm::cl::desc("A rolled loop carries its stage's gradient sums as one "
                     "flat accumulator from this many parameters on (the "
                     "single-device reference dualpipe-compile builds: 2)"),
      llvm::cl::init(256)};
  Option<std::string> stopAfter{
      *this, "stop-after",
      llvm::cl::desc("Stop after this phase (contract-check, partition, "
                     "autodiff, schedule, comm, verify, memory-plan, lower, "
                     "bufferize, to-llvm) or pass"),
      llvm::cl::init("")};
};

/// Builds the training chain for `target` from the textual options; a bad
/// option value is reported through `error` and fails the pipeline.
LogicalResult buildTrain(OpPassManager &pm, const TrainPipelineOptions &o,
                         Target target,
                         function_ref<LogicalResult(const Twine &)> error) {
  StepOptions step;
  step.schedule = o.schedule;
  step.ranks = o.ranks;
  step.stages = o.stages;
  step.microbatches = o.microbatches;
  step.loss = o.loss;
  step.device = o.device;
  step.target = target;
  step.entryPrefix = o.prefix;
  step.flatLoopSumFrom = o.flatLoopSumFrom;
  std::string message;
  if (!resolveScheduleFile(step, "", message))
    return error("dualpipe-train-" + targetName(target) + ": " + message);
  if (!o.optimizer.empty()) {
    step.optimizer = OptimizerSpec::parse(o.optimizer, message);
    if (!step.optimizer)
      return error("dualpipe-train-" + targetName(target) + ": " + message);
  }
  if (!o.stopAfter.empty()) {
    if (std::optional<Phase> phase = parsePhase(o.stopAfter))
      step.stopAfter = phase;
    else
      step.stopAfterPass = o.stopAfter;
  }
  buildTrainingStepPipeline(pm, step);
  return success();
}

/// Registers a training pipeline for `target`. (PassPipelineRegistration
/// cannot fail a pipeline from its builder; this does, for bad values.)
void registerTrainPipeline(StringRef name, StringRef description,
                           Target target) {
  registerPassPipeline(
      name, description,
      [target](OpPassManager &pm, StringRef text,
               function_ref<LogicalResult(const Twine &)> error) {
        TrainPipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        return buildTrain(pm, options, target, error);
      },
      [](function_ref<void(const detail::PassOptions &)> describe) {
        describe(TrainPipelineOptions());
      });
}

} // namespace

void registerDualPipePipelines() {
  registerTrainPipeline(
      "dualpipe-train-cpu",
      "The whole training-step chain of dualpipe-compile --target=cpu: "
      "contract check, partition, autodiff, schedule, insert-comm, verify, "
      "plan-memory, lower-schedule, bufferize, lower to LLVM-dialect IR",
      Target::Cpu);
  registerTrainPipeline(
      "dualpipe-train-cuda",
      "The whole training-step chain of dualpipe-compile --target=cuda: as "
      "--dualpipe-train-cpu, lowered to LLVM-dialect IR whose kernels are an "
      "sm_90 cubin",
      Target::Cuda);
  PassPipelineRegistration<>(
      "dualpipe-lower-to-llvm-cpu",
      "Lower bufferized per-rank programs to LLVM-dialect IR for the CPU",
      [](OpPassManager &pm) { buildCpuLoweringPipeline(pm); });
  PassPipelineRegistration<>(
      "dualpipe-lower-to-llvm-cuda",
      "Lower bufferized per-rank programs to LLVM-dialect IR for the cuda "
      "target (kernels as an sm_90 cubin in a gpu.binary)",
      [](OpPassManager &pm) { buildCudaLoweringPipeline(pm); });
  PassPipelineRegistration<>(
      "dualpipe-forward-cpu",
      "Walking skeleton: model with stage markers to per-rank forward "
      "programs in LLVM-dialect IR for the CPU",
      [](OpPassManager &pm) {
        StepOptions forward;
        forward.ranks = 0; // one rank per stage
        buildForwardPipeline(pm, forward);
      });
  PassPipelineRegistration<>(
      "dualpipe-import",
      "Bring a model to the input contract: TOSA to linalg, arith and tensor "
      "(upstream passes), then --dualpipe-check-contract",
      [](OpPassManager &pm) { buildImportPipeline(pm); });
}

} // namespace dualpipe
