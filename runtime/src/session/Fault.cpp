//===- Fault.cpp - DUALPIPE_FAULT: a rank that dies or hangs (test hook) --===//
//
// DUALPIPE_FAULT=RANK:STEP makes that rank (the global rank, d*N + r with
// --dp) raise SIGKILL at the start of that step; DUALPIPE_FAULT=RANK:STEP:hang
// makes it stop answering instead (sleep until killed), so the others must
// time out. On the local backend the SIGKILL ends the whole process (ranks
// are its threads). The mpi tests use it (test/mpi/mpi-run.sh).
//
//===----------------------------------------------------------------------===//

#include "TrainingState.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace dualpipe::session {

namespace {

bool parseCount(const std::string &text, int64_t &out) {
  return parseStep(text, out); // a decimal integer, 0 to 2^62
}

} // namespace

Fault Fault::fromEnvironment() {
  Fault fault;
  const char *text = std::getenv("DUALPIPE_FAULT");
  if (!text || !*text)
    return fault;
  std::string spec = text, rest = spec;
  if (rest.size() > 5 && rest.compare(rest.size() - 5, 5, ":hang") == 0) {
    fault.hang = true;
    rest.resize(rest.size() - 5);
  }
  size_t colon = rest.find(':');
  bool ok = colon != std::string::npos &&
            parseCount(rest.substr(0, colon), fault.rank) &&
            parseCount(rest.substr(colon + 1), fault.step);
  if (!ok)
    throw Error("DUALPIPE_FAULT must be RANK:STEP or RANK:STEP:hang "
                "(non-negative integers), got '" +
                    spec + "'",
                2);
  return fault;
}

void Fault::fire(int64_t step) const {
  // One write: mpirun would interleave the pieces of a stream's several
  // writes with the other processes' lines.
  std::string line = "dualpipe-run: DUALPIPE_FAULT: rank " +
                     std::to_string(rank) +
                     (hang ? " stops answering" : " kills itself (SIGKILL)") +
                     " at the start of step " + std::to_string(step) + "\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  // Give mpirun's output forwarding a moment to take the line before the
  // process vanishes: a SIGKILL right after the write sometimes lost it.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (!hang)
    std::raise(SIGKILL);
  for (;;)
    std::this_thread::sleep_for(std::chrono::seconds(1));
}

} // namespace dualpipe::session
