//===- dualpipe/Runtime/Session.h - Open, run and train a compiled step -*- C++ -*-===//
//
// The host side of a training run, as a library (dualpipe_session; what
// dualpipe-run is a command line for):
//
//   Manifest m = readManifest(dir);              // parse + check
//   startDevice(m, "local", -1);                 // the cuda target's GPU
//   auto step = StepLibrary::load(dir, m);       // size, SHA-256, dlopen, ABI
//   TrainingSession s(std::move(step), options); // world, buffers, data
//   for (k = s.firstStep(); ...) {
//     StepResult r = s.run(k, ...);              // every rank, combined
//     if (first && check) s.check();             // vs the 1-rank reference
//     s.update(k);                               // optimizer or SGD
//     s.saveCheckpoint(path, k + 1);
//   }
//
// Every file is checked before it is used: the manifest against its schema
// and against the library (size, SHA-256, the library's exported ABI text),
// parameters, data and checkpoints against the manifest (names, dtypes,
// shapes, step metadata). What a run would allocate is estimated first and
// refused when it exceeds the memory this machine has.
//
// Errors are thrown as session::Error: one line saying what is wrong and
// what to do, with the exit status dualpipe-run ends with. Under MPI the
// caller must end the whole job on an error (inMpiJob(), dualpipe_mpi_abort).
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_SESSION_H
#define DUALPIPE_RUNTIME_SESSION_H

#include "dualpipe/Runtime/Manifest.h"
#include "dualpipe/Runtime/SystemMemory.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace dualpipe::session {

using manifest::Manifest;
/// A packed entry point: args[i] points to argument i's memref descriptor
/// {allocated, aligned, offset, sizes[rank], strides[rank]}.
using PackedFn = void (*)(void **);

/// Why a session cannot go on.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string &message, int exitCode = 1,
                 bool quiet = false)
      : std::runtime_error(message), exitCode_(exitCode), quiet_(quiet) {}
  /// 1: a failure or a refused file; 2: a usage error.
  int exitCode() const { return exitCode_; }
  /// Set on the processes of an MPI job that must not print it (rank 0
  /// prints it for all of them).
  bool quiet() const { return quiet_; }

private:
  int exitCode_;
  bool quiet_;
};

/// True while this process is one of an MPI job a session joined: an error
/// must then end every process (dualpipe_mpi_abort), or the others wait.
bool inMpiJob();

//--- Files ---------------------------------------------------------------------//

/// SHA-256 (OpenSSL's libcrypto) as 64 lowercase hex digits.
std::string sha256Hex(const void *data, size_t bytes);
/// Of a file's contents; throws Error when it cannot be read.
std::string sha256File(const std::string &path);

/// DIR/manifest.json, read and checked (manifest::parseManifest).
Manifest readManifest(const std::string &dir);

/// The step's library, checked and loaded.
class StepLibrary {
public:
  /// Checks DIR/<library> before loading it: its size and SHA-256 against
  /// the manifest's library_bytes and library_sha256. Loads it, compares its
  /// exported dualpipe_step_abi with manifest.abiSignature(), and finds every
  /// entry point. Each refusal says which check failed and to recompile.
  static std::unique_ptr<StepLibrary> load(const std::string &dir,
                                           Manifest manifest);
  ~StepLibrary();
  StepLibrary(const StepLibrary &) = delete;
  StepLibrary &operator=(const StepLibrary &) = delete;

  const Manifest &manifest() const { return manifest_; }
  const std::string &dir() const { return dir_; }
  PackedFn rank(int32_t r) const { return ranks_.at(r); }
  PackedFn reference() const { return reference_; } ///< null when none
  PackedFn optimizer() const { return optimizer_; } ///< null when none

private:
  StepLibrary() = default;
  Manifest manifest_;
  std::string dir_;
  void *handle_ = nullptr;
  std::vector<PackedFn> ranks_;
  PackedFn reference_ = nullptr, optimizer_ = nullptr;
};

/// Checks that the step's target fits `backend` and, for a cuda step, that
/// a GPU is there and makes argument buffers CUDA managed memory. `device`
/// is --device (-1: not given). Call before StepLibrary::load.
void startDevice(const Manifest &manifest, const std::string &backend,
                 int32_t device);

//--- Limits --------------------------------------------------------------------//

/// The bytes a run allocates, estimated before anything is: argument buffers
/// x replicas, per-rank outputs, combined gradients, optimizer state, the
/// reference's outputs, and the parameter and data files read whole.
struct MemoryEstimate {
  int64_t bytes = 0;
  std::string breakdown; ///< "arguments 2 x 1.2 MiB, outputs ..."
};

/// SystemMemory.h: what this process may still allocate, and "1.5 GiB".
using sysmem::availableMemory;
using sysmem::formatBytes;

/// Local rank threads in one process at most (the runtime's world limit).
inline constexpr int64_t kMaxLocalThreads = 4096;
/// --lr at most this: larger rates overflow an f32 update at once.
inline constexpr double kMaxLearningRate = 1000.0;
/// Step numbers at most this (checkpoints, --steps): 2^62.
inline constexpr int64_t kMaxStep = int64_t(1) << 62;
/// The compiled optimizer's t is an f32: exact up to 2^24.
inline constexpr int64_t kMaxOptimizerStep = int64_t(1) << 24;

//--- Sessions ------------------------------------------------------------------//

struct Options {
  std::string backend = "local"; ///< local, mpi, nccl
  int64_t dp = 1;                ///< data-parallel replicas
  double timeout = 60;           ///< seconds a receive may wait
  std::string params, data, resume, save, trace;
  uint64_t seed = 0;
  int64_t microbatch = 0; ///< forward steps: the micro-batch of --data
  int64_t steps = 1;
  double lr = 0.01;
  bool lrGiven = false; ///< --lr overrides a compiled optimizer's lr
  bool check = false;   ///< the reference is needed
  /// Threads per BLAS call (dualpipe_rt_set_blas_threads); 0: the cores
  /// this process may use divided by the ranks it runs (local backend:
  /// ranks x dp threads; mpi: one rank, and the processes of this host
  /// from OMPI_COMM_WORLD_LOCAL_SIZE), at least 1, unless
  /// OPENBLAS_NUM_THREADS / OMP_NUM_THREADS is set (then BLAS reads it).
  int64_t threads = 0;
  /// Warnings (a trace that could not be written); default: stderr.
  std::function<void(const std::string &)> warn;
};

struct StepResult {
  double loss = 0;         ///< Mean over all replicas' micro-batches.
  double milliseconds = 0; ///< The step and combining the ranks' outputs.
};

/// How much of one pipeline rank's communication its computation hid, over
/// the steps run so far (summed over the data-parallel replicas), from the
/// ranks' timelines: the point-to-point messages between stages (each one's
/// time in flight, sent to in the receiver's buffer, and the part of it the
/// receiver spent computing) and the gradient all-reduces (their time and
/// the part during compute). Blocking receives, whose send time is not
/// known, are not counted.
struct CommFigures {
  double transferMs = 0, transferHiddenMs = 0;
  int64_t messages = 0;
  double allReduceMs = 0, allReduceHiddenMs = 0;
  int64_t allReduces = 0;
  /// The largest step-heap peak of the rank's step (live bytes of its
  /// buffers in size classes, runtime/src/StepAlloc.cpp): the maximum over
  /// steps and local replicas, not a sum (mpi: replica 0's). 0 where the
  /// step does not allocate through the step heap (the cuda target).
  int64_t heapPeakBytes = 0;
  CommFigures &operator+=(const CommFigures &o);
};

struct CheckResult {
  double lossError = 0, gradError = 0; ///< Max relative error.
  std::string worst;                   ///< The parameter of gradError.
  bool pass = false;                   ///< Both finite and <= 1e-5.
};

/// Trace files written (one per replica; per process under mpi).
struct TraceFiles {
  std::vector<std::string> paths;
  bool perProcess = false; ///< paths[0] is "T.rank*.json"
};

class TrainingSession {
public:
  /// Joins the world (local threads, or the MPI job: exactly ranks x dp
  /// processes), allocates and fills every buffer (--params or --resume,
  /// --data, or synthetic), reads the optimizer, removes temporary files a
  /// killed save left beside --save.
  TrainingSession(std::unique_ptr<StepLibrary> step, const Options &options);
  ~TrainingSession();

  const Manifest &manifest() const;
  /// The BLAS threads per call the session chose (Options::threads), 0 if
  /// the BLAS has no thread control, and why ("--threads", "cores / ranks",
  /// or the environment variable that decides).
  int32_t blasThreads() const;
  const std::string &blasThreadsSource() const;
  bool leader() const; ///< prints and writes files (global rank 0)
  bool mpi() const;
  int32_t globalRank() const;
  int64_t firstStep() const; ///< 0, or the step of --resume
  /// The compiled optimizer's kind, or "sgd" (the runner's).
  const std::string &optimizerKind() const;
  bool compiledOptimizer() const;
  double optimizerLr() const;
  size_t stateTensors() const;
  const std::string &optimizerEntryPoint() const;

  /// Runs step `step` on every rank of every replica and combines the
  /// losses and gradients. `trace`: record this step's timeline. With
  /// DUALPIPE_FAULT=RANK:STEP[:hang] (a test hook) that rank kills itself
  /// or hangs at the start of that step.
  StepResult run(int64_t step, bool trace);
  /// The single-device reference on the same micro-batches, against the
  /// last run(). Under mpi every process calls it (each holds only its
  /// rank's gradients: they are gathered); the leader's result counts, the
  /// others get a default one.
  CheckResult check();
  /// The last run()'s combined gradients (.safetensors), written by the
  /// leader; under mpi every process calls it (the gradients are gathered).
  void dumpGradients(const std::string &path);
  /// The optimizer step after run(step). Under mpi each process updates
  /// what its rank holds (the others' values are not kept current there).
  void update(int64_t step);
  /// Parameters, optimizer state and `done` as the step (atomically),
  /// written by the leader; under mpi every process calls it (each
  /// parameter and its state come from the rank that owns it).
  void saveCheckpoint(const std::string &path, int64_t done);
  /// Writes the trace files still to write (mpi: this process's).
  TraceFiles finishTrace();
  /// Every pipeline rank's CommFigures, indexed by rank. Collective under
  /// mpi (every process calls it; each gets them all).
  std::vector<CommFigures> commFigures();
  /// Leaves the MPI job (MPI_Finalize); the destructor does it otherwise.
  void close();

private:
  struct State;
  std::unique_ptr<State> s_;
};

/// A forward-only step (the walking skeleton) and its reference.
struct ForwardResult {
  struct Output {
    std::vector<int64_t> shape;
    std::vector<float> pipeline, reference;
  };
  std::vector<Output> outputs;
  double pipelineMs = 0, referenceMs = 0;
  double maxDiff = 0, relative = 0;
  size_t compared = 0;
  bool agree = false; ///< relative <= 1e-6
};

/// Runs a forward step on its ranks (threads) and the reference; writes the
/// pipeline's outputs to `dumpOutputs` when not empty. Fills `traceWritten`
/// with the trace path when one was written.
ForwardResult runForward(const StepLibrary &step, const Options &options,
                         const std::string &dumpOutputs,
                         std::string &traceWritten);

/// Parses a checkpoint's "step" metadata: a decimal integer 0 to kMaxStep.
bool parseStep(const std::string &text, int64_t &step);

} // namespace dualpipe::session

#endif // DUALPIPE_RUNTIME_SESSION_H
