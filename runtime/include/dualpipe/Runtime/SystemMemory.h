//===- SystemMemory.h - What this process may still allocate ---*- C++ -*-===//
//
// One answer for every tool that refuses work before it runs out of memory
// (dualpipe-run's session, dualpipe-sched, dualpipe-compile). Plain C++17, no
// other dependency: the compiler tools link it without the runtime.
//
//===----------------------------------------------------------------------===//

#ifndef DUALPIPE_RUNTIME_SYSTEMMEMORY_H
#define DUALPIPE_RUNTIME_SYSTEMMEMORY_H

#include <cstdint>
#include <string>

namespace dualpipe::sysmem {

/// Memory this process may still allocate: MemAvailable (/proc/meminfo, else
/// sysconf's available pages), lowered to the cgroup's limit when there is
/// one; DUALPIPE_MEMORY_LIMIT (a whole number of bytes, a test hook)
/// overrides all of them. `source` names where the number came from; with
/// none of them, INT64_MAX and "no limit found".
int64_t availableMemory(std::string &source);

/// "1.5 GiB", "512 bytes".
std::string formatBytes(int64_t bytes);

} // namespace dualpipe::sysmem

#endif // DUALPIPE_RUNTIME_SYSTEMMEMORY_H
