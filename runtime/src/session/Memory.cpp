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

/// A number from a cgroup file ("max" or missing: none).
bool readLimit(const std::string &path, int64_t &value) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max")
    return false;
  char *end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (*end || v > static_cast<unsigned long long>(INT64_MAX))
    return false;
  value = static_cast<int64_t>(v);
  return true;
}

} // namespace

std::string formatBytes(int64_t bytes) {
  const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%lld bytes", (long long)bytes);
  else
    std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
  return text;
}

int64_t availableMemory(std::string &source) {
  int64_t available = INT64_MAX;
  source = "no limit found";
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") {
      available = mul(kib, 1024);
      source = "MemAvailable in /proc/meminfo";
      break;
    }
  if (available == INT64_MAX) {
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages > 0 && size > 0) {
      available = mul(pages, size);
      source = "available physical pages (sysconf)";
    }
  }
  // A container's limit (cgroup v2, then v1) may be lower than the host's.
  int64_t limit = 0, used = 0;
  if (readLimit("/sys/fs/cgroup/memory.max", limit)) {
    readLimit("/sys/fs/cgroup/memory.current", used);
    if (limit - used < available) {
      available = std::max<int64_t>(limit - used, 0);
      source = "the cgroup's memory.max less memory.current";
    }
  } else if (readLimit("/sys/fs/cgroup/memory/memory.limit_in_bytes", limit) &&
             limit < (int64_t(1) << 60)) {
    readLimit("/sys/fs/cgroup/memory/memory.usage_in_bytes", used);
    if (limit - used < available) {
      available = std::max<int64_t>(limit - used, 0);
      source = "the cgroup's memory.limit_in_bytes less its usage";
    }
  }
  return available;
}

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
  if (const char *limit = std::getenv("DUALPIPE_MEMORY_LIMIT")) {
    // A test hook: pretend the machine has this many bytes.
    char *end = nullptr;
    long long v = std::strtoll(limit, &end, 10);
    if (*limit && !*end && v >= 0) {
      available = v;
      source = "DUALPIPE_MEMORY_LIMIT";
    }
  }
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
