//===- TrainingStep.cpp - Run, combine, check, update, save ---------------===//

#include "CudaBackend.h"
#include "TrainingState.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

namespace dualpipe::session {

/// The packed arguments of one rank: every argument's descriptor in the
/// manifest's order.
std::vector<void *> TrainingSession::State::pack(std::vector<Buffer> &in,
                                                 StepOutputs &out) const {
  std::vector<void *> packed;
  for (const Slot &slot : layout)
    packed.push_back(slot.kind == Slot::Input    ? in[slot.index].describe()
                     : slot.kind == Slot::Losses ? out.losses.describe()
                                                 : out.grads[slot.index]
                                                       .describe());
  return packed;
}

CommFigures &CommFigures::operator+=(const CommFigures &o) {
  transferMs += o.transferMs;
  transferHiddenMs += o.transferHiddenMs;
  messages += o.messages;
  allReduceMs += o.allReduceMs;
  allReduceHiddenMs += o.allReduceHiddenMs;
  allReduces += o.allReduces;
  heapPeakBytes = std::max(heapPeakBytes, o.heapPeakBytes);
  return *this;
}

namespace {
/// A rank's figures from its world's timeline (zeros if it has none).
CommFigures commFiguresOf(const dualpipe_world *world, int32_t rank) {
  dualpipe_comm_summary c{};
  CommFigures f;
  if (dualpipe_world_comm_summary(world, rank, &c) != 0)
    return f;
  f.transferMs = c.transfer_ms;
  f.transferHiddenMs = c.transfer_hidden_ms;
  f.messages = c.messages;
  f.allReduceMs = c.allreduce_ms;
  f.allReduceHiddenMs = c.allreduce_hidden_ms;
  f.allReduces = c.allreduces;
  return f;
}
} // namespace

/// Runs every rank's step function once on the local backend: one world of
/// programs.size() threads per replica, every replica at once. Fills
/// out[d][r]; traces[d] (if not empty) gets replica d's timeline.
std::string TrainingSession::State::runLocal(
    const std::vector<PackedFn> &programs, std::vector<std::vector<Buffer>> &in,
    std::vector<std::vector<StepOutputs>> &out,
    const std::vector<std::string> &traces, std::vector<CommFigures> *comm) {
  int32_t n = static_cast<int32_t>(programs.size());
  size_t worldCount = in.size();
  std::vector<dualpipe_world *> worlds;
  for (size_t d = 0; d < worldCount; ++d) {
    dualpipe_world *world = dualpipe_world_create_local(n, opt.timeout);
    if (!world) {
      for (dualpipe_world *w : worlds)
        dualpipe_world_destroy(w);
      return std::string("cannot create the local world: ") +
             (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?");
    }
    worlds.push_back(world);
  }
  std::vector<std::vector<std::vector<void *>>> packed(worldCount);
  for (size_t d = 0; d < worldCount; ++d)
    for (int32_t r = 0; r < n; ++r)
      packed[d].push_back(pack(in[d], out[d][r]));
  std::vector<std::thread> threads;
  // Each rank runs on a fresh thread: its step heap's figures are the
  // step's.
  std::vector<std::vector<int64_t>> heapPeak(worldCount,
                                             std::vector<int64_t>(n, 0));
  for (size_t d = 0; d < worldCount; ++d)
    for (int32_t r = 0; r < n; ++r)
      threads.emplace_back([&, d, r] {
        if (dualpipe_rt_bind(worlds[d], r) != 0)
          return;
        programs[r](packed[d][r].data());
        finishCudaProgram();
        dualpipe_rt_unbind();
        dualpipe_alloc_stats heap;
        dualpipe_alloc_thread_stats(&heap);
        heapPeak[d][r] = heap.peak_live_bytes;
      });
  for (std::thread &t : threads)
    t.join();
  std::string error;
  for (size_t d = 0; d < worldCount && comm; ++d)
    for (int32_t r = 0; r < n; ++r) {
      CommFigures f = commFiguresOf(worlds[d], r);
      f.heapPeakBytes = heapPeak[d][r];
      (*comm)[r] += f;
    }
  for (size_t d = 0; d < worldCount; ++d) {
    const std::string &trace = d < traces.size() ? traces[d] : std::string();
    if (!trace.empty() &&
        dualpipe_world_write_trace(worlds[d], trace.c_str()) != 0)
      warn("could not write the trace to " + trace);
    if (error.empty() && dualpipe_world_failed(worlds[d])) {
      error = dualpipe_world_error(worlds[d]) ? dualpipe_world_error(worlds[d])
                                              : "unknown failure";
      if (worldCount > 1)
        error = "replica " + std::to_string(d) + ": " + error;
    }
  }
  for (dualpipe_world *world : worlds)
    dualpipe_world_destroy(world);
  return error;
}

/// The mpi backend: this process runs its rank of its replica's pipeline.
std::string TrainingSession::State::runOwnRank() {
  std::vector<void *> packed = pack(args[replica], outs[0][0]);
  // The long-lived world's timeline holds one step: its figures, and the
  // trace of the last step where one is asked for.
  dualpipe_world_clear_trace(pipe);
  if (dualpipe_rt_bind(pipe, pipeRank) != 0)
    return dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "cannot bind";
  dualpipe_alloc_reset_peak();
  step->rank(pipeRank)(packed.data());
  finishCudaProgram();
  dualpipe_rt_unbind();
  CommFigures figures = commFiguresOf(pipe, pipeRank);
  dualpipe_alloc_stats heap;
  dualpipe_alloc_thread_stats(&heap);
  figures.heapPeakBytes = heap.peak_live_bytes;
  comm[pipeRank] += figures;
  if (dualpipe_world_failed(pipe))
    return dualpipe_world_error(pipe) ? dualpipe_world_error(pipe)
                                      : "unknown failure";
  return "";
}

/// Under mpi a process needs only the gradients its rank holds (DualPipe's
/// mirror all-reduce already gave both copies the sum): the losses, and a
/// count of non-finite held gradients, go to every process in one small
/// all-reduce; the held gradients are summed over the replicas of this rank
/// only (--dp). Nothing else crosses the network after a step.
void TrainingSession::State::combineMpi(int64_t stepNumber) {
  auto fail = [&](const std::string &what) {
    throw Error("step " + std::to_string(stepNumber) + " failed while " +
                what + ": " +
                (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
  };
  const size_t m = shape.losses.count();
  std::vector<float> small(losses.size() + 1, 0.0f);
  std::copy(outs[0][0].losses.f32(), outs[0][0].losses.f32() + m,
            small.begin() + replica * m);
  float nonFinite = 0;
  for (size_t p = 0; p < grads.size(); ++p) {
    const Buffer &mine = outs[0][0].grads[p];
    if (held[p]) {
      grads[p].copyFrom(mine);
      for (int64_t i = 0; i < mine.count(); ++i)
        nonFinite += std::isfinite(mine.f32()[i]) ? 0.0f : 1.0f;
    } else {
      std::fill(grads[p].f32(), grads[p].f32() + grads[p].count(), 0.0f);
    }
  }
  small.back() = nonFinite;
  std::vector<int32_t> everyone = everyProcess();
  if (dualpipe_rt_bind(all, globalRank) != 0 ||
      dualpipe_rt_allreduce_sum_f32(small.data(), small.size(),
                                    everyone.data(), everyone.size()) != 0)
    fail("combining the ranks' losses");
  std::copy(small.begin(), small.begin() + losses.size(), losses.begin());
  otherNonFinite = small.back() > nonFinite;
  if (replicas > 1) {
    std::vector<float> buffer;
    for (size_t p = 0; p < grads.size(); ++p)
      if (held[p])
        buffer.insert(buffer.end(), grads[p].f32(),
                      grads[p].f32() + grads[p].count());
    std::vector<int32_t> mates(replicas);
    for (int64_t d = 0; d < replicas; ++d)
      mates[d] = static_cast<int32_t>(d * ranks + pipeRank);
    if (!buffer.empty() &&
        dualpipe_rt_allreduce_sum_f32(buffer.data(), buffer.size(),
                                      mates.data(), mates.size()) != 0)
      fail("summing this rank's gradients over the replicas");
    size_t at = 0;
    for (size_t p = 0; p < grads.size(); ++p)
      if (held[p]) {
        std::copy(buffer.begin() + at, buffer.begin() + at + grads[p].count(),
                  grads[p].f32());
        at += grads[p].count();
      }
  }
  dualpipe_rt_unbind();
}

std::vector<int32_t> TrainingSession::State::everyProcess() const {
  std::vector<int32_t> everyone(ranks * replicas);
  for (size_t r = 0; r < everyone.size(); ++r)
    everyone[r] = static_cast<int32_t>(r);
  return everyone;
}

void TrainingSession::State::shareFromOwners(
    std::vector<Buffer *> buffers, const std::vector<size_t> &params,
    const char *what) {
  size_t total = 0;
  for (Buffer *b : buffers)
    total += b->count();
  std::vector<float> buffer(total, 0.0f);
  size_t at = 0;
  for (size_t k = 0; k < buffers.size(); ++k) {
    const Buffer &b = *buffers[k];
    if (replica == 0 && owner[params[k]] == pipeRank)
      std::copy(b.f32(), b.f32() + b.count(), buffer.begin() + at);
    at += b.count();
  }
  std::vector<int32_t> everyone = everyProcess();
  if (dualpipe_rt_bind(all, globalRank) != 0 ||
      dualpipe_rt_allreduce_sum_f32(buffer.data(), buffer.size(),
                                    everyone.data(), everyone.size()) != 0)
    throw Error(std::string("could not gather ") + what +
                " from their ranks: " +
                (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
  dualpipe_rt_unbind();
  at = 0;
  for (Buffer *b : buffers) {
    std::copy(buffer.begin() + at, buffer.begin() + at + b->count(), b->f32());
    at += b->count();
  }
}

void TrainingSession::State::gatherGrads() {
  std::vector<Buffer *> buffers;
  std::vector<size_t> params;
  for (size_t p = 0; p < grads.size(); ++p) {
    buffers.push_back(&grads[p]);
    params.push_back(p);
  }
  shareFromOwners(buffers, params, "the gradients");
}

/// Losses: summed over the ranks of a replica (only the rank with the last
/// stage of a micro-batch writes one). Gradients: the owner's, summed over
/// the replicas in replica order.
void TrainingSession::State::combineLocal() {
  const size_t m = shape.losses.count();
  std::fill(losses.begin(), losses.end(), 0.0f);
  for (int64_t d = 0; d < replicas; ++d)
    for (const StepOutputs &o : outs[d])
      for (size_t k = 0; k < m; ++k)
        losses[d * m + k] += o.losses.f32()[k];
  for (size_t p = 0; p < grads.size(); ++p) {
    if (replicas == 1) {
      grads[p].copyFrom(outs[0][owner[p]].grads[p]);
      continue;
    }
    std::fill(grads[p].f32(), grads[p].f32() + grads[p].count(), 0.0f);
    for (int64_t d = 0; d < replicas; ++d)
      for (int64_t i = 0; i < grads[p].count(); ++i)
        grads[p].f32()[i] += outs[d][owner[p]].grads[p].f32()[i];
  }
}

/// A NaN or infinite loss or gradient would be trained into the parameters
/// (and saved): stop instead.
void TrainingSession::State::checkFinite(int64_t stepNumber,
                                         double mean) const {
  std::string what;
  if (!std::isfinite(mean)) {
    what = "the loss is " + std::to_string(mean);
  } else {
    for (size_t p = 0; p < grads.size() && what.empty(); ++p)
      for (int64_t i = 0; i < grads[p].count(); ++i)
        if (!std::isfinite(grads[p].f32()[i])) {
          what = "the gradient of '" + paramNames[p] + "' holds " +
                 std::to_string(grads[p].f32()[i]);
          break;
        }
  }
  if (!what.empty())
    throw Error("step " + std::to_string(stepNumber) + " failed: " + what +
                ": the step diverged or its inputs hold NaN or infinity; "
                "nothing was updated or saved (lower --lr, or check --params "
                "and --data)");
  // mpi: the process whose rank holds that gradient says so; the others
  // stop with it.
  if (otherNonFinite)
    throw Error("step " + std::to_string(stepNumber) +
                    " failed: another rank's gradient is not finite",
                1, /*quiet=*/true);
}

StepResult TrainingSession::run(int64_t stepNumber, bool trace) {
  State &s = *s_;
  if (stepNumber == s.fault.step &&
      (s.mpi ? s.fault.rank == s.globalRank
             : s.fault.rank < s.ranks * s.replicas))
    s.fault.fire(stepNumber);
  auto start = std::chrono::steady_clock::now();
  std::string err;
  if (s.mpi) {
    err = s.runOwnRank();
    if (!err.empty() && s.replicas > 1)
      err = "replica " + std::to_string(s.replica) + ": " + err;
  } else {
    std::vector<std::string> traces;
    if (trace)
      for (int64_t d = 0; d < s.replicas; ++d)
        traces.push_back(s.replicas == 1
                             ? s.opt.trace
                             : withSuffix(s.opt.trace,
                                          ".replica" + std::to_string(d)));
    std::vector<PackedFn> programs;
    for (int32_t r = 0; r < s.ranks; ++r)
      programs.push_back(s.step->rank(r));
    err = s.runLocal(programs, s.args, s.outs, traces, &s.comm);
    if (trace)
      s.tracesWritten = traces;
  }
  if (!err.empty()) {
    if (s.mpi && dualpipe_world_failed_rank(s.pipe) != s.pipeRank)
      // Let the rank that failed first say so before this one ends the job.
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    throw Error("step " + std::to_string(stepNumber) + " failed: " + err);
  }
  if (s.mpi)
    s.combineMpi(stepNumber);
  else
    s.combineLocal();
  if (s.replicas > 1)
    for (Buffer &g : s.grads)
      for (int64_t i = 0; i < g.count(); ++i)
        g.f32()[i] /= static_cast<float>(s.replicas);
  StepResult result;
  result.milliseconds = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count();
  for (float l : s.losses)
    result.loss += l;
  result.loss /= s.losses.size();
  s.checkFinite(stepNumber, result.loss);
  s.ran = true;
  return result;
}

namespace {

/// Relative error of `got` against `want`: max |got - want| over max |want|.
double relativeError(const float *got, const std::vector<float> &want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::fabs(double(got[i]) - want[i]));
    scale = std::max(scale, std::fabs(double(want[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

} // namespace

CheckResult TrainingSession::check() {
  State &s = *s_;
  if (!s.step->reference() || !s.ran)
    throw Error("check: no reference, or no step has run");
  if (s.mpi) {
    // Each process holds its own rank's gradients: the leader compares
    // them all.
    s.gatherGrads();
    if (!leader())
      return CheckResult();
  }
  // The reference over the same R x M micro-batches: once per replica's
  // slice, combined as the replicas are.
  const size_t m = s.shape.losses.count();
  std::vector<float> refLosses(s.losses.size());
  std::vector<std::vector<float>> refGrads(s.grads.size());
  for (size_t p = 0; p < s.grads.size(); ++p)
    refGrads[p].assign(s.grads[p].count(), 0.0f);
  for (int64_t d = 0; d < s.replicas; ++d) {
    std::vector<std::vector<Buffer>> refArgs = {s.args[d]};
    std::vector<std::vector<StepOutputs>> refOut(
        1, std::vector<StepOutputs>(1, s.shape));
    std::string err = s.runLocal({s.step->reference()}, refArgs, refOut, {});
    if (!err.empty())
      throw Error("the single-rank reference failed: " + err);
    const StepOutputs &o = refOut[0][0];
    std::copy(o.losses.f32(), o.losses.f32() + m, refLosses.begin() + d * m);
    for (size_t p = 0; p < s.grads.size(); ++p) {
      if (s.replicas == 1) {
        refGrads[p].assign(o.grads[p].f32(),
                           o.grads[p].f32() + refGrads[p].size());
        continue;
      }
      for (size_t i = 0; i < refGrads[p].size(); ++i)
        refGrads[p][i] += o.grads[p].f32()[i];
    }
  }
  if (s.replicas > 1)
    for (std::vector<float> &g : refGrads)
      for (float &v : g)
        v /= static_cast<float>(s.replicas);
  CheckResult result;
  result.lossError = relativeError(s.losses.data(), refLosses);
  result.worst = "-";
  for (size_t p = 0; p < s.grads.size(); ++p) {
    double e = relativeError(s.grads[p].f32(), refGrads[p]);
    if (e >= result.gradError) {
      result.gradError = e;
      result.worst = s.paramNames[p];
    }
  }
  result.pass = std::isfinite(result.lossError) &&
                std::isfinite(result.gradError) && result.lossError <= 1e-5 &&
                result.gradError <= 1e-5;
  return result;
}

void TrainingSession::dumpGradients(const std::string &path) {
  if (s_->mpi) {
    s_->gatherGrads();
    if (!leader())
      return;
  }
  st::TensorFile file;
  for (size_t p = 0; p < s_->grads.size(); ++p)
    file.tensors[s_->paramNames[p]] = toTensor(s_->grads[p]);
  if (std::string e = st::writeSafeTensors(path, file); !e.empty())
    throw Error(e);
}

void TrainingSession::update(int64_t stepNumber) {
  State &s = *s_;
  // Every replica (and every process) applies the same update.
  if (s.optimizer) {
    // The compiled optimizer on replica 0's parameters, copied to the others.
    CompiledOptimizer &o = s.optimizer;
    o.scalars.f32()[0] = static_cast<float>(o.lr);
    o.scalars.f32()[1] = static_cast<float>(stepNumber + 1);
    std::vector<void *> packed;
    for (auto [kind, i] : o.order)
      packed.push_back(kind == CompiledOptimizer::Param
                           ? s.args[0][s.paramSlots[i]].describe()
                       : kind == CompiledOptimizer::Grad  ? s.grads[i].describe()
                       : kind == CompiledOptimizer::State ? o.state[i].describe()
                                                          : o.scalars.describe());
    o.fn(packed.data());
    for (int64_t d = 1; d < s.replicas; ++d)
      for (size_t i : s.paramSlots)
        s.args[d][i].copyFrom(s.args[0][i]);
    return;
  }
  // The runner's SGD.
  for (std::vector<Buffer> &replicaArgs : s.args)
    for (size_t p = 0; p < s.paramSlots.size(); ++p) {
      Buffer &b = replicaArgs[s.paramSlots[p]];
      for (int64_t i = 0; i < b.count(); ++i)
        b.f32()[i] -= static_cast<float>(s.opt.lr) * s.grads[p].f32()[i];
    }
}

void TrainingSession::saveCheckpoint(const std::string &path, int64_t done) {
  State &s = *s_;
  if (s.mpi) {
    // Each rank updated the parameters (and optimizer state) it holds:
    // the owners' values, everywhere, before the leader writes them.
    std::vector<Buffer *> buffers;
    std::vector<size_t> params;
    for (size_t p = 0; p < s.paramSlots.size(); ++p) {
      buffers.push_back(&s.args[0][s.paramSlots[p]]);
      params.push_back(p);
    }
    for (size_t i = 0; i < s.optimizer.state.size(); ++i)
      if (s.optimizer.stateParam[i] >= 0) {
        buffers.push_back(&s.optimizer.state[i]);
        params.push_back(static_cast<size_t>(s.optimizer.stateParam[i]));
      }
    s.shareFromOwners(buffers, params, "the parameters");
    if (!leader())
      return;
  }
  st::TensorFile file;
  for (size_t i : s_->paramSlots)
    file.tensors[s_->args[0][i].name] = toTensor(s_->args[0][i]);
  for (const Buffer &b : s_->optimizer.state)
    file.tensors[b.name] = toTensor(b);
  file.metadata["step"] = std::to_string(done);
  file.metadata["optimizer"] = s_->optimizerKind;
  if (std::string e = st::writeSafeTensors(path, file); !e.empty())
    throw Error(e);
}

std::vector<CommFigures> TrainingSession::commFigures() {
  State &s = *s_;
  if (!s.mpi)
    return s.comm;
  // Each process knows its own rank's figures: sum them over all processes
  // (the replicas of a rank add up, as on the local backend).
  constexpr size_t kFields = 7;
  std::vector<double> all(s.comm.size() * kFields, 0.0);
  const CommFigures &mine = s.comm[s.pipeRank];
  bool replicaZero = s.replica == 0;
  double *at = all.data() + s.pipeRank * kFields;
  at[0] = mine.transferMs;
  at[1] = mine.transferHiddenMs;
  at[2] = double(mine.messages);
  at[3] = mine.allReduceMs;
  at[4] = mine.allReduceHiddenMs;
  at[5] = double(mine.allReduces);
  // A peak is not a sum over replicas: replica 0's.
  at[6] = replicaZero ? double(mine.heapPeakBytes) : 0.0;
  std::vector<int32_t> everyone = s.everyProcess();
  if (dualpipe_rt_bind(s.all, s.globalRank) != 0 ||
      dualpipe_rt_allreduce_sum_f64(all.data(), all.size(), everyone.data(),
                                    everyone.size()) != 0)
    throw Error(std::string("could not gather the communication figures: ") +
                (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
  dualpipe_rt_unbind();
  std::vector<CommFigures> figures(s.comm.size());
  for (size_t r = 0; r < figures.size(); ++r) {
    const double *f = all.data() + r * kFields;
    figures[r].transferMs = f[0];
    figures[r].transferHiddenMs = f[1];
    figures[r].messages = static_cast<int64_t>(f[2]);
    figures[r].allReduceMs = f[3];
    figures[r].allReduceHiddenMs = f[4];
    figures[r].allReduces = static_cast<int64_t>(f[5]);
    figures[r].heapPeakBytes = static_cast<int64_t>(f[6]);
  }
  return figures;
}

TraceFiles TrainingSession::finishTrace() {
  State &s = *s_;
  TraceFiles files;
  if (s.opt.trace.empty())
    return files;
  if (s.mpi) {
    std::string path =
        withSuffix(s.opt.trace, ".rank" + std::to_string(s.globalRank));
    if (dualpipe_world_write_trace(s.pipe, path.c_str()) != 0)
      s.warn("could not write the trace to " + path);
    files.paths.push_back(withSuffix(s.opt.trace, ".rank*"));
    files.perProcess = true;
    return files;
  }
  files.paths = s.tracesWritten;
  return files;
}

} // namespace dualpipe::session
