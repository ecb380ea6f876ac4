//===- SystemMemory.cpp - What this process may still allocate ------------===//

#include "dualpipe/Runtime/SystemMemory.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace dualpipe::sysmem {

namespace {

int64_t mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
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
  if (const char *limit = std::getenv("DUALPIPE_MEMORY_LIMIT")) {
    // A test hook: pretend the machine has this many bytes.
    char *end = nullptr;
    long long v = std::strtoll(limit, &end, 10);
    if (*limit && !*end && v >= 0) {
      available = v;
      source = "DUALPIPE_MEMORY_LIMIT";
    }
  }
  return available;
}

} // namespace dualpipe::sysmem
