//===- Forward.cpp - The forward-only skeleton and its reference ----------===//

#include "Buffer.h"
#include "Memory.h"

#include "dualpipe/Runtime/Runtime.h"
#include "dualpipe/Runtime/Session.h"

#include <chrono>
#include <cmath>
#include <thread>

namespace dualpipe::session {

namespace {

double millisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

/// Parameters and inputs: shared read-only by every rank.
std::vector<Buffer> forwardArguments(const Manifest &m, const Options &opt) {
  std::vector<Buffer> args;
  for (const manifest::Argument &a : m.arguments)
    args.push_back(Buffer::of(a));
  st::TensorFile params = readTensors(opt.params);
  st::TensorFile data = readTensors(opt.data);
  for (Buffer &b : args) {
    if (b.role == "param" && !opt.params.empty())
      loadFrom(b, params, opt.params, /*batched=*/false, 0);
    else if (b.role == "input" && !opt.data.empty())
      loadFrom(b, data, opt.data, /*batched=*/true, opt.microbatch);
    else
      initialize(b, opt.seed);
  }
  return args;
}

std::vector<void *> packed(std::vector<Buffer> &args,
                           std::vector<Buffer> &outs) {
  std::vector<void *> list;
  for (Buffer &b : args)
    list.push_back(b.describe());
  for (Buffer &b : outs)
    list.push_back(b.describe());
  return list;
}

/// One thread per rank on a local world; "" or the world's first error.
std::string runPipeline(const StepLibrary &step, std::vector<Buffer> &args,
                        std::vector<Buffer> &outs, const Options &opt,
                        std::string &traceWritten) {
  int32_t ranks = static_cast<int32_t>(step.manifest().ranks);
  dualpipe_world *world = dualpipe_world_create_local(ranks, opt.timeout);
  if (!world)
    throw Error(std::string("cannot create the local world: ") +
                (dualpipe_rt_last_error() ? dualpipe_rt_last_error() : "?"));
  std::vector<std::vector<void *>> perRank;
  for (int32_t r = 0; r < ranks; ++r)
    perRank.push_back(packed(args, outs));
  std::vector<std::thread> threads;
  for (int32_t r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      if (dualpipe_rt_bind(world, r) != 0)
        return;
      step.rank(r)(perRank[r].data());
      finishCudaProgram();
      dualpipe_rt_unbind();
    });
  for (std::thread &t : threads)
    t.join();
  if (!opt.trace.empty()) {
    if (dualpipe_world_write_trace(world, opt.trace.c_str()) != 0) {
      if (opt.warn)
        opt.warn("could not write the trace to " + opt.trace);
    } else {
      traceWritten = opt.trace;
    }
  }
  std::string error;
  if (dualpipe_world_failed(world))
    error = dualpipe_world_error(world) ? dualpipe_world_error(world)
                                        : "unknown failure";
  dualpipe_world_destroy(world);
  return error;
}

} // namespace

ForwardResult runForward(const StepLibrary &step, const Options &opt,
                         const std::string &dumpOutputs,
                         std::string &traceWritten) {
  const Manifest &m = step.manifest();
  MemoryEstimate estimate;
  for (const manifest::Argument &a : m.entryArguments())
    estimate.bytes += a.numBytes(); // each bounded by 2^43 bytes
  for (const manifest::Argument &a : m.outputs)
    estimate.bytes += a.numBytes(); // the reference's copy
  estimate.breakdown = "arguments and two sets of outputs";
  checkMemory(estimate, 1, "this run");

  std::vector<Buffer> args = forwardArguments(m, opt);
  std::vector<Buffer> pipelineOut, referenceOut;
  for (const manifest::Argument &a : m.outputs) {
    pipelineOut.push_back(Buffer::of(a));
    referenceOut.push_back(Buffer::of(a));
  }
  ForwardResult result;
  auto start = std::chrono::steady_clock::now();
  std::string error = runPipeline(step, args, pipelineOut, opt, traceWritten);
  result.pipelineMs = millisecondsSince(start);
  if (!error.empty())
    throw Error("the pipeline failed: " + error);

  // The single-device reference, on this thread.
  std::vector<void *> refArgs = packed(args, referenceOut);
  start = std::chrono::steady_clock::now();
  step.reference()(refArgs.data());
  if (std::string e = finishCudaProgram(); !e.empty())
    throw Error("the reference failed: " + e);
  result.referenceMs = millisecondsSince(start);

  double maxAbs = 0;
  for (size_t o = 0; o < pipelineOut.size(); ++o) {
    const Buffer &p = pipelineOut[o], &r = referenceOut[o];
    result.outputs.push_back({p.shape,
                              std::vector<float>(p.f32(), p.f32() + p.count()),
                              std::vector<float>(r.f32(), r.f32() + r.count())});
    for (int64_t i = 0; i < p.count(); ++i) {
      result.maxDiff =
          std::max(result.maxDiff, std::fabs(double(p.f32()[i]) - r.f32()[i]));
      maxAbs = std::max(maxAbs, std::fabs(double(r.f32()[i])));
      ++result.compared;
    }
  }
  if (!dumpOutputs.empty()) {
    st::TensorFile file;
    for (Buffer &b : pipelineOut)
      file.tensors[b.name] = toTensor(b);
    if (std::string e = st::writeSafeTensors(dumpOutputs, file); !e.empty())
      throw Error(e);
  }
  // Both runs execute the same compiled stage code in the same order, so
  // anything beyond float rounding noise is a bug, not a tolerance question.
  result.relative = maxAbs > 0 ? result.maxDiff / maxAbs : result.maxDiff;
  result.agree = std::isfinite(result.relative) && result.relative <= 1e-6;
  return result;
}

} // namespace dualpipe::session
