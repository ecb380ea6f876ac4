//===- Pipelines.h - the pass pipelines of a dualpipe compile ---*- C++ -*-===//
//
// One builder for every pass chain the project runs: the training step (the
// chain of dualpipe-compile and of the registered --dualpipe-train-cpu /
// --dualpipe-train-cuda pipelines), the forward-only walking skeleton, the
// target lowerings and the model import. Options are typed, passes are
// added through their C++ constructors, and the chain is cut into named
// phases so that a caller can run part of it or stop after a phase.
//
//===----------------------------------------------------------------------===//
#ifndef DUALPIPE_PIPELINES_PIPELINES_H
#define DUALPIPE_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <map>
#include <optional>
#include <string>

namespace dualpipe {

/// The phases of a training-step compile, in the order they run.
enum class Phase {
  ContractCheck, ///< --dualpipe-check-contract
  Partition,     ///< --dualpipe-partition
  Autodiff,      ///< --dualpipe-autodiff
  Schedule,      ///< --dualpipe-schedule
  Comm,          ///< --dualpipe-insert-comm
  Verify,        ///< --dualpipe-verify
  MemoryPlan,    ///< --dualpipe-plan-memory
  Lower,         ///< --dualpipe-lower-schedule, --dualpipe-build-optimizer
  Bufferize,     ///< argument protection, one-shot bufferization, deallocation
  ToLLVM,        ///< the target lowering down to LLVM-dialect IR
};

/// Every phase, first to last.
llvm::ArrayRef<Phase> allPhases();
/// The phase's command-line name: contract-check, partition, autodiff,
/// schedule, comm, verify, memory-plan, lower, bufferize, to-llvm.
llvm::StringRef phaseName(Phase phase);
/// The phase named `name`, if any.
std::optional<Phase> parsePhase(llvm::StringRef name);
/// The phase names separated by ", " (for messages).
std::string phaseNames();

/// The code target of a compile.
enum class Target { Cpu, Cuda };
llvm::StringRef targetName(Target target);
std::optional<Target> parseTarget(llvm::StringRef name);

/// The optimizer compiled into the step (--dualpipe-build-optimizer).
struct OptimizerSpec {
  std::string kind; ///< sgd, momentum or adamw.
  /// Hyperparameters by their option names (lr, momentum, beta1, beta2,
  /// eps, weight-decay); only the ones `kind` takes.
  std::map<std::string, double> hyper;

  /// Parses `KIND[:key=value,...]` (keys may use '_' for '-'): the kind's
  /// defaults overridden by the given values. On a bad spec returns nullopt
  /// and sets `error` to a message saying what is wrong and what to write.
  static std::optional<OptimizerSpec> parse(llvm::StringRef text,
                                            std::string &error);
};

/// Options of the cuda lowering: the GPU and the CUDA toolkit (ptxas).
struct CudaLoweringOptions {
  std::string chip = "sm_90";
  std::string features = "+ptx80";
  std::string toolkit = "/usr/local/cuda";
};

/// Everything that decides a training-step compile.
struct StepOptions {
  /// A schedule name, auto, or a schedule file (FILE.csv or file:PATH,
  /// see resolveScheduleFile).
  std::string schedule = "1f1b";
  /// The placement a schedule file's stages follow, as resolveScheduleFile
  /// found it (empty: the schedule name's).
  std::string schedulePlacement;
  int64_t ranks = 2;
  int64_t stages = 0; ///< 0: what the schedule's placement needs.
  int64_t microbatches = 4;
  std::string loss;          ///< A built-in loss; empty: the module's.
  std::string device = "cpu"; ///< Cost-model profile: cpu or h200.
  /// Per-rank bytes the dualpipe/dualpipev partition must fit (0: none).
  int64_t memoryBudget = 0;
  std::optional<OptimizerSpec> optimizer;
  Target target = Target::Cpu;
  CudaLoweringOptions cuda;
  unsigned optLevel = 3; ///< LLVM optimization of the object code.
  bool reference = true; ///< Also compile the single-device reference.
  /// Outline a flat model's repeated blocks (--dualpipe-outline-repeats).
  bool outlineRepeats = true;
  /// Rank step functions are `<prefix><rank>`.
  std::string entryPrefix = "dualpipe_rank";
  /// A rolled loop carries its stage's gradient sums as one flat
  /// accumulator from this many parameters on (--dualpipe-lower-schedule's
  /// flat-loop-sums-from).
  unsigned flatLoopSumFrom = 256;
  /// Files the chain writes on the way (empty: none): the schedule as CSV
  /// and the memory plan's report.
  std::string scheduleCsv, memoryReport;
  /// Last phase to run; unset: all of them.
  std::optional<Phase> stopAfter;
  /// Ends the chain right after the pass (or upstream sub-pipeline) whose
  /// command-line name this is; empty: no such cut.
  std::string stopAfterPass;

  /// The placement the schedule needs: linear, interleaved, dualpipe or
  /// dualpipev.
  std::string placement() const;
  /// The number of stage functions: `stages`, or N for linear and dualpipe
  /// placements and 2N for the V placements and interleaved.
  int64_t numStages() const;
  /// The same model as one stage on one rank under 1F1B (one micro-batch
  /// of activations alive at a time), entry points
  /// dualpipe_reference_rank<r>: what --check compares against.
  StepOptions referenceStep() const;
  /// The schedule file `schedule` names, if it names one.
  std::optional<std::string> scheduleFile() const;
  /// The schedule's name in the manifest: the name, auto, or custom for a
  /// schedule file.
  std::string scheduleLabel() const;
};

/// For a `schedule` naming a CSV file: reads and checks it against `ranks`
/// and `microbatches` (grammar, one line per rank, micro-batches 0..M-1,
/// the validator's deadlock check; lib/Schedule's readScheduleForCompile),
/// then sets `schedulePlacement` to the placement its stage numbering
/// follows (or checks it against `placement` when that is not empty) and
/// `stages` to its stage functions (2N for dualpipev, N for dualpipe, S for
/// linear and interleaved). Does nothing for a schedule name. On failure
/// returns false with what is wrong, where and what to do in `error`.
bool resolveScheduleFile(StepOptions &options, const std::string &placement,
                         std::string &error);

/// Appends the phases [first, last] of the training-step chain (cut at
/// `options.stopAfter` / `options.stopAfterPass`) to `pm`, which must be
/// anchored on builtin.module. Returns true when the chain was cut at
/// `options.stopAfterPass`.
bool buildTrainingStepPipeline(mlir::OpPassManager &pm,
                               const StepOptions &options,
                               Phase first = Phase::ContractCheck,
                               Phase last = Phase::ToLLVM);

/// Appends the phases [first, last] of the walking skeleton's chain (cut
/// as for the training step): contract check (no loss needed), partition
/// at the model's markers on `options.ranks` ranks (0: one per stage), then
/// as its Bufferize phase bufferization, one forward program per rank and
/// deallocation, and the target lowering. Only `ranks`, `target`, `cuda`
/// and the stop points of `options` are read.
bool buildForwardPipeline(mlir::OpPassManager &pm, const StepOptions &options,
                          Phase first = Phase::ContractCheck,
                          Phase last = Phase::ToLLVM);

/// Appends the passes that take a bufferized module with per-rank programs
/// down to LLVM-dialect IR for the CPU (loops, runtime calls, packed entry
/// points).
void buildCpuLoweringPipeline(mlir::OpPassManager &pm);

/// Appends the passes that take a bufferized module with per-rank programs
/// down to LLVM-dialect IR for the cuda target: linalg to GPU kernels
/// (parallel loops, mapping, outlining), async tokens (`gpu-async-region`),
/// managed allocations, NVVM, `gpu-module-to-binary` (cubin), `gpu-to-llvm`
/// (with the dualpipe.send/recv lowering onto the stream), packed entry
/// points. See docs/cuda.md.
void buildCudaLoweringPipeline(mlir::OpPassManager &pm,
                               const CudaLoweringOptions &options = {});

/// Appends the model import: TOSA to linalg, arith and tensor (upstream
/// passes), canonicalization, then the contract check.
void buildImportPipeline(mlir::OpPassManager &pm);

/// Registers the named pipelines with the pass registry:
/// --dualpipe-train-cpu, --dualpipe-train-cuda, --dualpipe-forward-cpu,
/// --dualpipe-lower-to-llvm-cpu, --dualpipe-lower-to-llvm-cuda,
/// --dualpipe-import.
void registerDualPipePipelines();

} // namespace dualpipe

#endif // DUALPIPE_PIPELINES_PIPELINES_H
