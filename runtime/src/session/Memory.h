//===- Memory.h - What a run may allocate ----------------------*- C++ -*-===//

#ifndef DUALPIPE_SESSION_MEMORY_H
#define DUALPIPE_SESSION_MEMORY_H

#include "dualpipe/Runtime/Session.h"

namespace dualpipe::session {

/// The bytes a training session with `options` allocates on this process.
MemoryEstimate estimateTraining(const Manifest &manifest,
                                const Options &options);

/// The launcher's count of processes on this machine (1 without one).
int64_t processesOnThisNode();

/// Refuses (Error) an estimate over the available memory; `what` starts the
/// message ("this run").
void checkMemory(const MemoryEstimate &estimate, int64_t processes,
                 const std::string &what);

} // namespace dualpipe::session

#endif // DUALPIPE_SESSION_MEMORY_H
