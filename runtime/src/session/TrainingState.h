//===- TrainingState.h - What a TrainingSession holds ----------*- C++ -*-===//
//
// Shared by Training.cpp (joining the world, buffers, files, the optimizer)
// and TrainingStep.cpp (running, combining, checking, updating, saving).
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_SESSION_TRAININGSTATE_H
#define DUALPIPE_SESSION_TRAININGSTATE_H

#include "Buffer.h"

#include "dualpipe/Runtime/Runtime.h"
#include "dualpipe/Runtime/Session.h"

#include <map>
#include <memory>

namespace dualpipe::session {

/// What one rank writes in one step.
struct StepOutputs {
  Buffer losses;
  std::vector<Buffer> grads; ///< One per parameter, in parameter order.
};

/// Where each argument of an entry point comes from, in manifest order.
struct Slot {
  enum Kind { Input, Losses, Grad } kind;
  size_t index; ///< Into the inputs (Input) or the parameters (Grad).
};

/// The optimizer step compiled into the library (the manifest's
/// "optimizer"): called once per step on the combined gradients instead of
/// the runner's SGD. Its arguments, in call order, are the parameters
/// (updated in place), the gradients, its state tensors (zero-initialised,
/// updated in place, checkpointed under their names) and the scalars
/// [lr, t] (t = the 1-based step number).
struct CompiledOptimizer {
  std::string kind, entryPoint;
  PackedFn fn = nullptr;
  double lr = 0;
  enum Kind { Param, Grad, State, Scalars };
  std::vector<std::pair<Kind, size_t>> order;
  std::vector<Buffer> state;
  /// The parameter of each state tensor (an index into the parameters), or
  /// -1 for one that belongs to none.
  std::vector<int64_t> stateParam;
  Buffer scalars;

  explicit operator bool() const { return fn != nullptr; }
};

/// DUALPIPE_FAULT=RANK:STEP[:hang] (a test hook, Fault.cpp).
struct Fault {
  int64_t rank = -1, step = -1;
  bool hang = false;
  /// Parsed from the environment; Error (exit 2) when malformed.
  static Fault fromEnvironment();
  /// Kills this process (SIGKILL) or hangs it; never returns.
  [[noreturn]] void fire(int64_t step) const;
};

struct TrainingSession::State {
  std::unique_ptr<StepLibrary> step;
  Options opt;
  const Manifest *m = nullptr;
  int32_t ranks = 0;
  int64_t replicas = 1;
  bool mpi = false;
  bool closed = false;

  // The mpi backend: `all` joins every process (combining losses and
  // gradients), `pipe` the ranks of this process's replica.
  dualpipe_world *all = nullptr, *pipe = nullptr;
  int32_t blasThreads = 1;
  std::string blasThreadsSource;
  int32_t globalRank = 0, pipeRank = 0, replica = 0;

  std::vector<Slot> layout;
  std::vector<Buffer> inputs;             ///< Template: params, inputs, labels.
  std::vector<std::vector<Buffer>> args;  ///< [replica][input]
  StepOutputs shape;                      ///< Zeroed outputs of one rank.
  std::vector<std::vector<StepOutputs>> outs; ///< [replica][rank]
  std::vector<Buffer> grads;              ///< Combined, by parameter.
  std::vector<std::string> paramNames;
  std::map<std::string, size_t> paramIndex;
  std::vector<size_t> paramSlots; ///< Each parameter's input index.
  std::vector<int32_t> owner;     ///< The rank whose gradient is taken.
  /// mpi: whether this process's rank holds the parameter (uses it, has
  /// its gradient); only those are exchanged and meaningful here.
  std::vector<bool> held;
  /// mpi: another process found a non-finite gradient in the last step.
  bool otherNonFinite = false;
  std::vector<float> losses;      ///< R x M, replica by replica.
  CompiledOptimizer optimizer;
  std::string optimizerKind = "sgd";
  int64_t firstStep = 0;
  bool ran = false;
  std::vector<std::string> tracesWritten;
  std::vector<CommFigures> comm; ///< By pipeline rank (mpi: own rank only).
  Fault fault;

  ~State();
  void warn(const std::string &message) const;
  // Training.cpp
  void checkOptions();
  void joinMpi();
  void makeBuffers();
  void loadArguments();
  void loadData(const st::TensorFile &data);
  void loadOptimizer();
  void resume(const st::TensorFile &checkpoint);
  void checkSteps() const;
  void chooseBlasThreads();
  void close();
  // TrainingStep.cpp
  std::string runLocal(const std::vector<PackedFn> &programs,
                       std::vector<std::vector<Buffer>> &in,
                       std::vector<std::vector<StepOutputs>> &out,
                       const std::vector<std::string> &traces,
                       std::vector<CommFigures> *comm = nullptr);
  std::string runOwnRank();
  void combineMpi(int64_t step);
  /// mpi: the global ranks of every process (the `all` world's group).
  std::vector<int32_t> everyProcess() const;
  /// mpi: one all-reduce over every process in which only the owner
  /// (replica 0's rank owner[p]) contributes; afterwards every process has
  /// the owner's values. `what` names it in an error.
  void shareFromOwners(std::vector<Buffer *> buffers,
                       const std::vector<size_t> &params, const char *what);
  /// mpi: every gradient from its owner (for the check and the dump).
  void gatherGrads();
  void combineLocal();
  void checkFinite(int64_t step, double mean) const;
  std::vector<void *> pack(std::vector<Buffer> &in, StepOutputs &out) const;
};

/// "out/t.json" with ".rank3" -> "out/t.rank3.json".
std::string withSuffix(const std::string &path, const std::string &suffix);

} // namespace dualpipe::session

#endif // DUALPIPE_SESSION_TRAININGSTATE_H
