//===- Training.cpp - A training session: world, buffers, files -----------===//
//
// Everything before the first step: the limits of the run, the world (local
// threads or the processes of an MPI job), one buffer per argument of every
// replica and rank, the parameters (--params, --resume or synthetic), the
// data (--data or synthetic, one slice per replica), the optimizer, and the
// checkpoint's step and state.
//
//===----------------------------------------------------------------------===//

#include "Memory.h"
#include "TrainingState.h"

#include "dualpipe/Runtime/Files.h"

#include <atomic>
#include <cmath>
#include <exception>
#include <iostream>
#include <thread>

#include <sched.h>

namespace dualpipe::session {

namespace {
std::atomic<bool> mpiJoined{false};
} // namespace

bool inMpiJob() { return mpiJoined.load(); }

bool parseStep(const std::string &text, int64_t &step) {
  if (text.empty() || text.size() > 19)
    return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return false;
    value = value * 10 + (c - '0'); // 19 digits fit in int64 after the check
    if (value > kMaxStep)
      return false;
  }
  step = value;
  return true;
}

st::TensorFile readTensors(const std::string &path) {
  st::TensorFile file;
  if (!path.empty())
    if (std::string error = st::readSafeTensors(path, file); !error.empty())
      throw Error(error);
  return file;
}

std::string withSuffix(const std::string &path, const std::string &suffix) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return path + suffix;
  return path.substr(0, dot) + suffix + path.substr(dot);
}

void TrainingSession::State::warn(const std::string &message) const {
  if (opt.warn)
    opt.warn(message);
  else
    std::cerr << "warning: " << message << "\n";
}

/// What is refused before anything is allocated or joined.
void TrainingSession::State::checkOptions() {
  if (opt.dp < 1)
    throw Error("--dp needs a positive integer, got '" +
                    std::to_string(opt.dp) + "'",
                2);
  if (!mpi && opt.dp > kMaxLocalThreads / ranks)
    throw Error("--dp=" + std::to_string(opt.dp) + " asks for " +
                    std::to_string(ranks) + " x " + std::to_string(opt.dp) +
                    " rank threads in this process; the local backend runs "
                    "at most " +
                    std::to_string(kMaxLocalThreads) +
                    ": lower --dp, or use --backend=mpi (one process per "
                    "rank)",
                2);
  if (!(opt.lr >= 0 && opt.lr <= kMaxLearningRate))
    throw Error("--lr needs a number from 0 to 1000, got " +
                    std::to_string(opt.lr),
                2);
  if (opt.steps < 1 || opt.steps > kMaxStep)
    throw Error("--steps needs a positive integer of at most 2^62", 2);
  if (opt.check && !step->reference())
    throw Error(step->dir() +
                " was compiled with --reference=false: it has no "
                "single-device reference for --check; recompile without "
                "--reference=false, or run without --check");
  for (const manifest::Argument &a : m->arguments)
    checkSupported(a);
  checkMemory(estimateTraining(*m, opt), mpi ? processesOnThisNode() : 1,
              "this run");
}

void TrainingSession::State::joinMpi() {
  all = dualpipe_world_create_mpi(opt.timeout);
  if (!all)
    throw Error(std::string("cannot join the MPI job: ") +
                (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
  mpiJoined = true;
  globalRank = dualpipe_world_hosted_rank(all);
  int32_t size = dualpipe_world_size(all);
  if (size != ranks * replicas) {
    // Every process sees the same sizes: rank 0 says it, all leave.
    std::string message =
        "the MPI job has " + std::to_string(size) + " process" +
        (size == 1 ? "" : "es") + ", but " + step->dir() +
        " is a pipeline of " + std::to_string(ranks) + " ranks and --dp=" +
        std::to_string(replicas) + " asks for " + std::to_string(ranks) +
        " x " + std::to_string(replicas) + " = " +
        std::to_string(ranks * replicas) + "; run mpirun -np " +
        std::to_string(ranks * replicas);
    dualpipe_world_destroy(all);
    all = nullptr;
    dualpipe_mpi_finalize();
    mpiJoined = false;
    closed = true;
    throw Error(message, 2, /*quiet=*/globalRank != 0);
  }
  pipe = opt.backend == "nccl"
             ? dualpipe_world_create_nccl(ranks, opt.timeout)
             : dualpipe_world_create_mpi_group(ranks, opt.timeout);
  if (!pipe)
    throw Error(std::string("cannot create the pipeline's MPI world: ") +
                (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
  pipeRank = dualpipe_world_hosted_rank(pipe);
  replica = globalRank / ranks;
}

/// One buffer per argument: the inputs (shared read-only by the ranks of a
/// replica) and each rank's outputs, in the order of the manifest.
void TrainingSession::State::makeBuffers() {
  for (const manifest::Argument &a : m->arguments)
    if (a.role == "param") {
      paramIndex[a.name] = paramNames.size();
      paramNames.push_back(a.name);
    }
  shape.grads.resize(paramNames.size());
  for (const manifest::Argument &a : m->arguments) {
    if (a.role == "losses") {
      shape.losses = Buffer::of(a);
      layout.push_back({Slot::Losses, 0});
    } else if (a.role == "grad") {
      size_t p = paramIndex.at(a.name); // the manifest pairs every grad
      shape.grads[p] = Buffer::of(a);
      layout.push_back({Slot::Grad, p});
    } else {
      if (a.role == "param")
        paramSlots.push_back(inputs.size());
      layout.push_back({Slot::Input, inputs.size()});
      inputs.push_back(Buffer::of(a));
    }
  }
  // Which rank's gradient to take for each parameter: the first owner (for
  // DualPipe both copies hold the summed gradient after the all-reduce).
  for (const std::string &name : paramNames) {
    const std::vector<int64_t> &on = m->paramRanks.at(name);
    owner.push_back(static_cast<int32_t>(on.front()));
    held.push_back(std::find(on.begin(), on.end(), pipeRank) != on.end());
  }
  comm.assign(ranks, CommFigures());
  outs.assign(mpi ? 1 : replicas,
              std::vector<StepOutputs>(mpi ? 1 : ranks, shape));
  grads = shape.grads;
  losses.assign(replicas * shape.losses.count(), 0.0f);
}

/// Parameters from --resume or --params (or synthetic), then the data.
void TrainingSession::State::loadArguments() {
  const std::string &paramsPath = opt.resume.empty() ? opt.params : opt.resume;
  st::TensorFile params = readTensors(paramsPath);
  st::TensorFile data = readTensors(opt.data);
  args.assign(replicas, inputs);
  for (size_t i : paramSlots) {
    Buffer &b = inputs[i];
    if (!paramsPath.empty())
      loadFrom(b, params, paramsPath, /*batched=*/false, 0);
    else
      initialize(b, opt.seed);
    for (int64_t d = 0; d < replicas; ++d)
      args[d][i].copyFrom(b);
  }
  loadData(data);
  loadOptimizer();
  if (!opt.resume.empty())
    resume(params);
}

/// Inputs and labels hold all M micro-batches (R x M with --dp=R): replica
/// d gets the d-th R-th of each.
void TrainingSession::State::loadData(const st::TensorFile &data) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    Buffer &b = inputs[i];
    if (b.role == "param")
      continue;
    Buffer whole = b;
    if (replicas > 1 && !b.shape.empty()) {
      whole.shape[0] *= replicas;
      whole.allocate();
    }
    if (!opt.data.empty()) {
      auto it = data.tensors.find(b.name);
      if (replicas > 1 && it != data.tensors.end() &&
          it->second.shape != whole.shape)
        throw Error(opt.data + ": tensor '" + b.name + "' has shape " +
                    shapeString(it->second.shape) + ", but --dp=" +
                    std::to_string(replicas) + " needs " +
                    std::to_string(replicas) + " x " +
                    std::to_string(m->microbatches) +
                    " micro-batches: shape " + shapeString(whole.shape));
      loadFrom(whole, data, opt.data, /*batched=*/false, 0);
    } else {
      initialize(whole, opt.seed);
    }
    for (int64_t d = 0; d < replicas; ++d)
      std::memcpy(args[d][i].data(), whole.data() + d * b.bytes(), b.bytes());
  }
}

/// The compiled optimizer, if the step has one (its arguments are checked
/// with the manifest); else the runner's SGD.
void TrainingSession::State::loadOptimizer() {
  if (!m->optimizer)
    return;
  const manifest::Optimizer &spec = *m->optimizer;
  const std::string where = "the manifest's \"optimizer\"";
  CompiledOptimizer &o = optimizer;
  o.kind = spec.kind;
  o.entryPoint = spec.entryPoint;
  auto lr = spec.hyperparameters.find("lr");
  if (opt.lrGiven)
    o.lr = opt.lr;
  else if (lr != spec.hyperparameters.end())
    o.lr = lr->second;
  else
    throw Error(where + " has no hyperparameters.lr; pass --lr");
  if (!(o.lr >= 0 && o.lr <= kMaxLearningRate))
    throw Error(where + " has hyperparameters.lr " + std::to_string(o.lr) +
                ", outside 0 to 1000; pass --lr");
  for (const manifest::Argument &a : spec.arguments) {
    if (a.dtype != "f32")
      throw Error(where + ": argument '" + a.name + "' (" + a.role +
                  ") is " + a.dtype +
                  "; this runner handles f32 optimizer arguments");
    if (a.role == "param" || a.role == "grad") {
      o.order.push_back({a.role == "param" ? CompiledOptimizer::Param
                                           : CompiledOptimizer::Grad,
                         paramIndex.at(a.name)});
    } else if (a.role == "state") {
      o.order.push_back({CompiledOptimizer::State, o.state.size()});
      o.state.push_back(Buffer::of(a)); // zero-initialised
      auto owned = a.param ? paramIndex.find(*a.param) : paramIndex.end();
      o.stateParam.push_back(owned == paramIndex.end()
                                 ? -1
                                 : static_cast<int64_t>(owned->second));
    } else {
      o.scalars = Buffer::of(a);
      o.order.push_back({CompiledOptimizer::Scalars, 0});
    }
  }
  o.fn = step->optimizer();
  optimizerKind = o.kind;
}

/// The step counter and optimizer state of a checkpoint, checked against
/// this step: its optimizer, every state tensor, nothing foreign.
void TrainingSession::State::resume(const st::TensorFile &checkpoint) {
  const std::string &path = opt.resume;
  auto stepText = checkpoint.metadata.find("step");
  if (stepText != checkpoint.metadata.end() &&
      !parseStep(stepText->second, firstStep))
    throw Error(path + ": its metadata 'step' is '" +
                stepText->second.substr(0, 40) +
                "', not a step number (0 to 2^62): the checkpoint is "
                "damaged or was not written by dualpipe-run; resume from "
                "another one, or start again with --params");
  auto it = checkpoint.metadata.find("optimizer");
  std::string written = it == checkpoint.metadata.end() ? "" : it->second;
  if (written != optimizerKind && (optimizer || !written.empty()))
    throw Error(
        path + " was written with optimizer '" +
        (written.empty() ? "none" : written) + "', but this step " +
        (optimizer ? "has the compiled optimizer '" + optimizer.kind + "'"
                   : std::string("has no compiled optimizer (the runner's "
                                 "sgd)")) +
        "; resume with the step it was trained with");
  for (Buffer &b : optimizer.state) {
    auto t = checkpoint.tensors.find(b.name);
    if (t == checkpoint.tensors.end())
      throw Error(path + " has no optimizer state tensor '" + b.name +
                  "' (the " + optimizer.kind + " optimizer's, shape " +
                  shapeString(b.shape) + ")");
    if (t->second.dtype != "F32" || t->second.shape != b.shape)
      throw Error(path + ": the optimizer state tensor '" + b.name + "' is " +
                  t->second.dtype + " " + shapeString(t->second.shape) +
                  ", but the step's is F32 " + shapeString(b.shape));
    std::memcpy(b.data(), t->second.bytes.data(), b.bytes());
  }
  for (const auto &[name, tensor] : checkpoint.tensors) {
    bool known = paramIndex.count(name) > 0;
    for (const Buffer &b : optimizer.state)
      known |= b.name == name;
    if (!known)
      throw Error(path + " holds the tensor '" + name +
                  "', which is neither a parameter nor optimizer state of "
                  "this step: it is a checkpoint of another model; resume "
                  "with the step it was trained with");
  }
}

void TrainingSession::State::checkSteps() const {
  if (opt.steps > kMaxStep - firstStep)
    throw Error("--steps=" + std::to_string(opt.steps) + " after step " +
                    std::to_string(firstStep) +
                    " passes step 2^62; run fewer steps",
                2);
  if (optimizer && firstStep + opt.steps > kMaxOptimizerStep)
    throw Error("the compiled optimizer's step counter t is an f32, exact "
                "up to 2^24 = 16777216, and this run would reach step " +
                    std::to_string(firstStep + opt.steps) +
                    "; run fewer steps",
                2);
}

void TrainingSession::State::close() {
  if (closed)
    return;
  closed = true;
  if (!mpi)
    return;
  dualpipe_world_destroy(pipe);
  dualpipe_world_destroy(all);
  pipe = all = nullptr;
  mpiJoined = false;
  dualpipe_mpi_finalize();
}

TrainingSession::State::~State() {
  // While an error unwinds, an MPI job stays joined: the caller ends every
  // process (dualpipe_mpi_abort); finalizing here would leave the others
  // waiting for this one.
  if (std::uncaught_exceptions() == 0)
    close();
}

namespace {
/// The cores this process may run on (its affinity mask), at least 1.
int64_t usableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}
} // namespace

/// Ranks as threads keep one BLAS thread each where they fill the cores; a
/// process with fewer ranks than cores gives the rest to BLAS.
void TrainingSession::State::chooseBlasThreads() {
  if (opt.threads < 0 || opt.threads > 4096)
    throw Error("--threads=" + std::to_string(opt.threads) +
                ": expected 1..4096 threads per BLAS call (0: chosen from "
                "the cores)");
  if (opt.threads == 0)
    for (const char *var :
         {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"})
      if (const char *v = std::getenv(var); v && *v) {
        blasThreads = std::max(1, std::atoi(v));
        blasThreadsSource = var;
        return;
      }
  int64_t want = opt.threads;
  blasThreadsSource = "--threads";
  if (want == 0) {
    int64_t cores = usableCores();
    int64_t ranksHere = mpi ? 1 : int64_t(ranks) * replicas;
    if (mpi)
      if (const char *local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
        ranksHere = std::max<int64_t>(1, std::atoll(local));
    want = std::max<int64_t>(1, cores / std::max<int64_t>(1, ranksHere));
    blasThreadsSource = "cores / ranks";
  }
  blasThreads = dualpipe_rt_set_blas_threads(int32_t(want));
}

TrainingSession::TrainingSession(std::unique_ptr<StepLibrary> step,
                                 const Options &options)
    : s_(std::make_unique<State>()) {
  State &s = *s_;
  s.step = std::move(step);
  s.opt = options;
  s.m = &s.step->manifest();
  s.ranks = static_cast<int32_t>(s.m->ranks);
  s.replicas = options.dp;
  s.mpi = options.backend == "mpi" || options.backend == "nccl";
  s.fault = Fault::fromEnvironment();
  s.checkOptions();
  if (s.mpi)
    s.joinMpi();
  s.makeBuffers();
  s.loadArguments();
  s.checkSteps();
  s.chooseBlasThreads();
  if (leader() && !options.save.empty())
    for (const std::string &left : rt::removeStaleTemporaries(options.save))
      s.warn("removed " + left + ", left by a save that was killed");
}

TrainingSession::~TrainingSession() = default;

const Manifest &TrainingSession::manifest() const { return *s_->m; }
int32_t TrainingSession::blasThreads() const { return s_->blasThreads; }
const std::string &TrainingSession::blasThreadsSource() const {
  return s_->blasThreadsSource;
}
bool TrainingSession::leader() const { return s_->globalRank == 0; }
bool TrainingSession::mpi() const { return s_->mpi; }
int32_t TrainingSession::globalRank() const { return s_->globalRank; }
int64_t TrainingSession::firstStep() const { return s_->firstStep; }
const std::string &TrainingSession::optimizerKind() const {
  return s_->optimizerKind;
}
bool TrainingSession::compiledOptimizer() const {
  return static_cast<bool>(s_->optimizer);
}
double TrainingSession::optimizerLr() const { return s_->optimizer.lr; }
size_t TrainingSession::stateTensors() const {
  return s_->optimizer.state.size();
}
const std::string &TrainingSession::optimizerEntryPoint() const {
  return s_->optimizer.entryPoint;
}
void TrainingSession::close() { s_->close(); }

} // namespace dualpipe::session
