//===- Memory.cpp - What a run may allocate -------------------------------===//

#include "Memory.h"

#include "Buffer.h"

#include "dualpipe/Runtime/Session.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

namespace dualpipe::session {

namespace {

/// a + b and a * b, saturating at INT64_MAX (an estimate only grows).
int64_t add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}
int64_t mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

int64_t fileBytes(const std::string &path) {
  struct stat info {};
  return !path.empty() && ::stat(path.c_str(), &info) == 0 ? info.st_size : 0;
}

} // namespace

MemoryEstimate estimateTraining(const Manifest &m, const Options &o) {
  int64_t inputs = 0, outputs = 0, largestInput = 0;
  for (const manifest::Argument &a : m.arguments) {
    if (a.role == "losses" || a.role == "grad") {
      outputs = add(outputs, a.numBytes());
    } else {
      inputs = add(inputs, a.numBytes());
      largestInput = std::max(largestInput, a.numBytes());
    }
  }
  int64_t state = 0;
  if (m.optimizer)
    for (const manifest::Argument &a : m.optimizer->arguments)
      if (a.role == "state" || a.role == "scalars")
        state = add(state, a.numBytes());
  const bool mpi = o.backend != "local";
  const int64_t replicas = o.dp;
  // What this process holds: every replica's inputs (under mpi too: rank 0
  // runs the reference on each replica's slice) and one more set, one
  // replica's whole input while it is sliced, the outputs of each of its
  // ranks (one under mpi), the combined gradients and the reference's.
  int64_t argumentBytes = mul(add(replicas, 1), inputs);
  int64_t slicing = mul(replicas, largestInput);
  int64_t outputBytes =
      mul(mpi ? 1 : mul(replicas, m.ranks), outputs);
  int64_t combined = mul(3, outputs);
  int64_t files = add(fileBytes(o.resume.empty() ? o.params : o.resume),
                      fileBytes(o.data));
  MemoryEstimate e;
  e.bytes = add(add(add(argumentBytes, slicing), add(outputBytes, combined)),
                add(state, mul(2, files)));
  std::ostringstream text;
  text << "arguments " << (replicas + 1) << " x " << formatBytes(inputs)
       << ", per-rank outputs " << (mpi ? 1 : replicas * m.ranks) << " x "
       << formatBytes(outputs) << ", optimizer state " << formatBytes(state)
       << ", files read " << formatBytes(files);
  e.breakdown = text.str();
  return e;
}

int64_t processesOnThisNode() {
  for (const char *name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                           "MV2_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE",
                           "LOCAL_WORLD_SIZE"})
    if (const char *value = std::getenv(name); value && *value) {
      char *end = nullptr;
      long n = std::strtol(value, &end, 10);
      if (!*end && n >= 1 && n <= 1 << 20)
        return n;
    }
  return 1;
}

void checkMemory(const MemoryEstimate &e, int64_t processes,
                 const std::string &what) {
  std::string source;
  int64_t available = availableMemory(source);
  int64_t total = mul(e.bytes, processes);
  if (total <= available)
    return;
  std::string perProcess =
      processes > 1 ? " per process, " + formatBytes(total) + " for the " +
                          std::to_string(processes) +
                          " processes on this machine"
                    : "";
  throw Error(what + " needs about " + formatBytes(e.bytes) + perProcess +
              " (" + e.breakdown + "), but only " + formatBytes(available) +
              " is available (" + source +
              "): lower --dp, or run on a machine with more memory");
}

} // namespace dualpipe::session
